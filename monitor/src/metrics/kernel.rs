//! The kernel's counters as Prometheus metrics, read from the maps when
//! Prometheus scrapes (a node_exporter-style collector): every known label
//! combination exported, zeros included, so `rate()` and alerts work from
//! the first scrape; a per-interface read-success gauge and a monotonic
//! read-error counter; and the ring-buffer readers' record counter.

use std::sync::atomic::{AtomicU64, Ordering};

use monitor_common::{
    Class, DhcpType, Direction, ParseError,
    counters::maps::{
        dhcp_index, icmp_index, parse_error_index, tftp_error_index, tftp_opcode_index,
        traffic_index,
    },
    counters::{Dhcp6Type, WebSegment},
    wire::{tcp::Web, tftp},
};
use prometheus::{
    IntCounterVec, Opts,
    core::{Collector, Desc},
    proto::{Counter, Gauge, LabelPair, Metric, MetricFamily, MetricType},
};

use crate::{counters::Counters, event::RecordKind, kernel::Probes};

/// Where the collector reads counters from: the kernel probes, or a test's
/// stand-in.
pub trait CounterSource: Send + Sync {
    /// Each interface's counters, or why they could not be read.
    fn read_all(&self) -> Vec<(String, Result<Counters, String>)>;
}

impl CounterSource for Probes {
    fn read_all(&self) -> Vec<(String, Result<Counters, String>)> {
        Probes::read_all(self)
            .into_iter()
            .map(|(iface, r)| (iface, r.map_err(|e| e.to_string())))
            .collect()
    }
}

impl<T: CounterSource> CounterSource for std::sync::Arc<T> {
    fn read_all(&self) -> Vec<(String, Result<Counters, String>)> {
        T::read_all(self)
    }
}

/// Reads every interface's counter maps when Prometheus scrapes.
pub struct KernelCollector<S> {
    source: S,
    descs: Vec<Desc>,
    /// Map reads that failed, since start (a counter: it only grows).
    read_errors: AtomicU64,
}

const PACKETS: (&str, &str) = (
    "pxe_packets_total",
    "Frames seen by the kernel programs, by interface, direction, address family (ipv4, ipv6; none: neither) and traffic class (on UDP ports: 67/547 dhcp_to_server, 68/546 dhcp_to_client, 4011 proxy_dhcp, 69 tftp_request).",
);
const BYTES: (&str, &str) = (
    "pxe_bytes_total",
    "Bytes of the frames counted in pxe_packets_total.",
);
const DHCP: (&str, &str) = (
    "pxe_dhcp_messages_total",
    "BOOTP/DHCP messages on ports 67, 68 and 4011, by DHCP message type (option 53; bootp: none) and whether they belong to a PXE exchange (a boot client's vendor class, port 4011, or a reply to a transaction a boot client started).",
);
const DHCP6: (&str, &str) = (
    "pxe_dhcpv6_messages_total",
    "DHCPv6 messages on ports 546, 547 and 4011, by message type (a relay's own type: relay_forw, relay_repl) and whether they belong to a PXE exchange (a boot client's vendor class, enterprise 343 PXEClient or HTTPClient, in the message or the one a relay carries; port 4011; or a reply in a transaction a boot client started).",
);
const PARSE: (&str, &str) = (
    "pxe_parse_errors_total",
    "Frames whose headers could not be fully parsed, by reason. They are still counted in a class and passed.",
);
const EVENTS_LOST: (&str, &str) = (
    "pxe_events_lost_total",
    "PXE events the kernel could not send because the ring buffer was full.",
);
const EVENTS_SHED: (&str, &str) = (
    "pxe_events_shed_total",
    "DISCOVER events the kernel did not send because the ring buffer was more than half full (a DHCP flood): the other messages of real boots keep their room.",
);
const TABLE_EVICTIONS: (&str, &str) = (
    "pxe_kernel_table_evictions_total",
    "Entries the kernel's tables pushed out to make room, by table (pxe_transactions: --max-pxe-transactions, tftp_transfers and tftp_ipv6_transfers: --max-tftp-transfers, http_connections, boot_clients, http_ipv6_connections and ipv6_boot_clients: 4096 each): a transaction, transfer or connection forgotten before it ended is misjudged, so raise the size if this grows during boots.",
);
const WEB_SEGMENTS: (&str, &str) = (
    "pxe_http_segments_total",
    "TCP segments of boot clients' web connections (to or from ports 80, 8080, 443 and --http-port/--https-port of clients a PXE or HTTP Boot ACK named), by scheme and kind: syn, syn_ack, rst, fin, data (payload), ack (none of those).",
);
const WEB_BYTES: (&str, &str) = (
    "pxe_http_payload_bytes_total",
    "TCP payload bytes of the segments in pxe_http_segments_total (headers not counted; a resent segment counts again), by scheme.",
);
const ICMP: (&str, &str) = (
    "pxe_icmp_unreachable_total",
    "ICMP destination unreachable messages about a UDP datagram, by the class of the datagram they quote (proxy_dhcp, tftp_request: nothing listens there).",
);
const TFTP_PACKETS: (&str, &str) = (
    "pxe_tftp_packets_total",
    "TFTP packets to port 69 and of followed transfers (learned from each read/write request), by opcode.",
);
const TFTP_ERRORS: (&str, &str) = (
    "pxe_tftp_errors_total",
    "TFTP ERROR packets by code and sender (server: a refused boot file; client: e.g. aborting a size probe, normal).",
);
const READ_ERRORS: (&str, &str) = (
    "pxe_kernel_read_errors_total",
    "Failures reading an interface's kernel counter maps during scrapes, since start.",
);
const READ_SUCCESS: (&str, &str) = (
    "pxe_kernel_read_success",
    "1 if this scrape read every kernel counter map of the interface, 0 if not (its counters are then missing from this scrape).",
);

