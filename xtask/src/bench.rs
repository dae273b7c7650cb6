//! The benchmarks. `cargo xtask bench veth`: small UDP packets per second
//! and TCP bulk throughput (iperf3) through a veth pair between two network
//! namespaces, with no program, with do-nothing XDP and TC programs, and
//! with pxe-monitor in each ingress mode on the receiving end, in
//! alternating rounds of the same run. `bench replay` and
//! `bench kernel` run the monitor package's benchmark examples.
//!
//! Traffic stays inside the two namespaces this command creates (10.99.0.0/24)
//! and each round is bounded in time.

use std::{
    fs::File,
    net::UdpSocket,
    os::fd::AsRawFd,
    process::Command,
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};

use crate::{
    agent::{self, Agent},
    sys::{ip, netns_command, netns_path, ns_exists},
};

const SENDER_NS: &str = "pxe-bench-tx";
const RECEIVER_NS: &str = "pxe-bench-rx";
const RX_IF: &str = "brx0";
const TX_IF: &str = "btx0";
const RX_IP: &str = "10.99.0.2";
const TX_IP: &str = "10.99.0.1";
const ROUND: Duration = Duration::from_secs(3);
const ROUNDS: usize = 4;

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

fn rx_packets() -> Result<u64> {
    let out = netns_command(RECEIVER_NS, "cat")
        .arg(format!("/sys/class/net/{RX_IF}/statistics/rx_packets"))
        .output()?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().parse()?)
}

/// Sends small UDP datagrams (not PXE: port 9999) from the sender namespace
/// for `ROUND`; returns packets per second received by the other end.
fn round() -> Result<f64> {
    let before = rx_packets()?;
    let start = Instant::now();
    thread::scope(|s| -> Result<()> {
        s.spawn(|| -> Result<()> {
            let ns = File::open(netns_path(SENDER_NS))?;
            // SAFETY: setns on this thread only, with an open namespace fd.
            if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                bail!("setns: {}", std::io::Error::last_os_error());
            }
            let sock = UdpSocket::bind(format!("{TX_IP}:0"))?;
            let payload = [0u8; 18];
            let to = format!("{RX_IP}:9999");
            while start.elapsed() < ROUND {
                for _ in 0..256 {
                    // ENOBUFS/ECONNREFUSED under load: keep sending.
                    let _ = sock.send_to(&payload, &to);
                }
            }
            Ok(())
        })
        .join()
        .map_err(|_| anyhow::anyhow!("sender panicked"))?
    })?;
    let secs = start.elapsed().as_secs_f64();
    thread::sleep(Duration::from_millis(100));
    Ok((rx_packets()? - before) as f64 / secs)
}

/// TCP bulk from the sender namespace to an iperf3 server in the receiver
/// namespace for `ROUND`; returns the received bits per second.
fn tcp_round() -> Result<f64> {
    let out = netns_command(SENDER_NS, "iperf3")
        .args(["-c", RX_IP, "-t"])
        .arg(ROUND.as_secs().to_string())
        .args(["-J", "--connect-timeout", "2000"])
        .output()
        .context("running iperf3 (cargo xtask setup installs it)")?;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .with_context(|| format!("iperf3 output: {}", String::from_utf8_lossy(&out.stderr)))?;
    v["end"]["sum_received"]["bits_per_second"]
        .as_f64()
        .with_context(|| format!("no throughput in iperf3's report: {v}"))
}

/// The iperf3 server in the receiver namespace, stopped on drop.
struct Iperf(std::process::Child);

impl Drop for Iperf {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What is on the receiving veth in one column of the table.
struct Setup {
    name: &'static str,
    /// pxe-monitor's flags; `None`: no program at all.
    flags: Option<&'static [&'static str]>,
}

const SETUPS: &[Setup] = &[
    Setup {
        name: "no program",
        flags: None,
    },
    Setup {
        name: "bare XDP_PASS (native)",
        flags: Some(&["--ingress", "xdp", "--bench-bare"]),
    },
    Setup {
        name: "bare TC (TCX ingress)",
        flags: Some(&["--ingress", "tc", "--bench-bare"]),
    },
    Setup {
        name: "pxe-monitor, default (auto: TC ingress + TC egress)",
        flags: Some(&[]),
    },
    Setup {
        name: "pxe-monitor --ingress xdp (native XDP + TC egress)",
        flags: Some(&["--ingress", "xdp"]),
    },
    Setup {
        name: "pxe-monitor --ingress xdp-generic (+ TC egress)",
        flags: Some(&["--ingress", "xdp-generic"]),
    },
];

pub fn veth() -> Result<()> {
    let bin = agent::build_monitor()?;
    let _ns = setup()?;
    let _server = Iperf(
        netns_command(RECEIVER_NS, "iperf3")
            .args(["-s", "-B", RX_IP])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .context("starting iperf3 -s (cargo xtask setup installs iperf3)")?,
    );
    thread::sleep(Duration::from_millis(500));
    println!(
        "Over a veth pair from {SENDER_NS} to {RECEIVER_NS}: small UDP datagrams (18-byte payload, port 9999) and TCP bulk (iperf3),"
    );
    println!(
        "{ROUNDS} rounds of {} s each, the setups on {RX_IF} alternating within each round.",
        ROUND.as_secs()
    );
    let mut udp = vec![Vec::new(); SETUPS.len()];
    let mut tcp = vec![Vec::new(); SETUPS.len()];
    for _ in 0..ROUNDS {
        for (k, setup) in SETUPS.iter().enumerate() {
            let agent = match setup.flags {
                None => None,
                Some(flags) => Some(Agent::start_with(
                    &bin,
                    RECEIVER_NS,
                    RX_IF,
                    agent::free_port()?,
                    flags,
                )?),
            };
            udp[k].push(round()?);
            tcp[k].push(tcp_round()?);
            if let Some(mut agent) = agent {
                if !setup.flags.is_some_and(|f| f.contains(&"--bench-bare")) {
                    let m = agent.metrics()?;
                    let labels = [("direction", "ingress"), ("class", "other_udp")];
                    if crate::scrape::sum(&m, "pxe_packets_total", &labels) == 0 {
                        bail!(
                            "{}: the monitor counted no packets: it was not attached",
                            setup.name
                        );
                    }
                }
                agent.stop()?;
            }
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0
    };
    let udp: Vec<f64> = udp.iter_mut().map(median).collect();
    let tcp: Vec<f64> = tcp.iter_mut().map(median).collect();
    println!();
    println!("| receiving veth | small UDP, packets/s | ratio | TCP bulk, Gbit/s | ratio |");
    println!("|---|---:|---:|---:|---:|");
    for (k, setup) in SETUPS.iter().enumerate() {
        println!(
            "| {} | {:.0} | {:.3} | {:.2} | {:.3} |",
            setup.name,
            udp[k],
            udp[k] / udp[0],
            tcp[k] / 1e9,
            tcp[k] / tcp[0]
        );
    }
    println!();
    println!(
        "default (auto) / no program: small UDP {:.3}, TCP bulk {:.3} (median of {ROUNDS} rounds)",
        udp[3] / udp[0],
        tcp[3] / tcp[0]
    );
    Ok(())
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
            .args(["-Y", "dhcp || tftp"]),
    )?;
    println!();
    println!("| reader | seconds (best of 3) | frames/s |");
    println!("|---|---:|---:|");
    println!(
        "| `pxe-monitor replay --format json` | {ours:.2} | {:.0} |",
        frames / ours
    );
    println!(
        "| `tshark -n -r FILE -Y 'dhcp || tftp'` | {theirs:.2} | {:.0} |",
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
