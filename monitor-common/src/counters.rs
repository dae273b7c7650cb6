//! Counter keys shared by the kernel maps and the metrics exporter: the
//! traffic [`Class`] of a frame, its [`Direction`], the [`DhcpType`] slot,
//! the [`Traffic`] value, and in [`maps`] every map's name, size and index.
//!
//! Each counter map is a per-CPU array indexed by a small integer computed
//! here, so both sides agree on the layout without a shared hash key.

/// Which hook saw the frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Direction {
    /// XDP, frames arriving on the interface.
    Ingress = 0,
    /// TC egress, frames the host sends out of the interface.
    Egress = 1,
}

impl Direction {
    pub const COUNT: usize = 2;
    pub const ALL: [Direction; Self::COUNT] = [Direction::Ingress, Direction::Egress];

    pub const fn label(self) -> &'static str {
        match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        }
    }
}

/// The address family of a frame's network layer, a label of the traffic
/// counters beside the class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// Neither IPv4 nor IPv6 (ARP, LLDP, ...).
    None,
    Ipv4,
    Ipv6,
}

impl Family {
    pub const fn label(self) -> &'static str {
        match self {
            Family::None => "none",
            Family::Ipv4 => "ipv4",
            Family::Ipv6 => "ipv6",
        }
    }
}

/// Traffic class of one frame. Every frame is counted in exactly one class.
/// Each class is of one address family ([`Class::family`]); the ones of
/// both share a label ([`Class::label`]), so `class` and `family` label a
/// series without a series for pairs that cannot happen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Class {
    /// Neither IPv4 nor IPv6 (ARP, LLDP, ...), or an Ethernet header too
    /// short to tell.
    NonIp = 0,
    /// IPv4 but not UDP, a non-first fragment, or a UDP header too short to read.
    OtherIpv4 = 1,
    /// UDP to none of the PXE ports.
    OtherUdp = 2,
    /// UDP to port 67: DHCP client (or relay) to server.
    DhcpServer = 3,
    /// UDP to port 68: DHCP server to client.
    DhcpClient = 4,
    /// UDP from or to port 4011: proxyDHCP / PXE boot-server discovery.
    ProxyDhcp = 5,
    /// UDP to port 69: TFTP read or write request.
    TftpRequest = 6,
    /// IPv6 but not UDP, a later fragment, or headers the walk could not
    /// get through.
    OtherIpv6 = 7,
    /// UDP over IPv6 to none of the PXE ports.
    OtherUdp6 = 8,
    /// UDP over IPv6 to port 547: DHCPv6 client or relay to server (or
    /// relay).
    Dhcpv6Server = 9,
    /// UDP over IPv6 to port 546: DHCPv6 server (or relay) to client.
    Dhcpv6Client = 10,
    /// UDP over IPv6 from or to port 4011: the PXE boot server over IPv6.
    ProxyDhcp6 = 11,
    /// UDP over IPv6 to port 69.
    TftpRequest6 = 12,
}

impl Class {
    pub const COUNT: usize = 13;
    pub const ALL: [Class; Self::COUNT] = [
        Class::NonIp,
        Class::OtherIpv4,
        Class::OtherUdp,
        Class::DhcpServer,
        Class::DhcpClient,
        Class::ProxyDhcp,
        Class::TftpRequest,
        Class::OtherIpv6,
        Class::OtherUdp6,
        Class::Dhcpv6Server,
        Class::Dhcpv6Client,
        Class::ProxyDhcp6,
        Class::TftpRequest6,
    ];

