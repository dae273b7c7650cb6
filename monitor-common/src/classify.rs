//! One frame in, one class (and, for DHCP, one message type) out: the
//! stages' reading of a frame. Stage one ([`classify_headers`]: Ethernet,
//! VLAN, IPv4, UDP, ICMP type), stage two ([`classify_dhcp`],
//! [`classify_icmp`]), and [`classify`] running them in one go as the host
//! does. The stages take and return the typed arguments of `crate::stage`,
//! which sits below this module.

use crate::{
    counters::{Class, Dhcp6Type, DhcpType},
    frame::Frame,
    stage::{Dhcp6At, Dhcp6Location, DhcpAt, DhcpLocation, IcmpAt, TcpAt, UdpAt},
    wire::{
        ParseError,
        dhcp::{self, OptionSlots, VendorClass},
        dhcpv6,
        ethernet::{self, EtherType},
        icmp::{self, QuotedUdp},
        ipv4::{self, Protocol},
        ipv6,
        tcp::Web,
        udp,
    },
};

/// An ICMP or ICMPv6 destination unreachable about a UDP datagram (IPv4
/// addresses by default): the host at `reporter` says nothing took the
/// quoted datagram (code 3, over IPv6 code 4: no listener on the port).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IcmpUnreachable<A = [u8; 4]> {
    pub reporter: A,
    pub code: u8,
    pub quoted: QuotedUdp<A>,
    /// The class the quoted datagram had.
    pub quoted_class: Class,
}

/// An ICMPv6 destination unreachable about a UDP datagram.
pub type Icmp6Unreachable = IcmpUnreachable<[u8; 16]>;

impl<A> IcmpUnreachable<A> {
    /// Whether the quoted datagram went to or came from a PXE port (DHCP,
    /// DHCPv6, 4011, a TFTP read request), so the message matters to a
    /// boot.
    pub fn quotes_pxe_port(&self) -> bool {
        self.quoted_class.is_dhcp()
            || self.quoted_class.is_tftp_request()
            || matches!(
                self.quoted_class,
                Class::Dhcpv6Server | Class::Dhcpv6Client | Class::ProxyDhcp6
            )
    }
}

/// What the classifier learned from one frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Classification {
    pub class: Class,
    /// Set for frames of a DHCP class whose BOOTP header could be read.
    pub dhcp_type: Option<DhcpType>,
    /// Where the DHCP message is, for building its event.
    pub dhcp: Option<DhcpLocation>,
    /// Set for an ICMP destination unreachable quoting a UDP datagram.
    pub icmp: Option<IcmpUnreachable>,
    /// Set for an ICMPv6 destination unreachable quoting a UDP datagram.
    pub icmp6: Option<Icmp6Unreachable>,
    /// Set for frames of a DHCPv6 class whose message header could be
    /// read: the type on the wire, and what stage two read.
    pub dhcp6_type: Option<Dhcp6Type>,
    pub dhcp6: Option<Dhcp6Location>,
    /// Where parsing stopped early, if it did.
    pub error: Option<ParseError>,
}

impl Classification {
    #[inline(always)]
    const fn new(class: Class) -> Self {
        Classification {
            class,
            dhcp_type: None,
            dhcp: None,
            icmp: None,
            icmp6: None,
            dhcp6_type: None,
            dhcp6: None,
            error: None,
        }
    }

    #[inline(always)]
    const fn failed(class: Class, error: ParseError) -> Self {
        Classification {
            class,
            dhcp_type: None,
            dhcp: None,
            icmp: None,
            icmp6: None,
            dhcp6_type: None,
            dhcp6: None,
            error: Some(error),
        }
    }
}

/// What stage one found that stage two reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    Dhcp(DhcpAt),
    /// An ICMP destination unreachable.
    Icmp(IcmpAt),
    /// UDP to port 69, or other UDP that may belong to a TFTP transfer,
    /// over either family (with its source and destination ports, for the
    /// kernel's port hints).
    Udp {
        at: UdpAt,
        ports: (u16, u16),
    },
    /// TCP to or from a web port (as the caller's `web` said:
    /// [`classify_headers_with`]).
    Tcp(TcpAt),
    /// UDP over IPv6 to or from a DHCPv6 port or 4011.
    Dhcp6(Dhcp6At),
}

/// The most common frames that stage one hands nothing on for, settled at
/// fixed offsets before the general walk ([`other_tcp`], [`other_ipv6`]),
/// the Ethernet type read once.
#[inline(always)]
fn settled<F, W>(frame: &F, web: &W) -> Option<Class>
where
    F: Frame + ?Sized,
    W: WebSide + ?Sized,
{
    let h = frame.array::<14>(0)?;
    match (h[12], h[13]) {
        (0x08, 0x00) if other_tcp(frame, web) => Some(Class::OtherIpv4),
        (0x86, 0xdd) if other_ipv6(frame, web) => Some(Class::OtherIpv6),
        _ => None,
    }
}