impl<S: CounterSource> KernelCollector<S> {
    pub fn new(source: S) -> Self {
        let desc = |(name, help): (&str, &str), labels: &[&str]| {
            Desc::new(
                name.to_owned(),
                help.to_owned(),
                labels.iter().map(|s| (*s).to_owned()).collect(),
                Default::default(),
            )
            .expect("static metric description is valid")
        };
        let descs = vec![
            desc(PACKETS, &["interface", "direction", "family", "class"]),
            desc(BYTES, &["interface", "direction", "family", "class"]),
            desc(DHCP, &["interface", "direction", "type", "pxe"]),
            desc(DHCP6, &["interface", "direction", "type", "pxe"]),
            desc(EVENTS_LOST, &["interface"]),
            desc(EVENTS_SHED, &["interface"]),
            desc(TABLE_EVICTIONS, &["interface", "table"]),
            desc(ICMP, &["interface", "direction", "family", "quoted_class"]),
            desc(TFTP_PACKETS, &["interface", "direction", "opcode"]),
            desc(TFTP_ERRORS, &["interface", "direction", "sender", "code"]),
            desc(PARSE, &["interface", "direction", "reason"]),
            desc(WEB_SEGMENTS, &["interface", "direction", "scheme", "kind"]),
            desc(WEB_BYTES, &["interface", "direction", "scheme"]),
            desc(READ_ERRORS, &[]),
            desc(READ_SUCCESS, &["interface"]),
        ];
        KernelCollector {
            source,
            descs,
            read_errors: AtomicU64::new(0),
        }
    }
}

impl<S: CounterSource> Collector for KernelCollector<S> {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let mut samples = Vec::new();
        let mut success = Vec::new();
        for (iface, read) in self.source.read_all() {
            let ok = match read {
                Ok(c) => {
                    samples.push((iface.clone(), c));
                    true
                }
                Err(e) => {
                    self.read_errors.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(interface = iface, error = %e, "reading kernel counters");
                    false
                }
            };
            success.push(gauge(&[("interface", iface.as_str())], ok.into()));
        }
        let mut f = families(&samples);
        let errors = self.read_errors.load(Ordering::Relaxed);
        f.push(family(READ_ERRORS, vec![counter(&[], errors)]));
        let mut ok = family(READ_SUCCESS, success);
        ok.set_field_type(MetricType::GAUGE);
        f.push(ok);
        f
    }
}

/// `pxe_events_received_total{interface, kind}`, every kind at 0 for each
/// interface; the ring-buffer readers count into clones of it.
pub fn events_received(interfaces: &[String]) -> prometheus::Result<IntCounterVec> {
    let received = IntCounterVec::new(
        Opts::new(
            "pxe_events_received_total",
            "Event records read from the kernel, by interface and kind (malformed: skipped).",
        ),
        &["interface", "kind"],
    )?;
    for iface in interfaces {
        for kind in RecordKind::ALL {
            received.with_label_values(&[iface.as_str(), kind.label()]);
        }
    }
    Ok(received)
}