    /// The `class` label; the family is the `family` label.
    pub const fn label(self) -> &'static str {
        match self {
            Class::NonIp => "non_ip",
            Class::OtherIpv4 | Class::OtherIpv6 => "other_ip",
            Class::OtherUdp | Class::OtherUdp6 => "other_udp",
            Class::DhcpServer | Class::Dhcpv6Server => "dhcp_to_server",
            Class::DhcpClient | Class::Dhcpv6Client => "dhcp_to_client",
            Class::ProxyDhcp | Class::ProxyDhcp6 => "proxy_dhcp",
            Class::TftpRequest | Class::TftpRequest6 => "tftp_request",
        }
    }

    pub const fn family(self) -> Family {
        match self {
            Class::NonIp => Family::None,
            Class::OtherIpv4
            | Class::OtherUdp
            | Class::DhcpServer
            | Class::DhcpClient
            | Class::ProxyDhcp
            | Class::TftpRequest => Family::Ipv4,
            _ => Family::Ipv6,
        }
    }

    /// Whether frames of this class carry a BOOTP/DHCP message.
    pub const fn is_dhcp(self) -> bool {
        matches!(
            self,
            Class::DhcpServer | Class::DhcpClient | Class::ProxyDhcp
        )
    }

    /// UDP to port 69 over either family: a TFTP request.
    pub const fn is_tftp_request(self) -> bool {
        matches!(self, Class::TftpRequest | Class::TftpRequest6)
    }

    /// UDP to and from other ports over either family: maybe a followed
    /// TFTP transfer.
    pub const fn is_other_udp(self) -> bool {
        matches!(self, Class::OtherUdp | Class::OtherUdp6)
    }

    /// Whether frames of this class carry a DHCPv6 message.
    pub const fn is_dhcpv6(self) -> bool {
        matches!(
            self,
            Class::Dhcpv6Server | Class::Dhcpv6Client | Class::ProxyDhcp6
        )
    }
}

/// DHCPv6 message type, as a counter slot: 1..=21 the types registered
/// with IANA up to DHCPv4-response (RFC 8415, 5007, 5460, 6977, 7341),
/// slot 0 any other value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dhcp6Type(u8);

impl Dhcp6Type {
    pub const COUNT: usize = 22;
    pub const SOLICIT: Dhcp6Type = Dhcp6Type(1);
    pub const ADVERTISE: Dhcp6Type = Dhcp6Type(2);
    pub const REQUEST: Dhcp6Type = Dhcp6Type(3);
    pub const REPLY: Dhcp6Type = Dhcp6Type(7);
    pub const RELAY_FORW: Dhcp6Type = Dhcp6Type(12);
    pub const RELAY_REPL: Dhcp6Type = Dhcp6Type(13);

    /// The slot of a message type.
    #[inline(always)]
    pub const fn from_msg(value: u8) -> Dhcp6Type {
        if value >= 1 && (value as usize) < Self::COUNT {
            Dhcp6Type(value)
        } else {
            Dhcp6Type(0)
        }
    }

    pub const fn from_index(index: usize) -> Option<Dhcp6Type> {
        if index < Self::COUNT {
            Some(Dhcp6Type(index as u8))
        } else {
            None
        }
    }

    pub const fn index(self) -> usize {
        self.0 as usize
    }

    pub const fn label(self) -> &'static str {
        match self.0 {
            1 => "solicit",
            2 => "advertise",
            3 => "request",
            4 => "confirm",
            5 => "renew",
            6 => "rebind",
            7 => "reply",
            8 => "release",
            9 => "decline",
            10 => "reconfigure",
            11 => "information_request",
            12 => "relay_forw",
            13 => "relay_repl",
            14 => "leasequery",
            15 => "leasequery_reply",
            16 => "leasequery_done",
            17 => "leasequery_data",
            18 => "reconfigure_request",
            19 => "reconfigure_reply",
            20 => "dhcpv4_query",
            21 => "dhcpv4_response",
            _ => "unknown",
        }
    }
}

/// DHCP message type (option 53), as a counter slot.
///
/// Slot 0 is a BOOTP message without option 53, slots 1..=18 are the types
/// registered with IANA, the last slot is any other value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DhcpType(u8);

impl DhcpType {
    /// Number of counter slots.
    pub const COUNT: usize = 20;
    pub const BOOTP: DhcpType = DhcpType(0);
    pub const DISCOVER: DhcpType = DhcpType(1);
    pub const OFFER: DhcpType = DhcpType(2);
    pub const REQUEST: DhcpType = DhcpType(3);
    pub const DECLINE: DhcpType = DhcpType(4);
    pub const ACK: DhcpType = DhcpType(5);
    pub const NAK: DhcpType = DhcpType(6);
    pub const RELEASE: DhcpType = DhcpType(7);
    pub const INFORM: DhcpType = DhcpType(8);
    const UNKNOWN: u8 = (Self::COUNT - 1) as u8;

    /// The slot for the value of option 53.
    pub const fn from_option(value: u8) -> DhcpType {
        if value >= 1 && value < Self::UNKNOWN {
            DhcpType(value)
        } else {
            DhcpType(Self::UNKNOWN)
        }
    }

