//! Live sessions: kernel events into the tracker, verdicts into the log and
//! the `/api/sessions` list.

use std::{
    collections::VecDeque,
    sync::Mutex,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry};
use tokio::sync::mpsc;
use tracing::{info, warn};

use crate::{
    alert::{AlertChange, SpikeConfig, SpikeDetector},
    event::Stamped,
    replay::mac_text,
    servers::ServerMetrics,
    tracker::{Measurement, Outcome, Timeouts, Tracker, Verdict},
};

/// Events in flight from the ring-buffer readers to the tracker (a few ms
/// of a boot storm; the ring buffers hold the rest).
pub const EVENT_QUEUE: usize = 4096;

/// CLOCK_MONOTONIC, the clock of `bpf_ktime_get_ns`.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec we pass and nothing else.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// The most recent verdicts, newest first, bounded.
pub struct Recent {
    list: Mutex<VecDeque<Verdict>>,
    cap: usize,
}

impl Recent {
    pub fn new(cap: usize) -> Self {
        Recent {
            list: Mutex::new(VecDeque::new()),
            cap: cap.max(1),
        }
    }

    fn push(&self, v: Verdict) {
        let mut l = self.list.lock().unwrap_or_else(|p| p.into_inner());
        l.push_front(v);
        l.truncate(self.cap);
    }

    /// Newest first, optionally only one outcome.
    pub fn snapshot(&self, outcome: Option<Outcome>) -> Vec<Verdict> {
        let l = self.list.lock().unwrap_or_else(|p| p.into_inner());
        l.iter()
            .filter(|v| outcome.is_none_or(|o| v.outcome == o))
            .cloned()
            .collect()
    }
}

/// Session metrics, registered with the agent's registry.
#[derive(Clone)]
pub struct SessionMetrics {
    pub started: IntCounter,
    pub outcomes: IntCounterVec,
    pub failures: IntCounterVec,
    pub active: IntGauge,
    pub evictions: IntCounter,
    pub boot_duration: Histogram,
    pub offer_latency: Histogram,
    pub transfer_duration: Histogram,
    pub transfer_bytes: Histogram,
    pub warnings: IntCounterVec,
    pub servers: ServerMetrics,
}

/// Firmware codes a failed session can carry (the label set is bounded).
pub const FAILURE_CODES: &[&str] = &[
    "PXE-E51", "PXE-E52", "PXE-E53", "PXE-E55", "PXE-E7B", "PXE-E32", "PXE-E35", "PXE-E36",
    "PXE-E3B", "PXE-E3C", "NAK",
];

impl SessionMetrics {
    /// Creates and registers the session metrics, every label value at 0;
    /// at most `max_server_labels` servers get a `server` label of their own.
    pub fn register(registry: &Registry, max_server_labels: usize) -> prometheus::Result<Self> {
        let m = SessionMetrics {
            started: IntCounter::new("pxe_sessions_started_total", "PXE client sessions started (first message of a boot).")?,
            outcomes: IntCounterVec::new(
                Opts::new("pxe_sessions_total", "PXE client sessions decided, by outcome."),
                &["outcome"],
            )?,
            failures: IntCounterVec::new(
                Opts::new("pxe_boot_failures_total", "Failed PXE boots by the firmware's code (PXE-E51, PXE-E55, ...)."),
                &["code"],
            )?,
            active: IntGauge::new("pxe_active_sessions", "PXE client sessions being followed.")?,
            evictions: IntCounter::new(
                "pxe_tracker_evictions_total",
                "Sessions dropped, oldest first, because the session table was full.",
            )?,
            boot_duration: Histogram::with_opts(
                HistogramOpts::new(
                    "pxe_boot_duration_seconds",
                    "From a client's first message to its boot file's last block, for booted sessions.",
                )
                .buckets(vec![1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0]),
            )?,
            offer_latency: Histogram::with_opts(
                HistogramOpts::new(
                    "pxe_dhcp_offer_latency_seconds",
                    "From a PXE client's DISCOVER (the first of its retries) to the first offer it gets: how long clients wait for DHCP.",
                )
                // Firmware resends its DISCOVER after 4, 8, 16 and 32 s.
                .buckets(vec![0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0]),
            )?,
            transfer_duration: Histogram::with_opts(
                HistogramOpts::new(
                    "pxe_tftp_transfer_duration_seconds",
                    "From a TFTP read request to the last block, for transfers that completed.",
                )
                .buckets(vec![0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0]),
            )?,
            transfer_bytes: Histogram::with_opts(
                HistogramOpts::new(
                    "pxe_tftp_transfer_bytes",
                    "Bytes of DATA in TFTP transfers that completed (resent blocks count again); the _sum's rate is the boot-file throughput.",
                )
                // 1 KiB to 1 GiB, by 4.
                .buckets(prometheus::exponential_buckets(1024.0, 4.0, 11)?),
            )?,
            warnings: IntCounterVec::new(
                Opts::new(
                    "pxe_warnings_total",
                    "Server conditions seen in PXE sessions that did not decide them: several DHCP servers, option 60 on a DHCP server, a boot file for the other architecture.",
                ),
                &["kind"],
            )?,
            servers: ServerMetrics::register(registry, max_server_labels)?,
        };
        for k in crate::diagnosis::WARNING_KINDS {
            m.warnings.with_label_values(&[k]);
        }
        for o in Outcome::ALL {
            m.outcomes.with_label_values(&[o.label()]);
        }
        for c in FAILURE_CODES {
            m.failures.with_label_values(&[c]);
        }
        registry.register(Box::new(m.started.clone()))?;
        registry.register(Box::new(m.outcomes.clone()))?;
        registry.register(Box::new(m.failures.clone()))?;
        registry.register(Box::new(m.active.clone()))?;
        registry.register(Box::new(m.evictions.clone()))?;
        registry.register(Box::new(m.boot_duration.clone()))?;
        registry.register(Box::new(m.offer_latency.clone()))?;
        registry.register(Box::new(m.transfer_duration.clone()))?;
        registry.register(Box::new(m.transfer_bytes.clone()))?;
        registry.register(Box::new(m.warnings.clone()))?;
        Ok(m)
    }