/// The most common frame, settled at fixed offsets before the general
/// walk (the Ethernet type, IPv4, checked by [`settled`]): IPv4 without
/// options, not a later fragment, carrying TCP to and from ports that are
/// not web ports. The general walk gives the same answer (`OtherIpv4`,
/// nothing handed on) for every frame this accepts; it is here because the
/// walk's variable offsets cost the kernel build about 2 ns more a segment
/// (BENCHMARKS.md, 2026-12-02).
#[inline(always)]
fn other_tcp<F, W>(frame: &F, web: &W) -> bool
where
    F: Frame + ?Sized,
    W: WebSide + ?Sized,
{
    // Ethernet (14), IPv4 (20), the two ports (4).
    let Some(h) = frame.array::<38>(0) else {
        return false;
    };
    // The protocol first: what else comes here (UDP, for the PXE ports)
    // leaves after one compare.
    if ipv4::Protocol::from(h[23]) != Protocol::Tcp {
        return false;
    }
    let total_len = u16::from_be_bytes([h[16], h[17]]);
    if h[14] != 0x45 || total_len < 20 || h[20] & 0x1f != 0 || h[21] != 0 {
        return false;
    }
    let sport = u16::from_be_bytes([h[34], h[35]]);
    let dport = u16::from_be_bytes([h[36], h[37]]);
    web.side(sport, dport).is_none()
}

/// The most common IPv6 frame, settled at fixed offsets as
/// [`other_tcp`] settles IPv4 (the Ethernet type checked by [`settled`]):
/// a whole fixed header, and a next header that is neither UDP nor an
/// extension header the walk steps over (TCP between ports that are not
/// web ports, ICMPv6 other than destination unreachable, ...): `OtherIpv6`,
/// as the general walk says. One bounds check covers the fixed header and
/// the first 8 bytes after it (TCP's ports, a whole ICMPv6 header). Without
/// it a router advertisement cost +4 ns with XDP instead of +3
/// (BENCHMARKS.md).
#[inline(always)]
fn other_ipv6<F, W>(frame: &F, web: &W) -> bool
where
    F: Frame + ?Sized,
    W: WebSide + ?Sized,
{
    // Ethernet (14), the IPv6 header (40), 8 bytes of what follows: a
    // frame shorter than that (never TCP, whose header is 20 bytes) takes
    // the general walk.
    let Some(h) = frame.array::<62>(0) else {
        return false;
    };
    if h[14] >> 4 != 6 {
        return false;
    }
    match h[20] {
        // The web stage follows web ports.
        ipv6::TCP => web
            .side(
                u16::from_be_bytes([h[54], h[55]]),
                u16::from_be_bytes([h[56], h[57]]),
            )
            .is_none(),
        // Stage two reads a destination unreachable.
        ipv6::ICMPV6 => h[54] != icmp::TYPE6_DEST_UNREACHABLE,
        ipv6::UDP
        | ipv6::HOP_BY_HOP
        | ipv6::ROUTING
        | ipv6::FRAGMENT
        | ipv6::DESTINATION_OPTIONS => false,
        _ => true,
    }
}

/// Stage one: Ethernet, VLAN, IPv4 and UDP. For a DHCP class the result
/// says where the message is; [`classify_dhcp`] reads it. (Two stages so
/// that the kernel can run them in separate BPF functions: see
/// docs/ebpf-notes.md.)
#[inline(always)]
pub fn classify_headers<F: Frame + ?Sized>(frame: &F) -> (Classification, Option<Next>) {
    classify_headers_with(frame, &NoWeb)
}

/// Which of a TCP segment's ports is a web port, for stage one:
/// `Some((kind, server_is_dst))` (`conn::WebPorts::side`). A trait with an
/// `#[inline(always)]` method, not a closure: in the kernel build a
/// closure (and a fn item's `FnOnce` shim) stayed a BPF-to-BPF call, +25 ns
/// on every TCP segment.
pub trait WebSide {
    fn side(&self, sport: u16, dport: u16) -> Option<(Web, bool)>;
}

/// No TCP is handed on.
pub struct NoWeb;

impl WebSide for NoWeb {
    #[inline(always)]
    fn side(&self, _: u16, _: u16) -> Option<(Web, bool)> {
        None
    }
}

/// [`classify_headers`], handing TCP on when `web` says one of its ports is
/// a web port. Deciding here, while the ports are in registers, is what
/// keeps other TCP cheap in the kernel.
#[inline(always)]
pub fn classify_headers_with<F, W>(frame: &F, web: &W) -> (Classification, Option<Next>)
where
    F: Frame + ?Sized,
    W: WebSide + ?Sized,
{
    if let Some(class) = settled(frame, web) {
        return (Classification::new(class), None);
    }
    walk_headers(frame, web)
}

