//! Every map of the object, each with what it holds; names and sizes come
//! from `monitor_common::counters::maps`, which the loader and the metrics
//! read too. Plus [`bump`], the one way a counter is incremented.
//!
//! Counter arrays are per CPU: a program runs with preemption disabled, so
//! only this CPU writes its slot while it runs.

use aya_ebpf::{
    macros::map,
    maps::{Array, LruHashMap, PerCpuArray, RingBuf},
};
use monitor_common::{
    Traffic,
    conn::{BootClient, ConnKey, ConnKey6, HttpConn, WebPorts},
    counters::maps as names,
    event::{Dhcp6Record, DhcpRecord, HttpRecord, TftpRecord},
    flow::{TftpFlow, TftpKey, TftpKey6, TftpSlot},
    stage::{Dhcp6Scratch, DhcpScratch},
};

/// Packets and bytes by direction and class (`traffic_index`).
#[map(name = "TRAFFIC")]
pub static TRAFFIC: PerCpuArray<Traffic> = PerCpuArray::with_max_entries(names::TRAFFIC_LEN, 0);

/// DHCP messages by direction, PXE exchange or not, and message type
/// (`dhcp_index`).
#[map(name = "DHCP_TYPES")]
pub static DHCP_TYPES: PerCpuArray<u64> = PerCpuArray::with_max_entries(names::DHCP_TYPES_LEN, 0);

/// DHCPv6 messages by direction, PXE exchange or not, and message type
/// (`dhcp6_index`).
#[map(name = "DHCP6_TYPES")]
pub static DHCP6_TYPES: PerCpuArray<u64> = PerCpuArray::with_max_entries(names::DHCP6_TYPES_LEN, 0);

/// ICMP destination unreachable by direction and the class of the UDP
/// datagram it quotes (`icmp_index`).
#[map(name = "ICMP_UNREACHABLE")]
pub static ICMP_UNREACHABLE: PerCpuArray<u64> =
    PerCpuArray::with_max_entries(names::ICMP_UNREACHABLE_LEN, 0);

/// TFTP packets to port 69 and of followed transfers, by direction and
/// opcode (`tftp_opcode_index`).
#[map(name = "TFTP_OPCODES")]
pub static TFTP_OPCODES: PerCpuArray<u64> =
    PerCpuArray::with_max_entries(names::TFTP_OPCODES_LEN, 0);

/// TFTP ERROR packets by direction, sender (server or client) and code
/// (`tftp_error_index`).
#[map(name = "TFTP_ERRORS")]
pub static TFTP_ERRORS: PerCpuArray<u64> = PerCpuArray::with_max_entries(names::TFTP_ERRORS_LEN, 0);

/// Transfers being followed, one slot per client port (`flow::TftpSlot`),
/// learned from each RRQ/WRQ (`flow::observe_tftp`).
#[map(name = "TFTP_PORTS")]
pub static TFTP_PORTS: Array<TftpSlot> = Array::with_max_entries(names::TFTP_PORTS_LEN, 0);

/// One entry per UDP port: the tick (`flow::port_hint`) the port last
/// carried a packet of a followed transfer as its client port, 0 for never.
/// Other UDP goes past stage one only on a fresh hint.
#[map(name = "TFTP_PORT_HINTS")]
pub static TFTP_PORT_HINTS: Array<u32> = Array::with_max_entries(names::TFTP_PORT_HINTS_LEN, 0);

/// The transfers that found their port's slot taken by another live one,
/// keyed by (client ip, server ip, client port).
#[map(name = "TFTP_FLOWS")]
pub static TFTP_FLOWS: LruHashMap<TftpKey, TftpFlow> =
    LruHashMap::with_max_entries(names::TFTP_FLOWS_LEN, 0);

/// The transfers over IPv6, keyed by (client ip, server ip, client port).
#[map(name = "TFTP_FLOWS6")]
pub static TFTP_FLOWS6: LruHashMap<TftpKey6, TftpFlow> =
    LruHashMap::with_max_entries(names::TFTP_FLOWS_LEN, 0);

/// Events lost because the ring buffer was full, and DISCOVERs shed
/// because it was more than half full (`names::LOST_FULL`, `LOST_SHED`).
#[map(name = "EVENTS_LOST")]
pub static EVENTS_LOST: PerCpuArray<u64> = PerCpuArray::with_max_entries(names::EVENTS_LOST_LEN, 0);

/// New entries put in the LRU tables (`names::NEW_XID`, `NEW_FLOW`).
#[map(name = "TABLE_NEW")]
pub static TABLE_NEW: PerCpuArray<u64> = PerCpuArray::with_max_entries(names::TABLE_NEW_LEN, 0);

/// The event records (`monitor_common::event`) on their way to userspace.
#[map(name = "EVENTS")]
pub static EVENTS: RingBuf = RingBuf::with_byte_size(names::EVENTS_BYTES, 0);

/// xids of transactions started by boot clients, so that a server's reply
/// without option 60 is known to be PXE (the value is unused).
#[map(name = "PXE_XIDS")]
pub static PXE_XIDS: LruHashMap<u32, u32> = LruHashMap::with_max_entries(names::PXE_XIDS_LEN, 0);

