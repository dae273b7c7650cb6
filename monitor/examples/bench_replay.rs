//! Builds the large capture for `cargo xtask bench replay` (every lab
//! capture and an HTTP fetch of the healthy boot's client, repeated with
//! timestamps shifted until there are at least 1,000,000 frames) and
//! measures the session tracker alone on the events of that capture.
//!
//! Usage: bench_replay FIXTURES_DIR OUT.pcap

use std::{fs::File, io::BufWriter, path::PathBuf, time::Instant};

use anyhow::{Context as _, Result};
use monitor::{
    capture,
    host::HostObserver,
    session::{Timeouts, Tracker},
    testing::frames::{SERVER_MAC, tcp},
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
/// The lab capture whose client also fetches [`HTTP_BYTES`] over HTTP, and
/// that client (the address its PXE ACK gave it).
const HTTP_CLIENT_CAPTURE: &str = "a-healthy-dnsmasq.pcap";
const HTTP_CLIENT_MAC: [u8; 6] = [0x52, 0x54, 0, 0x77, 0, 0x10];
const HTTP_CLIENT: [u8; 4] = [10, 77, 10, 115];
const HTTP_SERVER: [u8; 4] = [10, 77, 10, 1];
const HTTP_BYTES: usize = 512 * 1024;
const MSS: usize = 1448;

/// An HTTP fetch as iPXE makes it, starting at `t0` ns: handshake, GET,
/// a 200 with a Content-Length and the body in MSS-sized segments (the
/// client acknowledging every second one), FINs. (time, frame) pairs.
fn http_fetch(t0: u64) -> Vec<(u64, Vec<u8>)> {
    use monitor_common::wire::tcp::flags::{ACK, FIN, PSH, SYN};
    let (c, srv) = ((HTTP_CLIENT, 49152), (HTTP_SERVER, 80));
    let to_server = |seq: u32, flags: u8, payload: &[u8]| {
        tcp(
            HTTP_CLIENT_MAC,
            SERVER_MAC,
            c,
            srv,
            seq,
            flags,
            &[],
            payload,
        )
    };
    let to_client = |seq: u32, flags: u8, payload: &[u8]| {
        tcp(
            SERVER_MAC,
            HTTP_CLIENT_MAC,
            srv,
            c,
            seq,
            flags,
            &[],
            payload,
        )
    };
    let get = b"GET /vmlinuz HTTP/1.1\r\nConnection: keep-alive\r\nUser-Agent: iPXE/1.21.1+\r\nHost: 10.77.10.1\r\n\r\n";
    let head = format!(
        "HTTP/1.0 200 OK\r\nServer: SimpleHTTP/0.6 Python/3.11.2\r\nContent-type: application/octet-stream\r\nContent-Length: {HTTP_BYTES}\r\n\r\n"
    );
    let (mut cs, mut ss) = (1000u32, 5000u32);
    let mut f = vec![
        to_server(cs, SYN, &[]),
        to_client(ss, SYN | ACK, &[]),
        to_server(cs + 1, ACK, &[]),
        to_server(cs + 1, ACK | PSH, get),
        to_client(ss + 1, ACK | PSH, head.as_bytes()),
    ];
    cs += 1 + get.len() as u32;
    ss += 1 + head.len() as u32;
    let body: Vec<u8> = (0..HTTP_BYTES).map(|i| (i % 251) as u8).collect();
    for (i, chunk) in body.chunks(MSS).enumerate() {
        f.push(to_client(ss, ACK, chunk));
        ss += chunk.len() as u32;
        if i % 2 == 1 {
            f.push(to_server(cs, ACK, &[]));
        }
    }
    f.push(to_client(ss, ACK | FIN, &[]));
    f.push(to_server(cs, ACK | FIN, &[]));
    // 10 µs apart: about 1 Gbit/s.
    f.into_iter()
        .enumerate()
        .map(|(i, frame)| (t0 + i as u64 * 10_000, frame))
        .collect()
}

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
        let mut last = 0;
        for p in packets.into_iter().filter(|p| p.is_ethernet()) {
            last = p.timestamp.as_nanos() as u64 - t0;
            frames.push((last, p.orig_len, p.data, None));
        }
        // The healthy boot's client goes on over HTTP a second later.
        if f.file_name().is_some_and(|n| n == HTTP_CLIENT_CAPTURE) {
            for (t, frame) in http_fetch(last + 1_000_000_000) {
                // Where the client's port is: source or destination.
                let at = if frame[34..36] == 80u16.to_be_bytes() {
                    36
                } else {
                    34
                };
                frames.push((t, frame.len() as u32, frame, Some(at)));
            }
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
        // Each copy's fetch from a port of its own, as each boot has.
        let port = (49152 + copy % 16000) as u16;
        for (t, orig_len, data, client_port) in &frames {
            let ts = std::time::Duration::from_nanos(base + copy * SHIFT_S * 1_000_000_000 + t);
            let data = match client_port {
                Some(at) => {
                    let mut d = data.clone();
                    d[*at..at + 2].copy_from_slice(&port.to_be_bytes());
                    std::borrow::Cow::Owned(d)
                }
                None => std::borrow::Cow::Borrowed(&data[..]),
            };
            w.write_packet(&PcapPacket::new(ts, *orig_len, &data))?;
            written += 1;
        }
        copy += 1;
    }
    drop(w);
    let http = http_fetch(0).len();
    println!(
        "wrote {written} frames ({copy} copies of {} lab captures and an HTTP fetch of {HTTP_BYTES} bytes in {http} frames) to {}",
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
        // Every copy's HTTP fetch arrived whole in its verdict.
        let fetched = verdicts
            .iter()
            .flat_map(|v| &v.transfers)
            .filter_map(|t| t.http.as_ref())
            .filter(|h| h.bytes == HTTP_BYTES as u64)
            .count() as u64;
        assert_eq!(fetched, copy, "HTTP fetches followed to their last byte");
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