    fn record(&self, v: &Verdict) {
        self.outcomes.with_label_values(&[v.outcome.label()]).inc();
        if let Some(code) = v.code {
            // Only known codes get a label: the set stays bounded.
            if FAILURE_CODES.contains(&code) {
                self.failures.with_label_values(&[code]).inc();
            }
        }
        for k in &v.warning_kinds {
            self.warnings.with_label_values(&[k]).inc();
        }
        if v.outcome == Outcome::Booted {
            self.boot_duration
                .observe(v.last_seen_ns.saturating_sub(v.first_seen_ns) as f64 / 1e9);
        }
        self.servers.session(&v.dhcp_servers);
    }

    fn measure(&self, m: &Measurement) {
        match *m {
            Measurement::Offer { server, wait_ns } => {
                self.servers.offer(server);
                if let Some(ns) = wait_ns {
                    self.offer_latency.observe(ns as f64 / 1e9);
                }
            }
            Measurement::Transfer {
                duration_ns, bytes, ..
            } => {
                self.transfer_duration.observe(duration_ns as f64 / 1e9);
                self.transfer_bytes.observe(bytes as f64);
            }
        }
    }
}

/// Runs the tracker on the events until the channel closes: a tick a
/// second for timeouts; every verdict is logged once and kept in `recent`.
pub async fn track(
    mut rx: mpsc::Receiver<Stamped>,
    recent: &Recent,
    max_sessions: usize,
    kernel: &crate::metrics::KernelCollector,
    metrics: &SessionMetrics,
    spike: SpikeConfig,
    webhook: Option<mpsc::UnboundedSender<AlertChange>>,
) {
    let mut detector = SpikeDetector::new(spike);
    let mut tracker = Tracker::new(max_sessions, Timeouts::default())
        .without_timeline()
        .with_measurements();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    // Kernel time is monotonic; verdicts carry wall-clock times.
    let wall_now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let offset = wall_now.saturating_sub(monotonic_ns());
    let (mut evicted, mut started) = (0, 0);
    loop {
        tokio::select! {
            ev = rx.recv() => match ev {
                Some((ev, ns)) => tracker.on_event(&ev, ns, None),
                None => break,
            },
            // The kernel's transfer table says where each transfer stands.
            _ = tick.tick() => tracker.on_tick_with(monotonic_ns(), &|k| kernel.tftp_flow(k)),
        }
        for m in tracker.take_measurements() {
            metrics.measure(&m);
        }
        let done = tracker
            .take_decided()
            .into_iter()
            .chain(tracker.take_finished());
        for mut v in done {
            metrics.record(&v);
            detector.observe(monotonic_ns(), &v);
            v.first_seen_ns += offset;
            v.last_seen_ns += offset;
            report(&v);
            recent.push(v);
        }
        if let Some(change) = detector.check(monotonic_ns()) {
            log_alert(&change);
            if let Some(w) = &webhook {
                // The delivery task retries on its own; nothing waits here.
                let _ = w.send(change);
            }
        }
        metrics.started.inc_by(tracker.started - started);
        started = tracker.started;
        metrics.active.set(tracker.active() as i64);
        if tracker.evicted != evicted {
            metrics.evictions.inc_by(tracker.evicted - evicted);
            warn!(
                evicted = tracker.evicted - evicted,
                "session table full: oldest sessions dropped"
            );
            evicted = tracker.evicted;
        }
    }
}

/// The structured-log sink of the failure-spike alert (always on).
fn log_alert(change: &AlertChange) {
    match change {
        AlertChange::Firing {
            failed,
            decided,
            code,
            server,
            cause,
            fix,
        } => warn!(
            alertname = "PxeBootFailureSpike",
            severity = "critical",
            failed,
            decided,
            code = code.unwrap_or(""),
            server = server.as_deref().unwrap_or(""),
            cause = cause.as_deref().unwrap_or(""),
            fix = fix.as_deref().unwrap_or(""),
            "PXE boot failures spiking: {failed} of {decided} recent boots failed"
        ),
        AlertChange::Resolved { failed, decided } => info!(
            alertname = "PxeBootFailureSpike",
            failed,
            decided,
            "PXE boot failure spike resolved: {failed} of {decided} recent boots failed"
        ),
    }
}

/// One structured log line per session.
fn report(v: &Verdict) {
    let outcome = v.outcome.label();
    info!(
        client_mac = mac_text(v.client_mac),
        outcome,
        code = v.code.unwrap_or(""),
        server = v.server.map(|s| s.to_string()).unwrap_or_default(),
        boot_file = v.boot_file.as_deref().unwrap_or(""),
        cause = v.cause.as_deref().unwrap_or(""),
        fix = v.fix.as_deref().unwrap_or(""),
        warnings = v.warnings.join("; "),
        "PXE session"
    );
}