    /// The slot with this index (`index < COUNT`).
    pub const fn from_index(index: usize) -> Option<DhcpType> {
        if index < Self::COUNT {
            Some(DhcpType(index as u8))
        } else {
            None
        }
    }

    pub const fn index(self) -> usize {
        self.0 as usize
    }

    pub const fn label(self) -> &'static str {
        match self.0 {
            0 => "bootp",
            1 => "discover",
            2 => "offer",
            3 => "request",
            4 => "decline",
            5 => "ack",
            6 => "nak",
            7 => "release",
            8 => "inform",
            9 => "forcerenew",
            10 => "leasequery",
            11 => "leaseunassigned",
            12 => "leaseunknown",
            13 => "leaseactive",
            14 => "bulkleasequery",
            15 => "leasequerydone",
            16 => "activeleasequery",
            17 => "leasequerystatus",
            18 => "tls",
            _ => "unknown",
        }
    }
}

/// What a followed web segment was (the first that applies, in this
/// order), as a counter slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum WebSegment {
    Rst = 0,
    Syn = 1,
    SynAck = 2,
    Fin = 3,
    /// Payload, no SYN, FIN or RST.
    Data = 4,
    /// None of those: a bare acknowledgement.
    Ack = 5,
}

impl WebSegment {
    pub const COUNT: usize = 6;
    pub const ALL: [WebSegment; Self::COUNT] = [
        WebSegment::Rst,
        WebSegment::Syn,
        WebSegment::SynAck,
        WebSegment::Fin,
        WebSegment::Data,
        WebSegment::Ack,
    ];

    pub const fn label(self) -> &'static str {
        match self {
            WebSegment::Rst => "rst",
            WebSegment::Syn => "syn",
            WebSegment::SynAck => "syn_ack",
            WebSegment::Fin => "fin",
            WebSegment::Data => "data",
            WebSegment::Ack => "ack",
        }
    }

    /// The slot of a segment with TCP flags `flags` and `payload_len`
    /// payload bytes.
    #[inline(always)]
    pub const fn of(flags: u8, payload_len: u32) -> WebSegment {
        use crate::wire::tcp::flags as f;
        if flags & f::RST != 0 {
            WebSegment::Rst
        } else if flags & f::SYN != 0 {
            if flags & f::ACK != 0 {
                WebSegment::SynAck
            } else {
                WebSegment::Syn
            }
        } else if flags & f::FIN != 0 {
            WebSegment::Fin
        } else if payload_len > 0 {
            WebSegment::Data
        } else {
            WebSegment::Ack
        }
    }
}

/// Packets and bytes, the value type of the traffic map.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct Traffic {
    pub packets: u64,
    pub bytes: u64,
}

const _: () = assert!(core::mem::size_of::<Traffic>() == 16);

#[cfg(feature = "user")]
// SAFETY: `Traffic` is `repr(C)`, has no padding (asserted above: two u64) and
// every bit pattern is a valid value.
unsafe impl aya::Pod for Traffic {}

/// Map names and sizes, shared so the loader can check what it expects.
pub mod maps {
    use super::{Class, Dhcp6Type, DhcpType, Direction, WebSegment};
    use crate::wire::{ParseError, tcp::Web};

