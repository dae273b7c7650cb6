//! The seed corpora of the fuzz targets whose input is not a capture,
//! made from the fixture captures (`cargo xtask fuzz` runs it; nothing it
//! writes is committed): every event the host replica of the kernel
//! programs builds from them, as a ring-buffer record (`records`); the
//! TFTP, HTTP and DHCPv6 payloads those events carry (`payloads`); and
//! each capture's events in the tracker target's step format (`tracker`,
//! `monitor::testing::steps`).
//!
//! Usage: fuzz_seeds FIXTURES_DIR OUT_DIR (writes OUT_DIR/{records,payloads,tracker}/)

use std::{
    collections::HashSet,
    fs,
    hash::{DefaultHasher, Hash, Hasher},
    mem::offset_of,
    path::{Path, PathBuf},
};

use anyhow::{Context as _, Result, bail};
use monitor::{
    capture::{self, ethernet_frame},
    event::{self, Event},
    host::HostObserver,
    testing::steps,
};
use monitor_common::{Direction, event::EventHeader};

/// Inputs longer than the tracker target reads are no use as its seeds.
const TRACKER_MAX_LEN: usize = 1024;

fn captures(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            captures(&p, out);
        } else if p
            .extension()
            .is_some_and(|x| x == "pcap" || x == "pcapng" || x == "cap")
        {
            out.push(p);
        }
    }
}

/// Writes each distinct input once, named by its hash.
struct Corpus {
    dir: PathBuf,
    seen: HashSet<u64>,
}

impl Corpus {
    fn new(dir: PathBuf) -> Result<Self> {
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Corpus {
            dir,
            seen: HashSet::new(),
        })
    }

    fn add(&mut self, bytes: &[u8]) -> Result<()> {
        let mut h = DefaultHasher::new();
        bytes.hash(&mut h);
        let h = h.finish();
        if !bytes.is_empty() && self.seen.insert(h) {
            fs::write(self.dir.join(format!("{h:016x}")), bytes)?;
        }
        Ok(())
    }
}

/// The ring-buffer record of `ev` (its header's clock and interface left
/// zero: the decoder does not read them).
fn record(dir: Direction, ev: &Event) -> Vec<u8> {
    let mut out = vec![0u8; size_of::<EventHeader>()];
    out[offset_of!(EventHeader, kind)] = ev.kind() as u8;
    out[offset_of!(EventHeader, direction)] = dir as u8;
    out.extend_from_slice(ev.bytes());
    out
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, fixtures, out] = args.as_slice() else {
        bail!("usage: fuzz_seeds FIXTURES_DIR OUT_DIR");
    };
    let mut files = Vec::new();
    captures(Path::new(fixtures), &mut files);
    files.sort();
    if files.is_empty() {
        bail!("no capture under {fixtures}");
    }
    let out = Path::new(out);
    let mut records = Corpus::new(out.join("records"))?;
    let mut payloads = Corpus::new(out.join("payloads"))?;
    let mut tracker = Corpus::new(out.join("tracker"))?;
    let mut events_seen = 0usize;
    for file in &files {
        let mut host = HostObserver::default();
        let mut seq = Vec::new();
        let mut last: Option<u64> = None;
        // A damaged capture still gives the frames before the damage.
        let _ = capture::for_each(file, |p| {
            let Some(frame) = ethernet_frame(&p) else {
                return;
            };
            let now = u64::try_from(p.timestamp.as_nanos()).unwrap_or(u64::MAX);
            host.observe_at(&frame, Direction::Ingress, now);
            for (dir, ev) in host.events.drain(..) {
                events_seen += 1;
                let _ = records.add(&record(dir, &ev));
                let payload: &[u8] = match &ev {
                    Event::Tftp(e) => &e.payload[..usize::from(e.payload_len).min(e.payload.len())],
                    Event::Http(e) => event::http_payload(e),
                    Event::Dhcp6(e) => event::dhcp6_message(e),
                    _ => &[],
                };
                let _ = payloads.add(payload);
                let dt = last.map_or(0, |l| now.saturating_sub(l));
                last = Some(now);
                if seq.len() < TRACKER_MAX_LEN {
                    steps::push_event(&mut seq, dt, &ev);
                }
            }
        });
        seq.truncate(TRACKER_MAX_LEN);
        tracker.add(&seq)?;
    }
    println!(
        "fuzz seeds: {} captures, {events_seen} events: {} records, {} payloads, {} tracker inputs in {}",
        files.len(),
        records.seen.len(),
        payloads.seen.len(),
        tracker.seen.len(),
        out.display()
    );
    Ok(())
}
