//! What crosses from one kernel stage to the next, typed: where stage one
//! found a DHCP message ([`DhcpAt`]), an ICMP destination unreachable
//! ([`IcmpAt`]) or UDP that may be TFTP ([`UdpAt`]), each packed into the
//! one `u64` a BPF global function takes; and the parsed DHCP message
//! ([`DhcpLocation`]) that stage two hands to stage three through a per-CPU
//! map value ([`DhcpScratch`]). Every packed form unpacks to what was
//! packed; a class that is not the stage's is refused, not trusted, and
//! every offset is checked against the frame again where it is read.
//!
//! Below `crate::classify`, whose stages take and return these types; above
//! `crate::wire` and `crate::counters` only.

use crate::{
    counters::{Class, DhcpType},
    wire::{
        dhcp::{self, OptionSlots, VendorClass},
        dhcpv6,
        tcp::Web,
    },
};

/// The DHCP class stored as `Class as u8`, `None` for any other value.
#[inline(always)]
const fn dhcp_class(v: u8) -> Option<Class> {
    match v {
        3 => Some(Class::DhcpServer),
        4 => Some(Class::DhcpClient),
        5 => Some(Class::ProxyDhcp),
        _ => None,
    }
}

/// Where a DHCP message starts: the offsets of its IPv4, UDP and BOOTP
/// headers in the frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DhcpAt {
    pub ip_at: u16,
    pub udp_at: u16,
    pub bootp_at: u16,
}

impl DhcpAt {
    /// Packs the offsets and the class into one integer: a BPF global
    /// function takes scalars.
    pub const fn pack(self, class: Class) -> u64 {
        (self.ip_at as u64)
            | (self.udp_at as u64) << 16
            | (self.bootp_at as u64) << 32
            | (class as u64) << 48
    }

    /// The reverse of [`pack`](Self::pack); `None` when the class is not a
    /// DHCP class (a garbled value is refused, not trusted).
    #[inline(always)]
    pub fn unpack(v: u64) -> Option<(DhcpAt, Class)> {
        let class = dhcp_class((v >> 48) as u8)?;
        let at = DhcpAt {
            ip_at: v as u16,
            udp_at: (v >> 16) as u16,
            bootp_at: (v >> 32) as u16,
        };
        Some((at, class))
    }
}

/// Where an ICMP destination unreachable is: the offsets of the outer IP
/// header and of the ICMP header, and whether it is ICMPv6.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IcmpAt {
    pub ip_at: u16,
    pub icmp_at: u16,
    pub v6: bool,
}

impl IcmpAt {
    /// Packs the offsets and the family into one integer.
    pub const fn pack(self) -> u64 {
        self.ip_at as u64 | (self.icmp_at as u64) << 16 | (self.v6 as u64) << 32
    }

    /// The reverse of [`pack`](Self::pack). Any value reads as two offsets
    /// and a family, and every read at them is checked against the frame.
    #[inline(always)]
    pub fn unpack(v: u64) -> IcmpAt {
        IcmpAt {
            ip_at: v as u16,
            icmp_at: (v >> 16) as u16,
            v6: (v >> 32) & 1 == 1,
        }
    }
}

/// Where a UDP datagram that may be TFTP is (to port 69, or other UDP that
/// may belong to a followed transfer): the offsets of its IP (v4 or v6, as
/// its class says) and UDP headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdpAt {
    pub ip_at: u16,
    pub udp_at: u16,
}

impl UdpAt {
    /// Packs the offsets and the class (`TftpRequest` or `OtherUdp`, of
    /// either family) into one integer.
    pub const fn pack(self, class: Class) -> u64 {
        self.ip_at as u64 | (self.udp_at as u64) << 16 | (class as u64) << 32
    }

    /// The reverse of [`pack`](Self::pack); `None` when the class is
    /// neither `TftpRequest` nor `OtherUdp` of either family.
    #[inline(always)]
    pub fn unpack(v: u64) -> Option<(UdpAt, Class)> {
        const REQUEST: u8 = Class::TftpRequest as u8;
        const OTHER: u8 = Class::OtherUdp as u8;
        const REQUEST6: u8 = Class::TftpRequest6 as u8;
        const OTHER6: u8 = Class::OtherUdp6 as u8;
        let class = match (v >> 32) as u8 {
            REQUEST => Class::TftpRequest,
            OTHER => Class::OtherUdp,
            REQUEST6 => Class::TftpRequest6,
            OTHER6 => Class::OtherUdp6,
            _ => return None,
        };
        let at = UdpAt {
            ip_at: v as u16,
            udp_at: (v >> 16) as u16,
        };
        Some((at, class))
    }
}

