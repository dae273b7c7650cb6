//! Alerts raised by the agent itself: the failure-spike detector (the share
//! of failed boots over a sliding window, once enough boots were decided in
//! it; pure logic, time passed in), and its delivery to an Alertmanager:
//! `body` (the alert as the v2 API takes it), `config` (the URL and the
//! `--alertmanager-config` file, checked at start-up), `tls` (the rustls
//! configuration they make) and `deliver` (the HTTP client and the task
//! that sends, re-sends and retries).

pub mod body;
pub mod config;
pub mod deliver;
pub mod tls;

use std::collections::VecDeque;

use tracing::{info, warn};

use crate::{
    event::escape,
    verdict::{FailureCode, Outcome, Verdict},
};

/// When to fire.
#[derive(Clone, Copy, Debug)]
pub struct SpikeConfig {
    /// Sliding window.
    pub window_ns: u64,
    /// Boots decided (booted or failed) in the window before a ratio counts.
    pub min_sessions: usize,
    /// Failed share at or above which the alert fires.
    pub failure_ratio: f64,
}

impl Default for SpikeConfig {
    fn default() -> Self {
        SpikeConfig {
            window_ns: 10 * 60 * 1_000_000_000,
            min_sessions: 5,
            failure_ratio: 0.5,
        }
    }
}

/// A change of the alert's state.
#[derive(Clone, Debug, PartialEq)]
pub enum AlertChange {
    Firing {
        failed: usize,
        decided: usize,
        /// The most frequent failure code in the window, and the cause and
        /// fix of its latest occurrence.
        code: Option<FailureCode>,
        server: Option<String>,
        cause: Option<String>,
        fix: Option<String>,
    },
    Resolved {
        failed: usize,
        decided: usize,
    },
}

#[derive(Clone, Debug)]
struct Seen {
    at: u64,
    failed: bool,
    code: Option<FailureCode>,
    server: Option<String>,
    cause: Option<String>,
    fix: Option<String>,
}

/// Sliding-window failure ratio with a minimum count.
#[derive(Debug)]
pub struct SpikeDetector {
    config: SpikeConfig,
    window: VecDeque<Seen>,
    firing: bool,
}

impl SpikeDetector {
    pub fn new(config: SpikeConfig) -> Self {
        SpikeDetector {
            config,
            window: VecDeque::new(),
            firing: false,
        }
    }

    pub fn firing(&self) -> bool {
        self.firing
    }

    /// A decided session at `now` (unfinished and unknown do not count).
    pub fn observe(&mut self, now: u64, v: &Verdict) {
        let failed = match v.outcome {
            Outcome::Booted => false,
            Outcome::Failed => true,
            Outcome::Unfinished | Outcome::Unknown | Outcome::TftpOnly | Outcome::Flood => {
                return;
            }
        };
        self.window.push_back(Seen {
            at: now,
            failed,
            code: v.code,
            server: v.server.map(|s| s.to_string()),
            cause: v.cause.clone(),
            fix: v.fix.clone(),
        });
    }

    /// Re-evaluates at `now`: `Some` when the alert starts or stops.
    pub fn check(&mut self, now: u64) -> Option<AlertChange> {
        while self
            .window
            .front()
            .is_some_and(|s| now.saturating_sub(s.at) > self.config.window_ns)
        {
            self.window.pop_front();
        }
        let decided = self.window.len();
        let failed = self.window.iter().filter(|s| s.failed).count();
        // Never on zero boots, whatever the configured minimum.
        let over = decided >= self.config.min_sessions.max(1)
            && failed as f64 >= self.config.failure_ratio * decided as f64;
        match (over, self.firing) {
            (true, false) => {
                self.firing = true;
                let code = self.most_frequent_code();
                let latest = self
                    .window
                    .iter()
                    .rev()
                    .find(|s| s.failed && s.code == code);
                Some(AlertChange::Firing {
                    failed,
                    decided,
                    code,
                    server: latest.and_then(|s| s.server.clone()),
                    cause: latest.and_then(|s| s.cause.clone()),
                    fix: latest.and_then(|s| s.fix.clone()),
                })
            }
            (false, true) => {
                self.firing = false;
                Some(AlertChange::Resolved { failed, decided })
            }
            _ => None,
        }
    }

