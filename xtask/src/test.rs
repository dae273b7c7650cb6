//! `cargo xtask test`: every check, set-up included, with the time each
//! phase took.

use std::{
    process::Command,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};

use crate::{agent, package, setup};

struct Phase {
    name: &'static str,
    took: Duration,
    ok: bool,
}

pub fn run() -> Result<()> {
    let mut phases = Vec::new();
    let result = run_phases(&mut phases);
    println!();
    println!("xtask test: phase times");
    for p in &phases {
        println!(
            "  {:<34} {:>8.1} s  {}",
            p.name,
            p.took.as_secs_f64(),
            if p.ok { "ok" } else { "FAILED" }
        );
    }
    let total: Duration = phases.iter().map(|p| p.took).sum();
    println!("  {:<34} {:>8.1} s", "total", total.as_secs_f64());
    result
}

fn phase(
    phases: &mut Vec<Phase>,
    name: &'static str,
    f: impl FnOnce() -> Result<()>,
) -> Result<()> {
    println!("\n=== xtask test: {name}");
    let start = Instant::now();
    let r = f();
    phases.push(Phase {
        name,
        took: start.elapsed(),
        ok: r.is_ok(),
    });
    r.with_context(|| format!("phase '{name}' failed"))
}

fn cargo(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO"));
    c.args(args).current_dir(agent::workspace_root());
    c
}

fn check(mut cmd: Command) -> Result<()> {
    let status = cmd.status().with_context(|| format!("starting {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?}: {status}");
    }
    Ok(())
}

/// The eBPF crate is left out of host builds (its binary is `no_main`);
/// monitor's build.rs builds it for the BPF target, and it is linted alone.
fn run_phases(phases: &mut Vec<Phase>) -> Result<()> {
    phase(phases, "setup", || {
        setup::run()?;
        // Namespaces a killed run left (empty ones only) would make the
        // lab tests below refuse to start.
        let swept = crate::lab::sweep_abandoned()?;
        if !swept.is_empty() {
            println!(
                "deleted {} namespace(s) a killed run left behind, with no process in them: {}",
                swept.len(),
                swept.join(", ")
            );
        }
        Ok(())
    })?;
    phase(phases, "rustfmt --check", || {
        check(cargo(&["fmt", "--all", "--check"]))?;
        // The fuzz targets are a workspace of their own.
        check(cargo(&[
            "fmt",
            "--manifest-path",
            "fuzz/Cargo.toml",
            "--check",
        ]))
    })?;
    let bin = std::cell::OnceCell::new();
    phase(phases, "build", || {
        check(cargo(&[
            "build",
            "--workspace",
            "--exclude",
            "monitor-ebpf",
            "--all-targets",
        ]))?;
        bin.set(agent::build_monitor()?).ok();
        Ok(())
    })?;
    // The Debian package of the debug build made above (`agent::Profile::
    // Dev` says why; the upgrade's package is the same build with a higher
    // revision), installed by xtask/tests/package.rs.
    let debs = std::cell::OnceCell::new();
    phase(phases, "package: .debs of the debug build", || {
        let profile = agent::Profile::Dev;
        package::build(profile)?;
        let dir = agent::target_dir().join("package-test");
        let first = package::deb_into(None, profile, &dir)?;
        let upgrade = package::deb_into(Some("2"), profile, &dir)?;
        debs.set((first, upgrade)).ok();
        Ok(())
    })?;
    let image = std::cell::OnceCell::new();
    phase(phases, "container image (static, podman)", || {
        let bin = crate::container::build_static(agent::Profile::Dev)?;
        let tag = crate::container::test_image_tag();
        crate::container::build_image(&bin, &tag)?;
        image.set(tag).ok();
        Ok(())
    })?;
    phase(phases, "clippy (host crates)", || {
        check(cargo(&[
            "clippy",
            "--workspace",
            "--exclude",
            "monitor-ebpf",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]))
    })?;
    phase(phases, "clippy (eBPF crate)", || {
        let mut c = Command::new("rustup");
        c.args([
            "run",
            setup::NIGHTLY,
            "cargo",
            "clippy",
            "--package",
            "monitor-ebpf",
        ])
        .args([
            "--target",
            "bpfel-unknown-none",
            "-Z",
            "build-std=core",
            "--",
            "-D",
            "warnings",
        ])
        .current_dir(agent::workspace_root())
        .env_remove("RUSTC")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env(
            "CARGO_TARGET_DIR",
            agent::workspace_root().join("target/ebpf-clippy"),
        );
        check(c)
    })?;
    phase(phases, "promtool: alert rules and their tests", || {
        let dir = agent::workspace_root().join("dashboards/prometheus");
        let promtool = |args: &[&str]| {
            let mut c = Command::new("promtool");
            c.args(args).current_dir(&dir);
            check(c)
        };
        promtool(&["check", "rules", "alerts.yml"])?;
        promtool(&["check", "config", "prometheus.yml"])?;
        promtool(&["test", "rules", "tests/alerts_test.yml"])
    })?;
    phase(phases, "fuzz every target briefly (cargo fuzz)", || {
        // Two at a time: each target is one process on one core.
        crate::fuzz::run(crate::fuzz::Budget::Seconds(setup::FUZZ_SECONDS), &[], 2).map(|_| ())
    })?;
    phase(phases, "tests (unit, capture, kernel, end-to-end)", || {
        let mut c = cargo(&[
            "test",
            "--workspace",
            "--exclude",
            "monitor-ebpf",
            "--no-fail-fast",
        ]);
        c.env(
            "PXE_MONITOR_BIN",
            bin.get().context("pxe-monitor was not built")?,
        );
        let (deb, upgrade) = debs.get().context("the packages were not built")?;
        c.env("PXE_MONITOR_DEB", deb)
            .env("PXE_MONITOR_DEB_UPGRADE", upgrade);
        c.env(
            "PXE_MONITOR_IMAGE",
            image.get().context("the container image was not built")?,
        );
        check(c)
    })?;
    phase(phases, "e2e matrix: live, BIOS and UEFI", || {
        crate::e2e::run(crate::e2e::Options {
            scenarios: Vec::new(),
            firmware: Vec::new(),
            jobs: crate::e2e::DEFAULT_JOBS,
            out: None,
        })
    })?;
    Ok(())
}
