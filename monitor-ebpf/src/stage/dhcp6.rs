//! DHCPv6 (`pxe_dhcp6_xdp`/`_tc`): the message header, the relays around
//! the client's or server's message and its options (`classify_dhcp6`),
//! then whether it is part of a PXE exchange (a boot client's vendor
//! class, port 4011, or a transaction a boot client started:
//! `PXE6_XIDS`), counted by type; a PXE Reply's client is learned into
//! `BOOT_CLIENTS6`, so that its web connections over IPv6 are followed.

use aya_ebpf::helpers::bpf_ktime_get_ns;
use monitor_common::{
    Class,
    classify::classify_dhcp6,
    conn::learn_client6,
    counters::{
        Direction,
        maps::{LOST_FULL, NEW_XID6, dhcp6_index, parse_error_index},
    },
    event::{Dhcp6Record, EventHeader, EventKind, dhcp6_record_len},
    frame::opaque,
    report::fill_dhcp6_event,
    stage::{Dhcp6At, Dhcp6Location, Dhcp6Scratch},
    wire::dhcpv6,
};
use monitor_ebpf::PacketFrame;

use aya_log_ebpf::{error, warn};

use super::{Ctx, http::KernelClients, zero_words};
use crate::maps::{
    DHCP6_RECORD, DHCP6_SCRATCH, DHCP6_TYPES, EVENTS, EVENTS_LOST, PARSE_ERRORS, PXE6_XIDS,
    TABLE_NEW, bump,
};

stage!(
    /// Stage two for a DHCPv6 message: headers, relays and options.
    pxe_dhcp6_xdp,
    pxe_dhcp6_tc,
    pxe_dhcp6_tc_in,
    dhcp6
);
stage!(
    /// Stage three for a DHCPv6 message: PXE transactions, counters, event.
    pxe_dhcp6_track_xdp,
    pxe_dhcp6_track_tc,
    pxe_dhcp6_track_tc_in,
    track
);

/// Stage two: parses the message, counts what cannot be followed (a
/// relay whose message could not be reached), parks the rest in
/// `DHCP6_SCRATCH` and calls stage three.
#[inline(always)]
fn dhcp6(frame: &PacketFrame, meta: u64, dir: Direction, _ifindex: u32, ctx: Ctx) {
    let Some((at, class)) = Dhcp6At::unpack(meta) else {
        error!(&(), "DHCPv6 stage handed an impossible argument {:x}", meta);
        return;
    };
    let c = classify_dhcp6(frame, class, at);
    if let Some(e) = c.error {
        bump(&PARSE_ERRORS, parse_error_index(dir, e));
    }
    let Some(ty) = c.dhcp6_type else {
        return;
    };
    let (Some(loc), Some(slot)) = (&c.dhcp6, DHCP6_SCRATCH.get_ptr_mut(0)) else {
        // A relay whose message could not be reached: counted by its type,
        // not PXE as far as can be told.
        bump(&DHCP6_TYPES, dhcp6_index(dir, false, ty));
        return;
    };
    // SAFETY: this CPU's scratch slot; stage three reads it before anything
    // else can run on this CPU.
    unsafe { *slot = Dhcp6Scratch::store(loc, class, ty) };
    match ctx {
        // SAFETY: the program's own context, passed on.
        Ctx::Xdp(c) => unsafe { pxe_dhcp6_track_xdp(c, 0) },
        // SAFETY: as above.
        Ctx::TcEgress(s) => unsafe { pxe_dhcp6_track_tc(s, 0) },
        // SAFETY: as above.
        Ctx::TcIngress(s) => unsafe { pxe_dhcp6_track_tc_in(s, 0) },
    };
}

/// Stage three: a PXE exchange's message (a boot client's vendor class,
/// port 4011, or a transaction a boot client started)? Count it, send its
/// event, remember the transactions boot clients start.
#[inline(always)]
fn track(frame: &PacketFrame, _arg: u64, dir: Direction, ifindex: u32, _ctx: Ctx) {
    let Some(slot) = DHCP6_SCRATCH.get_ptr(0) else {
        return;
    };
    // SAFETY: this CPU's scratch slot, written by stage two just before.
    let Some((loc, class, ty)) = (unsafe { *slot }).load() else {
        return;
    };
    // SAFETY: the value is only tested for presence, never read.
    let known = unsafe { PXE6_XIDS.get(loc.xid) }.is_some();
    let pxe = loc.is_pxe(class, known);
    bump(&DHCP6_TYPES, dhcp6_index(dir, pxe, ty));
    if pxe {
        send(frame, &loc, class, dir, ifindex);
    }
    if pxe && loc.inner_type == dhcpv6::msg::REPLY {
        // The client's address, so that its web connections are followed.
        // SAFETY: a helper without arguments or preconditions.
        let now = unsafe { aya_ebpf::helpers::bpf_ktime_get_coarse_ns() };
        learn_client6(frame, &loc, pxe, now, &mut KernelClients::v6());
    }
    if !known && loc.starts_pxe_transaction() {
        // A full LRU map evicts its oldest entry; an error is something
        // else (no memory).
        match PXE6_XIDS.insert(loc.xid, 0, 0) {
            Ok(()) => bump(&TABLE_NEW, NEW_XID6),
            Err(e) => warn!(&(), "DHCPv6 transaction table insert failed: {}", e),
        }
    }
}

/// Sends the event of a PXE exchange's DHCPv6 message, built in this CPU's
/// `DHCP6_RECORD` and copied into the ring buffer cut after the message
/// bytes it carries.
#[inline(always)]
fn send(frame: &PacketFrame, loc: &Dhcp6Location, class: Class, dir: Direction, ifindex: u32) {
    let Some(rec) = DHCP6_RECORD.get_ptr_mut(0) else {
        return;
    };
    // SAFETY: this CPU's slot, a `Dhcp6Record` (all-zero is a valid one),
    // 360 bytes; nothing else runs on this CPU until it is sent.
    let rec = unsafe {
        zero_words(rec.cast::<u64>(), size_of::<Dhcp6Record>() / 8);
        &mut *rec
    };
    rec.header = EventHeader {
        // SAFETY: a helper without arguments or preconditions.
        timestamp_ns: unsafe { bpf_ktime_get_ns() },
        ifindex,
        kind: EventKind::Dhcp6 as u8,
        direction: dir as u8,
        _reserved: [0; 2],
    };
    let Some(n) = fill_dhcp6_event(frame, loc, class, true, &mut rec.event) else {
        return;
    };
    let len = opaque(dhcp6_record_len(n)).min(size_of::<Dhcp6Record>());
    // SAFETY: the record's first `len` bytes (at most its size), plain
    // data, all written.
    let bytes =
        unsafe { core::slice::from_raw_parts((rec as *const Dhcp6Record).cast::<u8>(), len) };
    if EVENTS.output::<[u8]>(bytes, 0).is_err() {
        bump(&EVENTS_LOST, LOST_FULL);
        warn!(&(), "ring buffer full: a DHCPv6 event is lost");
    }
}