/// [`classify_headers_with`] without the fixed-offset shortcut for other
/// TCP: the general walk.
#[inline(always)]
fn walk_headers<F, W>(frame: &F, web: &W) -> (Classification, Option<Next>)
where
    F: Frame + ?Sized,
    W: WebSide + ?Sized,
{
    let l3 = match ethernet::l3(frame) {
        Ok(l3) => l3,
        Err(e) => return (Classification::failed(Class::NonIp, e), None),
    };
    if l3.ethertype == EtherType::Ipv6 {
        return walk_ipv6(frame, l3.offset, web);
    }
    if l3.ethertype != EtherType::Ipv4 {
        return (Classification::new(Class::NonIp), None);
    }
    let ip = match ipv4::Header::new_checked(frame, l3.offset) {
        Ok(ip) => ip,
        Err(e) => return (Classification::failed(Class::OtherIpv4, e), None),
    };
    if ip.fragment_offset() != 0 {
        return (Classification::new(Class::OtherIpv4), None);
    }
    match ip.protocol() {
        Protocol::Udp => {}
        Protocol::Icmp => {
            let icmp_at = l3.offset + ip.header_len();
            return match icmp::Header::new_checked(frame, icmp_at) {
                Ok(h) if h.icmp_type() == icmp::TYPE_DEST_UNREACHABLE => (
                    Classification::new(Class::OtherIpv4),
                    Some(Next::Icmp(IcmpAt {
                        ip_at: l3.offset as u16,
                        icmp_at: icmp_at as u16,
                        v6: false,
                    })),
                ),
                Ok(_) => (Classification::new(Class::OtherIpv4), None),
                Err(e) => (Classification::failed(Class::OtherIpv4, e), None),
            };
        }
        Protocol::Tcp => {
            // Only the ports here: the rest of the header is read by the
            // web stage, for web ports only, so other TCP pays for one
            // bounds check.
            let tcp_at = l3.offset + ip.header_len();
            // No closures here: the kernel build must inline all of it
            // (a closure here or for the port check stayed a BPF-to-BPF
            // call: +25 ns, docs/ebpf-notes.md).
            let Some(p) = frame.array::<4>(tcp_at) else {
                return (Classification::new(Class::OtherIpv4), None);
            };
            let sport = u16::from_be_bytes([p[0], p[1]]);
            let dport = u16::from_be_bytes([p[2], p[3]]);
            let Some((web, server_is_dst)) = web.side(sport, dport) else {
                return (Classification::new(Class::OtherIpv4), None);
            };
            let next = Some(Next::Tcp(TcpAt {
                ip_at: l3.offset as u16,
                tcp_at: tcp_at as u16,
                web,
                server_is_dst,
                v6: false,
            }));
            return (Classification::new(Class::OtherIpv4), next);
        }
        _ => return (Classification::new(Class::OtherIpv4), None),
    }
    let udp_at = l3.offset + ip.header_len();
    let udp = match udp::Header::new_checked(frame, udp_at) {
        Ok(udp) => udp,
        Err(e) => return (Classification::failed(Class::OtherIpv4, e), None),
    };
    let class = port_class(udp.source_port(), udp.destination_port());
    if !class.is_dhcp() {
        let next = matches!(class, Class::TftpRequest | Class::OtherUdp).then_some(Next::Udp {
            at: UdpAt {
                ip_at: l3.offset as u16,
                udp_at: udp_at as u16,
            },
            ports: (udp.source_port(), udp.destination_port()),
        });
        return (Classification::new(class), next);
    }
    let at = DhcpAt {
        ip_at: l3.offset as u16,
        udp_at: udp_at as u16,
        bootp_at: (udp_at + udp::HEADER_LEN) as u16,
    };
    (Classification::new(class), Some(Next::Dhcp(at)))
}

/// Stage two for ICMP: the destination unreachable found by
/// [`classify_headers`] and the UDP datagram it quotes.
#[inline(always)]
pub fn classify_icmp<F: Frame + ?Sized>(frame: &F, at: IcmpAt) -> Classification {
    if at.v6 {
        return classify_icmp6(frame, at);
    }
    let (Ok(ip), Ok(h)) = (
        ipv4::Header::new_checked(frame, at.ip_at as usize),
        icmp::Header::new_checked(frame, at.icmp_at as usize),
    ) else {
        return Classification::failed(Class::OtherIpv4, ParseError::TruncatedIcmp);
    };
    match icmp::quoted_udp(frame, at.icmp_at as usize) {
        Ok(Some(q)) => Classification {
            icmp: Some(IcmpUnreachable {
                reporter: ip.source(),
                code: h.code(),
                quoted: q,
                quoted_class: port_class(q.src_port, q.dst_port),
            }),
            ..Classification::new(Class::OtherIpv4)
        },
        Ok(None) => Classification::new(Class::OtherIpv4),
        Err(e) => Classification::failed(Class::OtherIpv4, e),
    }
}