/// Where the DHCP message of a frame is, and what stage two read of it
/// (option slots, vendor class, op, xid): what stage three works from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DhcpLocation {
    pub ip_at: u16,
    pub udp_at: u16,
    pub bootp_at: u16,
    pub slots: OptionSlots,
    pub vendor: VendorClass,
    pub op: u8,
    pub xid: u32,
}

impl DhcpLocation {
    /// Whether a server reply to this transaction should be treated as PXE:
    /// a boot client asked.
    pub fn starts_pxe_transaction(&self) -> bool {
        self.op == 1 && self.vendor.is_boot_client()
    }

    /// Whether the message is part of a PXE exchange, given whether its xid
    /// was started by a boot client.
    pub fn is_pxe(&self, class: Class, xid_known: bool) -> bool {
        class == Class::ProxyDhcp || self.vendor.is_boot_client() || xid_known
    }
}

/// Where a DHCPv6 message starts: the offsets of its IPv6 and UDP headers
/// and of the message, and where the UDP payload ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dhcp6At {
    pub ip_at: u16,
    pub udp_at: u16,
    /// The end of the UDP datagram as its length field says (the frame
    /// may end sooner).
    pub end: u16,
}

impl Dhcp6At {
    /// Packs the offsets and the class into one integer.
    pub const fn pack(self, class: Class) -> u64 {
        (self.ip_at as u64)
            | (self.udp_at as u64) << 16
            | (self.end as u64) << 32
            | (class as u64) << 48
    }

    /// The reverse of [`pack`](Self::pack); `None` when the class is not a
    /// DHCPv6 class.
    #[inline(always)]
    pub fn unpack(v: u64) -> Option<(Dhcp6At, Class)> {
        let class = match (v >> 48) as u8 {
            9 => Class::Dhcpv6Server,
            10 => Class::Dhcpv6Client,
            11 => Class::ProxyDhcp6,
            _ => return None,
        };
        let at = Dhcp6At {
            ip_at: v as u16,
            udp_at: (v >> 16) as u16,
            end: (v >> 32) as u16,
        };
        Some((at, class))
    }

    /// The offset of the message (after the UDP header).
    pub const fn msg_at(self) -> usize {
        self.udp_at as usize + crate::wire::udp::HEADER_LEN
    }
}

/// What stage two read of a DHCPv6 message: its outer type, and of the
/// client's or server's message inside any relays its type, transaction
/// id, options and vendor class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dhcp6Location {
    pub at: Dhcp6At,
    /// The type of the message on the wire (a relay's, if relayed).
    pub msg_type: u8,
    /// The relayed (or the only) message.
    pub inner_at: u16,
    pub inner_end: u16,
    pub inner_type: u8,
    pub xid: u32,
    pub options: dhcpv6::Options,
    pub vendor: VendorClass,
    pub relays: u8,
    /// The relay nearest the client, if relayed.
    pub relay_at: Option<u16>,
}

impl Dhcp6Location {
    /// Whether a server's reply to this transaction is PXE: a boot client
    /// asked.
    pub fn starts_pxe_transaction(&self) -> bool {
        dhcpv6::is_client_type(self.inner_type) && self.vendor.is_boot_client()
    }

    /// Whether the message is part of a PXE exchange, given whether its
    /// transaction was started by a boot client.
    pub fn is_pxe(&self, class: Class, xid_known: bool) -> bool {
        class == Class::ProxyDhcp6 || self.vendor.is_boot_client() || xid_known
    }
}

/// Where a TCP segment to or from a web port is: the offsets of its IPv4
/// and TCP headers, the kind of web port, and which end has it (the
/// server's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpAt {
    pub ip_at: u16,
    pub tcp_at: u16,
    pub web: Web,
    /// The destination port is the web port: the client sends.
    pub server_is_dst: bool,
    /// Over IPv6 (the web stage's IPv6 function reads it).
    pub v6: bool,
}

impl TcpAt {
    /// Packs the offsets, the kind and the side into one integer.
    pub const fn pack(self) -> u64 {
        self.ip_at as u64
            | (self.tcp_at as u64) << 16
            | (self.web as u64) << 32
            | (self.server_is_dst as u64) << 40
            | (self.v6 as u64) << 41
    }

