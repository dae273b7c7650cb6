//! `cargo xtask bench veth`: what the monitor costs the host's other
//! traffic. Small UDP packets per second and TCP bulk throughput (iperf3)
//! through the bench's veth pair, with no program, with do-nothing XDP and
//! TC programs, and with pxe-monitor in each ingress mode on the receiving
//! end, the setups alternating within each round.

use std::{
    fs::File,
    net::UdpSocket,
    os::fd::AsRawFd,
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};

use super::{RECEIVER_NS, RX_IF, RX_IP, SENDER_NS, TX_IP, setup};
use crate::{
    agent::{self, Agent},
    sys::{netns_command, netns_path},
};

const ROUND: Duration = Duration::from_secs(3);
/// Rounds by default; `PXE_BENCH_ROUNDS` sets another number (the ratios
/// of the default mode are within the VM's noise of 0.98: more rounds tell
/// them apart).
const ROUNDS: usize = 4;

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
    let rounds: usize = match std::env::var("PXE_BENCH_ROUNDS") {
        Ok(v) => v
            .parse()
            .ok()
            .filter(|n| *n >= 2)
            .with_context(|| format!("PXE_BENCH_ROUNDS={v}: a number of rounds, 2 or more"))?,
        Err(_) => ROUNDS,
    };
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
        "{rounds} rounds of {} s each, the setups on {RX_IF} alternating within each round.",
        ROUND.as_secs()
    );
    let mut udp = vec![Vec::new(); SETUPS.len()];
    let mut tcp = vec![Vec::new(); SETUPS.len()];
    for _ in 0..rounds {
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
        let n = v.len();
        if n.is_multiple_of(2) {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        } else {
            v[n / 2]
        }
    };
    // The default's ratio round by round (each against the no-program run
    // of the same round, seconds apart), so that the VM's drift from one
    // round to the next cancels out.
    let per_round = |v: &[Vec<f64>], k: usize| -> (f64, f64, f64) {
        let mut r: Vec<f64> = v[k].iter().zip(&v[0]).map(|(a, b)| a / b).collect();
        let m = median(&mut r);
        (m, r[0], r[r.len() - 1])
    };
    let (udp_r, udp_lo, udp_hi) = per_round(&udp, 3);
    let (tcp_r, tcp_lo, tcp_hi) = per_round(&tcp, 3);
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
        "default (auto) / no program: small UDP {:.3}, TCP bulk {:.3} (medians of {rounds} rounds)",
        udp[3] / udp[0],
        tcp[3] / tcp[0]
    );
    println!(
        "default (auto) / no program, round by round: small UDP median {udp_r:.3} \
         (range {udp_lo:.3}..{udp_hi:.3}), TCP bulk median {tcp_r:.3} (range {tcp_lo:.3}..{tcp_hi:.3})"
    );
    Ok(())
}
