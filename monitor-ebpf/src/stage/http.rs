//! Web connections (`pxe_http_xdp`/`_tc`, over IPv6 `pxe_http6_xdp`/`_tc`):
//! TCP to or from a web port, run through the shared `conn::observe_http`
//! on the kernel's tables of the family (`BOOT_CLIENTS`/`BOOT_CLIENTS6`:
//! the gate, `HTTP_CONNS`/`HTTP_CONNS6`: the connections); counters by
//! segment kind and payload bytes, an event for the segments that matter.
//! Also [`KernelWeb`], which stage one asks before handing TCP here.

use aya_ebpf::{
    helpers::{bpf_ktime_get_coarse_ns, bpf_ktime_get_ns},
    maps::LruHashMap,
};
use monitor_common::{
    classify::WebSide,
    conn::{BootClient, BootClients, ConnKey, HttpConn, HttpConns, WebPorts, observe_http},
    counters::{
        Direction, WebSegment,
        maps::{
            LOST_FULL, NEW_CLIENT, NEW_CLIENT6, NEW_CONN, NEW_CONN6, parse_error_index,
            web_bytes_index, web_segment_index,
        },
    },
    event::{EventHeader, EventKind, HttpRecord, http_record_len},
    flow::Address,
    frame::opaque,
    report::{fill_http_event, http_payload_carried},
    stage::TcpAt,
    wire::tcp::Web,
};
use monitor_ebpf::PacketFrame;

use super::{Ctx, zero_words};
use crate::maps::{
    BOOT_CLIENTS, BOOT_CLIENTS6, EVENTS, EVENTS_LOST, HTTP_CONNS, HTTP_CONNS6, HTTP_RECORD,
    PARSE_ERRORS, TABLE_NEW, WEB_BYTES, WEB_PORTS, WEB_PORTS_EXTRA, WEB_SEGMENTS, bump,
};

stage!(
    /// Stage two for web ports: boot clients' connections.
    pxe_http_xdp,
    pxe_http_tc,
    pxe_http_tc_in,
    http
);
stage!(
    /// Stage two for web ports over IPv6: the same, on the IPv6 tables.
    pxe_http6_xdp,
    pxe_http6_tc,
    pxe_http6_tc_in,
    http6
);

/// The kernel's boot clients of one family (`BOOT_CLIENTS`,
/// `BOOT_CLIENTS6`: learned from DHCP ACKs and DHCPv6 Replies) and the
/// `TABLE_NEW` slot that counts them.
pub struct KernelClients<A: 'static> {
    map: &'static LruHashMap<A, BootClient>,
    new: u32,
}

impl KernelClients<[u8; 4]> {
    #[inline(always)]
    pub fn v4() -> Self {
        KernelClients {
            map: &BOOT_CLIENTS,
            new: NEW_CLIENT,
        }
    }
}

impl KernelClients<[u8; 16]> {
    #[inline(always)]
    pub fn v6() -> Self {
        KernelClients {
            map: &BOOT_CLIENTS6,
            new: NEW_CLIENT6,
        }
    }
}

impl<A> BootClients<A> for KernelClients<A> {
    #[inline(always)]
    fn get(&mut self, ip: &A) -> Option<BootClient> {
        // SAFETY: the value is copied out at once.
        unsafe { self.map.get(ip) }.copied()
    }

    #[inline(always)]
    fn learn(&mut self, ip: &A, client: &BootClient) {
        // SAFETY: the value is only tested for presence.
        let new = unsafe { self.map.get(ip) }.is_none();
        match self.map.insert(ip, client, 0) {
            Ok(()) if new => bump(&TABLE_NEW, self.new),
            Ok(()) => {}
            Err(e) => aya_log_ebpf::warn!(&(), "boot client table insert failed: {}", e),
        }
    }
}

/// The kernel's connection table of one family (`HTTP_CONNS`,
/// `HTTP_CONNS6`) and its `TABLE_NEW` slot.
struct KernelConns<A: 'static> {
    map: &'static LruHashMap<ConnKey<A>, HttpConn>,
    new: u32,
}

impl<A> HttpConns<A> for KernelConns<A> {
    #[inline(always)]
    fn get(&mut self, key: &ConnKey<A>) -> Option<&mut HttpConn> {
        let p = self.map.get_ptr_mut(key)?;
        // SAFETY: an LRU map value stays valid while the program runs; a
        // concurrent update from another CPU can only make its counters
        // approximate.
        Some(unsafe { &mut *p })
    }

    #[inline(always)]
    fn insert(&mut self, key: &ConnKey<A>, conn: &HttpConn) {
        match self.map.insert(key, conn, 0) {
            Ok(()) => bump(&TABLE_NEW, self.new),
            Err(e) => aya_log_ebpf::warn!(&(), "web connection table insert failed: {}", e),
        }
    }
}