    /// The reverse of [`pack`](Self::pack); `None` for a kind that is not
    /// a [`Web`].
    #[inline(always)]
    pub fn unpack(v: u64) -> Option<TcpAt> {
        let web = match (v >> 32) as u8 {
            1 => Web::Http,
            2 => Web::Https,
            _ => return None,
        };
        Some(TcpAt {
            ip_at: v as u16,
            tcp_at: (v >> 16) as u16,
            web,
            server_is_dst: (v >> 40) & 1 != 0,
            v6: (v >> 41) & 1 != 0,
        })
    }
}

/// A parsed DHCP message parked between two BPF functions (in a per-CPU
/// map value, which the verifier does not track per state, so the paths
/// through the parser converge before the tracking and event work).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct DhcpScratch {
    pub slots: [u16; dhcp::SLOTS],
    pub ip_at: u16,
    pub udp_at: u16,
    pub bootp_at: u16,
    /// `Class as u8`.
    pub class: u8,
    /// `DhcpType::index()`, or [`DhcpScratch::NO_TYPE`].
    pub dhcp_type: u8,
    pub xid: u32,
    pub op: u8,
    /// `VendorClass as u8`.
    pub vendor: u8,
    pub _reserved: [u8; 2],
}

const _: () = assert!(core::mem::size_of::<DhcpScratch>() == 48);

impl DhcpScratch {
    pub const NO_TYPE: u8 = 0xff;

    #[inline(always)]
    pub fn store(loc: &DhcpLocation, class: Class, ty: Option<DhcpType>) -> Self {
        DhcpScratch {
            slots: loc.slots.raw(),
            ip_at: loc.ip_at,
            udp_at: loc.udp_at,
            bootp_at: loc.bootp_at,
            class: class as u8,
            dhcp_type: ty.map_or(Self::NO_TYPE, |t| t.index() as u8),
            xid: loc.xid,
            op: loc.op,
            vendor: loc.vendor as u8,
            _reserved: [0; 2],
        }
    }

    /// The stored message; `None` if the class is not a DHCP class.
    #[inline(always)]
    pub fn load(&self) -> Option<(DhcpLocation, Class, Option<DhcpType>)> {
        let class = dhcp_class(self.class)?;
        let loc = DhcpLocation {
            ip_at: self.ip_at,
            udp_at: self.udp_at,
            bootp_at: self.bootp_at,
            slots: OptionSlots::from_raw(self.slots),
            vendor: VendorClass::from_u8(self.vendor),
            op: self.op,
            xid: self.xid,
        };
        Some((loc, class, DhcpType::from_index(self.dhcp_type as usize)))
    }
}

#[cfg(feature = "user")]
// SAFETY: repr(C), no padding (size asserted), all bit patterns valid.
unsafe impl aya::Pod for DhcpScratch {}

/// A parsed DHCPv6 message parked between two BPF functions, as
/// [`DhcpScratch`] is: the option walk's paths converge before the
/// tracking and event work (in one function the two went over the
/// verifier's 1M instructions).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct Dhcp6Scratch {
    pub options: [u16; dhcpv6::SLOTS],
    /// `Dhcp6At::pack`, class included.
    pub at: u64,
    pub xid: u32,
    pub inner_at: u16,
    pub inner_end: u16,
    /// 0: not relayed.
    pub relay_at: u16,
    pub msg_type: u8,
    pub inner_type: u8,
    /// `VendorClass as u8`.
    pub vendor: u8,
    pub relays: u8,
    /// `Dhcp6Type::index()` of the type on the wire.
    pub dhcp6_type: u8,
    pub _reserved: u8,
}

const _: () = assert!(core::mem::size_of::<Dhcp6Scratch>() == 56);

impl Dhcp6Scratch {
    #[inline(always)]
    pub fn store(loc: &Dhcp6Location, class: Class, ty: crate::counters::Dhcp6Type) -> Self {
        Dhcp6Scratch {
            options: loc.options.raw(),
            at: loc.at.pack(class),
            xid: loc.xid,
            inner_at: loc.inner_at,
            inner_end: loc.inner_end,
            relay_at: loc.relay_at.unwrap_or(0),
            msg_type: loc.msg_type,
            inner_type: loc.inner_type,
            vendor: loc.vendor as u8,
            relays: loc.relays,
            dhcp6_type: ty.index() as u8,
            _reserved: 0,
        }
    }