/// Turns counter values into metric families; every label combination is
/// present, zeros included.
pub fn families(samples: &[(String, Counters)]) -> Vec<MetricFamily> {
    let (mut packets, mut bytes, mut dhcp, mut parse) = (vec![], vec![], vec![], vec![]);
    let (mut lost, mut icmp, mut tftp_p, mut tftp_e) = (vec![], vec![], vec![], vec![]);
    let (mut shed, mut evicted, mut web_s, mut web_b) = (vec![], vec![], vec![], vec![]);
    let mut dhcp6 = vec![];
    for (iface, c) in samples {
        for dir in Direction::ALL {
            for slot in 0..tftp::OPCODE_SLOTS {
                let v = c
                    .tftp_opcodes
                    .get(tftp_opcode_index(dir, slot as u16) as usize)
                    .copied()
                    .unwrap_or(0);
                let labels = [
                    ("interface", iface.as_str()),
                    ("direction", dir.label()),
                    ("opcode", tftp::opcode_label(slot)),
                ];
                tftp_p.push(counter(&labels, v));
            }
            for (from_server, sender) in [(true, "server"), (false, "client")] {
                for slot in 0..tftp::ERROR_SLOTS {
                    let i = tftp_error_index(dir, from_server, slot as u16) as usize;
                    let v = c.tftp_errors.get(i).copied().unwrap_or(0);
                    let labels = [
                        ("interface", iface.as_str()),
                        ("direction", dir.label()),
                        ("sender", sender),
                        ("code", tftp::error_label(slot)),
                    ];
                    tftp_e.push(counter(&labels, v));
                }
            }
        }
        for dir in Direction::ALL {
            // The classes a quoted UDP datagram can have.
            for class in Class::ALL
                .into_iter()
                .filter(|c| !matches!(c, Class::NonIp | Class::OtherIpv4 | Class::OtherIpv6))
            {
                let v = c
                    .icmp_unreachable
                    .get(icmp_index(dir, class) as usize)
                    .copied()
                    .unwrap_or(0);
                let labels = [
                    ("interface", iface.as_str()),
                    ("direction", dir.label()),
                    ("family", class.family().label()),
                    ("quoted_class", class.label()),
                ];
                icmp.push(counter(&labels, v));
            }
        }
        lost.push(counter(&[("interface", iface.as_str())], c.events_lost));
        shed.push(counter(&[("interface", iface.as_str())], c.events_shed));
        let (xids, flows) = c.table_evictions();
        let (conns, clients) = c.web_table_evictions();
        let (xids6, flows6) = c.ipv6_table_evictions();
        let (conns6, clients6) = c.ipv6_web_table_evictions();
        for (table, n) in [
            ("pxe_transactions", xids),
            ("tftp_transfers", flows),
            ("http_connections", conns),
            ("boot_clients", clients),
            ("dhcpv6_transactions", xids6),
            ("tftp_ipv6_transfers", flows6),
            ("http_ipv6_connections", conns6),
            ("ipv6_boot_clients", clients6),
        ] {
            evicted.push(counter(
                &[("interface", iface.as_str()), ("table", table)],
                n,
            ));
        }
        for dir in Direction::ALL {
            for web in Web::ALL {
                let at = [
                    ("interface", iface.as_str()),
                    ("direction", dir.label()),
                    ("scheme", web.label()),
                ];
                for kind in WebSegment::ALL {
                    let labels = [at[0], at[1], at[2], ("kind", kind.label())];
                    web_s.push(counter(&labels, c.web_segment(dir, web, kind)));
                }
                web_b.push(counter(&at, c.web_payload_bytes(dir, web)));
            }
            for class in Class::ALL {
                let t = c
                    .traffic
                    .get(traffic_index(dir, class) as usize)
                    .copied()
                    .unwrap_or_default();
                let labels = [
                    ("interface", iface.as_str()),
                    ("direction", dir.label()),
                    ("family", class.family().label()),
                    ("class", class.label()),
                ];
                packets.push(counter(&labels, t.packets));
                bytes.push(counter(&labels, t.bytes));
            }
            for (i, pxe) in (0..DhcpType::COUNT).flat_map(|i| [(i, false), (i, true)]) {
                let Some(ty) = DhcpType::from_index(i) else {
                    continue;
                };
                let v = c
                    .dhcp_types
                    .get(dhcp_index(dir, pxe, ty) as usize)
                    .copied()
                    .unwrap_or(0);
                dhcp.push(counter(
                    &[
                        ("interface", iface.as_str()),
                        ("direction", dir.label()),
                        ("type", ty.label()),
                        ("pxe", if pxe { "true" } else { "false" }),
                    ],
                    v,
                ));
            }
            for (i, pxe) in (0..Dhcp6Type::COUNT).flat_map(|i| [(i, false), (i, true)]) {
                let Some(ty) = Dhcp6Type::from_index(i) else {
                    continue;
                };
                dhcp6.push(counter(
                    &[
                        ("interface", iface.as_str()),
                        ("direction", dir.label()),
                        ("type", ty.label()),
                        ("pxe", if pxe { "true" } else { "false" }),
                    ],
                    c.dhcp6_pxe(dir, pxe, ty),
                ));
            }
            for reason in ParseError::ALL {
                let v = c
                    .parse_errors
                    .get(parse_error_index(dir, reason) as usize)
                    .copied()
                    .unwrap_or(0);
                parse.push(counter(
                    &[
                        ("interface", iface.as_str()),
                        ("direction", dir.label()),
                        ("reason", reason.label()),
                    ],
                    v,
                ));
            }
        }
    }
    vec![
        family(PACKETS, packets),
        family(BYTES, bytes),
        family(DHCP, dhcp),
        family(DHCP6, dhcp6),
        family(PARSE, parse),
        family(EVENTS_LOST, lost),
        family(EVENTS_SHED, shed),
        family(TABLE_EVICTIONS, evicted),
        family(ICMP, icmp),
        family(TFTP_PACKETS, tftp_p),
        family(TFTP_ERRORS, tftp_e),
        family(WEB_SEGMENTS, web_s),
        family(WEB_BYTES, web_b),
    ]
}

