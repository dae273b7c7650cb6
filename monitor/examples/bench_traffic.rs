//! The sender of `cargo xtask bench storm` and `bench flood`: planted
//! traffic (`monitor::testing::planted`) written onto an interface inside
//! a network namespace the benchmark created, through an AF_PACKET socket,
//! paced (storm) or as fast as the socket takes it (flood). Writes what
//! each planted client must be judged, one JSON object a line.
//!
//! Usage:
//!   bench_traffic storm CLIENTS SECONDS NETNS INTERFACE EXPECTED.jsonl
//!   bench_traffic flood DISCOVERS BOOTS NETNS INTERFACE EXPECTED.jsonl
//!
//! Needs root; sends only on INTERFACE inside NETNS.

use std::{
    io::{self, Write as _},
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};
use monitor::{
    netns,
    testing::{planted, wire::Wire},
};

fn write_expected(path: &str, clients: &[planted::Client]) -> Result<()> {
    let mut out = io::BufWriter::new(std::fs::File::create(path)?);
    for c in clients {
        let (outcome, code) = c.plant.expected();
        let v = serde_json::json!({
            "client_mac": planted::mac_text(c.mac),
            "outcome": outcome,
            "code": code,
        });
        writeln!(out, "{v}")?;
    }
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [kind, n, m, ns, interface, expected] = args.as_slice() else {
        bail!("usage: bench_traffic storm|flood N M NETNS INTERFACE EXPECTED.jsonl");
    };
    let n: u64 = n.parse().context("N")?;
    let m: u64 = m.parse().context("M")?;
    let (sent, took) = netns::in_netns(ns, || -> Result<(u64, Duration)> {
        let wire = Wire::open(interface).context("AF_PACKET socket (needs root)")?;
        match kind.as_str() {
            // N clients over M seconds, each frame at its time.
            "storm" => {
                let (clients, frames) = planted::storm(n as u32, m * 1_000_000_000);
                write_expected(expected, &clients)?;
                let start = Instant::now();
                for (at, f) in &frames {
                    let due = Duration::from_nanos(*at);
                    while start.elapsed() < due {
                        std::hint::spin_loop();
                    }
                    wire.send(f).context("sending a frame")?;
                }
                Ok((frames.len() as u64, start.elapsed()))
            }
            // N forged DISCOVERs as fast as they go, M real boots spread
            // evenly through them.
            "flood" => {
                let real: Vec<planted::Client> = (0..m as u32)
                    .map(|i| planted::client(i, planted::Plant::of(i)))
                    .collect();
                write_expected(expected, &real)?;
                let every = n / (m + 1);
                let start = Instant::now();
                let mut sent = 0;
                for i in 0..n {
                    wire.send(&planted::forged_discover(i))
                        .context("sending a frame")?;
                    sent += 1;
                    if every > 0
                        && i % every == every - 1
                        && let Some(c) = real.get((i / every) as usize)
                    {
                        for (_, f) in &c.frames {
                            wire.send(f).context("sending a frame")?;
                            sent += 1;
                        }
                    }
                }
                Ok((sent, start.elapsed()))
            }
            other => bail!("no traffic kind {other:?}: storm or flood"),
        }
    })??;
    println!(
        "sent {sent} frames in {:.2} s ({:.0} frames/s)",
        took.as_secs_f64(),
        sent as f64 / took.as_secs_f64()
    );
    Ok(())
}
