//! Per-server metrics with a bounded label set: the first N DHCP/PXE
//! servers seen get their own `server` label, every later one is counted
//! as `other`. A rogue server flood cannot grow the series count.

use std::{
    net::Ipv4Addr,
    sync::{Arc, Mutex},
};

use prometheus::{IntCounterVec, IntGaugeVec, Opts, Registry};

use crate::verdict::{DhcpServerSeen, WarningKind};

/// The `server` label of servers beyond the first N.
pub const OTHER: &str = "other";

/// Kinds of `pxe_server_warnings`: conditions of a server's configuration.
pub const SERVER_WARNING_KINDS: [WarningKind; 2] = [
    WarningKind::Option60OnDhcpServer,
    WarningKind::MultipleDhcpServers,
];

/// `pxe_dhcp_offers_total{server}` and `pxe_server_warnings{server, kind}`.
#[derive(Clone)]
pub struct ServerMetrics {
    offers: IntCounterVec,
    warnings: IntGaugeVec,
    labels: Arc<Mutex<Vec<Ipv4Addr>>>,
    /// Per label, when the session whose state `warnings` shows began.
    /// Sessions are decided out of order (a boot that succeeded waits for
    /// the settle time, a failure is decided at once), so the state shown
    /// is that of the latest session to begin, not the latest decided.
    /// At most `max + 1` entries.
    as_of: Arc<Mutex<Vec<(String, u64)>>>,
    max: usize,
}

impl ServerMetrics {
    /// Creates and registers the metrics; at most `max` servers get a label
    /// of their own. `other` starts at 0.
    pub fn register(registry: &Registry, max: usize) -> prometheus::Result<Self> {
        let m = ServerMetrics {
            offers: IntCounterVec::new(
                Opts::new(
                    "pxe_dhcp_offers_total",
                    "DHCP and proxyDHCP offers to PXE clients, by the server that made them (its address; the first --max-server-labels servers, then other).",
                ),
                &["server"],
            )?,
            warnings: IntGaugeVec::new(
                Opts::new(
                    "pxe_server_warnings",
                    "1 while a DHCP server shows a condition that breaks or risks PXE boots, as of the latest PXE session it offered an address in: option60_on_dhcp_server (it sends option 60 PXEClient, Microsoft KB 259670), multiple_dhcp_servers (another server offered the same client an address).",
                ),
                &["server", "kind"],
            )?,
            labels: Arc::new(Mutex::new(Vec::new())),
            as_of: Arc::new(Mutex::new(Vec::new())),
            max,
        };
        m.init(OTHER);
        registry.register(Box::new(m.offers.clone()))?;
        registry.register(Box::new(m.warnings.clone()))?;
        Ok(m)
    }

    fn init(&self, label: &str) {
        self.offers.with_label_values(&[label]);
        for kind in SERVER_WARNING_KINDS {
            self.warnings.with_label_values(&[label, kind.label()]);
        }
    }

    /// The label of `server`: its address while there is room, else `other`.
    fn label(&self, server: Ipv4Addr) -> String {
        let mut labels = self.labels.lock().unwrap_or_else(|p| p.into_inner());
        if labels.contains(&server) {
            return server.to_string();
        }
        if labels.len() < self.max {
            labels.push(server);
            let label = server.to_string();
            self.init(&label);
            return label;
        }
        OTHER.to_owned()
    }

    /// The warnings on now, by server label (addresses in the order first
    /// seen, then `other`).
    pub fn active(&self) -> Vec<(String, WarningKind)> {
        let labels: Vec<String> = {
            let l = self.labels.lock().unwrap_or_else(|p| p.into_inner());
            l.iter().map(Ipv4Addr::to_string).collect()
        };
        labels
            .into_iter()
            .chain([OTHER.to_owned()])
            .flat_map(|label| {
                let on: Vec<WarningKind> = SERVER_WARNING_KINDS
                    .into_iter()
                    .filter(|k| self.warnings.with_label_values(&[&label, k.label()]).get() != 0)
                    .collect();
                on.into_iter().map(move |k| (label.clone(), k))
            })
            .collect()
    }

    /// An offer from `server`.
    pub fn offer(&self, server: Ipv4Addr) {
        self.offers.with_label_values(&[&self.label(server)]).inc();
    }