/// Stage one's web ports: the defaults, and the globals the loader set.
pub struct KernelWeb;

impl WebSide for KernelWeb {
    #[inline(always)]
    fn side(&self, sport: u16, dport: u16) -> Option<(Web, bool)> {
        web_port(sport, dport)
    }
}

/// Which of a TCP segment's ports is a web port: `Some((web,
/// server_is_dst))`. The destination first: a client's segment.
#[inline(always)]
fn web_port(sport: u16, dport: u16) -> Option<(Web, bool)> {
    // The fixed ports first, the globals only when none matched: other
    // TCP pays six compares and one load.
    if let Some(side) = WebPorts::fixed_side(sport, dport) {
        return Some(side);
    }
    // SAFETY: globals of the object's read-only data, set by the loader
    // before the program was loaded.
    if unsafe { core::ptr::read_volatile(&WEB_PORTS_EXTRA) } == 0 {
        return None;
    }
    // SAFETY: as above.
    unsafe { core::ptr::read_volatile(&WEB_PORTS) }.extra_side(sport, dport)
}

/// A segment over IPv4.
#[inline(always)]
fn http(frame: &PacketFrame, meta: u64, dir: Direction, ifindex: u32, _ctx: Ctx) {
    follow(
        frame,
        meta,
        dir,
        ifindex,
        &mut KernelClients::v4(),
        &mut KernelConns {
            map: &HTTP_CONNS,
            new: NEW_CONN,
        },
    );
}

/// A segment over IPv6.
#[inline(always)]
fn http6(frame: &PacketFrame, meta: u64, dir: Direction, ifindex: u32, _ctx: Ctx) {
    follow(
        frame,
        meta,
        dir,
        ifindex,
        &mut KernelClients::v6(),
        &mut KernelConns {
            map: &HTTP_CONNS6,
            new: NEW_CONN6,
        },
    );
}

/// Follows a segment of a boot client's web connection over either family
/// (`A`, the address): counters, the connection's totals, an event for the
/// segments that matter.
#[inline(always)]
fn follow<A: Address, C: BootClients<A>, T: HttpConns<A>>(
    frame: &PacketFrame,
    meta: u64,
    dir: Direction,
    ifindex: u32,
    clients: &mut C,
    conns: &mut T,
) {
    let Some(at) = TcpAt::unpack(meta) else {
        aya_log_ebpf::error!(&(), "web stage handed an impossible argument {:x}", meta);
        return;
    };
    // The coarse clock for the connection's times (stalls are counted in
    // seconds); the precise one for events.
    // SAFETY: a helper without arguments or preconditions.
    let now = unsafe { bpf_ktime_get_coarse_ns() };
    let seen = match observe_http(frame, at, now, clients, conns) {
        Ok(Some(seen)) => seen,
        Ok(None) => return,
        Err(e) => {
            bump(&PARSE_ERRORS, parse_error_index(dir, e));
            return;
        }
    };
    let web = at.web;
    bump(
        &WEB_SEGMENTS,
        web_segment_index(dir, web, WebSegment::of(seen.flags, seen.payload_len)),
    );
    if let Some(b) = WEB_BYTES.get_ptr_mut(web_bytes_index(dir, web)) {
        // SAFETY: this CPU's slot (see `bump`).
        unsafe { *b += u64::from(seen.payload_len) };
    }
    if seen.moment.is_none() {
        return;
    }
    // SAFETY: a helper without arguments or preconditions.
    let now = unsafe { bpf_ktime_get_ns() };
    let Some(rec) = HTTP_RECORD.get_ptr_mut(0) else {
        return;
    };
    // SAFETY: this CPU's slot, an `HttpRecord` (all-zero is a valid one),
    // 368 bytes; nothing else runs on this CPU until it is sent.
    let rec = unsafe {
        zero_words(rec.cast::<u64>(), size_of::<HttpRecord>() / 8);
        &mut *rec
    };
    rec.header = EventHeader {
        timestamp_ns: now,
        ifindex,
        kind: EventKind::Http as u8,
        direction: dir as u8,
        _reserved: [0; 2],
    };
    fill_http_event(frame, &seen, now, &mut rec.event);
    let len = opaque(http_record_len(http_payload_carried(&seen))).min(size_of::<HttpRecord>());
    // SAFETY: the record's first `len` bytes (at most its size), plain
    // data, all written.
    let bytes =
        unsafe { core::slice::from_raw_parts((rec as *const HttpRecord).cast::<u8>(), len) };
    if EVENTS.output::<[u8]>(bytes, 0).is_err() {
        bump(&EVENTS_LOST, LOST_FULL);
        aya_log_ebpf::warn!(&(), "ring buffer full: an HTTP event is lost");
    }
}
