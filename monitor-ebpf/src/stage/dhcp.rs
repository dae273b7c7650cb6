//! DHCP, in two stages. Stage two (`pxe_dhcp_xdp`/`_tc`) reads the BOOTP
//! header and options and parks the result in `DHCP_SCRATCH`; stage three
//! (`pxe_dhcp_track_xdp`/`_tc`, also global) reads it back, looks the xid
//! up, counts, sends the event and remembers new PXE transactions. A map
//! value's contents are not tracked per verifier state, so the thousands of
//! paths out of the option walk converge between the two (everything in
//! one function went over the verifier's 1M limit: docs/ebpf-notes.md).

use aya_ebpf::{
    bindings::{BPF_RB_AVAIL_DATA, BPF_RB_RING_SIZE},
    helpers::bpf_ktime_get_ns,
};
use monitor_common::{
    classify::classify_dhcp,
    conn::learn_client,
    counters::{
        Class, DhcpType, Direction,
        maps::{LOST_FULL, LOST_SHED, NEW_XID, dhcp_index, parse_error_index},
    },
    event::{DHCP_SHORT_LEN, DhcpRecord, EventHeader, EventKind},
    report::fill_dhcp_event,
    stage::{DhcpAt, DhcpLocation, DhcpScratch},
    wire::dhcp::Slot,
};
use monitor_ebpf::PacketFrame;

use aya_log_ebpf::{error, warn};

use super::{Ctx, http::KernelClients, zero_words, zeroed};
use crate::maps::{
    DHCP_RECORD, DHCP_SCRATCH, DHCP_TYPES, EVENTS, EVENTS_LOST, PARSE_ERRORS, PXE_XIDS, TABLE_NEW,
    bump,
};

stage!(
    /// Stage two for a DHCP message: BOOTP header and options.
    pxe_dhcp_xdp,
    pxe_dhcp_tc,
    pxe_dhcp_tc_in,
    dhcp
);
stage!(
    /// Stage three for a DHCP message: PXE transactions, counters, event.
    pxe_dhcp_track_xdp,
    pxe_dhcp_track_tc,
    pxe_dhcp_track_tc_in,
    track
);

/// Stage two: BOOTP header and options. Parks a readable message in
/// `DHCP_SCRATCH` and calls stage three.
#[inline(always)]
fn dhcp(frame: &PacketFrame, meta: u64, dir: Direction, _ifindex: u32, ctx: Ctx) {
    if dhcp_parse(frame, meta, dir) {
        match ctx {
            // SAFETY: the program's own context, passed on.
            Ctx::Xdp(c) => unsafe { pxe_dhcp_track_xdp(c, 0) },
            // SAFETY: as above.
            Ctx::TcEgress(s) => unsafe { pxe_dhcp_track_tc(s, 0) },
            // SAFETY: as above.
            Ctx::TcIngress(s) => unsafe { pxe_dhcp_track_tc_in(s, 0) },
        };
    }
}

#[inline(always)]
fn dhcp_parse(frame: &PacketFrame, meta: u64, dir: Direction) -> bool {
    let Some((at, class)) = DhcpAt::unpack(meta) else {
        error!(&(), "DHCP stage handed an impossible argument {:x}", meta);
        return false;
    };
    let c = classify_dhcp(frame, class, at);
    if let Some(e) = c.error {
        bump(&PARSE_ERRORS, parse_error_index(dir, e));
    }
    let (Some(loc), Some(slot)) = (&c.dhcp, DHCP_SCRATCH.get_ptr_mut(0)) else {
        return false;
    };
    // SAFETY: this CPU's scratch slot; stage three reads it before anything
    // else can run on this CPU.
    unsafe { *slot = DhcpScratch::store(loc, class, c.dhcp_type) };
    true
}

