//! What `cargo xtask test` and `cargo xtask e2e` do first: the namespaces a
//! killed run left behind (the machine restarted mid-run, say) are deleted
//! when nothing runs in them, and a lab in use is left alone.
//!
//! Needs root (network namespaces). Without it the test says it is skipped;
//! with CI=true it fails instead.

use std::process::{Command, Stdio};

use xtask::{
    lab::{self, Names},
    sys,
    testing::skip_or_fail,
};

#[test]
fn namespaces_of_a_killed_run_are_deleted_and_a_lab_in_use_is_not() {
    if !sys::is_root() {
        skip_or_fail("network namespaces need root");
        return;
    }
    // Instances no test or e2e run uses (they use 0 and 1..=jobs).
    let (abandoned, in_use) = (Names::of(61), Names::of(62));
    for ns in [&abandoned.cli, &abandoned.srv, &in_use.cli, &in_use.srv] {
        sys::ip(None, &["netns", "add", ns]).expect("netns add");
    }
    let mut sleeper = sys::netns_command(&in_use.srv, "sleep")
        .arg("60")
        .stdin(Stdio::null())
        .spawn()
        .expect("sleep in the namespace in use");

    let swept = lab::sweep_abandoned();

    let _ = sleeper.kill();
    let _ = sleeper.wait();
    let still: Vec<bool> = [&abandoned.cli, &abandoned.srv, &in_use.cli, &in_use.srv]
        .iter()
        .map(|ns| sys::ns_exists(ns))
        .collect();
    for ns in [&abandoned.cli, &abandoned.srv, &in_use.cli, &in_use.srv] {
        let _ = Command::new("ip")
            .args(["netns", "del", ns])
            .stderr(Stdio::null())
            .status();
    }
    let swept = swept.expect("sweep");
    assert!(
        swept.contains(&abandoned.cli) && swept.contains(&abandoned.srv),
        "deleted: {swept:?}"
    );
    assert_eq!(
        still,
        [false, false, true, true],
        "cli/srv of 61, then of 62"
    );
    assert!(
        !swept.iter().any(|ns| ns.starts_with("pxe62-")),
        "a namespace of the lab in use was deleted: {swept:?}"
    );
}