/// DHCPv6 transaction ids of exchanges boot clients started (the value is
/// unused).
#[map(name = "PXE6_XIDS")]
pub static PXE6_XIDS: LruHashMap<u32, u32> = LruHashMap::with_max_entries(names::PXE6_XIDS_LEN, 0);

/// Hands a parsed DHCP message from stage two to stage three (per CPU).
#[map(name = "DHCP_SCRATCH")]
pub static DHCP_SCRATCH: PerCpuArray<DhcpScratch> = PerCpuArray::with_max_entries(1, 0);

/// Where stage three builds a DHCP event record before it goes into the
/// ring buffer, as long as it needs to be (`event::DHCP_SHORT_LEN` or the
/// whole record), in one copy (per CPU).
#[map(name = "DHCP_RECORD")]
pub static DHCP_RECORD: PerCpuArray<DhcpRecord> = PerCpuArray::with_max_entries(1, 0);

/// Where the TFTP stage builds an event record before it goes into the
/// ring buffer cut after its payload (`event::tftp_record_len`), per CPU.
#[map(name = "TFTP_RECORD")]
pub static TFTP_RECORD: PerCpuArray<TftpRecord> = PerCpuArray::with_max_entries(1, 0);

/// Frames whose parsing stopped early, by direction and reason
/// (`parse_error_index`).
#[map(name = "PARSE_ERRORS")]
pub static PARSE_ERRORS: PerCpuArray<u64> =
    PerCpuArray::with_max_entries(names::PARSE_ERRORS_LEN, 0);

/// Clients a PXE or HTTP-boot ACK gave an address, by address.
#[map(name = "BOOT_CLIENTS")]
pub static BOOT_CLIENTS: LruHashMap<[u8; 4], BootClient> =
    LruHashMap::with_max_entries(names::BOOT_CLIENTS_LEN, 0);

/// The boot clients' web connections.
#[map(name = "HTTP_CONNS")]
pub static HTTP_CONNS: LruHashMap<ConnKey, HttpConn> =
    LruHashMap::with_max_entries(names::HTTP_CONNS_LEN, 0);

/// Clients a PXE or HTTP-boot DHCPv6 Reply gave an address, by address.
#[map(name = "BOOT_CLIENTS6")]
pub static BOOT_CLIENTS6: LruHashMap<[u8; 16], BootClient> =
    LruHashMap::with_max_entries(names::BOOT_CLIENTS_LEN, 0);

/// Their web connections over IPv6.
#[map(name = "HTTP_CONNS6")]
pub static HTTP_CONNS6: LruHashMap<ConnKey6, HttpConn> =
    LruHashMap::with_max_entries(names::HTTP_CONNS_LEN, 0);

/// Segments of followed web connections by direction, port kind and kind.
#[map(name = "WEB_SEGMENTS")]
pub static WEB_SEGMENTS: PerCpuArray<u64> =
    PerCpuArray::with_max_entries(names::WEB_SEGMENTS_LEN, 0);

/// Their payload bytes by direction and port kind.
#[map(name = "WEB_BYTES")]
pub static WEB_BYTES: PerCpuArray<u64> = PerCpuArray::with_max_entries(names::WEB_BYTES_LEN, 0);

/// Hands a parsed DHCPv6 message from stage two to stage three (per CPU).
#[map(name = "DHCP6_SCRATCH")]
pub static DHCP6_SCRATCH: PerCpuArray<Dhcp6Scratch> = PerCpuArray::with_max_entries(1, 0);

/// A DHCPv6 event built on this CPU before it is copied, cut, into the
/// ring buffer.
#[map(name = "DHCP6_RECORD")]
pub static DHCP6_RECORD: PerCpuArray<Dhcp6Record> = PerCpuArray::with_max_entries(1, 0);

/// An HTTP event built on this CPU before it is copied, cut, into the ring
/// buffer.
#[map(name = "HTTP_RECORD")]
pub static HTTP_RECORD: PerCpuArray<HttpRecord> = PerCpuArray::with_max_entries(1, 0);

/// The web ports beyond 80, 8080 and 443 (`--http-port`, `--https-port`),
/// set by the loader (read-only data: a load from the object's .rodata
/// map, no helper call).
#[unsafe(no_mangle)]
pub static WEB_PORTS: WebPorts = WebPorts {
    http: [0; WebPorts::EXTRA],
    https: [0; WebPorts::EXTRA],
};

/// 1 when any of [`WEB_PORTS`] is set: other TCP then compares its ports
/// with them too.
#[unsafe(no_mangle)]
pub static WEB_PORTS_EXTRA: u32 = 0;

/// Adds one to a counter slot.
#[inline(always)]
pub fn bump(map: &PerCpuArray<u64>, index: u32) {
    if let Some(v) = map.get_ptr_mut(index) {
        // SAFETY: a per-CPU slot only this CPU writes (see the module
        // comment).
        unsafe { *v += 1 };
    }
}
