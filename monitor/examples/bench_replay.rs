//! Builds the large capture for `cargo xtask bench replay` (every lab
//! capture, repeated with timestamps shifted until there are at least
//! 1,000,000 frames) and measures the session tracker alone on the events
//! of that capture.
//!
//! Usage: bench_replay FIXTURES_DIR OUT.pcap

use std::{fs::File, io::BufWriter, path::PathBuf, time::Instant};

use anyhow::{Context as _, Result};
use monitor::{
    capture,
    host::HostObserver,
    session::{Timeouts, Tracker},
};
use monitor_common::Direction;
use pcap_file::{
    DataLink,
    pcap::{PcapHeader, PcapPacket, PcapWriter},
};

const FRAMES: usize = 1_000_000;
/// Each copy starts this long after the previous one: past the tracker's
/// idle timeout, so every copy is a new set of boots.
const SHIFT_S: u64 = 600;

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let fixtures = PathBuf::from(
        args.next()
            .context("usage: bench_replay FIXTURES_DIR OUT.pcap")?,
    );
    let out = PathBuf::from(
        args.next()
            .context("usage: bench_replay FIXTURES_DIR OUT.pcap")?,
    );
    let mut frames = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(fixtures.join("lab-pcaps"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "pcap"))
        .collect();
    files.sort();
    for f in &files {
        let packets = capture::read_file(f)?;
        let t0 = packets.first().map_or(0, |p| p.timestamp.as_nanos() as u64);
        for p in packets.into_iter().filter(|p| p.is_ethernet()) {
            frames.push((p.timestamp.as_nanos() as u64 - t0, p.orig_len, p.data));
        }
    }
    let header = PcapHeader {
        datalink: DataLink::ETHERNET,
        snaplen: 65535,
        ..PcapHeader::default()
    };
    let mut w = PcapWriter::with_header(BufWriter::new(File::create(&out)?), header)?;
    let (mut written, mut copy) = (0usize, 0u64);
    let base: u64 = 1_800_000_000 * 1_000_000_000;
    while written < FRAMES {
        for (t, orig_len, data) in &frames {
            let ts = std::time::Duration::from_nanos(base + copy * SHIFT_S * 1_000_000_000 + t);
            w.write_packet(&PcapPacket::new(ts, *orig_len, data))?;
            written += 1;
        }
        copy += 1;
    }
    drop(w);
    println!(
        "wrote {written} frames ({copy} copies of {} lab captures) to {}",
        files.len(),
        out.display()
    );

    // The tracker alone: the events of the whole capture, then timed.
    let mut host = HostObserver::default();
    let mut events = Vec::new();
    for p in capture::read_file(&out)? {
        let now = p.timestamp.as_nanos() as u64;
        host.observe_at(&p.data, Direction::Ingress, now);
        for (_, ev) in host.events.drain(..) {
            events.push((ev, now));
        }
    }
    let mut best = f64::MAX;
    for _ in 0..3 {
        let mut tracker = Tracker::new(65536, Timeouts::default()).without_timeline();
        let start = Instant::now();
        let mut last_tick = 0;
        for (ev, now) in &events {
            tracker.on_event(ev, *now);
            if *now >= last_tick + 1_000_000_000 {
                tracker.on_tick(*now);
                last_tick = *now;
            }
        }
        let verdicts = tracker.finish();
        best = best.min(start.elapsed().as_secs_f64());
        if std::env::var_os("BENCH_DEBUG").is_some() {
            let max_t = verdicts
                .iter()
                .map(|v| v.transfers.len())
                .max()
                .unwrap_or(0);
            eprintln!("verdicts {} max transfers {max_t}", verdicts.len());
        }
        assert!(!verdicts.is_empty());
    }
    println!(
        "tracker alone: {} events in {best:.3} s = {:.0} events/s (one core, best of 3)",
        events.len(),
        events.len() as f64 / best
    );
    Ok(())
}