    fn most_frequent_code(&self) -> Option<FailureCode> {
        let mut counts: Vec<(FailureCode, usize)> = Vec::new();
        for code in self.window.iter().filter_map(|s| s.code) {
            match counts.iter_mut().find(|(c, _)| *c == code) {
                Some((_, n)) => *n += 1,
                None => counts.push((code, 1)),
            }
        }
        counts.into_iter().max_by_key(|(_, n)| *n).map(|(c, _)| c)
    }
}

/// The structured-log sink of the failure-spike alert (always on).
pub fn log(change: &AlertChange) {
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
            code = code.map_or("", |c| c.label()),
            server = server.as_deref().unwrap_or(""),
            cause = %escape(cause.as_deref().unwrap_or("")),
            fix = %escape(fix.as_deref().unwrap_or("")),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnosis;

    const S: u64 = 1_000_000_000;
    const MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];

    fn booted() -> Verdict {
        diagnosis::booted(MAC, "boot.ipxe", [10, 0, 0, 1])
    }

    fn e55() -> Verdict {
        diagnosis::proxy_silent(
            MAC,
            [10, 0, 0, 1].into(),
            4,
            true,
            true,
            Some([10, 0, 0, 1].into()),
        )
    }

    #[test]
    fn fires_over_the_threshold_with_the_dominant_diagnosis() {
        let mut d = SpikeDetector::new(SpikeConfig::default());
        for i in 0..2 {
            d.observe(i * S, &booted());
        }
        for i in 2..5 {
            d.observe(i * S, &e55());
        }
        match d.check(5 * S) {
            Some(AlertChange::Firing {
                failed: 3,
                decided: 5,
                code: Some(FailureCode::E55),
                fix: Some(fix),
                ..
            }) => {
                assert!(fix.contains("remove options 60, 66 and 67"), "{fix}")
            }
            other => panic!("expected firing, got {other:?}"),
        }
        // Already firing: no repeat.
        assert_eq!(d.check(6 * S), None);
    }

    #[test]
    fn never_fires_on_no_boots() {
        let mut d = SpikeDetector::new(SpikeConfig {
            min_sessions: 0,
            ..SpikeConfig::default()
        });
        assert_eq!(d.check(S), None, "0 of 0 boots failed is no spike");
        d.observe(2 * S, &e55());
        assert!(matches!(
            d.check(2 * S),
            Some(AlertChange::Firing { failed: 1, .. })
        ));
    }

    #[test]
    fn not_below_the_minimum_count() {
        let mut d = SpikeDetector::new(SpikeConfig::default());
        for i in 0..4 {
            d.observe(i * S, &e55());
        }
        assert_eq!(
            d.check(4 * S),
            None,
            "4 failures of 4: below the minimum of 5"
        );
        // Unfinished sessions do not count towards it.
        d.observe(5 * S, &diagnosis::unfinished(MAC, None, None));
        assert_eq!(d.check(5 * S), None);
    }

    #[test]
    fn resolves_when_boots_succeed_or_the_window_moves_on() {
        let cfg = SpikeConfig::default();
        let mut d = SpikeDetector::new(cfg);
        for i in 0..5 {
            d.observe(i * S, &e55());
        }
        assert!(matches!(d.check(5 * S), Some(AlertChange::Firing { .. })));
        for i in 6..12 {
            d.observe(i * S, &booted());
        }
        assert_eq!(
            d.check(12 * S),
            Some(AlertChange::Resolved {
                failed: 5,
                decided: 11
            })
        );
        // Failing again, then nothing for longer than the window: resolved.
        let mut d = SpikeDetector::new(cfg);
        for i in 0..5 {
            d.observe(i * S, &e55());
        }
        assert!(d.check(5 * S).is_some());
        assert!(d.firing());
        assert_eq!(d.check(5 * S + 1), None, "nothing changed");
        assert!(matches!(
            d.check(5 * S + cfg.window_ns),
            Some(AlertChange::Resolved { decided: 0, .. })
        ));
        assert!(!d.firing());
    }
}