fn labelled(labels: &[(&str, &str)]) -> Metric {
    let mut m = Metric::default();
    m.set_label(
        labels
            .iter()
            .map(|(k, v)| {
                let mut l = LabelPair::default();
                l.set_name((*k).to_owned());
                l.set_value((*v).to_owned());
                l
            })
            .collect(),
    );
    m
}

fn counter(labels: &[(&str, &str)], value: u64) -> Metric {
    let mut m = labelled(labels);
    let mut c = Counter::default();
    c.set_value(value as f64);
    m.set_counter(c);
    m
}

fn gauge(labels: &[(&str, &str)], value: u8) -> Metric {
    let mut m = labelled(labels);
    let mut g = Gauge::default();
    g.set_value(value.into());
    m.set_gauge(g);
    m
}

fn family((name, help): (&str, &str), metrics: Vec<Metric>) -> MetricFamily {
    let mut f = MetricFamily::default();
    f.set_name(name.to_owned());
    f.set_help(help.to_owned());
    f.set_field_type(MetricType::COUNTER);
    f.set_metric(metrics);
    f
}

#[cfg(test)]
mod tests {
    use monitor_common::Traffic;
    use prometheus::{Encoder, TextEncoder};

    use monitor_common::counters::maps::{dhcp6_index, web_bytes_index, web_segment_index};

    use super::*;

