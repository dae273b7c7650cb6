//! Support for the project's own tests and benchmarks: where the shared
//! fixtures are, the skip-or-fail policy for tests that need them or need
//! root, (`frames`, `planted`) hand-built frames and captures, and
//! (`wire`) writing frames onto an interface; (`steps`) the input format
//! of the tracker's fuzz target.
//!
//! Outside CI a test whose prerequisite is missing says so on stderr and
//! passes as skipped; with `CI=true` the same situation fails the test.
#![doc(hidden)]

pub mod frames;
pub mod planted;
pub mod steps;
pub mod wire;

use std::path::PathBuf;

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

fn skip_or_fail(what: &str) {
    if in_ci() {
        panic!("{what}, and CI=true: this test must run in CI");
    }
    eprintln!("SKIPPED: {what}");
}

/// `../shared/fixtures` beside the checkout, or `None` (after printing why
/// the test is skipped) when a user's clone has no `../shared`.
pub fn fixtures_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures");
    if dir.is_dir() {
        Some(dir)
    } else {
        skip_or_fail(&format!(
            "test captures not found at {} (../shared is absent in a user's clone)",
            dir.display()
        ));
        None
    }
}

/// Whether the process may load eBPF programs; prints why not otherwise.
pub fn can_load_ebpf() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        true
    } else {
        skip_or_fail("loading eBPF programs needs root (or CAP_BPF + CAP_NET_ADMIN)");
        false
    }
}

/// Whether `program` (e.g. editcap) is on PATH; prints why not otherwise
/// (`cargo xtask setup` installs what the tests use).
pub fn has_program(program: &str, package: &str) -> bool {
    let found = std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()));
    if !found {
        skip_or_fail(&format!(
            "{program} not found (Debian package {package}; `cargo xtask setup` installs it)"
        ));
    }
    found
}