/// Stage one for IPv6: the fixed header, the extension headers
/// (`ipv6::upper`, bounded), and UDP. DHCPv6 (546, 547) and 4011 are
/// handed on to the DHCPv6 stage, other UDP to the TFTP stage as for IPv4.
#[inline(always)]
fn walk_ipv6<F, W>(frame: &F, ip_at: usize, web: &W) -> (Classification, Option<Next>)
where
    F: Frame + ?Sized,
    W: WebSide + ?Sized,
{
    let ip = match ipv6::Header::new_checked(frame, ip_at) {
        Ok(ip) => ip,
        Err(e) => return (Classification::failed(Class::OtherIpv6, e), None),
    };
    let upper = match ipv6::upper(frame, ip_at, ip.next_header()) {
        Ok(u) => u,
        Err(e) => return (Classification::failed(Class::OtherIpv6, e), None),
    };
    if upper.later_fragment {
        return (Classification::new(Class::OtherIpv6), None);
    }
    if upper.protocol == ipv6::ICMPV6 {
        return match icmp::Header::new_checked(frame, upper.offset) {
            Ok(h) if h.icmp_type() == icmp::TYPE6_DEST_UNREACHABLE => (
                Classification::new(Class::OtherIpv6),
                Some(Next::Icmp(IcmpAt {
                    ip_at: ip_at as u16,
                    icmp_at: upper.offset as u16,
                    v6: true,
                })),
            ),
            Ok(_) => (Classification::new(Class::OtherIpv6), None),
            Err(e) => (Classification::failed(Class::OtherIpv6, e), None),
        };
    }
    if upper.protocol == ipv6::TCP {
        // As for IPv4: the ports only, the web stage reads the rest.
        let Some(p) = frame.array::<4>(upper.offset) else {
            return (Classification::new(Class::OtherIpv6), None);
        };
        let sport = u16::from_be_bytes([p[0], p[1]]);
        let dport = u16::from_be_bytes([p[2], p[3]]);
        let Some((web, server_is_dst)) = web.side(sport, dport) else {
            return (Classification::new(Class::OtherIpv6), None);
        };
        let next = Some(Next::Tcp(TcpAt {
            ip_at: ip_at as u16,
            tcp_at: upper.offset as u16,
            web,
            server_is_dst,
            v6: true,
        }));
        return (Classification::new(Class::OtherIpv6), next);
    }
    if upper.protocol != ipv6::UDP {
        return (Classification::new(Class::OtherIpv6), None);
    }
    let udp = match udp::Header::new_checked(frame, upper.offset) {
        Ok(udp) => udp,
        Err(e) => return (Classification::failed(Class::OtherIpv6, e), None),
    };
    let class = port_class6(udp.source_port(), udp.destination_port());
    if !class.is_dhcpv6() {
        let next = Next::Udp {
            at: UdpAt {
                ip_at: ip_at as u16,
                udp_at: upper.offset as u16,
            },
            ports: (udp.source_port(), udp.destination_port()),
        };
        return (Classification::new(class), Some(next));
    }
    let at = Dhcp6At {
        ip_at: ip_at as u16,
        udp_at: upper.offset as u16,
        end: (upper.offset + udp.length()).min(u16::MAX as usize) as u16,
    };
    (Classification::new(class), Some(Next::Dhcp6(at)))
}

/// Stage two for DHCPv6: the message header, the relays around the
/// client's or server's message, its options and vendor class.
#[inline(always)]
pub fn classify_dhcp6<F: Frame + ?Sized>(frame: &F, class: Class, at: Dhcp6At) -> Classification {
    let msg_at = at.msg_at();
    let outer = match dhcpv6::Header::new_checked(frame, msg_at) {
        Ok(h) => h,
        Err(e) => return Classification::failed(class, e),
    };
    let dhcp6_type = Some(Dhcp6Type::from_msg(outer.msg_type()));
    match dhcpv6::inner(frame, msg_at, at.end as usize) {
        Ok(inner) => Classification {
            dhcp6_type,
            dhcp6: Some(Dhcp6Location {
                at,
                msg_type: outer.msg_type(),
                inner_at: inner.at as u16,
                inner_end: inner.end as u16,
                inner_type: inner.msg_type,
                xid: inner.xid,
                options: inner.options,
                vendor: dhcpv6::vendor_class(frame, &inner.options),
                relays: inner.relays,
                relay_at: inner.relay_at.map(|a| a as u16),
            }),
            ..Classification::new(class)
        },
        Err(e) => Classification {
            dhcp6_type,
            ..Classification::failed(class, e)
        },
    }
}