    /// `PerCpuArray<Traffic>` indexed by [`traffic_index`].
    pub const TRAFFIC: &str = "TRAFFIC";
    pub const TRAFFIC_LEN: u32 = (Direction::COUNT * Class::COUNT) as u32;
    /// `PerCpuArray<u64>` indexed by [`dhcp_index`].
    pub const DHCP_TYPES: &str = "DHCP_TYPES";
    pub const DHCP_TYPES_LEN: u32 = (Direction::COUNT * 2 * DhcpType::COUNT) as u32;
    /// `PerCpuArray<u64>` indexed by [`dhcp6_index`]: DHCPv6 messages by
    /// direction, PXE exchange or not, and (outer) message type.
    pub const DHCP6_TYPES: &str = "DHCP6_TYPES";
    pub const DHCP6_TYPES_LEN: u32 = (Direction::COUNT * 2 * Dhcp6Type::COUNT) as u32;
    /// `LruHashMap<u32, u32>`: DHCPv6 transaction ids (24 bits) of
    /// exchanges a boot client started, so that a server's Advertise or
    /// Reply is known to be PXE.
    pub const PXE6_XIDS: &str = "PXE6_XIDS";
    pub const PXE6_XIDS_LEN: u32 = 4096;
    /// `PerCpuArray<u64>` indexed by [`icmp_index`]: ICMP port unreachable
    /// by the class of the UDP datagram it quotes.
    pub const ICMP_UNREACHABLE: &str = "ICMP_UNREACHABLE";
    pub const ICMP_UNREACHABLE_LEN: u32 = (Direction::COUNT * Class::COUNT) as u32;
    /// `PerCpuArray<u64>` indexed by [`tftp_opcode_index`]: TFTP packets to
    /// port 69 and of followed transfers, by opcode.
    pub const TFTP_OPCODES: &str = "TFTP_OPCODES";
    pub const TFTP_OPCODES_LEN: u32 = (Direction::COUNT * crate::wire::tftp::OPCODE_SLOTS) as u32;
    /// `PerCpuArray<u64>` indexed by [`tftp_error_index`]: TFTP ERROR packets
    /// by code and by who sent them (server or client).
    pub const TFTP_ERRORS: &str = "TFTP_ERRORS";
    pub const TFTP_ERRORS_LEN: u32 = (Direction::COUNT * 2 * crate::wire::tftp::ERROR_SLOTS) as u32;
    /// `LruHashMap<TftpKey, TftpFlow>`: the transfers being followed that
    /// found their port's slot in [`TFTP_PORTS`] taken by another one.
    pub const TFTP_FLOWS: &str = "TFTP_FLOWS";
    pub const TFTP_FLOWS_LEN: u32 = 4096;
    /// `LruHashMap<TftpKey6, TftpFlow>`: the transfers over IPv6 being
    /// followed (no port slots: IPv6 TFTP is rare, and a hash lookup per
    /// packet keeps its stage within the verifier's stack), sized as
    /// [`TFTP_FLOWS`] (`--max-tftp-transfers`).
    pub const TFTP_FLOWS6: &str = "TFTP_FLOWS6";
    /// `Array<TftpSlot>`, one per UDP port ([`crate::flow::TftpSlot`]):
    /// the transfer whose client port it is, found with one direct access.
    pub const TFTP_PORTS: &str = "TFTP_PORTS";
    pub const TFTP_PORTS_LEN: u32 = 65536;
    /// `Array<u32>`, one per UDP port: when the port last carried a packet
    /// of a followed transfer as its client port ([`crate::flow::port_hint`]),
    /// in its slot or the overflow table, so other UDP goes no further and
    /// the hints of finished transfers lapse. Apart from the slots so that
    /// other UDP reads 8 bytes a port (512 KiB in all) where a slot is 64
    /// (4 MiB). One entry per port: CPUs never overwrite each other's marks.
    pub const TFTP_PORT_HINTS: &str = "TFTP_PORT_HINTS";
    pub const TFTP_PORT_HINTS_LEN: u32 = 65536;
    /// `PerCpuArray<u64>`, [`EVENTS_LOST_LEN`] slots: events lost because
    /// the ring buffer was full ([`LOST_FULL`]), and DISCOVER events shed
    /// because it was more than half full ([`LOST_SHED`]).
    pub const EVENTS_LOST: &str = "EVENTS_LOST";
    pub const EVENTS_LOST_LEN: u32 = 2;
    /// `PerCpuArray<u64>`, [`TABLE_NEW_LEN`] slots: new PXE transactions
    /// ([`NEW_XID`], all in the LRU table `PXE_XIDS`), new TFTP transfers
    /// ([`NEW_FLOW`], in a port's slot or the overflow table) and those of
    /// them put in the overflow table ([`NEW_OVERFLOW`]). Nothing deletes
    /// from the LRU tables, so past its size each new entry pushed an older
    /// one out.
    pub const TABLE_NEW: &str = "TABLE_NEW";
    pub const TABLE_NEW_LEN: u32 = 9;
    pub const NEW_XID: u32 = 0;
    pub const NEW_FLOW: u32 = 1;
    pub const NEW_OVERFLOW: u32 = 2;
    /// New web connections in `HTTP_CONNS`, new boot clients in
    /// `BOOT_CLIENTS` (a client learned again is not new).
    pub const NEW_CONN: u32 = 3;
    pub const NEW_CLIENT: u32 = 4;
    /// New DHCPv6 transactions in `PXE6_XIDS`.
    pub const NEW_XID6: u32 = 5;
    /// New TFTP transfers over IPv6 in `TFTP_FLOWS6`.
    pub const NEW_FLOW6: u32 = 6;
    /// New web connections over IPv6 in `HTTP_CONNS6`, new boot clients in
    /// `BOOT_CLIENTS6`.
    pub const NEW_CONN6: u32 = 7;
    pub const NEW_CLIENT6: u32 = 8;
    /// `LruHashMap<[u8; 4], BootClient>`: clients a PXE or HTTP-boot ACK
    /// gave an address (`crate::conn::BootClient`), whose web connections
    /// are followed.
    pub const BOOT_CLIENTS: &str = "BOOT_CLIENTS";
    pub const BOOT_CLIENTS_LEN: u32 = 4096;
    /// `LruHashMap<ConnKey, HttpConn>`: the boot clients' web connections.
    pub const HTTP_CONNS: &str = "HTTP_CONNS";
    pub const HTTP_CONNS_LEN: u32 = 4096;
    /// `LruHashMap<[u8; 16], BootClient>`: clients a PXE or HTTP-boot
    /// DHCPv6 Reply gave an address (`crate::conn::learn_client6`).
    pub const BOOT_CLIENTS6: &str = "BOOT_CLIENTS6";
    /// `LruHashMap<ConnKey6, HttpConn>`: their web connections over IPv6.
    /// Both IPv6 tables have the IPv4 ones' sizes; the web counters below
    /// count both families (a scheme's segments are one series).
    pub const HTTP_CONNS6: &str = "HTTP_CONNS6";
    /// `PerCpuArray<u64>` indexed by [`web_segment_index`]: segments of
    /// followed web connections by kind.
    pub const WEB_SEGMENTS: &str = "WEB_SEGMENTS";
    pub const WEB_SEGMENTS_LEN: u32 = (Direction::COUNT * 2 * WebSegment::COUNT) as u32;
    /// `PerCpuArray<u64>` indexed by [`web_bytes_index`]: their TCP payload
    /// bytes (resent ones again).
    pub const WEB_BYTES: &str = "WEB_BYTES";
    pub const WEB_BYTES_LEN: u32 = (Direction::COUNT * 2) as u32;
    /// The web ports beyond 80, 8080 and 443 (`crate::conn::WebPorts`), a
    /// global the loader sets, and whether any is set.
    pub const WEB_PORTS: &str = "WEB_PORTS";
    pub const WEB_PORTS_EXTRA: &str = "WEB_PORTS_EXTRA";

