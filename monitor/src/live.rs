//! The live driver of the session tracker: kernel events from the
//! ring-buffer readers in, a tick a second for timeouts (the kernel's
//! transfer table says where each transfer stands), and every verdict out
//! to its sinks: the session metrics, the log, `/api/sessions`, and the
//! failure-spike alert and its delivery to Alertmanager.

use std::{
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use tokio::sync::mpsc;
use tracing::{info, warn};

use crate::{
    alert::{self, AlertChange, SpikeConfig, SpikeDetector},
    event::Stamped,
    kernel::{Probes, monotonic_ns},
    metrics::sessions::SessionMetrics,
    recent::Recent,
    report,
    session::{Progress, Tracker},
    verdict::Outcome,
};

/// Batches of events in flight from the ring-buffer readers to the
/// tracker (up to 4,096 events: a few ms of a boot storm; the ring buffers
/// hold the rest).
pub const EVENT_QUEUE: usize = 4096 / crate::kernel::ring::BATCH;

/// How often a full session table is logged, at most.
const EVICTION_LOG_NS: u64 = 60_000_000_000;

/// Where verdicts go.
pub struct Sinks {
    pub recent: Arc<Recent>,
    pub metrics: SessionMetrics,
    pub spike: SpikeConfig,
    /// The Alertmanager delivery task, if configured.
    pub alertmanager: Option<mpsc::UnboundedSender<AlertChange>>,
}

/// Runs `tracker` on the events until the channel closes.
pub async fn track(
    mut rx: mpsc::Receiver<Vec<Stamped>>,
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
    let (mut started, mut evicted, mut evicted_logged, mut flooded) = (0, 0, 0, 0);
    let mut evictions_logged_at: Option<u64> = None;
    let mut flood_logged = false;
    let mut ticks = 0u64;
    // Entries each interface's kernel tables had pushed out at the last
    // look: (interface, PXE transactions, TFTP transfers).
    let mut table_evictions: Vec<(String, u64, u64)> = Vec::new();
    // The most sessions followed since memory was last given back.
    let mut peak_active = 0;
    loop {
        tokio::select! {
            batch = rx.recv() => match batch {
                Some(batch) => {
                    for (ev, ns) in &batch {
                        tracker.on_event(ev, *ns);
                    }
                }
                None => break,
            },
            _ = tick.tick() => {
                // DHCP of any client on a watched interface (for
                // `--tftp-only-clients auto`).
                if tracker.wants_dhcp_seen() && probes.dhcp_seen() {
                    tracker.dhcp_seen();
                }
                tracker.on_tick_with(
                    monotonic_ns(),
                    &Progress {
                        tftp: &|k| probes.tftp_flow(k),
                        http: &|k| probes.http_conn(k),
                    },
                );
                ticks += 1;
                if ticks.is_multiple_of(TABLE_CHECK_TICKS) {
                    log_table_evictions(probes, &mut table_evictions);
                }
                peak_active = peak_active.max(tracker.active());
                if peak_active - tracker.active() > 10_000 && tracker.active() < peak_active / 2 {
                    return_free_memory();
                    peak_active = tracker.active();
                }
            }
        }
        for m in tracker.take_measurements() {
            sinks.metrics.measure(&m);
        }
        let done = tracker
            .take_decided()
            .into_iter()
            .chain(tracker.take_finished());
        // A flood's clients are not among them (`counting_floods`): they
        // are counted below, not logged or listed one by one.
        for mut v in done {
            sinks.metrics.record(&v);
            detector.observe(monotonic_ns(), &v);
            v.first_seen_ns += offset;
            v.last_seen_ns += offset;
            report::log_verdict(&v);
            sinks.recent.push(v);
        }
        match (tracker.flooding(), flood_logged) {
            (Some(peak), false) => {
                warn!(
                    new_clients_per_s = peak,
                    bound = tracker.flood_bound(),
                    "DHCP flood: {peak} new client MACs in a second (a boot storm brings far fewer); clients that send one DISCOVER and nothing else count as outcome flood, not as boot failures"
                );
                sinks.metrics.flood.set(1);
                flood_logged = true;
            }
            (None, true) => {
                info!("DHCP flood over");
                sinks.metrics.flood.set(0);
                flood_logged = false;
            }
            _ => {}
        }
        if let Some(change) = detector.check(monotonic_ns()) {
            alert::log(&change);
            if let Some(w) = &sinks.alertmanager {
                // The delivery task retries on its own; nothing waits here.
                let _ = w.send(change);
            }
        }
        sinks.metrics.started.inc_by(tracker.started - started);
        started = tracker.started;
        sinks
            .metrics
            .outcomes
            .with_label_values(&[Outcome::Flood.label()])
            .inc_by(tracker.flood_clients - flooded);
        flooded = tracker.flood_clients;
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

/// How often the kernel's tables are looked at for evictions (ticks: s).
const TABLE_CHECK_TICKS: u64 = 60;

/// Says in the log when a kernel table pushed entries out since the last
/// look (at most once a minute).
fn log_table_evictions(probes: &Probes, last: &mut Vec<(String, u64, u64)>) {
    let now = probes.table_evictions();
    for (iface, xids, flows) in &now {
        let before = last
            .iter()
            .find(|(i, ..)| i == iface)
            .map_or((0, 0), |(_, x, f)| (*x, *f));
        if *xids > before.0 {
            warn!(
                interface = iface,
                evicted = xids - before.0,
                "the PXE transaction table is full and forgets the oldest transactions: raise --max-pxe-transactions if boots are misjudged (pxe_kernel_table_evictions_total)"
            );
        }
        if *flows > before.1 {
            warn!(
                interface = iface,
                evicted = flows - before.1,
                "the TFTP transfer table is full and forgets the oldest transfers: raise --max-tftp-transfers if boots are misjudged (pxe_kernel_table_evictions_total)"
            );
        }
    }
    *last = now;
}

/// Gives the memory freed after a flood back to the system (glibc keeps
/// freed memory for reuse; the tracker's tables shrink on their own).
fn return_free_memory() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only releases free heap pages; it touches no
    // memory in use.
    unsafe {
        libc::malloc_trim(0);
    }
}
