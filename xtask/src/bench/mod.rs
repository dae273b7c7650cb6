//! The benchmarks: `veth` (what the monitor costs the host's other
//! traffic), `storm` and `flood` (planted traffic at fleet size and a DHCP
//! flood through a live agent: `load`), and `replay` and `kernel` (the
//! monitor package's benchmark examples). Here: the two namespaces and the
//! veth pair the live ones run on, and running an example.
//!
//! Traffic stays inside the two namespaces this module creates
//! (10.99.0.0/24) and each run is bounded in time.

mod load;
mod veth;

pub use load::{flood, storm};
pub use veth::veth;

use std::{process::Command, time::Instant};

use anyhow::{Context as _, Result, bail};

use crate::{
    agent,
    sys::{ip, ns_exists},
};

const SENDER_NS: &str = "pxe-bench-tx";
const RECEIVER_NS: &str = "pxe-bench-rx";
const RX_IF: &str = "brx0";
const TX_IF: &str = "btx0";
const RX_IP: &str = "10.99.0.2";
const TX_IP: &str = "10.99.0.1";

/// Deletes the namespaces on drop (also on error).
struct Namespaces;

impl Drop for Namespaces {
    fn drop(&mut self) {
        for ns in [SENDER_NS, RECEIVER_NS] {
            let _ = ip(None, &["netns", "del", ns]);
        }
    }
}

fn setup() -> Result<Namespaces> {
    for ns in [SENDER_NS, RECEIVER_NS] {
        if ns_exists(ns) {
            bail!("namespace {ns} exists: a previous run did not finish; `ip netns del {ns}`");
        }
    }
    ip(None, &["netns", "add", SENDER_NS])?;
    let guard = Namespaces;
    ip(None, &["netns", "add", RECEIVER_NS])?;
    ip(
        Some(SENDER_NS),
        &[
            "link",
            "add",
            TX_IF,
            "type",
            "veth",
            "peer",
            "name",
            RX_IF,
            "netns",
            RECEIVER_NS,
        ],
    )?;
    ip(
        Some(SENDER_NS),
        &["addr", "add", &format!("{TX_IP}/24"), "dev", TX_IF],
    )?;
    ip(
        Some(RECEIVER_NS),
        &["addr", "add", &format!("{RX_IP}/24"), "dev", RX_IF],
    )?;
    for (ns, dev) in [
        (SENDER_NS, TX_IF),
        (RECEIVER_NS, RX_IF),
        (SENDER_NS, "lo"),
        (RECEIVER_NS, "lo"),
    ] {
        ip(Some(ns), &["link", "set", dev, "up"])?;
    }
    Ok(guard)
}

/// `cargo xtask bench replay`: `pxe-monitor replay` against tshark on the
/// same large capture (built at bench time from the lab captures, at least
/// 1M frames), and the tracker alone.
pub fn replay() -> Result<()> {
    let root = agent::workspace_root();
    let fixtures = root.join("../shared/fixtures");
    if !fixtures.is_dir() {
        bail!(
            "the benchmark capture is built from {}: not found",
            fixtures.display()
        );
    }
    let dir = root.join("target/bench");
    std::fs::create_dir_all(&dir)?;
    let pcap = dir.join("replay-1m.pcap");
    let cargo = |args: &[&str]| -> Result<()> {
        let status = Command::new(env!("CARGO"))
            .args(args)
            .current_dir(&root)
            .status()?;
        if !status.success() {
            bail!("cargo {}: {status}", args.join(" "));
        }
        Ok(())
    };
    cargo(&[
        "build",
        "--quiet",
        "--release",
        "--package",
        "monitor",
        "--bin",
        "pxe-monitor",
    ])?;
    println!("building the capture and timing the tracker alone:");
    run_example("bench_replay", &[fixtures.as_os_str(), pcap.as_os_str()])?;
    let frames = 1_000_000f64;
    // Best of 3 runs each (the file is in the page cache after the first).
    let time = |cmd: &mut Command| -> Result<f64> {
        let mut best = f64::MAX;
        for _ in 0..3 {
            let start = Instant::now();
            let out = cmd.stdout(std::process::Stdio::null()).status()?;
            if !out.success() {
                bail!("{cmd:?}: {out}");
            }
            best = best.min(start.elapsed().as_secs_f64());
        }
        Ok(best)
    };
    let bin = root.join("target/release/pxe-monitor");
    let ours = time(
        Command::new(&bin)
            .args(["replay", "--format", "json"])
            .arg(&pcap),
    )?;
    let theirs = time(
        Command::new("tshark")
            .args(["-n", "-r"])
            .arg(&pcap)
            .args(["-Y", "dhcp || tftp || http"]),
    )?;
    println!();
    println!("| reader | seconds (best of 3) | frames/s |");
    println!("|---|---:|---:|");
    println!(
        "| `pxe-monitor replay --format json` | {ours:.2} | {:.0} |",
        frames / ours
    );
    println!(
        "| `tshark -n -r FILE -Y 'dhcp || tftp || http'` | {theirs:.2} | {:.0} |",
        frames / theirs
    );
    println!();
    println!("pxe-monitor / tshark: {:.1}x", theirs / ours);
    Ok(())
}

/// Runs a benchmark example of the `monitor` package (release build).
fn run_example(example: &str, args: &[&std::ffi::OsStr]) -> Result<()> {
    let status = Command::new(env!("CARGO"))
        .args([
            "run",
            "--quiet",
            "--release",
            "--package",
            "monitor",
            "--example",
            example,
            "--",
        ])
        .args(args)
        .current_dir(agent::workspace_root())
        .status()
        .context("running cargo")?;
    if !status.success() {
        bail!("{example} failed: {status}");
    }
    Ok(())
}

/// `cargo xtask bench kernel`: ns per frame of the XDP program next to a
/// bare XDP_PASS program (BPF_PROG_TEST_RUN), same run.
pub fn kernel() -> Result<()> {
    let fixtures = agent::workspace_root().join("../shared/fixtures");
    if !fixtures.is_dir() {
        bail!(
            "the benchmark frames come from {}: not found",
            fixtures.display()
        );
    }
    run_example("bench_kernel", &[fixtures.as_os_str()])
}