    /// The stored message; `None` if the class is not a DHCPv6 class.
    #[inline(always)]
    pub fn load(&self) -> Option<(Dhcp6Location, Class, crate::counters::Dhcp6Type)> {
        let (at, class) = Dhcp6At::unpack(self.at)?;
        let loc = Dhcp6Location {
            at,
            msg_type: self.msg_type,
            inner_at: self.inner_at,
            inner_end: self.inner_end,
            inner_type: self.inner_type,
            xid: self.xid,
            options: dhcpv6::Options::from_raw(self.options),
            vendor: VendorClass::from_u8(self.vendor),
            relays: self.relays,
            relay_at: (self.relay_at != 0).then_some(self.relay_at),
        };
        let ty = crate::counters::Dhcp6Type::from_msg(self.dhcp6_type);
        Some((loc, class, ty))
    }
}

#[cfg(feature = "user")]
// SAFETY: repr(C), no padding (size asserted), all bit patterns valid.
unsafe impl aya::Pod for Dhcp6Scratch {}

#[cfg(test)]
mod tests {
    use super::*;

    const DHCP_CLASSES: [Class; 3] = [Class::DhcpServer, Class::DhcpClient, Class::ProxyDhcp];

    #[test]
    fn dhcp_offsets_survive_packing() {
        let at = DhcpAt {
            ip_at: 22,
            udp_at: 66,
            bootp_at: 74,
        };
        for class in DHCP_CLASSES {
            assert_eq!(DhcpAt::unpack(at.pack(class)), Some((at, class)));
        }
        let far = DhcpAt {
            ip_at: u16::MAX,
            udp_at: u16::MAX - 1,
            bootp_at: u16::MAX - 2,
        };
        assert_eq!(
            DhcpAt::unpack(far.pack(Class::ProxyDhcp)),
            Some((far, Class::ProxyDhcp))
        );
        for class in Class::ALL.into_iter().filter(|c| !c.is_dhcp()) {
            assert_eq!(DhcpAt::unpack(at.pack(class)), None, "{class:?}");
        }
        assert_eq!(DhcpAt::unpack(u64::MAX), None);
    }

    #[test]
    fn icmp_offsets_survive_packing() {
        for at in [
            IcmpAt {
                ip_at: 14,
                icmp_at: 34,
                v6: false,
            },
            IcmpAt {
                ip_at: u16::MAX,
                icmp_at: 1,
                v6: true,
            },
        ] {
            assert_eq!(IcmpAt::unpack(at.pack()), at);
        }
    }

    #[test]
    fn udp_offsets_survive_packing() {
        let at = UdpAt {
            ip_at: 18,
            udp_at: u16::MAX,
        };
        for class in Class::ALL {
            let want = (class.is_tftp_request() || class.is_other_udp()).then_some((at, class));
            assert_eq!(UdpAt::unpack(at.pack(class)), want, "{class:?}");
        }
        assert_eq!(UdpAt::unpack(u64::MAX), None);
    }

    #[test]
    fn a_parked_dhcp_message_reads_back_the_same() {
        let mut raw = [0u16; dhcp::SLOTS];
        for (i, s) in raw.iter_mut().enumerate() {
            *s = 300 + 7 * i as u16;
        }
        let loc = DhcpLocation {
            ip_at: 18,
            udp_at: 38,
            bootp_at: 46,
            slots: OptionSlots::from_raw(raw),
            vendor: VendorClass::HttpClient,
            op: 2,
            xid: 0xdead_beef,
        };
        for class in DHCP_CLASSES {
            for ty in [None, Some(DhcpType::BOOTP), Some(DhcpType::ACK)]
                .into_iter()
                .chain((0..DhcpType::COUNT).map(DhcpType::from_index))
            {
                let back = DhcpScratch::store(&loc, class, ty).load();
                assert_eq!(back, Some((loc, class, ty)), "{class:?} {ty:?}");
            }
        }
        for vendor in [
            VendorClass::None,
            VendorClass::PxeClient,
            VendorClass::HttpClient,
            VendorClass::Other,
        ] {
            let l = DhcpLocation { vendor, ..loc };
            let back = DhcpScratch::store(&l, Class::DhcpServer, None).load();
            assert_eq!(back.map(|(l, ..)| l.vendor), Some(vendor));
        }
        let mut garbled = DhcpScratch::store(&loc, Class::DhcpClient, None);
        garbled.class = Class::OtherUdp as u8;
        assert_eq!(garbled.load(), None, "not a DHCP class");
        assert_eq!(DhcpScratch::default().load(), None, "an unwritten slot");
    }
}
