//! Counter values of one interface, laid out like the kernel maps: what the
//! kernel probes read at scrape time and what the host replica counts.

use monitor_common::{
    Class, DhcpType, Direction, ParseError, Traffic,
    counters::maps::{self, dhcp_index, icmp_index, parse_error_index, traffic_index},
    counters::maps::{tftp_error_index, tftp_opcode_index, web_bytes_index, web_segment_index},
    counters::{Dhcp6Type, WebSegment, maps::dhcp6_index},
    wire::tcp::Web,
};

/// Counter values of one interface, indexed as in
/// `monitor_common::counters::maps`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Counters {
    pub traffic: Vec<Traffic>,
    pub dhcp_types: Vec<u64>,
    /// DHCPv6 messages (`dhcp6_index`).
    pub dhcp6_types: Vec<u64>,
    pub parse_errors: Vec<u64>,
    pub icmp_unreachable: Vec<u64>,
    pub tftp_opcodes: Vec<u64>,
    pub tftp_errors: Vec<u64>,
    /// Segments of followed web connections by kind, and their payload
    /// bytes (`web_segment_index`, `web_bytes_index`).
    pub web_segments: Vec<u64>,
    pub web_bytes: Vec<u64>,
    pub events_lost: u64,
    /// DISCOVER events shed because the ring buffer was more than half full
    /// (a DHCP flood).
    pub events_shed: u64,
    /// New PXE transactions and TFTP transfers put in the kernel's tables.
    pub new_xids: u64,
    pub new_flows: u64,
    /// The transfers of `new_flows` that went to the overflow table (their
    /// port's slot held another live transfer). Kernel only: the host's
    /// table has no slots, and leaves it 0.
    pub new_overflow: u64,
    /// New web connections and boot clients put in their tables.
    pub new_conns: u64,
    pub new_clients: u64,
    /// New DHCPv6 transactions of boot clients, new TFTP transfers over
    /// IPv6.
    pub new_xids6: u64,
    pub new_flows6: u64,
    pub new_conns6: u64,
    pub new_clients6: u64,
    /// Those tables' sizes (the kernel's maps; the host replica, unbounded,
    /// reports the defaults): past its size, each new entry pushed an older
    /// one out.
    pub xids_size: u32,
    pub flows_size: u32,
    pub conns_size: u32,
    pub clients_size: u32,
    pub xids6_size: u32,
    pub flows6_size: u32,
    pub conns6_size: u32,
    pub clients6_size: u32,
}

impl Default for Counters {
    /// All counters present and zero.
    fn default() -> Self {
        Counters {
            traffic: vec![Traffic::default(); maps::TRAFFIC_LEN as usize],
            dhcp_types: vec![0; maps::DHCP_TYPES_LEN as usize],
            dhcp6_types: vec![0; maps::DHCP6_TYPES_LEN as usize],
            parse_errors: vec![0; maps::PARSE_ERRORS_LEN as usize],
            icmp_unreachable: vec![0; maps::ICMP_UNREACHABLE_LEN as usize],
            tftp_opcodes: vec![0; maps::TFTP_OPCODES_LEN as usize],
            tftp_errors: vec![0; maps::TFTP_ERRORS_LEN as usize],
            web_segments: vec![0; maps::WEB_SEGMENTS_LEN as usize],
            web_bytes: vec![0; maps::WEB_BYTES_LEN as usize],
            events_lost: 0,
            events_shed: 0,
            new_xids: 0,
            new_flows: 0,
            new_overflow: 0,
            new_conns: 0,
            new_clients: 0,
            new_xids6: 0,
            new_flows6: 0,
            new_conns6: 0,
            new_clients6: 0,
            xids_size: maps::PXE_XIDS_LEN,
            flows_size: maps::TFTP_FLOWS_LEN,
            conns_size: maps::HTTP_CONNS_LEN,
            clients_size: maps::BOOT_CLIENTS_LEN,
            xids6_size: maps::PXE6_XIDS_LEN,
            flows6_size: maps::TFTP_FLOWS_LEN,
            conns6_size: maps::HTTP_CONNS_LEN,
            clients6_size: maps::BOOT_CLIENTS_LEN,
        }
    }
}