/// [`classify_icmp`] for ICMPv6: the quoted IPv6 packet's UDP ports.
#[inline(always)]
fn classify_icmp6<F: Frame + ?Sized>(frame: &F, at: IcmpAt) -> Classification {
    let (Ok(ip), Ok(h)) = (
        ipv6::Header::new_checked(frame, at.ip_at as usize),
        icmp::Header::new_checked(frame, at.icmp_at as usize),
    ) else {
        return Classification::failed(Class::OtherIpv6, ParseError::TruncatedIcmp);
    };
    match icmp::quoted_udp6(frame, at.icmp_at as usize) {
        Ok(Some(q)) => Classification {
            icmp6: Some(IcmpUnreachable {
                reporter: ip.source(),
                code: h.code(),
                quoted: q,
                quoted_class: port_class6(q.src_port, q.dst_port),
            }),
            ..Classification::new(Class::OtherIpv6)
        },
        Ok(None) => Classification::new(Class::OtherIpv6),
        Err(e) => Classification::failed(Class::OtherIpv6, e),
    }
}

/// Stage two: the BOOTP header and DHCP options of a message found by
/// [`classify_headers`].
#[inline(always)]
pub fn classify_dhcp<F: Frame + ?Sized>(frame: &F, class: Class, at: DhcpAt) -> Classification {
    let bootp_at = at.bootp_at as usize;
    let bootp = match dhcp::Header::new_checked(frame, bootp_at) {
        Ok(h) => h,
        Err(e) => return Classification::failed(class, e),
    };
    let slots = if bootp.has_options() {
        OptionSlots::scan(frame, bootp_at + dhcp::field::OPTIONS)
    } else {
        OptionSlots::empty()
    };
    let loc = DhcpLocation {
        ip_at: at.ip_at,
        udp_at: at.udp_at,
        bootp_at: at.bootp_at,
        slots,
        vendor: VendorClass::read(frame, &slots),
        op: bootp.op_code(),
        xid: bootp.xid(),
    };
    match dhcp::message_type(frame, &slots) {
        Ok(t) => Classification {
            class,
            dhcp_type: Some(t.map_or(DhcpType::BOOTP, DhcpType::from_option)),
            dhcp: Some(loc),
            ..Classification::new(class)
        },
        Err(e) => Classification {
            dhcp: Some(loc),
            ..Classification::failed(class, e)
        },
    }
}

/// Classifies one Ethernet frame (both stages). Never fails: malformed
/// frames get the class of the last layer that could be read, plus the
/// reason.
#[inline(always)]
pub fn classify<F: Frame + ?Sized>(frame: &F) -> Classification {
    match classify_headers(frame) {
        (c, Some(Next::Dhcp(at))) => classify_dhcp(frame, c.class, at),
        (_, Some(Next::Icmp(at))) => classify_icmp(frame, at),
        (c, Some(Next::Dhcp6(at))) => classify_dhcp6(frame, c.class, at),
        (c, Some(Next::Udp { .. } | Next::Tcp(_)) | None) => c,
    }
}

/// The class of a UDP datagram from its ports. Port 4011 on either side is
/// proxyDHCP (replies go 4011 -> 68 for iPXE, 4011 -> 4011 for EDK2).
#[inline(always)]
pub const fn port_class(src: u16, dst: u16) -> Class {
    if src == udp::PORT_PXE || dst == udp::PORT_PXE {
        Class::ProxyDhcp
    } else if dst == udp::PORT_DHCP_SERVER {
        Class::DhcpServer
    } else if dst == udp::PORT_DHCP_CLIENT {
        Class::DhcpClient
    } else if dst == udp::PORT_TFTP {
        Class::TftpRequest
    } else {
        Class::OtherUdp
    }
}

