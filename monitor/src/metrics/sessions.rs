//! The session layer's metrics: sessions started and decided by outcome,
//! failures by firmware code, warnings by kind, active sessions,
//! evictions, and the histograms measured as things happen (offer latency,
//! TFTP transfer time and size, boot duration). Every label set starts at 0.

use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry};

use super::servers::ServerMetrics;
use crate::{
    diagnosis::Fetcher,
    session::Measurement,
    verdict::{BootProtocol, FailureCode, Outcome, TransferStatus, Verdict, WarningKind},
};

/// The outcomes of `pxe_boot_attempts_total` (an attempt is a boot's, not
/// a TFTP-only client's or a flood's).
const ATTEMPT_OUTCOMES: [Outcome; 4] = [
    Outcome::Booted,
    Outcome::Failed,
    Outcome::Unfinished,
    Outcome::Unknown,
];

/// The `status` label of `pxe_http_fetches_total`: the status class, or
/// `none` when no response came (refused, no answer, cut before the head).
const HTTP_STATUS_CLASSES: [&str; 5] = ["2xx", "3xx", "4xx", "5xx", "none"];

fn status_class(status: Option<u16>) -> &'static str {
    match status {
        Some(200..=299) => "2xx",
        Some(300..=399) => "3xx",
        Some(400..=499) => "4xx",
        Some(500..=599) => "5xx",
        _ => "none",
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
    pub http_fetches: IntCounterVec,
    pub http_duration: Histogram,
    pub http_bytes: Histogram,
    pub warnings: IntCounterVec,
    pub attempts: IntCounterVec,
    pub time_lost: Histogram,
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
            http_fetches: IntCounterVec::new(
                Opts::new(
                    "pxe_http_fetches_total",
                    "HTTP requests of boot clients (iPXE's script, kernel and initrd; UEFI HTTP Boot's HEAD and GET), by the stage that made them (ipxe, uefi_http_boot: from the User-Agent; other) and the response's status class (none: refused, unanswered or cut before a response). Counted when the client's session is decided.",
                ),
                &["stage", "status"],
            )?,
            http_duration: Histogram::with_opts(
                HistogramOpts::new(
                    "pxe_http_transfer_duration_seconds",
                    "From an HTTP GET to the last byte of its body, for files that arrived whole (beside pxe_tftp_transfer_duration_seconds).",
                )
                .buckets(vec![0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0]),
            )?,
            http_bytes: Histogram::with_opts(
                HistogramOpts::new(
                    "pxe_http_transfer_bytes",
                    "Body bytes of HTTP GETs that arrived whole; the _sum's rate is the HTTP boot-file throughput.",
                )
                .buckets(prometheus::exponential_buckets(1024.0, 4.0, 11)?),
            )?,
            warnings: IntCounterVec::new(
                Opts::new(
                    "pxe_warnings_total",
                    "Server conditions seen in PXE sessions that did not decide them: several DHCP servers, option 60 on a DHCP server, a boot file for the other architecture.",
                ),
                &["kind"],
            )?,
            attempts: IntCounterVec::new(
                Opts::new(
                    "pxe_boot_attempts_total",
                    "Boot attempts by the firmware's boot option (pxe_ipv4, pxe_ipv6, http_ipv4, http_ipv6) and how each ended: UEFI firmware tries them in turn, each after the one before failed, and one boot counts each attempt it made. Counted when the boot is decided.",
                ),
                &["protocol", "outcome"],
            )?,
            time_lost: Histogram::with_opts(
                HistogramOpts::new(
                    "pxe_boot_time_lost_seconds",
                    "For booted clients, the time spent in attempts that failed before the one that booted (0 when the first attempt booted): a PXE over IPv6 attempt nobody answers costs about a minute of every boot.",
                )
                .buckets(vec![0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 90.0, 120.0, 180.0, 300.0]),
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
        for p in BootProtocol::ALL {
            for o in ATTEMPT_OUTCOMES {
                m.attempts.with_label_values(&[p.label(), o.label()]);
            }
        }
        for c in FailureCode::ALL {
            m.failures.with_label_values(&[c.label()]);
        }
        for f in Fetcher::ALL {
            for st in HTTP_STATUS_CLASSES {
                m.http_fetches.with_label_values(&[f.label(), st]);
            }
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
        registry.register(Box::new(m.http_fetches.clone()))?;
        registry.register(Box::new(m.http_duration.clone()))?;
        registry.register(Box::new(m.http_bytes.clone()))?;
        registry.register(Box::new(m.warnings.clone()))?;
        registry.register(Box::new(m.attempts.clone()))?;
        registry.register(Box::new(m.time_lost.clone()))?;
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
            self.time_lost.observe(v.time_lost_ns() as f64 / 1e9);
        }
        let attempts = v.attempts.iter().map(|a| (a.protocol, a.outcome));
        for (p, o) in attempts.chain(v.protocol.map(|p| (p, v.outcome))) {
            if ATTEMPT_OUTCOMES.contains(&o) {
                self.attempts
                    .with_label_values(&[p.label(), o.label()])
                    .inc();
            }
        }
        self.servers.session(&v.dhcp_servers, v.first_seen_ns);
        for (t, h) in v
            .transfers
            .iter()
            .filter_map(|t| Some((t, t.http.as_ref()?)))
        {
            let stage = Fetcher::from_user_agent(h.user_agent.as_deref(), None);
            self.http_fetches
                .with_label_values(&[stage.label(), status_class(h.status)])
                .inc();
            if t.status == TransferStatus::Complete && h.method == "GET" {
                self.http_duration.observe(h.duration_ns as f64 / 1e9);
                self.http_bytes.observe(h.bytes as f64);
            }
        }
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

#[cfg(test)]
mod tests {
    use prometheus::{Encoder, TextEncoder};

    use super::*;
    use crate::verdict::{HttpTransfer, TransferResult};

    fn fetch(method: &'static str, status: Option<u16>, done: bool, ua: &str) -> TransferResult {
        TransferResult {
            file: "http://10.0.0.1/f".into(),
            server: [10, 0, 0, 1].into(),
            status: if done {
                TransferStatus::Complete
            } else {
                TransferStatus::Incomplete
            },
            error_code: status,
            requests: 1,
            http: Some(HttpTransfer {
                method,
                url: "http://10.0.0.1/f".into(),
                status,
                bytes: 3000,
                content_length: Some(3000),
                duration_ns: 2_000_000_000,
                user_agent: Some(ua.into()),
            }),
        }
    }

    #[test]
    fn http_fetches_count_by_stage_and_status_class_and_whole_gets_are_measured() {
        let r = Registry::new();
        let m = SessionMetrics::register(&r, 4).unwrap();
        let mut v = Verdict::new([0; 6], Outcome::Booted, None, None);
        v.transfers = vec![
            fetch("HEAD", Some(200), true, "UefiHttpBoot/1.0"),
            fetch("GET", Some(200), true, "UefiHttpBoot/1.0"),
            fetch("GET", Some(404), false, "iPXE/1.21.1"),
            fetch("GET", None, false, "curl/8"),
        ];
        m.record(&v);
        let mut out = Vec::new();
        TextEncoder::new().encode(&r.gather(), &mut out).unwrap();
        let out = String::from_utf8(out).unwrap();
        for line in [
            r#"pxe_http_fetches_total{stage="uefi_http_boot",status="2xx"} 2"#,
            r#"pxe_http_fetches_total{stage="ipxe",status="4xx"} 1"#,
            r#"pxe_http_fetches_total{stage="other",status="none"} 1"#,
            r#"pxe_http_fetches_total{stage="ipxe",status="5xx"} 0"#,
            // Only the GET that arrived whole.
            "pxe_http_transfer_bytes_sum 3000",
            "pxe_http_transfer_duration_seconds_count 1",
        ] {
            assert!(out.contains(line), "{line} in\n{out}");
        }
        let series = out
            .lines()
            .filter(|l| l.starts_with("pxe_http_fetches_total{"))
            .count();
        assert_eq!(series, Fetcher::ALL.len() * HTTP_STATUS_CLASSES.len());
    }

    #[test]
    fn each_attempt_counts_and_the_time_lost_before_the_one_that_booted_is_measured() {
        use crate::verdict::Attempt;
        const S: u64 = 1_000_000_000;
        let r = Registry::new();
        let m = SessionMetrics::register(&r, 4).unwrap();
        let attempt = |protocol, code, first, last| Attempt {
            protocol,
            outcome: Outcome::Failed,
            code: Some(code),
            cause: None,
            first_seen_ns: first,
            last_seen_ns: last,
        };
        let mut v = Verdict::new([0; 6], Outcome::Booted, None, None);
        v.first_seen_ns = 100 * S;
        v.last_seen_ns = 170 * S;
        v.protocol = Some(BootProtocol::HttpIpv4);
        v.attempt_started_ns = 164 * S;
        v.attempts = vec![
            attempt(BootProtocol::PxeIpv4, FailureCode::E3B, 100 * S, 103 * S),
            attempt(BootProtocol::PxeIpv6, FailureCode::E51, 103 * S, 164 * S),
        ];
        m.record(&v);
        // A client that booted at its first attempt lost nothing.
        let mut first = Verdict::new([0; 6], Outcome::Booted, None, None);
        first.protocol = Some(BootProtocol::PxeIpv4);
        m.record(&first);
        let mut out = Vec::new();
        TextEncoder::new().encode(&r.gather(), &mut out).unwrap();
        let out = String::from_utf8(out).unwrap();
        for line in [
            r#"pxe_boot_attempts_total{outcome="failed",protocol="pxe_ipv4"} 1"#,
            r#"pxe_boot_attempts_total{outcome="failed",protocol="pxe_ipv6"} 1"#,
            r#"pxe_boot_attempts_total{outcome="booted",protocol="http_ipv4"} 1"#,
            r#"pxe_boot_attempts_total{outcome="booted",protocol="pxe_ipv4"} 1"#,
            r#"pxe_boot_attempts_total{outcome="unknown",protocol="http_ipv6"} 0"#,
            "pxe_boot_time_lost_seconds_sum 64",
            "pxe_boot_time_lost_seconds_count 2",
            r#"pxe_boot_time_lost_seconds_bucket{le="0.5"} 1"#,
            r#"pxe_boot_time_lost_seconds_bucket{le="60"} 1"#,
            r#"pxe_boot_time_lost_seconds_bucket{le="90"} 2"#,
        ] {
            assert!(out.contains(line), "{line} in\n{out}");
        }
        let series = out
            .lines()
            .filter(|l| l.starts_with("pxe_boot_attempts_total{"))
            .count();
        assert_eq!(series, BootProtocol::ALL.len() * ATTEMPT_OUTCOMES.len());
    }
}
