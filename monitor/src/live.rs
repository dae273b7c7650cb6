//! The live driver of the session tracker: kernel events from the
//! ring-buffer readers in, a tick a second for timeouts (the kernel's
//! transfer table says where each transfer stands), and every verdict out
//! to its sinks: the session metrics, the log, `/api/sessions`, and the
//! failure-spike alert with its webhook.

use std::{
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use tokio::sync::mpsc;
use tracing::warn;

use crate::{
    alert::{AlertChange, SpikeConfig, SpikeDetector},
    event::Stamped,
    kernel::{Probes, monotonic_ns},
    metrics::sessions::SessionMetrics,
    recent::Recent,
    report,
    session::Tracker,
};

/// Events in flight from the ring-buffer readers to the tracker (a few ms
/// of a boot storm; the ring buffers hold the rest).
pub const EVENT_QUEUE: usize = 4096;

/// How often a full session table is logged, at most.
const EVICTION_LOG_NS: u64 = 60_000_000_000;

/// Where verdicts go.
pub struct Sinks {
    pub recent: Arc<Recent>,
    pub metrics: SessionMetrics,
    pub spike: SpikeConfig,
    /// The Alertmanager delivery task, if configured.
    pub webhook: Option<mpsc::UnboundedSender<AlertChange>>,
}

/// Runs `tracker` on the events until the channel closes.
pub async fn track(
    mut rx: mpsc::Receiver<Stamped>,
    mut tracker: Tracker,
    probes: &Probes,
    sinks: Sinks,
) {
    let mut detector = SpikeDetector::new(sinks.spike);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    // Kernel time is monotonic; verdicts carry wall-clock times.
    let wall_now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let offset = wall_now.saturating_sub(monotonic_ns());
    let (mut started, mut evicted, mut evicted_logged) = (0, 0, 0);
    let mut evictions_logged_at: Option<u64> = None;
    let mut dhcp_seen = false;
    loop {
        tokio::select! {
            ev = rx.recv() => match ev {
                Some((ev, ns)) => tracker.on_event(&ev, ns),
                None => break,
            },
            _ = tick.tick() => {
                // DHCP of any client on a watched interface (for
                // `--tftp-only-clients auto`).
                if !dhcp_seen && probes.dhcp_seen() {
                    dhcp_seen = true;
                    tracker.dhcp_seen();
                }
                tracker.on_tick_with(monotonic_ns(), &|k| probes.tftp_flow(k));
            }
        }
        for m in tracker.take_measurements() {
            sinks.metrics.measure(&m);
        }
        let done = tracker
            .take_decided()
            .into_iter()
            .chain(tracker.take_finished());
        for mut v in done {
            sinks.metrics.record(&v);
            detector.observe(monotonic_ns(), &v);
            v.first_seen_ns += offset;
            v.last_seen_ns += offset;
            report::log_verdict(&v);
            sinks.recent.push(v);
        }
        if let Some(change) = detector.check(monotonic_ns()) {
            report::log_alert(&change);
            if let Some(w) = &sinks.webhook {
                // The delivery task retries on its own; nothing waits here.
                let _ = w.send(change);
            }
        }
        sinks.metrics.started.inc_by(tracker.started - started);
        started = tracker.started;
        sinks.metrics.active.set(tracker.active() as i64);
        if tracker.evicted != evicted {
            sinks.metrics.evictions.inc_by(tracker.evicted - evicted);
            evicted = tracker.evicted;
            // One line a minute at most: a flood evicts thousands a second.
            let now = monotonic_ns();
            if evictions_logged_at.is_none_or(|t| now.saturating_sub(t) >= EVICTION_LOG_NS) {
                warn!(
                    evicted = evicted - evicted_logged,
                    max_sessions = tracker.max_sessions(),
                    "session table full: the oldest sessions were closed early (each still gets its verdict; pxe_tracker_evictions_total counts them)"
                );
                evicted_logged = evicted;
                evictions_logged_at = Some(now);
            }
        }
    }
}
