//! The failure-spike alert as Alertmanager's v2 alerts API takes it: built
//! once per change, its body made at each send (a firing alert's `endsAt`
//! moves on with every re-send, as Prometheus does for its own alerts).

use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use super::AlertChange;

/// The labels that say where an alert comes from.
#[derive(Clone, Debug)]
pub struct Source {
    /// The host's name (label `instance`): several agents' alerts stay
    /// apart in Alertmanager.
    pub instance: String,
    /// The watched interfaces, comma-separated (label `interface`).
    pub interfaces: String,
}

impl Source {
    /// This host's name (from the kernel) and `interfaces`.
    pub fn local(interfaces: &[String]) -> Source {
        let instance = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_default();
        Source {
            instance,
            interfaces: interfaces.join(","),
        }
    }
}

/// One state of the alert, as delivered.
#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    labels: Value,
    annotations: Value,
    starts_at: SystemTime,
    /// When it was resolved; `None` while it fires.
    resolved_at: Option<SystemTime>,
}

impl Alert {
    /// The alert for `change` at `now`. A resolve carries the labels (and
    /// start) of the alert it ends, `previous`.
    pub fn new(
        change: &AlertChange,
        source: &Source,
        now: SystemTime,
        previous: Option<&Alert>,
    ) -> Alert {
        match change {
            AlertChange::Firing {
                failed,
                decided,
                code,
                server,
                cause,
                fix,
            } => Alert {
                labels: json!({
                    "alertname": "PxeBootFailureSpike",
                    "severity": "critical",
                    "instance": source.instance,
                    "interface": source.interfaces,
                    "code": code.map_or("", |c| c.label()),
                    "server": server.as_deref().unwrap_or(""),
                }),
                annotations: json!({
                    "summary": format!(
                        "{failed} of {decided} recent PXE boots failed ({})",
                        code.map_or("various codes", |c| c.label())
                    ),
                    "description": match (cause, fix) {
                        (Some(c), Some(f)) => format!("{c}. Fix: {f}"),
                        _ => "see /api/sessions?outcome=failed".to_owned(),
                    },
                }),
                starts_at: now,
                resolved_at: None,
            },
            AlertChange::Resolved { failed, decided } => Alert {
                // A resolve must carry the labels of the alert it ends.
                labels: previous.map_or_else(
                    || {
                        json!({
                            "alertname": "PxeBootFailureSpike",
                            "severity": "critical",
                            "instance": source.instance,
                            "interface": source.interfaces,
                        })
                    },
                    |p| p.labels.clone(),
                ),
                annotations: json!({
                    "summary": format!("resolved: {failed} of {decided} recent PXE boots failed"),
                }),
                starts_at: previous.map_or(now, |p| p.starts_at),
                resolved_at: Some(now),
            },
        }
    }

    pub fn firing(&self) -> bool {
        self.resolved_at.is_none()
    }

    /// The request body at `now`: a firing alert holds until `now +
    /// valid_for` unless re-sent (so that Alertmanager resolves it on its
    /// own if the agent goes away); a resolve ends when it was resolved.
    pub fn body(&self, now: SystemTime, valid_for: Duration) -> Value {
        let ends = self.resolved_at.unwrap_or(now + valid_for);
        json!([{
            "labels": self.labels,
            "annotations": self.annotations,
            "startsAt": rfc3339(self.starts_at),
            "endsAt": rfc3339(ends),
        }])
    }
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::FailureCode;

    fn source() -> Source {
        Source {
            instance: "boot-01".into(),
            interfaces: "eth0,eth1".into(),
        }
    }

    fn firing() -> AlertChange {
        AlertChange::Firing {
            failed: 5,
            decided: 6,
            code: Some(FailureCode::E55),
            server: Some("10.0.0.1".into()),
            cause: Some("DHCP server 10.0.0.1 sends option 60 PXEClient".into()),
            fix: Some("remove options 60, 66 and 67".into()),
        }
    }

    const MIN: Duration = Duration::from_secs(60);

    #[test]
    fn firing_carries_the_diagnosis_and_holds_for_a_while() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let a = Alert::new(&firing(), &source(), t0, None);
        assert!(a.firing());
        let b = a.body(t0 + MIN, 4 * MIN);
        let b = &b[0];
        assert_eq!(
            b["labels"],
            json!({
                "alertname": "PxeBootFailureSpike",
                "severity": "critical",
                "instance": "boot-01",
                "interface": "eth0,eth1",
                "code": "PXE-E55",
                "server": "10.0.0.1",
            })
        );
        assert_eq!(
            b["annotations"]["summary"],
            "5 of 6 recent PXE boots failed (PXE-E55)"
        );
        assert_eq!(
            b["annotations"]["description"],
            "DHCP server 10.0.0.1 sends option 60 PXEClient. Fix: remove options 60, 66 and 67"
        );
        assert_eq!(b["startsAt"], "2027-01-15T08:00:00Z");
        // Sent a minute later: valid for four more.
        assert_eq!(b["endsAt"], "2027-01-15T08:05:00Z");
    }

    #[test]
    fn a_resolve_names_the_alert_it_ends() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let fired = Alert::new(&firing(), &source(), t0, None);
        let resolved = Alert::new(
            &AlertChange::Resolved {
                failed: 0,
                decided: 6,
            },
            &source(),
            t0 + 10 * MIN,
            Some(&fired),
        );
        assert!(!resolved.firing());
        // Sent late (retried): it still ends when it was resolved.
        let b = resolved.body(t0 + 30 * MIN, 4 * MIN);
        let f = fired.body(t0, 4 * MIN);
        assert_eq!(b[0]["labels"], f[0]["labels"]);
        assert_eq!(b[0]["startsAt"], f[0]["startsAt"]);
        assert_eq!(b[0]["endsAt"], "2027-01-15T08:10:00Z");
        assert_eq!(
            b[0]["annotations"]["summary"],
            "resolved: 0 of 6 recent PXE boots failed"
        );
        // Without a known firing alert: the labels every alert has.
        let lone = Alert::new(
            &AlertChange::Resolved {
                failed: 0,
                decided: 1,
            },
            &source(),
            t0,
            None,
        );
        assert_eq!(lone.body(t0, MIN)[0]["labels"]["instance"], "boot-01");
    }

    #[test]
    fn without_a_diagnosis_it_points_at_the_sessions() {
        let a = Alert::new(
            &AlertChange::Firing {
                failed: 3,
                decided: 5,
                code: None,
                server: None,
                cause: None,
                fix: None,
            },
            &source(),
            SystemTime::UNIX_EPOCH,
            None,
        );
        let b = a.body(SystemTime::UNIX_EPOCH, MIN);
        assert_eq!(
            b[0]["annotations"]["summary"],
            "3 of 5 recent PXE boots failed (various codes)"
        );
        assert_eq!(
            b[0]["annotations"]["description"],
            "see /api/sessions?outcome=failed"
        );
        assert_eq!((b[0]["labels"]["code"].as_str()), Some(""));
    }
}