    /// A decided session that began at `began_ns`: the state of each
    /// server that offered it an address. A session that began later
    /// clears what no longer holds (the server was fixed); one that began
    /// earlier but was decided later changes nothing. `other` shows the
    /// latest of the servers it stands for.
    pub fn session(&self, servers: &[DhcpServerSeen], began_ns: u64) {
        for s in servers {
            let label = self.label(s.server);
            {
                let mut as_of = self.as_of.lock().unwrap_or_else(|p| p.into_inner());
                match as_of.iter_mut().find(|(l, _)| *l == label) {
                    Some((_, t)) if *t > began_ns => continue,
                    Some((_, t)) => *t = began_ns,
                    None => as_of.push((label.clone(), began_ns)),
                }
            }
            for (kind, on) in [
                (WarningKind::Option60OnDhcpServer, s.option60),
                (WarningKind::MultipleDhcpServers, s.alongside_others),
            ] {
                self.warnings
                    .with_label_values(&[&label, kind.label()])
                    .set(on.into());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use prometheus::{Encoder, TextEncoder};

    use super::*;

    fn text(r: &Registry) -> String {
        let mut out = Vec::new();
        TextEncoder::new().encode(&r.gather(), &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn seen(last: u8, option60: bool, alongside_others: bool) -> DhcpServerSeen {
        DhcpServerSeen {
            server: Ipv4Addr::new(10, 0, 0, last),
            option60,
            alongside_others,
        }
    }

    #[test]
    fn servers_beyond_the_limit_count_as_other() {
        let r = Registry::new();
        let m = ServerMetrics::register(&r, 2).unwrap();
        for last in 1..=5 {
            m.offer(Ipv4Addr::new(10, 0, 0, last));
        }
        m.offer(Ipv4Addr::new(10, 0, 0, 1));
        let out = text(&r);
        assert!(
            out.contains(r#"pxe_dhcp_offers_total{server="10.0.0.1"} 2"#),
            "{out}"
        );
        assert!(
            out.contains(r#"pxe_dhcp_offers_total{server="10.0.0.2"} 1"#),
            "{out}"
        );
        assert!(
            out.contains(r#"pxe_dhcp_offers_total{server="other"} 3"#),
            "{out}"
        );
        assert!(!out.contains("10.0.0.3"), "{out}");
        // Two servers and other, each with every warning kind.
        let series = out
            .lines()
            .filter(|l| l.starts_with("pxe_server_warnings{"))
            .count();
        assert_eq!(series, 3 * SERVER_WARNING_KINDS.len(), "{out}");
    }

    #[test]
    fn a_warning_holds_until_a_later_session_shows_it_fixed() {
        let r = Registry::new();
        let m = ServerMetrics::register(&r, 16).unwrap();
        let kb = r#"pxe_server_warnings{kind="option60_on_dhcp_server",server="10.0.0.1"}"#;
        let several = r#"pxe_server_warnings{kind="multiple_dhcp_servers",server="10.0.0.2"}"#;
        m.session(&[seen(1, true, true), seen(2, false, true)], 10);
        let out = text(&r);
        assert!(out.contains(&format!("{kb} 1")), "{out}");
        assert!(out.contains(&format!("{several} 1")), "{out}");
        assert_eq!(
            m.active(),
            [
                ("10.0.0.1".to_owned(), WarningKind::Option60OnDhcpServer),
                ("10.0.0.1".to_owned(), WarningKind::MultipleDhcpServers),
                ("10.0.0.2".to_owned(), WarningKind::MultipleDhcpServers),
            ]
        );
        m.session(&[seen(1, false, false)], 20);
        let out = text(&r);
        assert!(out.contains(&format!("{kb} 0")), "{out}");
        assert_eq!(
            m.active(),
            [("10.0.0.2".to_owned(), WarningKind::MultipleDhcpServers)]
        );
        // Server 2 was not in that session: its state stands.
        assert!(out.contains(&format!("{several} 1")), "{out}");
    }

    #[test]
    fn a_session_decided_late_does_not_undo_what_a_later_one_showed() {
        // Machine A boots (its verdict waits for the settle time); the
        // server is then changed to send option 60 and machine B fails at
        // once. A's verdict, decided last, must not clear B's warning.
        let r = Registry::new();
        let m = ServerMetrics::register(&r, 16).unwrap();
        let kb = r#"pxe_server_warnings{kind="option60_on_dhcp_server",server="10.0.0.1"}"#;
        m.session(&[seen(1, true, false)], 200);
        m.session(&[seen(1, false, false)], 100);
        let out = text(&r);
        assert!(out.contains(&format!("{kb} 1")), "{out}");
    }
}
