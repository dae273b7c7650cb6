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
    ffi::CString,
    io::{self, Write as _},
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};
use monitor::{netns, testing::planted};

/// An AF_PACKET socket bound to one interface, for writing whole frames.
struct Wire(OwnedFd);

impl Wire {
    fn open(interface: &str) -> Result<Wire> {
        let name = CString::new(interface)?;
        // SAFETY: `name` is NUL-terminated and lives across the call.
        let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
        if ifindex == 0 {
            bail!("no interface {interface}");
        }
        // SAFETY: socket() has no memory preconditions; the fd is owned below.
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error()).context("AF_PACKET socket (needs root)");
        }
        // SAFETY: a new descriptor nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: all-zero is a valid sockaddr_ll.
        let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        addr.sll_family = libc::AF_PACKET as u16;
        addr.sll_ifindex = ifindex as i32;
        // SAFETY: `addr` is a valid sockaddr_ll of the length passed.
        let r = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&raw const addr).cast(),
                size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        if r != 0 {
            return Err(io::Error::last_os_error()).context("binding the AF_PACKET socket");
        }
        Ok(Wire(fd))
    }

    /// Writes one frame, waiting while the device queue is full.
    fn send(&self, frame: &[u8]) -> Result<()> {
        loop {
            // SAFETY: `frame` is readable for its length.
            let n =
                unsafe { libc::send(self.0.as_raw_fd(), frame.as_ptr().cast(), frame.len(), 0) };
            if n >= 0 {
                return Ok(());
            }
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::ENOBUFS) && e.kind() != io::ErrorKind::WouldBlock {
                return Err(e).context("sending a frame");
            }
            std::thread::yield_now();
        }
    }
}

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
        let wire = Wire::open(interface)?;
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
                    wire.send(f)?;
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
                    wire.send(&planted::forged_discover(i))?;
                    sent += 1;
                    if every > 0
                        && i % every == every - 1
                        && let Some(c) = real.get((i / every) as usize)
                    {
                        for (_, f) in &c.frames {
                            wire.send(f)?;
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
