//! `pxe-monitor replay`: capture files through the same classifier and
//! tracker as live traffic, the capture's timestamps as the clock.

use std::{
    borrow::Cow,
    io::Write,
    net::Ipv4Addr,
    path::PathBuf,
    time::{Duration, UNIX_EPOCH},
};

use anyhow::{Context as _, Result};
use monitor_common::Direction;
use pcap_file::DataLink;
use serde::Serialize;

use crate::{
    capture::{self, PacketRef},
    host::HostObserver,
    tracker::{Outcome, Timeouts, Tracker, Verdict},
};

/// The frame as Ethernet: Ethernet as it is; Linux cooked (SLL, SLL2) and
/// BSD loopback captures get an Ethernet header built from their protocol
/// field. `None` for other link types.
pub fn ethernet_frame<'a>(p: &PacketRef<'a>) -> Option<Cow<'a, [u8]>> {
    let with_ethertype = |ethertype: [u8; 2], rest: &[u8]| {
        let mut f = Vec::with_capacity(14 + rest.len());
        f.extend_from_slice(&[0; 12]);
        f.extend_from_slice(&ethertype);
        f.extend_from_slice(rest);
        Cow::Owned(f)
    };
    let d = p.data;
    match p.link {
        DataLink::ETHERNET => Some(Cow::Borrowed(d)),
        // 16-byte header, protocol at 14.
        DataLink::LINUX_SLL if d.len() >= 16 => Some(with_ethertype([d[14], d[15]], &d[16..])),
        // 20-byte header, protocol at 0.
        DataLink::LINUX_SLL2 if d.len() >= 20 => Some(with_ethertype([d[0], d[1]], &d[20..])),
        // 4-byte address family (host or network order): 2 is IPv4.
        DataLink::NULL | DataLink::LOOP if d.len() >= 4 => {
            let family = u32::from_le_bytes([d[0], d[1], d[2], d[3]]);
            let ipv4 = family == 2 || family.swap_bytes() == 2;
            ipv4.then(|| with_ethertype([0x08, 0x00], &d[4..]))
        }
        _ => None,
    }
}

/// Runs capture files, in order, through the classifier and the tracker.
/// With `timeline`, each verdict carries its client's steps (text output).
pub fn verdicts(files: &[PathBuf], max_sessions: usize, timeline: bool) -> Result<Vec<Verdict>> {
    let mut host = HostObserver::default();
    let mut tracker = Tracker::new(max_sessions, Timeouts::default());
    if !timeline {
        tracker = tracker.without_timeline();
    }
    let mut last_tick = 0;
    for path in files {
        let read = capture::for_each(path, |p| {
            let Some(frame) = ethernet_frame(&p) else {
                return;
            };
            let now = p.timestamp.as_nanos() as u64;
            let before = host.events.len();
            host.observe_at(&frame, Direction::Ingress, now);
            let eth_src = (p.link == DataLink::ETHERNET && frame.len() >= 12).then(|| {
                let mut m = [0u8; 6];
                m.copy_from_slice(&frame[6..12]);
                m
            });
            for (_, ev) in &host.events[before..] {
                tracker.on_event(ev, now, eth_src);
            }
            // Events are not needed once the tracker has them.
            host.events.clear();
            // Timeouts need no finer clock than a second (as live).
            if now >= last_tick + 1_000_000_000 {
                // The host's transfer table says where each transfer stands.
                tracker.on_tick_with(now, &|k| host.tftp_flows.0.get(k).copied());
                last_tick = now;
            }
        });
        match read {
            // A capture cut short (the capturing program was killed): what
            // was written before still counts.
            Err(e @ capture::CaptureError::Damaged { .. }) => {
                tracing::warn!("{e}; the verdicts use the frames before");
            }
            r => {
                r?;
            }
        }
    }
    let mut v = tracker.take_finished();
    v.extend(tracker.finish());
    Ok(v)
}

/// One session as `--format json` prints it (a public interface: see the
/// README).
#[derive(Serialize)]
pub struct SessionJson<'a> {
    pub client_mac: String,
    pub outcome: Outcome,
    pub code: Option<&'a str>,
    pub server: Option<String>,
    pub boot_file: Option<&'a str>,
    pub cause: Option<&'a str>,
    pub fix: Option<&'a str>,
    /// What the client's firmware prints for this failure, where known
    /// (UEFI/EDK2).
    pub console: Option<&'a str>,
    pub warnings: &'a [String],
    pub transfers: &'a [crate::tracker::TransferResult],
    pub first_seen: String,
    pub last_seen: String,
}

pub fn mac_text(m: [u8; 6]) -> String {
    m.map(|b| format!("{b:02x}")).join(":")
}

fn rfc3339(ns: u64) -> String {
    humantime::format_rfc3339_micros(UNIX_EPOCH + Duration::from_nanos(ns)).to_string()
}

impl<'a> SessionJson<'a> {
    pub fn new(v: &'a Verdict) -> Self {
        SessionJson {
            client_mac: mac_text(v.client_mac),
            outcome: v.outcome,
            code: v.code,
            server: v.server.map(|s: Ipv4Addr| s.to_string()),
            boot_file: v.boot_file.as_deref(),
            cause: v.cause.as_deref(),
            fix: v.fix.as_deref(),
            console: v.console,
            warnings: &v.warnings,
            transfers: &v.transfers,
            first_seen: rfc3339(v.first_seen_ns),
            last_seen: rfc3339(v.last_seen_ns),
        }
    }
}

/// Human-readable: per client a timeline and the verdict.
pub fn write_text(out: &mut impl Write, verdicts: &[Verdict]) -> std::io::Result<()> {
    if verdicts.is_empty() {
        writeln!(out, "no PXE client in the input")?;
    }
    for v in verdicts {
        let outcome = match v.outcome {
            Outcome::Booted => "BOOTED".to_owned(),
            Outcome::Failed => format!("FAILED {}", v.code.unwrap_or("")),
            Outcome::Unfinished => "UNFINISHED".to_owned(),
            Outcome::Unknown => "UNKNOWN".to_owned(),
        };
        let file = v
            .boot_file
            .as_deref()
            .map_or(String::new(), |f| format!("  boot file {f:?}"));
        let server = v.server.map_or(String::new(), |s| format!("  server {s}"));
        writeln!(out, "{}  {outcome}{server}{file}", mac_text(v.client_mac))?;
        writeln!(
            out,
            "  first seen {}, last seen {}",
            rfc3339(v.first_seen_ns),
            rfc3339(v.last_seen_ns)
        )?;
        for (t, what) in &v.timeline {
            writeln!(out, "  {:>8.3}s  {what}", *t as f64 / 1e9)?;
        }
        if let Some(c) = &v.cause {
            writeln!(out, "  cause: {c}")?;
        }
        if let Some(f) = &v.fix {
            writeln!(out, "  fix:   {f}")?;
        }
        if let Some(c) = v.console {
            writeln!(out, "  the client's UEFI firmware shows: {c}")?;
        }
        for w in &v.warnings {
            writeln!(out, "  warning: {w}")?;
        }
        writeln!(out)?;
    }
    Ok(())
}

pub fn write_json(out: &mut impl Write, verdicts: &[Verdict]) -> Result<()> {
    for v in verdicts {
        serde_json::to_writer(&mut *out, &SessionJson::new(v)).context("writing JSON")?;
        writeln!(out)?;
    }
    Ok(())
}
