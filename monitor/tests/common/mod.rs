//! Expected counts for fixture captures, shared by the host and kernel tests.
//!
//! Every number here was read off the capture with tshark 4.0 (not from the
//! program), with `-o ip.defragment:FALSE` and `U = udp && !icmp &&
//! ip.frag_offset == 0` (ICMP errors quote a UDP header that tshark would
//! otherwise match):
//!
//! | field        | display filter                                         |
//! |--------------|--------------------------------------------------------|
//! | non_ip       | `!ip && !ipv6`                                         |
//! | other_ipv4   | `ip && !(U)`                                           |
//! | proxy_dhcp   | `U && udp.port == 4011`                                |
//! | to_server    | `U && udp.dstport == 67 && udp.srcport != 4011`        |
//! | to_client    | `U && udp.dstport == 68 && udp.srcport != 4011`        |
//! | tftp_request | `U && udp.dstport == 69 && udp.srcport != 4011`        |
//! | other_udp    | `U && !(udp.port == 4011 \|\| udp.dstport in {67,68,69})` |
//! | dhcp         | `-T fields -e dhcp.option.dhcp` on the DHCP classes     |
//!
//!
//! IPv6 (`V6`), with `-o ipv6.defragment:FALSE` and `U6 = ipv6 && !ip &&
//! udp && !icmpv6 && !ipv6.fraghdr.offset > 0`: other_ipv6 `ipv6 && !ip &&
//! !(U6)`, and the UDP classes as above on ports 547 (to server), 546 (to
//! client), 4011 and 69; `dhcp6` is `-T fields -e dhcpv6.msgtype`, the
//! first value (a relay's own type), on the DHCPv6 classes.
//!
//! In p-pxelinux-chain (snaplen 96) tshark shows no message type for the six
//! DHCP frames: their BOOTP header is cut, which the monitor counts as
//! `truncated_bootp`.
#![allow(dead_code, reason = "each test binary uses part of this module")]

pub mod veth;

use std::path::{Path, PathBuf};

use monitor::{capture, counters::Counters};
use monitor_common::{Class, DhcpType, Direction, ParseError, counters::Dhcp6Type};

pub struct Expected {
    pub file: &'static str,
    pub frames: u64,
    pub non_ip: u64,
    pub other_ipv4: u64,
    pub other_udp: u64,
    pub to_server: u64,
    pub to_client: u64,
    pub proxy_dhcp: u64,
    pub tftp_request: u64,
    pub dhcp: &'static [(DhcpType, u64)],
    /// DHCP messages outside any PXE exchange: no PXEClient/HTTPClient
    /// vendor class, not port 4011, and an xid no boot client started
    /// (tshark `-e dhcp.id -e dhcp.option.vendor_class_id`).
    pub non_pxe: &'static [(DhcpType, u64)],
    /// ICMP destination unreachable by the class of the quoted UDP datagram
    /// (`icmp.type == 3`, `-e udp.srcport -e udp.dstport` of the quote).
    pub icmp: &'static [(Class, u64)],
    /// Of those, quoting a datagram of a followed TFTP transfer (ports
    /// matching a request's client port and server in the same capture).
    pub icmp_about_transfers: u64,
    /// TFTP packets by opcode (`tftp && !icmp`, `-e tftp.opcode`: tshark
    /// follows a transfer from its request, as the monitor does).
    pub tftp: &'static [(u16, u64)],
    /// TFTP ERRORs from the server by code (`tftp.opcode == 5`,
    /// `-e tftp.error.code -e udp.srcport`).
    pub tftp_server_errors: &'static [(u16, u64)],
    pub errors: &'static [(ParseError, u64)],
    pub v6: V6,
}

/// The IPv6 classes and DHCPv6 messages of a capture.
pub struct V6 {
    pub other_ipv6: u64,
    pub other_udp6: u64,
    pub to_server6: u64,
    pub to_client6: u64,
    pub proxy_dhcp6: u64,
    pub tftp_request6: u64,
    pub dhcp6: &'static [(Dhcp6Type, u64)],
    /// Of those, in a PXE exchange (vendor class enterprise 343 with
    /// `PXEClient`/`HTTPClient`: `dhcpv6.vendorclass.enterprise == 343`).
    pub pxe6: &'static [(Dhcp6Type, u64)],
}

/// Only IPv6 that is not UDP (router and neighbour discovery, MLD), as
/// in the lab captures.
pub const fn other_ipv6(n: u64) -> V6 {
    V6 {
        other_ipv6: n,
        other_udp6: 0,
        to_server6: 0,
        to_client6: 0,
        proxy_dhcp6: 0,
        tftp_request6: 0,
        dhcp6: &[],
        pxe6: &[],
    }
}