/// Sends the event of a PXE exchange's message. One that carries no
/// strings (a client's DISCOVER and REQUEST) is built in this CPU's
/// `DHCP_RECORD` and copied into the ring buffer cut before them
/// (`event::DHCP_SHORT_LEN`, a third of the bytes); one that does (a
/// server's reply) is built in the ring buffer itself, whole (copying 264
/// bytes measured slower than writing them in place: BENCHMARKS.md).
#[inline(always)]
fn send(frame: &PacketFrame, loc: &DhcpLocation, class: Class, dir: Direction, ifindex: u32) {
    let header = EventHeader {
        // SAFETY: a helper without arguments or preconditions.
        timestamp_ns: unsafe { bpf_ktime_get_ns() },
        ifindex,
        kind: EventKind::Dhcp as u8,
        direction: dir as u8,
        _reserved: [0; 2],
    };
    let sent = if loc.op != 2 && !loc.slots.has(Slot::TftpServer) && !loc.slots.has(Slot::BootFile)
    {
        let Some(rec) = DHCP_RECORD.get_ptr_mut(0) else {
            return;
        };
        // SAFETY: this CPU's slot, a `DhcpRecord`; all-zero is a valid one,
        // and nothing else runs on this CPU until it is sent.
        let rec = unsafe {
            zero_words(rec.cast::<u64>(), DHCP_SHORT_LEN / 8);
            &mut *rec
        };
        rec.header = header;
        if !fill_dhcp_event(frame, loc, class, true, &mut rec.event) {
            return;
        }
        // SAFETY: the record's first bytes, plain data, all written.
        let short = unsafe { &*(rec as *const DhcpRecord).cast::<[u8; DHCP_SHORT_LEN]>() };
        EVENTS.output::<[u8; DHCP_SHORT_LEN]>(short, 0).is_ok()
    } else {
        match EVENTS.reserve::<DhcpRecord>(0) {
            Some(mut entry) => {
                // SAFETY: all-zero is a valid `DhcpRecord`, 264 bytes.
                let rec = unsafe { zeroed(&mut entry) };
                rec.header = header;
                if fill_dhcp_event(frame, loc, class, true, &mut rec.event) {
                    entry.submit(0);
                } else {
                    entry.discard(0);
                }
                true
            }
            None => false,
        }
    };
    if !sent {
        bump(&EVENTS_LOST, LOST_FULL);
        warn!(&(), "ring buffer full: a DHCP event is lost");
    }
}

/// Stage three: is the message part of a PXE exchange (boot client's vendor
/// class, port 4011, or a reply to a transaction a boot client started)?
/// Count it, send its event, remember the transactions boot clients start.
#[inline(always)]
fn track(frame: &PacketFrame, _arg: u64, dir: Direction, ifindex: u32, _ctx: Ctx) {
    let Some(slot) = DHCP_SCRATCH.get_ptr(0) else {
        return;
    };
    // SAFETY: this CPU's scratch slot, written by stage two just before.
    let Some((loc, class, ty)) = (unsafe { *slot }).load() else {
        return;
    };
    // SAFETY: the value is only tested for presence, never read.
    let known = unsafe { PXE_XIDS.get(loc.xid) }.is_some();
    let pxe = loc.is_pxe(class, known);
    if let Some(ty) = ty {
        bump(&DHCP_TYPES, dhcp_index(dir, pxe, ty));
    }
    // Under a DHCP flood the ring fills with its DISCOVERs: once it is more
    // than half full, new DISCOVERs are shed (counted), so that the other
    // messages of real boots (offers, requests, ACKs, the 4011 exchange)
    // still find room and their sessions still form.
    let shed = pxe
        && ty == Some(DhcpType::DISCOVER)
        && EVENTS.query(BPF_RB_AVAIL_DATA.into()) > EVENTS.query(BPF_RB_RING_SIZE.into()) / 2;
    if shed {
        bump(&EVENTS_LOST, LOST_SHED);
    } else if pxe {
        send(frame, &loc, class, dir, ifindex);
    }
    // Only new transactions: the lookup above already refreshed a known
    // one, and an update costs more than a lookup.
    if pxe && ty == Some(DhcpType::ACK) {
        // The client's address, so that its web connections are followed.
        // SAFETY: a helper without arguments or preconditions.
        let now = unsafe { aya_ebpf::helpers::bpf_ktime_get_coarse_ns() };
        learn_client(frame, &loc, ty, pxe, now, &mut KernelClients::v4());
    }
    if !known && loc.starts_pxe_transaction() {
        // A full LRU map evicts its oldest entry; an error is something
        // else (no memory).
        match PXE_XIDS.insert(loc.xid, 0, 0) {
            Ok(()) => bump(&TABLE_NEW, NEW_XID),
            Err(e) => warn!(&(), "PXE transaction table insert failed: {}", e),
        }
    }
}
