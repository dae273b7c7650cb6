//! The Alertmanager-compatible sink: POSTs to `<url>/api/v2/alerts`, in its
//! own task so that nothing waits for the receiver; retries with backoff
//! while it is down.

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
                "code": code.map_or("", |c| c.label()),
                "server": server.as_deref().unwrap_or(""),
            },
            "annotations": {
                "summary": format!("{failed} of {decided} recent PXE boots failed ({})", code.map_or("various codes", |c| c.label())),
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
            code: Some(crate::verdict::FailureCode::E55),
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