pub const EXPECTED: &[Expected] = &[
    Expected {
        file: "lab-pcaps/a-healthy-dnsmasq.pcap",
        frames: 17,
        non_ip: 0,
        other_ipv4: 0,
        other_udp: 4,
        to_server: 3,
        to_client: 3,
        proxy_dhcp: 0,
        tftp_request: 1,
        dhcp: &[
            (DhcpType::DISCOVER, 2),
            (DhcpType::OFFER, 2),
            (DhcpType::REQUEST, 1),
            (DhcpType::ACK, 1),
        ],
        non_pxe: &[],
        icmp: &[],
        icmp_about_transfers: 0,
        tftp: &[(1, 1), (3, 1), (4, 2), (6, 1)],
        tftp_server_errors: &[],
        errors: &[],
        v6: other_ipv6(6),
    },
    Expected {
        file: "lab-pcaps/b-kb259670-option60-no-proxy.pcap",
        frames: 23,
        non_ip: 0,
        other_ipv4: 6,
        other_udp: 0,
        to_server: 2,
        to_client: 2,
        proxy_dhcp: 4,
        tftp_request: 0,
        dhcp: &[
            (DhcpType::DISCOVER, 1),
            (DhcpType::OFFER, 1),
            (DhcpType::REQUEST, 5),
            (DhcpType::ACK, 1),
        ],
        non_pxe: &[],
        icmp: &[(Class::ProxyDhcp, 4)],
        icmp_about_transfers: 0,
        tftp: &[],
        tftp_server_errors: &[],
        errors: &[],
        v6: other_ipv6(9),
    },
    Expected {
        file: "lab-pcaps/f-healthy-proxydhcp.pcap",
        frames: 20,
        non_ip: 0,
        other_ipv4: 2,
        other_udp: 4,
        to_server: 2,
        to_client: 3,
        proxy_dhcp: 2,
        tftp_request: 1,
        dhcp: &[
            (DhcpType::DISCOVER, 1),
            (DhcpType::OFFER, 2),
            (DhcpType::REQUEST, 2),
            (DhcpType::ACK, 2),
        ],
        non_pxe: &[],
        icmp: &[],
        icmp_about_transfers: 0,
        tftp: &[(1, 1), (3, 1), (4, 2), (6, 1)],
        tftp_server_errors: &[],
        errors: &[],
        v6: other_ipv6(6),
    },
    Expected {
        file: "lab-pcaps/l2-tftp-clients.pcap",
        frames: 83,
        non_ip: 0,
        other_ipv4: 4,
        other_udp: 64,
        to_server: 0,
        to_client: 0,
        proxy_dhcp: 0,
        tftp_request: 15,
        dhcp: &[],
        non_pxe: &[],
        icmp: &[(Class::OtherUdp, 1), (Class::TftpRequest, 3)],
        icmp_about_transfers: 1,
        tftp: &[(1, 15), (3, 24), (4, 30), (5, 6), (6, 4)],
        tftp_server_errors: &[(1, 6)],
        errors: &[],
        v6: other_ipv6(0),
    },
    Expected {
        file: "lab-pcaps/p-pxelinux-chain.pcap",
        frames: 273,
        non_ip: 0,
        other_ipv4: 0,
        other_udp: 247,
        to_server: 3,
        to_client: 3,
        proxy_dhcp: 0,
        tftp_request: 12,
        dhcp: &[],
        non_pxe: &[],
        icmp: &[],
        icmp_about_transfers: 0,
        tftp: &[(1, 12), (3, 116), (4, 119), (5, 9), (6, 3)],
        tftp_server_errors: &[(1, 9)],
        errors: &[(ParseError::TruncatedBootp, 6)],
        v6: other_ipv6(8),
    },
    Expected {
        file: "peer-pcaps/netboot/pcap/nsec.pcap",
        frames: 9,
        non_ip: 0,
        other_ipv4: 0,
        other_udp: 0,
        to_server: 2,
        to_client: 3,
        proxy_dhcp: 2,
        tftp_request: 2,
        dhcp: &[
            (DhcpType::DISCOVER, 1),
            (DhcpType::OFFER, 2),
            (DhcpType::REQUEST, 2),
            (DhcpType::ACK, 2),
        ],
        non_pxe: &[],
        icmp: &[],
        icmp_about_transfers: 0,
        tftp: &[(1, 2)],
        tftp_server_errors: &[],
        errors: &[],
        v6: other_ipv6(0),
    },
    Expected {
        file: "peer-pcaps/netboot/dhcp4/dhcp.pcap",
        frames: 4,
        non_ip: 0,
        other_ipv4: 0,
        other_udp: 0,
        to_server: 2,
        to_client: 2,
        proxy_dhcp: 0,
        tftp_request: 0,
        dhcp: &[
            (DhcpType::DISCOVER, 1),
            (DhcpType::OFFER, 2),
            (DhcpType::REQUEST, 1),
        ],
        // A REQUEST from another client (00:24:d7:ba:0b:20, xid 0x52cff007).
        non_pxe: &[(DhcpType::REQUEST, 1)],
        icmp: &[],
        icmp_about_transfers: 0,
        tftp: &[],
        tftp_server_errors: &[],
        errors: &[],
        v6: other_ipv6(0),
    },
    Expected {
        file: "peer-pcaps/netboot/dhcp6/dhcp6.pcap",
        frames: 4,
        non_ip: 0,
        other_ipv4: 0,
        other_udp: 0,
        to_server: 0,
        to_client: 0,
        proxy_dhcp: 0,
        tftp_request: 0,
        dhcp: &[],
        non_pxe: &[],
        icmp: &[],
        icmp_about_transfers: 0,
        tftp: &[],
        tftp_server_errors: &[],
        errors: &[],
        v6: V6 {
            to_server6: 2,
            to_client6: 2,
            dhcp6: &[
                (Dhcp6Type::SOLICIT, 1),
                (Dhcp6Type::ADVERTISE, 1),
                (Dhcp6Type::REQUEST, 1),
                (Dhcp6Type::REPLY, 1),
            ],
            ..other_ipv6(0)
        },
    },
    Expected {
        // DHCPv4 and DHCPv6 of one Arista switch (vendor class Arista:
        // not PXE), RFC 5970 boot file URLs in the replies.
        file: "peer-pcaps/tcpdump/dhcpv4v6-rfc5970-rfc8572.pcap",
        frames: 14,
        non_ip: 0,
        other_ipv4: 0,
        other_udp: 0,
        to_server: 2,
        to_client: 2,
        proxy_dhcp: 0,
        tftp_request: 0,
        dhcp: &[
            (DhcpType::DISCOVER, 1),
            (DhcpType::OFFER, 1),
            (DhcpType::REQUEST, 1),
            (DhcpType::ACK, 1),
        ],
        non_pxe: &[
            (DhcpType::DISCOVER, 1),
            (DhcpType::OFFER, 1),
            (DhcpType::REQUEST, 1),
            (DhcpType::ACK, 1),
        ],
        icmp: &[],
        icmp_about_transfers: 0,
        tftp: &[],
        tftp_server_errors: &[],
        errors: &[],
        v6: V6 {
            to_server6: 6,
            to_client6: 4,
            dhcp6: &[
                (Dhcp6Type::SOLICIT, 3),
                (Dhcp6Type::ADVERTISE, 2),
                (Dhcp6Type::REQUEST, 2),
                (Dhcp6Type::REPLY, 2),
                (Dhcp6Type::from_msg(11), 1),
            ],
            ..other_ipv6(0)
        },
    },
    Expected {
        // Five Relay-forw, each carrying a Solicit.
        file: "peer-pcaps/tcpdump/dhcpv6-mud.pcap",
        frames: 5,
        non_ip: 0,
        other_ipv4: 0,
        other_udp: 0,
        to_server: 0,
        to_client: 0,
        proxy_dhcp: 0,
        tftp_request: 0,
        dhcp: &[],
        non_pxe: &[],
        icmp: &[],
        icmp_about_transfers: 0,
        tftp: &[],
        tftp_server_errors: &[],
        errors: &[],
        v6: V6 {
            to_server6: 5,
            dhcp6: &[(Dhcp6Type::RELAY_FORW, 5)],
            ..other_ipv6(0)
        },
    },
    Expected {
        // With MLD reports behind a hop-by-hop header and neighbour
        // discovery between the DHCPv6 messages.
        file: "peer-pcaps/arkime/wireshark-dhcpv6.pcap",
        frames: 12,
        non_ip: 0,
        other_ipv4: 0,
        other_udp: 0,
        to_server: 0,
        to_client: 0,
        proxy_dhcp: 0,
        tftp_request: 0,
        dhcp: &[],
        non_pxe: &[],
        icmp: &[],
        icmp_about_transfers: 0,
        tftp: &[],
        tftp_server_errors: &[],
        errors: &[],
        v6: V6 {
            other_ipv6: 6,
            to_server6: 3,
            to_client6: 3,
            dhcp6: &[
                (Dhcp6Type::SOLICIT, 1),
                (Dhcp6Type::ADVERTISE, 1),
                (Dhcp6Type::REQUEST, 1),
                (Dhcp6Type::REPLY, 2),
                (Dhcp6Type::from_msg(8), 1),
            ],
            ..other_ipv6(0)
        },
    },
];