    fn text(f: &[MetricFamily]) -> String {
        let mut out = Vec::new();
        TextEncoder::new().encode(f, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn every_label_set_is_exported_with_its_value() {
        let mut c = Counters::default();
        c.traffic[traffic_index(Direction::Ingress, Class::DhcpServer) as usize] = Traffic {
            packets: 3,
            bytes: 1000,
        };
        c.dhcp_types[dhcp_index(Direction::Egress, true, DhcpType::OFFER) as usize] = 2;
        c.parse_errors[parse_error_index(Direction::Ingress, ParseError::TruncatedUdp) as usize] =
            1;
        c.web_segments
            [web_segment_index(Direction::Ingress, Web::Http, WebSegment::Syn) as usize] = 4;
        c.web_bytes[web_bytes_index(Direction::Egress, Web::Https) as usize] = 5000;
        (c.new_conns, c.conns_size) = (4100, 4096);
        c.traffic[traffic_index(Direction::Ingress, Class::Dhcpv6Server) as usize] = Traffic {
            packets: 7,
            bytes: 900,
        };
        c.dhcp6_types[dhcp6_index(Direction::Ingress, true, Dhcp6Type::SOLICIT) as usize] = 6;
        (c.new_xids6, c.xids6_size) = (4097, 4096);
        (c.new_flows6, c.flows6_size) = (4099, 4096);
        let out = text(&families(&[("eth9".into(), c)]));
        assert!(out.contains(r#"pxe_http_segments_total{interface="eth9",direction="ingress",scheme="http",kind="syn"} 4"#), "{out}");
        assert!(out.contains(r#"pxe_http_segments_total{interface="eth9",direction="egress",scheme="https",kind="rst"} 0"#), "{out}");
        assert!(out.contains(r#"pxe_http_payload_bytes_total{interface="eth9",direction="egress",scheme="https"} 5000"#), "{out}");
        assert!(
            out.contains(
                r#"pxe_kernel_table_evictions_total{interface="eth9",table="http_connections"} 4"#
            ),
            "{out}"
        );
        assert!(
            out.contains(
                r#"pxe_kernel_table_evictions_total{interface="eth9",table="boot_clients"} 0"#
            ),
            "{out}"
        );
        assert!(out.contains(r#"pxe_packets_total{interface="eth9",direction="ingress",family="ipv4",class="dhcp_to_server"} 3"#), "{out}");
        assert!(out.contains(
            r#"pxe_bytes_total{interface="eth9",direction="ingress",family="ipv4",class="dhcp_to_server"} 1000"#
        ));
        assert!(out.contains(r#"pxe_packets_total{interface="eth9",direction="ingress",family="ipv6",class="dhcp_to_server"} 7"#), "{out}");
        assert!(out.contains(r#"pxe_packets_total{interface="eth9",direction="egress",family="none",class="non_ip"} 0"#), "{out}");
        assert!(out.contains(r#"pxe_dhcpv6_messages_total{interface="eth9",direction="ingress",type="solicit",pxe="true"} 6"#), "{out}");
        assert!(out.contains(r#"pxe_dhcpv6_messages_total{interface="eth9",direction="egress",type="relay_forw",pxe="false"} 0"#), "{out}");
        assert!(out.contains(r#"pxe_kernel_table_evictions_total{interface="eth9",table="dhcpv6_transactions"} 1"#), "{out}");
        assert!(out.contains(r#"pxe_kernel_table_evictions_total{interface="eth9",table="tftp_ipv6_transfers"} 3"#), "{out}");
        assert!(out.contains(r#"pxe_icmp_unreachable_total{interface="eth9",direction="ingress",family="ipv4",quoted_class="proxy_dhcp"} 0"#), "{out}");
        assert!(out.contains(r#"pxe_icmp_unreachable_total{interface="eth9",direction="ingress",family="ipv6",quoted_class="proxy_dhcp"} 0"#), "{out}");
        assert!(out.contains(
            r#"pxe_dhcp_messages_total{interface="eth9",direction="egress",type="offer",pxe="true"} 2"#
        ));
        assert!(out.contains(
            r#"pxe_dhcp_messages_total{interface="eth9",direction="ingress",type="offer",pxe="false"} 0"#
        ));
        assert!(out.contains(r#"pxe_parse_errors_total{interface="eth9",direction="ingress",reason="truncated_udp"} 1"#));
        let packets = out
            .lines()
            .filter(|l| l.starts_with("pxe_packets_total{"))
            .count();
        assert_eq!(packets, Direction::COUNT * Class::COUNT);
        let dhcp = out
            .lines()
            .filter(|l| l.starts_with("pxe_dhcp_messages_total{"))
            .count();
        assert_eq!(dhcp, Direction::COUNT * 2 * DhcpType::COUNT);
        let dhcp6 = out
            .lines()
            .filter(|l| l.starts_with("pxe_dhcpv6_messages_total{"))
            .count();
        assert_eq!(dhcp6, Direction::COUNT * 2 * Dhcp6Type::COUNT);
    }

    /// One interface whose maps cannot be read, one that can.
    struct Flaky;

    impl CounterSource for Flaky {
        fn read_all(&self) -> Vec<(String, Result<Counters, String>)> {
            vec![
                ("eth0".into(), Ok(Counters::default())),
                ("eth1".into(), Err("map gone".into())),
            ]
        }
    }

    #[test]
    fn read_errors_only_grow_and_say_which_interface_failed() {
        let c = KernelCollector::new(Flaky);
        let value = |out: &str, series: &str| -> f64 {
            out.lines()
                .find_map(|l| l.strip_prefix(series))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or_else(|| panic!("{series} missing from {out}"))
        };
        let first = text(&c.collect());
        let second = text(&c.collect());
        assert_eq!(value(&first, "pxe_kernel_read_errors_total "), 1.0);
        assert_eq!(
            value(&second, "pxe_kernel_read_errors_total "),
            2.0,
            "a counter: the second scrape's failure adds to the first"
        );
        assert!(second.contains("# TYPE pxe_kernel_read_errors_total counter"));
        assert!(second.contains("# TYPE pxe_kernel_read_success gauge"));
        assert_eq!(
            value(&second, r#"pxe_kernel_read_success{interface="eth0"} "#),
            1.0
        );
        assert_eq!(
            value(&second, r#"pxe_kernel_read_success{interface="eth1"} "#),
            0.0
        );
        // The interface that was read is exported; the other is missing.
        assert!(second.contains(r#"pxe_events_lost_total{interface="eth0"} 0"#));
        assert!(!second.contains(r#"pxe_events_lost_total{interface="eth1"}"#));
    }
}
