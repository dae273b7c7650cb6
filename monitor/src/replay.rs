//! The replay driver of the session tracker: capture files through the
//! host replica of the kernel programs and the same tracker as live
//! traffic, the capture's timestamps as the clock.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use monitor_common::Direction;
use pcap_file::DataLink;

use crate::{
    capture::{self, PacketRef, ethernet_frame, link_supported},
    host::HostObserver,
    session::{Progress, Tables, TftpOnlyClients, Timeouts, Tracker},
    verdict::Verdict,
};

/// How to replay.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Clients followed at once (`None`: no bound, as a capture is finite);
    /// the oldest is closed early, with its verdict, when full.
    pub max_sessions: Option<usize>,
    /// Each verdict carries its client's steps (text output).
    pub timeline: bool,
    pub tftp_only: TftpOnlyClients,
    /// New client MACs a second above which a DHCP flood is under way.
    pub flood_clients: u32,
    /// The web ports followed beyond the fixed ones (`--http-port`,
    /// `--https-port`).
    pub web_ports: monitor_common::conn::WebPorts,
}

/// What a replay found.
#[derive(Debug, Default)]
pub struct Replayed {
    pub verdicts: Vec<Verdict>,
    /// Sessions closed early because `max_sessions` were open.
    pub evicted: u64,
    /// Frames of link types that cannot be read, by link type.
    pub unsupported: Vec<(DataLink, u64)>,
}

/// A replay under way: the host replica of the kernel programs, the
/// tracker, and the capture's clock. [`replay`] feeds it files; the fuzz
/// target feeds it the frames of arbitrary bytes.
pub struct Replayer {
    host: HostObserver,
    tracker: Tracker,
    last_tick: u64,
}

impl Replayer {
    pub fn new(opts: Options) -> Self {
        let host = HostObserver {
            web_ports: opts.web_ports,
            ..HostObserver::default()
        };
        let mut tracker =
            Tracker::new(opts.max_sessions.unwrap_or(usize::MAX), Timeouts::default())
                .with_tftp_only(opts.tftp_only)
                .with_flood_bound(opts.flood_clients);
        if !opts.timeline {
            tracker = tracker.without_timeline();
        }
        Replayer {
            host,
            tracker,
            last_tick: 0,
        }
    }

    /// One captured frame, its timestamp the clock; false when it cannot
    /// be read as Ethernet (a link type not read, or shorter than its link
    /// header).
    pub fn frame(&mut self, p: &PacketRef<'_>) -> bool {
        let Some(frame) = ethernet_frame(p) else {
            return false;
        };
        let (host, tracker) = (&mut self.host, &mut self.tracker);
        let now = u64::try_from(p.timestamp.as_nanos()).unwrap_or(u64::MAX);
        let before = host.events.len();
        host.observe_at(&frame, Direction::Ingress, now);
        for mac in host.cut_short.drain(..) {
            tracker.dhcp_cut_short(mac);
        }
        if tracker.wants_dhcp_seen() && host.counters.dhcp_types.iter().any(|n| *n > 0) {
            tracker.dhcp_seen();
        }
        for (_, ev) in &host.events[before..] {
            tracker.on_event(ev, now);
        }
        // Events are not needed once the tracker has them.
        host.events.clear();
        // Timeouts need no finer clock than a second (as live).
        if now >= self.last_tick.saturating_add(1_000_000_000) {
            // The host's transfer table says where each transfer stands.
            tracker.on_tick_with(
                now,
                &Progress {
                    tftp: &|k| host.tftp_flow(k),
                    http: &|k| host.http_conn(k),
                },
            );
            self.last_tick = now;
        }
        true
    }

    /// How full the tracker's tables are.
    pub fn tables(&self) -> Tables {
        self.tracker.tables()
    }

    /// Sessions started so far.
    pub fn started(&self) -> u64 {
        self.tracker.started
    }

    /// Every verdict: those decided on the way, then the sessions still
    /// open, closed as the capture ends.
    pub fn finish(mut self) -> Replayed {
        let mut verdicts = self.tracker.take_finished();
        verdicts.extend(self.tracker.finish());
        Replayed {
            verdicts,
            evicted: self.tracker.evicted,
            unsupported: Vec::new(),
        }
    }
}

/// Runs capture files, in order, through the classifier and the tracker.
pub fn replay(files: &[PathBuf], opts: Options) -> Result<Replayed> {
    let mut replayer = Replayer::new(opts);
    let mut unsupported = Vec::new();
    for path in files {
        let (mut read, mut skipped) = (0u64, Vec::<(DataLink, u64)>::new());
        let result = capture::for_each(path, |p| {
            if replayer.frame(&p) {
                read += 1;
            } else if !link_supported(p.link) {
                match skipped.iter_mut().find(|(l, _)| *l == p.link) {
                    Some((_, n)) => *n += 1,
                    None => skipped.push((p.link, 1)),
                }
            }
        });
        match result {
            // A capture cut short (the capturing program was killed): what
            // was written before still counts.
            Err(e @ capture::CaptureError::Damaged { .. }) => {
                tracing::warn!("{e}; the verdicts use the frames before");
            }
            r => {
                r?;
            }
        }
        if read == 0
            && let Some((link, _)) = skipped.first()
        {
            bail!("{}", unsupported_link(path, *link));
        }
        for (link, n) in &skipped {
            tracing::warn!("{n} frame(s) skipped: {}", unsupported_link(path, *link));
        }
        unsupported.extend(skipped);
    }
    let mut out = replayer.finish();
    out.unsupported = unsupported;
    Ok(out)
}

fn unsupported_link(path: &Path, link: DataLink) -> String {
    format!(
        "{}: link type {} ({link:?}) is not supported; pxe-monitor reads Ethernet, Linux cooked (SLL, SLL2) and BSD loopback captures; capture on a wired interface",
        path.display(),
        u32::from(link)
    )
}