    #[inline(always)]
    pub const fn web_segment_index(dir: Direction, web: Web, kind: WebSegment) -> u32 {
        ((dir as usize * 2 + (web as usize - 1)) * WebSegment::COUNT + kind as usize) as u32
    }

    #[inline(always)]
    pub const fn web_bytes_index(dir: Direction, web: Web) -> u32 {
        (dir as usize * 2 + (web as usize - 1)) as u32
    }
    pub const LOST_FULL: u32 = 0;
    pub const LOST_SHED: u32 = 1;
    /// `RingBuf` of event records (`crate::event`).
    pub const EVENTS: &str = "EVENTS";
    pub const EVENTS_BYTES: u32 = 256 * 1024;
    /// `LruHashMap<u32, u32>`: xids of transactions started by boot clients,
    /// so that a server's reply without option 60 is known to be PXE.
    pub const PXE_XIDS: &str = "PXE_XIDS";
    pub const PXE_XIDS_LEN: u32 = 4096;
    /// `PerCpuArray<u64>` indexed by [`parse_error_index`].
    pub const PARSE_ERRORS: &str = "PARSE_ERRORS";
    pub const PARSE_ERRORS_LEN: u32 = (Direction::COUNT * ParseError::COUNT) as u32;

    #[inline(always)]
    pub const fn traffic_index(dir: Direction, class: Class) -> u32 {
        dir as u32 * Class::COUNT as u32 + class as u32
    }