/// The class of a UDP datagram over IPv6 from its ports: 4011 on either
/// side first, as for IPv4.
#[inline(always)]
pub const fn port_class6(src: u16, dst: u16) -> Class {
    if src == udp::PORT_PXE || dst == udp::PORT_PXE {
        Class::ProxyDhcp6
    } else if dst == udp::PORT_DHCPV6_SERVER {
        Class::Dhcpv6Server
    } else if dst == udp::PORT_DHCPV6_CLIENT {
        Class::Dhcpv6Client
    } else if dst == udp::PORT_TFTP {
        Class::TftpRequest6
    } else {
        Class::OtherUdp6
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{Builder, classify_built};

    const DISCOVER: &[u8] = &[53, 1, 1, 255];

    /// Port 80 is the one web port.
    struct Port80;

    impl WebSide for Port80 {
        fn side(&self, sport: u16, dport: u16) -> Option<(Web, bool)> {
            if dport == 80 {
                Some((Web::Http, true))
            } else if sport == 80 {
                Some((Web::Http, false))
            } else {
                None
            }
        }
    }

    /// A TCP segment from port 22 to port 40000 with 8 bytes of payload.
    fn tcp_segment() -> [u8; 62] {
        let mut f = [0u8; 62];
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        f[14] = 0x45;
        f[16..18].copy_from_slice(&48u16.to_be_bytes());
        f[22] = 64;
        f[23] = 6;
        f[26..30].copy_from_slice(&[10, 0, 0, 1]);
        f[30..34].copy_from_slice(&[10, 0, 0, 2]);
        f[34..36].copy_from_slice(&22u16.to_be_bytes());
        f[36..38].copy_from_slice(&40000u16.to_be_bytes());
        f[46] = 0x50;
        f
    }

    /// A router advertisement: IPv6, ICMPv6 type 134.
    fn router_advertisement() -> [u8; 70] {
        let mut f = [0u8; 70];
        f[12..14].copy_from_slice(&[0x86, 0xdd]);
        f[14] = 0x60;
        f[18..20].copy_from_slice(&16u16.to_be_bytes());
        f[20] = ipv6::ICMPV6;
        f[21] = 255;
        f[22..24].copy_from_slice(&[0xfe, 0x80]);
        f[38..40].copy_from_slice(&[0xff, 0x02]);
        f[53] = 1;
        f[54] = 134;
        f
    }

    /// Every value of every header byte `base` has before `upto` (the
    /// Ethernet type and the bytes the shortcut reads), and every length of
    /// it: the same answer with and without the shortcut. Returns how often
    /// the shortcut was taken.
    fn shortcut_agrees(base: &[u8], upto: usize) -> usize {
        let mut taken = 0;
        let mut check = |f: &[u8]| {
            let with = classify_headers_with(f, &Port80);
            assert_eq!(with, walk_headers(f, &Port80), "frame {f:02x?}");
            if settled(f, &Port80).is_some() {
                taken += 1;
            }
        };
        for at in 12..upto {
            for v in 0..=255u8 {
                let mut f = base.to_vec();
                f[at] = v;
                check(&f);
            }
        }
        for len in 0..=base.len() {
            check(&base[..len]);
        }
        taken
    }

    #[test]
    fn the_ipv6_shortcut_agrees_with_the_general_walk() {
        let base = router_advertisement();
        let taken = shortcut_agrees(&base, 54);
        assert!(taken > 30 * 256, "shortcut taken {taken} times");
        for nh in [ipv6::UDP, 0, 43, 44, 60] {
            let mut f = base;
            f[20] = nh;
            assert!(settled(&f[..], &Port80).is_none(), "next header {nh}");
        }
        assert_eq!(settled(&base[..], &Port80), Some(Class::OtherIpv6));
        assert_eq!(classify(&base[..]).class, Class::OtherIpv6);
    }

    #[test]
    fn the_ipv6_shortcut_agrees_with_the_general_walk_for_tcp() {
        // A TCP segment right after the fixed IPv6 header (client port
        // 49152 to 8443), 20 bytes of header, 8 of payload.
        let mut base = [0u8; 14 + 40 + 28];
        base[12..14].copy_from_slice(&[0x86, 0xdd]);
        base[14] = 0x60;
        base[18..20].copy_from_slice(&28u16.to_be_bytes());
        base[20] = ipv6::TCP;
        base[54..58].copy_from_slice(&[0xc0, 0, 0x20, 0xfb]);
        base[66] = 0x50;
        let taken = shortcut_agrees(&base, 58);
        assert!(taken > 40 * 256, "shortcut taken {taken} times");
        // Port 80 either way is handed on, not settled.
        for at in [55, 57] {
            let mut f = base;
            (f[at - 1], f[at]) = (0, 80);
            assert!(settled(&f[..], &Port80).is_none(), "byte {at}");
            let (_, next) = classify_headers_with(&f[..], &Port80);
            assert!(matches!(next, Some(Next::Tcp(t)) if t.v6), "{next:?}");
        }
        assert_eq!(settled(&base[..], &Port80), Some(Class::OtherIpv6));
    }

    #[test]
    fn ipv6_udp_classes() {
        assert_eq!(port_class6(546, 547), Class::Dhcpv6Server);
        assert_eq!(port_class6(547, 546), Class::Dhcpv6Client);
        assert_eq!(port_class6(4011, 546), Class::ProxyDhcp6);
        assert_eq!(port_class6(50000, 69), Class::TftpRequest6);
        assert_eq!(port_class6(50000, 67), Class::OtherUdp6);
    }

    #[test]
    fn the_other_tcp_shortcut_agrees_with_the_general_walk() {
        // The Ethernet type, the IPv4 header and the ports.
        let base = tcp_segment();
        let taken = shortcut_agrees(&base, 38);
        // It was taken for the segment itself and most of the variations,
        // and not for port 80 either way, a fragment, options, or another
        // Ethernet type.
        assert!(taken > 20 * 256, "shortcut taken {taken} times");
        for (at, v) in [(35, 80u8), (37, 80), (21, 1), (14, 0x46), (13, 0xdd)] {
            let mut f = base;
            f[at - 1] = 0;
            f[at] = v;
            assert!(settled(&f[..], &Port80).is_none(), "byte {at} = {v}");
        }
        assert_eq!(settled(&base[..], &Port80), Some(Class::OtherIpv4));
    }

    #[test]
    fn dhcp_discover_untagged() {
        let c = classify_built(&Builder::dhcp(DISCOVER));
        assert_eq!(
            (c.class, c.dhcp_type, c.error),
            (Class::DhcpServer, Some(DhcpType::DISCOVER), None)
        );
        let loc = c.dhcp.unwrap();
        assert_eq!(
            (loc.op, loc.xid, loc.vendor),
            (1, 0xdead_beef, VendorClass::None)
        );
    }

    #[test]
    fn vendor_class_prefixes() {
        let vendor =
            |opts: &'static [u8]| classify_built(&Builder::dhcp(opts)).dhcp.unwrap().vendor;
        assert_eq!(
            vendor(&[
                60, 9, b'P', b'X', b'E', b'C', b'l', b'i', b'e', b'n', b't', 255
            ]),
            VendorClass::PxeClient
        );
        assert_eq!(
            vendor(&[
                60, 10, b'H', b'T', b'T', b'P', b'C', b'l', b'i', b'e', b'n', b't', 255
            ]),
            VendorClass::HttpClient
        );
        assert_eq!(
            vendor(&[60, 8, b'M', b'S', b'F', b'T', b' ', b'5', b'.', b'0', 255]),
            VendorClass::Other
        );
        // Shorter than the prefix: not PXE, even if the next bytes spell it.
        assert_eq!(
            vendor(&[
                60, 3, b'P', b'X', b'E', b'C', b'l', b'i', b'e', b'n', b't', 255
            ]),
            VendorClass::Other
        );
        assert_eq!(vendor(&[53, 1, 1, 255]), VendorClass::None);
    }

    #[test]
    fn dhcp_behind_one_and_two_vlan_tags() {
        for tags in [&[100u16][..], &[200, 100]] {
            let b = Builder {
                tags,
                ..Builder::dhcp(&[53, 1, 2, 255])
            };
            let c = classify_built(&Builder {
                ports: (67, 68),
                ..b
            });
            assert_eq!(c.class, Class::DhcpClient, "tags {tags:?}");
            assert_eq!(c.dhcp_type, Some(DhcpType::OFFER), "tags {tags:?}");
        }
    }

    #[test]
    fn three_vlan_tags_are_not_read_as_ipv4() {
        let (mut f, len) = Builder {
            tags: &[1, 2],
            ..Builder::dhcp(DISCOVER)
        }
        .frame();
        // Turn the ethertype after the second tag into a third tag.
        f[20..22].copy_from_slice(&0x8100u16.to_be_bytes());
        assert_eq!(classify(&f[..len]).class, Class::NonIp);
    }

    #[test]
    fn ipv4_options_move_the_udp_header() {
        // Router alert (4 bytes) and 4 NOPs: header length 28.
        let b = Builder {
            ip_options: &[148, 4, 0, 0, 1, 1, 1, 1],
            ..Builder::dhcp(DISCOVER)
        };
        assert_eq!(classify_built(&b).dhcp_type, Some(DhcpType::DISCOVER));
    }

    #[test]
    fn ports_decide_the_class() {
        let plain = |ports| {
            classify_built(&Builder {
                ports,
                dhcp: None,
                ..Builder::dhcp(&[])
            })
            .class
        };
        assert_eq!(plain((49152, 69)), Class::TftpRequest);
        assert_eq!(plain((49152, 53)), Class::OtherUdp);
        assert_eq!(
            plain((69, 49152)),
            Class::OtherUdp,
            "TFTP replies come from an ephemeral port"
        );
        // proxyDHCP both ways, iPXE (68 -> 4011) and EDK2 (4011 -> 4011).
        for ports in [(68, 4011), (4011, 68), (4011, 4011)] {
            let b = Builder {
                ports,
                ..Builder::dhcp(&[53, 1, 3, 255])
            };
            let c = classify_built(&b);
            assert_eq!(
                (c.class, c.dhcp_type),
                (Class::ProxyDhcp, Some(DhcpType::REQUEST)),
                "{ports:?}"
            );
        }
    }

    #[test]
    fn non_udp_and_later_fragments_are_other_ipv4() {
        let tcp = Builder {
            protocol: 6,
            dhcp: None,
            ..Builder::dhcp(&[])
        };
        assert_eq!(classify_built(&tcp), Classification::new(Class::OtherIpv4));
        // Offset 185 * 8 bytes: the UDP header is in the first fragment only.
        let frag = Builder {
            frag: 185,
            ..Builder::dhcp(DISCOVER)
        };
        assert_eq!(classify_built(&frag), Classification::new(Class::OtherIpv4));
        // The first fragment (more-fragments flag, offset 0) is read.
        let first = Builder {
            frag: 0x2000,
            ..Builder::dhcp(DISCOVER)
        };
        assert_eq!(classify_built(&first).dhcp_type, Some(DhcpType::DISCOVER));
    }

    #[test]
    fn option_53_after_pads_and_other_options() {
        // PAD, PAD, 60 "PXEClient", 93 arch 0, then 53 = REQUEST.
        const OPTS: &[u8] = &[
            0, 0, 60, 9, b'P', b'X', b'E', b'C', b'l', b'i', b'e', b'n', b't', 93, 2, 0, 0, 53, 1,
            3, 255,
        ];
        assert_eq!(
            classify_built(&Builder::dhcp(OPTS)).dhcp_type,
            Some(DhcpType::REQUEST)
        );
    }

    #[test]
    fn missing_option_53_is_bootp_and_bad_53_is_an_error() {
        assert_eq!(
            classify_built(&Builder::dhcp(&[255])).dhcp_type,
            Some(DhcpType::BOOTP)
        );
        let empty = classify_built(&Builder::dhcp(&[53, 0, 255]));
        assert_eq!(
            (empty.class, empty.error),
            (Class::DhcpServer, Some(ParseError::BadDhcpOption))
        );
        // Option 53 announced as the frame's last two bytes, value cut off.
        let (f, len) = Builder::dhcp(&[53, 1]).frame();
        assert_eq!(classify(&f[..len]).error, Some(ParseError::BadDhcpOption));
        // No magic cookie: plain BOOTP.
        let (mut f, len) = Builder::dhcp(DISCOVER).frame();
        f[14 + 20 + 8 + 236] = 0;
        assert_eq!(classify(&f[..len]).dhcp_type, Some(DhcpType::BOOTP));
    }

    #[test]
    fn option_walk_is_bounded() {
        // 255 options of 1 byte, 53 never reached within the caps.
        static MANY: [u8; 600] = {
            let mut o = [0u8; 600];
            let mut i = 0;
            while i < 597 {
                o[i] = 12;
                o[i + 1] = 1;
                o[i + 2] = b'x';
                i += 3;
            }
            o
        };
        let b = Builder::dhcp(&[]);
        let (mut f, len) = b.frame();
        let at = len;
        f[at..at + 300].copy_from_slice(&MANY[..300]);
        f[at + 300..at + 303].copy_from_slice(&[53, 1, 1]);
        assert_eq!(classify(&f[..at + 303]).dhcp_type, Some(DhcpType::BOOTP));
    }

    #[test]
    fn every_truncation_is_classified_with_a_reason() {
        let tagged = Builder {
            tags: &[7],
            ip_options: &[1, 1, 1, 1],
            ..Builder::dhcp(DISCOVER)
        };
        let (f, len) = tagged.frame();
        let reason_at = |cut: usize| classify(&f[..cut]);
        assert_eq!(reason_at(len).error, None);
        assert_eq!(
            reason_at(13),
            Classification::failed(Class::NonIp, ParseError::TruncatedEthernet)
        );
        assert_eq!(
            reason_at(17),
            Classification::failed(Class::NonIp, ParseError::TruncatedVlan)
        );
        assert_eq!(
            reason_at(18 + 19),
            Classification::failed(Class::OtherIpv4, ParseError::TruncatedIpv4)
        );
        assert_eq!(
            reason_at(18 + 23),
            Classification::failed(Class::OtherIpv4, ParseError::TruncatedIpv4),
            "options cut"
        );
        assert_eq!(
            reason_at(18 + 24 + 7),
            Classification::failed(Class::OtherIpv4, ParseError::TruncatedUdp)
        );
        assert_eq!(
            reason_at(18 + 24 + 8 + 235),
            Classification::failed(Class::DhcpServer, ParseError::TruncatedBootp)
        );
        for cut in 0..len {
            let c = reason_at(cut);
            assert!(
                c.error.is_some() || c.dhcp_type.is_some(),
                "cut at {cut}: {c:?}"
            );
        }
    }

    #[test]
    fn bad_header_fields() {
        let (mut f, len) = Builder::dhcp(DISCOVER).frame();
        f[14] = 0x44; // IHL 4 words: shorter than the fixed header
        assert_eq!(classify(&f[..len]).error, Some(ParseError::BadIpv4Header));
        f[14] = 0x65; // version 6 behind ethertype IPv4
        assert_eq!(classify(&f[..len]).error, Some(ParseError::BadIpv4Header));
        let (mut f, len) = Builder::dhcp(DISCOVER).frame();
        f[14 + 20 + 4..14 + 20 + 6].copy_from_slice(&[0, 3]); // UDP length 3
        assert_eq!(classify(&f[..len]).error, Some(ParseError::BadUdpLength));
    }
}
