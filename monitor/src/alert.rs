//! The failure-spike detector: the share of failed boots over a sliding
//! window, once enough boots were decided in it. Pure logic, time passed in.

use std::collections::VecDeque;

use crate::tracker::{Outcome, Verdict};

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
        code: Option<&'static str>,
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
    code: Option<&'static str>,
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
            Outcome::Unfinished | Outcome::Unknown => return,
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
        let over = decided >= self.config.min_sessions
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

    fn most_frequent_code(&self) -> Option<&'static str> {
        let mut counts: Vec<(&'static str, usize)> = Vec::new();
        for code in self.window.iter().filter_map(|s| s.code) {
            match counts.iter_mut().find(|(c, _)| *c == code) {
                Some((_, n)) => *n += 1,
                None => counts.push((code, 1)),
            }
        }
        counts.into_iter().max_by_key(|(_, n)| *n).map(|(c, _)| c)
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
        diagnosis::proxy_silent(MAC, [10, 0, 0, 1], 4, true, true, Some([10, 0, 0, 1]))
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
                code: Some("PXE-E55"),
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

/// The Alertmanager-compatible sink: POSTs to `<url>/api/v2/alerts`, in its
/// own task so that nothing waits for the receiver; retries with backoff
/// while it is down.
pub mod webhook {
    use std::time::{Duration, SystemTime};

    use serde_json::json;
    use tokio::{
        io::{AsyncReadExt, AsyncWriteExt},
        net::TcpStream,
        sync::mpsc,
    };
    use tracing::{info, warn};

    use super::AlertChange;

    /// Where to deliver, parsed from `http://host:port[/prefix]`.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct Target {
        pub authority: String,
        pub path: String,
    }

    impl Target {
        pub fn parse(url: &str) -> Result<Target, String> {
            let rest = url
                .strip_prefix("http://")
                .ok_or_else(|| format!("{url:?}: only http:// Alertmanager URLs are supported"))?;
            let (authority, prefix) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
            if authority.is_empty() {
                return Err(format!("{url:?}: no host"));
            }
            let authority = if authority.contains(':') {
                authority.to_owned()
            } else {
                format!("{authority}:80")
            };
            let prefix = prefix.trim_end_matches('/');
            let path = if prefix.is_empty() {
                "/api/v2/alerts".to_owned()
            } else {
                format!("/{prefix}/api/v2/alerts")
            };
            Ok(Target { authority, path })
        }
    }

    /// The alerts API's body for one change (a resolve carries `endsAt` and
    /// the labels of the alert it ends, kept in `last_labels`).
    pub fn body(
        change: &AlertChange,
        interfaces: &str,
        now: SystemTime,
        last_labels: &mut Option<serde_json::Value>,
    ) -> serde_json::Value {
        let at = humantime::format_rfc3339_seconds(now).to_string();
        let mut alert = match change {
            AlertChange::Firing {
                failed,
                decided,
                code,
                server,
                cause,
                fix,
            } => json!({
                "labels": {
                    "alertname": "PxeBootFailureSpike",
                    "severity": "critical",
                    "interface": interfaces,
                    "code": code.unwrap_or(""),
                    "server": server.as_deref().unwrap_or(""),
                },
                "annotations": {
                    "summary": format!("{failed} of {decided} recent PXE boots failed ({})", code.unwrap_or("various codes")),
                    "description": match (cause, fix) {
                        (Some(c), Some(f)) => format!("{c}. Fix: {f}"),
                        _ => "see /api/sessions?outcome=failed".to_owned(),
                    },
                },
                "startsAt": at,
            }),
            AlertChange::Resolved { failed, decided } => json!({
                "labels": { "alertname": "PxeBootFailureSpike", "severity": "critical", "interface": interfaces },
                "annotations": { "summary": format!("resolved: {failed} of {decided} recent PXE boots failed") },
                "endsAt": at,
            }),
        };
        // A resolve must carry the labels of the alert it ends.
        match change {
            AlertChange::Firing { .. } => *last_labels = Some(alert["labels"].clone()),
            AlertChange::Resolved { .. } => {
                if let Some(labels) = last_labels.take() {
                    alert["labels"] = labels;
                }
            }
        }
        json!([alert])
    }

    async fn post(target: &Target, body: &[u8]) -> std::io::Result<u16> {
        let mut s = TcpStream::connect(&target.authority).await?;
        let head = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            target.path,
            target.authority,
            body.len()
        );
        s.write_all(head.as_bytes()).await?;
        s.write_all(body).await?;
        let mut resp = Vec::new();
        s.read_to_end(&mut resp).await?;
        let status = String::from_utf8_lossy(&resp)
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok());
        status.ok_or_else(|| std::io::Error::other("no HTTP status in the answer"))
    }

    /// Delivers every change, in order; a change is retried (1 s, 2 s, ...
    /// up to 60 s apart, `attempts` times) while the receiver is down.
    pub async fn deliver(
        target: Target,
        interfaces: String,
        mut rx: mpsc::UnboundedReceiver<AlertChange>,
        attempts: u32,
    ) {
        let mut last_labels = None;
        while let Some(change) = rx.recv().await {
            let body = body(&change, &interfaces, SystemTime::now(), &mut last_labels).to_string();
            let mut delay = Duration::from_secs(1);
            for attempt in 1..=attempts {
                match post(&target, body.as_bytes()).await {
                    Ok(status) if (200..300).contains(&status) => {
                        info!(target = target.authority, status, "alert delivered");
                        break;
                    }
                    result => {
                        warn!(
                            target = target.authority,
                            attempt,
                            ?result,
                            "alert not delivered; retrying"
                        );
                        if attempt < attempts {
                            tokio::time::sleep(delay).await;
                            delay = (delay * 2).min(Duration::from_secs(60));
                        }
                    }
                }
            }
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn urls() {
            let t = Target::parse("http://127.0.0.1:9093").unwrap();
            assert_eq!(
                (t.authority.as_str(), t.path.as_str()),
                ("127.0.0.1:9093", "/api/v2/alerts")
            );
            let t = Target::parse("http://am.example/prefix/").unwrap();
            assert_eq!(
                (t.authority.as_str(), t.path.as_str()),
                ("am.example:80", "/prefix/api/v2/alerts")
            );
            assert!(Target::parse("https://am:9093").is_err());
            assert!(Target::parse("http:///x").is_err());
        }

        /// A receiver that is down at first, then answers: the alert is
        /// retried until it gets there, then resolved with the same labels.
        #[tokio::test]
        async fn retried_until_delivered_then_resolved() {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let target = Target::parse(&format!("http://127.0.0.1:{port}")).unwrap();
            let (tx, rx) = mpsc::unbounded_channel();
            let sender = tokio::spawn(deliver(target, "eth0".into(), rx, 5));
            tx.send(AlertChange::Firing {
                failed: 5,
                decided: 5,
                code: Some("PXE-E55"),
                server: Some("10.0.0.1".into()),
                cause: Some("DHCP server 10.0.0.1 sends option 60 PXEClient".into()),
                fix: Some("remove options 60, 66 and 67".into()),
            })
            .unwrap();
            // Down for the first attempt.
            tokio::time::sleep(Duration::from_millis(300)).await;
            let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
                .await
                .unwrap();
            let mut got = Vec::new();
            for _ in 0..2 {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut buf = vec![0u8; 8192];
                let mut n = 0;
                // Read the head and the body (Content-Length).
                loop {
                    let m = s.read(&mut buf[n..]).await.unwrap();
                    n += m;
                    let text = String::from_utf8_lossy(&buf[..n]).to_string();
                    if let Some((head, body)) = text.split_once("\r\n\r\n") {
                        let len: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("Content-Length: "))
                            .unwrap()
                            .parse()
                            .unwrap();
                        if body.len() >= len {
                            got.push((head.to_owned(), body.to_owned()));
                            break;
                        }
                    }
                    assert!(m > 0, "connection closed early");
                }
                s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                    .await
                    .unwrap();
                if got.len() == 1 {
                    tx.send(AlertChange::Resolved {
                        failed: 0,
                        decided: 6,
                    })
                    .unwrap();
                }
            }
            drop(tx);
            sender.await.unwrap();
            let (head, firing) = &got[0];
            assert!(head.starts_with("POST /api/v2/alerts HTTP/1.1"), "{head}");
            let firing: serde_json::Value = serde_json::from_str(firing).unwrap();
            let labels = &firing[0]["labels"];
            assert_eq!(labels["alertname"], "PxeBootFailureSpike");
            assert_eq!(
                (labels["code"].as_str(), labels["server"].as_str()),
                (Some("PXE-E55"), Some("10.0.0.1"))
            );
            assert!(
                firing[0]["annotations"]["description"]
                    .as_str()
                    .unwrap()
                    .contains("remove options 60, 66 and 67")
            );
            let resolved: serde_json::Value = serde_json::from_str(&got[1].1).unwrap();
            assert_eq!(
                resolved[0]["labels"], *labels,
                "a resolve names the alert it ends"
            );
            assert!(resolved[0]["endsAt"].is_string());
        }
    }
}