    #[inline(always)]
    pub const fn parse_error_index(dir: Direction, e: ParseError) -> u32 {
        dir as u32 * ParseError::COUNT as u32 + e as u32
    }

    #[inline(always)]
    pub const fn tftp_opcode_index(dir: Direction, opcode: u16) -> u32 {
        (dir as usize * crate::wire::tftp::OPCODE_SLOTS + crate::wire::tftp::opcode_slot(opcode))
            as u32
    }

    #[inline(always)]
    pub const fn tftp_error_index(dir: Direction, from_server: bool, code: u16) -> u32 {
        ((dir as usize * 2 + from_server as usize) * crate::wire::tftp::ERROR_SLOTS
            + crate::wire::tftp::error_slot(code)) as u32
    }

    /// Slot of an ICMP port unreachable by direction and quoted class.
    #[inline(always)]
    pub const fn icmp_index(dir: Direction, quoted: Class) -> u32 {
        traffic_index(dir, quoted)
    }

    /// Slot of a DHCPv6 message by direction, PXE exchange or not, and type.
    #[inline(always)]
    pub const fn dhcp6_index(dir: Direction, pxe: bool, ty: Dhcp6Type) -> u32 {
        (dir as u32 * 2 + pxe as u32) * Dhcp6Type::COUNT as u32 + ty.index() as u32
    }

    /// Slot of a DHCP message by direction, PXE exchange or not, and type.
    #[inline(always)]
    pub const fn dhcp_index(dir: Direction, pxe: bool, ty: super::DhcpType) -> u32 {
        (dir as u32 * 2 + pxe as u32) * DhcpType::COUNT as u32 + ty.index() as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ParseError;

    #[test]
    fn indexes_fit_their_maps() {
        for d in Direction::ALL {
            for c in Class::ALL {
                assert!(maps::traffic_index(d, c) < maps::TRAFFIC_LEN);
            }
            for i in 0..DhcpType::COUNT {
                let t = DhcpType::from_index(i).unwrap();
                assert!(maps::dhcp_index(d, true, t) < maps::DHCP_TYPES_LEN);
                assert!(maps::dhcp_index(d, false, t) < maps::DHCP_TYPES_LEN);
            }
            for i in 0..Dhcp6Type::COUNT {
                let t = Dhcp6Type::from_index(i).unwrap();
                assert!(maps::dhcp6_index(d, true, t) < maps::DHCP6_TYPES_LEN);
            }
            for e in ParseError::ALL {
                assert!(maps::parse_error_index(d, e) < maps::PARSE_ERRORS_LEN);
            }
        }
        for w in [crate::wire::tcp::Web::Http, crate::wire::tcp::Web::Https] {
            for d in Direction::ALL {
                for k in WebSegment::ALL {
                    assert!(maps::web_segment_index(d, w, k) < maps::WEB_SEGMENTS_LEN);
                }
                assert!(maps::web_bytes_index(d, w) < maps::WEB_BYTES_LEN);
            }
        }
        assert_eq!(
            maps::traffic_index(Direction::Egress, Class::TftpRequest6),
            maps::TRAFFIC_LEN - 1
        );
        for (i, c) in Class::ALL.iter().enumerate() {
            assert_eq!(*c as usize, i, "Class::ALL in index order");
        }
    }

    #[test]
    fn dhcp_type_slots() {
        assert_eq!(DhcpType::from_option(1).label(), "discover");
        assert_eq!(DhcpType::from_option(5).label(), "ack");
        assert_eq!(DhcpType::from_option(18).label(), "tls");
        assert_eq!(DhcpType::from_option(0).label(), "unknown");
        assert_eq!(DhcpType::from_option(19).label(), "unknown");
        assert_eq!(DhcpType::from_option(106).label(), "unknown");
        assert_eq!(DhcpType::BOOTP.label(), "bootp");
        assert!(DhcpType::from_index(DhcpType::COUNT).is_none());
        assert_eq!(Dhcp6Type::from_msg(1).label(), "solicit");
        assert_eq!(Dhcp6Type::from_msg(13).label(), "relay_repl");
        assert_eq!(Dhcp6Type::from_msg(21).label(), "dhcpv4_response");
        assert_eq!(Dhcp6Type::from_msg(22).label(), "unknown");
        assert_eq!(Dhcp6Type::from_msg(0).label(), "unknown");
    }
}
