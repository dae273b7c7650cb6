//! The session layer's metrics: sessions started and decided by outcome,
//! failures by firmware code, warnings by kind, active sessions,
//! evictions, and the histograms measured as things happen (offer latency,
//! TFTP transfer time and size, boot duration). Every label set starts at 0.

use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry};

use super::servers::ServerMetrics;
use crate::{
    session::Measurement,
    verdict::{FailureCode, Outcome, Verdict, WarningKind},
};

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
    pub flood: IntGauge,
    pub servers: ServerMetrics,
}

impl SessionMetrics {
    /// Creates and registers the session metrics, every label value at 0;
    /// at most `max_server_labels` servers get a `server` label of their own.
    pub fn register(registry: &Registry, max_server_labels: usize) -> prometheus::Result<Self> {
        let m = SessionMetrics {
            started: IntCounter::new("pxe_sessions_started_total", "PXE client sessions started (first message of a boot).")?,
            outcomes: IntCounterVec::new(
                Opts::new("pxe_sessions_total", "PXE client sessions decided, by outcome (tftp_only: a client seen only reading files over TFTP, not a boot)."),
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
            flood: IntGauge::new(
                "pxe_dhcp_flood",
                "1 while a DHCP flood is under way: more new client MACs a second than --flood-clients (a boot storm brings far fewer); its clients count as pxe_sessions_total{outcome=\"flood\"}.",
            )?,
            servers: ServerMetrics::register(registry, max_server_labels)?,
        };
        for k in WarningKind::ALL {
            m.warnings.with_label_values(&[k.label()]);
        }
        for o in Outcome::ALL {
            m.outcomes.with_label_values(&[o.label()]);
        }
        for c in FailureCode::ALL {
            m.failures.with_label_values(&[c.label()]);
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
        registry.register(Box::new(m.flood.clone()))?;
        Ok(m)
    }

    /// A verdict: its outcome, code, warnings, boot duration, servers.
    pub fn record(&self, v: &Verdict) {
        self.outcomes.with_label_values(&[v.outcome.label()]).inc();
        if let Some(code) = v.code {
            self.failures.with_label_values(&[code.label()]).inc();
        }
        for w in &v.warnings {
            self.warnings.with_label_values(&[w.kind.label()]).inc();
        }
        if v.outcome == Outcome::Booted {
            self.boot_duration
                .observe(v.last_seen_ns.saturating_sub(v.first_seen_ns) as f64 / 1e9);
        }
        self.servers.session(&v.dhcp_servers, v.first_seen_ns);
    }

    /// A figure measured as it happened.
    pub fn measure(&self, m: &Measurement) {
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