/// Ethernet frames of a capture.
pub fn frames(path: &Path) -> Vec<Vec<u8>> {
    capture::read_file(path)
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .filter(|p| p.is_ethernet())
        .map(|p| p.data)
        .collect()
}

/// Asserts that counters for one direction match a table row; `what` names
/// the side (host / kernel) in failure messages.
pub fn assert_matches(what: &str, dir: Direction, got: &Counters, e: &Expected) {
    let ctx = format!("{what}, {}, {}", e.file, dir.label());
    let classes = [
        (Class::NonIp, e.non_ip),
        (Class::OtherIpv4, e.other_ipv4),
        (Class::OtherUdp, e.other_udp),
        (Class::DhcpServer, e.to_server),
        (Class::DhcpClient, e.to_client),
        (Class::ProxyDhcp, e.proxy_dhcp),
        (Class::TftpRequest, e.tftp_request),
        (Class::OtherIpv6, e.v6.other_ipv6),
        (Class::OtherUdp6, e.v6.other_udp6),
        (Class::Dhcpv6Server, e.v6.to_server6),
        (Class::Dhcpv6Client, e.v6.to_client6),
        (Class::ProxyDhcp6, e.v6.proxy_dhcp6),
        (Class::TftpRequest6, e.v6.tftp_request6),
    ];
    for (class, want) in classes {
        assert_eq!(
            got.packets(dir, class),
            want,
            "{ctx}: packets of class {}",
            class.label()
        );
    }
    let total: u64 = Class::ALL.iter().map(|c| got.packets(dir, *c)).sum();
    assert_eq!(total, e.frames, "{ctx}: every frame counted once");
    for i in 0..DhcpType::COUNT {
        let ty = DhcpType::from_index(i).unwrap();
        let want = e.dhcp.iter().find(|(t, _)| *t == ty).map_or(0, |(_, n)| *n);
        assert_eq!(got.dhcp(dir, ty), want, "{ctx}: DHCP {}", ty.label());
    }
    for i in 0..Dhcp6Type::COUNT {
        let ty = Dhcp6Type::from_index(i).unwrap();
        let find = |t: &[(Dhcp6Type, u64)]| t.iter().find(|(t, _)| *t == ty).map_or(0, |(_, n)| *n);
        assert_eq!(
            got.dhcp6(dir, ty),
            find(e.v6.dhcp6),
            "{ctx}: DHCPv6 {}",
            ty.label()
        );
        assert_eq!(
            got.dhcp6_pxe(dir, true, ty),
            find(e.v6.pxe6),
            "{ctx}: PXE DHCPv6 {}",
            ty.label()
        );
    }
    for class in Class::ALL {
        let want = e
            .icmp
            .iter()
            .find(|(c, _)| *c == class)
            .map_or(0, |(_, n)| *n);
        assert_eq!(
            got.icmp(dir, class),
            want,
            "{ctx}: ICMP unreachable quoting {}",
            class.label()
        );
    }
    for slot in 0..monitor_common::wire::tftp::OPCODE_SLOTS as u16 {
        let want = e
            .tftp
            .iter()
            .find(|(o, _)| *o == slot)
            .map_or(0, |(_, n)| *n);
        assert_eq!(got.tftp(dir, slot), want, "{ctx}: TFTP opcode {slot}");
    }
    for code in 0..=9 {
        let want = e
            .tftp_server_errors
            .iter()
            .find(|(c, _)| *c == code)
            .map_or(0, |(_, n)| *n);
        assert_eq!(
            got.tftp_error(dir, true, code),
            want,
            "{ctx}: TFTP server error {code}"
        );
        assert_eq!(
            got.tftp_error(dir, false, code),
            0,
            "{ctx}: TFTP client error {code}"
        );
    }
    for reason in ParseError::ALL {
        let want = e
            .errors
            .iter()
            .find(|(r, _)| *r == reason)
            .map_or(0, |(_, n)| *n);
        assert_eq!(
            got.parse_error(dir, reason),
            want,
            "{ctx}: parse error {}",
            reason.label()
        );
    }
}

pub fn fixture(dir: &Path, file: &str) -> PathBuf {
    dir.join(file)
}

/// Every capture file under `dir`, recursively, sorted.
pub fn all_captures(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("pcap" | "pcapng" | "cap")
            ) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}