impl Counters {
    pub fn packets(&self, dir: Direction, class: Class) -> u64 {
        self.traffic[traffic_index(dir, class) as usize].packets
    }

    /// DHCP messages of one type, PXE exchange or not.
    pub fn dhcp(&self, dir: Direction, ty: DhcpType) -> u64 {
        self.dhcp_pxe(dir, true, ty) + self.dhcp_pxe(dir, false, ty)
    }

    pub fn dhcp_pxe(&self, dir: Direction, pxe: bool, ty: DhcpType) -> u64 {
        self.dhcp_types[dhcp_index(dir, pxe, ty) as usize]
    }

    /// DHCPv6 messages of one (outer) type, PXE exchange or not.
    pub fn dhcp6(&self, dir: Direction, ty: Dhcp6Type) -> u64 {
        self.dhcp6_pxe(dir, true, ty) + self.dhcp6_pxe(dir, false, ty)
    }

    pub fn dhcp6_pxe(&self, dir: Direction, pxe: bool, ty: Dhcp6Type) -> u64 {
        self.dhcp6_types
            .get(dhcp6_index(dir, pxe, ty) as usize)
            .copied()
            .unwrap_or(0)
    }

    /// Entries pushed out of the DHCPv6 transaction table and the TFTP
    /// transfer table for IPv6.
    pub fn ipv6_table_evictions(&self) -> (u64, u64) {
        (
            self.new_xids6.saturating_sub(self.xids6_size.into()),
            self.new_flows6.saturating_sub(self.flows6_size.into()),
        )
    }

    /// Entries pushed out of the web connection and boot client tables for
    /// IPv6.
    pub fn ipv6_web_table_evictions(&self) -> (u64, u64) {
        (
            self.new_conns6.saturating_sub(self.conns6_size.into()),
            self.new_clients6.saturating_sub(self.clients6_size.into()),
        )
    }

    /// ICMP destination unreachable quoting a datagram of this class.
    pub fn icmp(&self, dir: Direction, quoted: Class) -> u64 {
        self.icmp_unreachable[icmp_index(dir, quoted) as usize]
    }

    /// TFTP packets with this opcode (to port 69 or of followed transfers).
    pub fn tftp(&self, dir: Direction, opcode: u16) -> u64 {
        self.tftp_opcodes[tftp_opcode_index(dir, opcode) as usize]
    }

    /// TFTP ERROR packets with this code, from the server or the client.
    pub fn tftp_error(&self, dir: Direction, from_server: bool, code: u16) -> u64 {
        self.tftp_errors[tftp_error_index(dir, from_server, code) as usize]
    }

    /// Entries pushed out of the PXE transaction table and the TFTP
    /// overflow table (nothing deletes from them: every new entry past the
    /// size). A port's slot is only ever retaken once its transfer lapsed.
    pub fn table_evictions(&self) -> (u64, u64) {
        (
            self.new_xids.saturating_sub(self.xids_size.into()),
            self.new_overflow.saturating_sub(self.flows_size.into()),
        )
    }

    /// Entries pushed out of the web connection and boot client tables.
    pub fn web_table_evictions(&self) -> (u64, u64) {
        (
            self.new_conns.saturating_sub(self.conns_size.into()),
            self.new_clients.saturating_sub(self.clients_size.into()),
        )
    }

    /// Segments of followed web connections of one kind.
    pub fn web_segment(&self, dir: Direction, web: Web, kind: WebSegment) -> u64 {
        self.web_segments[web_segment_index(dir, web, kind) as usize]
    }

    /// Payload bytes of followed web connections.
    pub fn web_payload_bytes(&self, dir: Direction, web: Web) -> u64 {
        self.web_bytes[web_bytes_index(dir, web) as usize]
    }

    pub fn parse_error(&self, dir: Direction, e: ParseError) -> u64 {
        self.parse_errors[parse_error_index(dir, e) as usize]
    }
}
