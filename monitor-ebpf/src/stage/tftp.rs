//! TFTP (`pxe_tftp_xdp`/`_tc`, over IPv6 `pxe_tftp6_xdp`/`_tc`): requests
//! to port 69 and the packets of followed transfers, run through the shared
//! `flow::observe_tftp` on the kernel's transfer tables ([`KernelFlows`]: a
//! slot per client port in `TFTP_PORTS`, the overflow in `TFTP_FLOWS`;
//! [`KernelFlows6`]: `TFTP_FLOWS6`); counters by opcode and error code, an
//! event for the packets that matter. A stage per family: each is its own
//! BPF function with its own stack (both in one took 560 bytes of the
//! verifier's 512: docs/ebpf-notes.md). Also both halves of the port hints
//! (`TFTP_PORT_HINTS`, shared by the families): stage one asks
//! [`port_hinted`] before handing other UDP here, and finding a transfer
//! stamps its port.

use aya_ebpf::helpers::{bpf_ktime_get_coarse_ns, bpf_ktime_get_ns};
use monitor_common::{
    counters::{
        Direction,
        maps::{
            LOST_FULL, NEW_FLOW, NEW_FLOW6, NEW_OVERFLOW, parse_error_index, tftp_error_index,
            tftp_opcode_index,
        },
    },
    event::{EventHeader, EventKind, TftpRecord, tftp_record_len},
    flow::{Address, TftpFlow, TftpFlows, TftpKey, TftpKey6, TftpSlot, observe_tftp, port_hint},
    frame::opaque,
    report::{fill_tftp_event, tftp_payload_carried},
    stage::UdpAt,
    wire::{tftp, udp},
};
use monitor_ebpf::PacketFrame;

use super::{Ctx, zero_words};
use crate::maps::{
    EVENTS, EVENTS_LOST, PARSE_ERRORS, TABLE_NEW, TFTP_ERRORS, TFTP_FLOWS, TFTP_FLOWS6,
    TFTP_OPCODES, TFTP_PORT_HINTS, TFTP_PORTS, TFTP_RECORD, bump,
};

stage!(
    /// Stage two for TFTP: requests and followed transfers.
    pxe_tftp_xdp,
    pxe_tftp_tc,
    pxe_tftp_tc_in,
    tftp
);

stage!(
    /// Stage two for TFTP over IPv6.
    pxe_tftp6_xdp,
    pxe_tftp6_tc,
    pxe_tftp6_tc_in,
    tftp6
);

/// The kernel's transfer table: a slot per client port (`TFTP_PORTS`),
/// the overflow table (`TFTP_FLOWS`) for a second transfer on a port.
/// Finding a transfer stamps its port's hint with `now_ns`.
pub struct KernelFlows {
    pub now_ns: u64,
}

/// A kernel transfer table's lookup of one key (map memory, valid for the
/// whole program run), from which [`either`] makes `get_either`.
trait Find<A> {
    fn find(&self, key: &TftpKey<A>) -> Option<&'static mut TftpFlow>;
}

/// The transfer of `first`, else of `second`, and whether it was the first.
#[inline(always)]
fn either<A, T: Find<A>>(
    t: &T,
    first: &TftpKey<A>,
    second: &TftpKey<A>,
) -> Option<(bool, &'static mut TftpFlow)> {
    match t.find(first) {
        Some(f) => Some((true, f)),
        None => Some((false, t.find(second)?)),
    }
}

impl Find<[u8; 4]> for KernelFlows {
    /// In its port's slot or the overflow table.
    #[inline(always)]
    fn find(&self, key: &TftpKey) -> Option<&'static mut TftpFlow> {
        let slot = slot(key)?;
        let stamp = port_hint::stamp(self.now_ns);
        // Stamps are written only when the tick changed, to keep the cache
        // lines shared.
        if slot.holds(key) {
            if slot.hint != stamp {
                slot.hint = stamp;
                hint(key.port_index(), stamp);
            }
            return Some(&mut slot.flow);
        }
        if slot.overflow == 0 {
            return None;
        }
        let p = TFTP_FLOWS.get_ptr_mut(key)?;
        if slot.overflow != stamp {
            slot.overflow = stamp;
            hint(key.port_index(), stamp);
        }
        // SAFETY: an LRU map value stays valid while the program runs; as
        // above for concurrent updates.
        Some(unsafe { &mut *p })
    }
}

impl TftpFlows<[u8; 4]> for KernelFlows {
    #[inline(always)]
    fn get_either(&mut self, first: &TftpKey, second: &TftpKey) -> Option<(bool, &mut TftpFlow)> {
        either(self, first, second)
    }

    #[inline(always)]
    fn insert(&mut self, key: &TftpKey, flow: &TftpFlow) {
        let Some(slot) = slot(key) else {
            return;
        };
        let stamp = port_hint::stamp(self.now_ns);
        // The slot is free, lapsed, or already this transfer's (a request
        // resent from the same port starts it again).
        let mine = slot.holds(key);
        if mine || !port_hint::fresh(slot.hint, self.now_ns) {
            if !mine {
                bump(&TABLE_NEW, NEW_FLOW);
            }
            slot.client_ip = key.client_ip;
            slot.server_ip = key.server_ip;
            slot.flow = *flow;
            slot.hint = stamp;
            hint(key.port_index(), stamp);
            return;
        }
        // Another live transfer has the port. A full LRU map evicts its
        // oldest entry; an error is something else (no memory).
        // SAFETY: the value is only tested for presence, never read.
        let new = unsafe { TFTP_FLOWS.get(key) }.is_none();
        match TFTP_FLOWS.insert(key, flow, 0) {
            Ok(()) if new => {
                bump(&TABLE_NEW, NEW_FLOW);
                bump(&TABLE_NEW, NEW_OVERFLOW);
            }
            Ok(()) => {}
            Err(e) => aya_log_ebpf::warn!(&(), "TFTP transfer table insert failed: {}", e),
        }
        slot.overflow = stamp;
        hint(key.port_index(), stamp);
    }
}

/// The kernel's transfer table for IPv6: `TFTP_FLOWS6`, no port slots.
/// Finding a transfer stamps its port's hint, as for IPv4.
pub struct KernelFlows6 {
    pub now_ns: u64,
}

impl Find<[u8; 16]> for KernelFlows6 {
    #[inline(always)]
    fn find(&self, key: &TftpKey6) -> Option<&'static mut TftpFlow> {
        let p = TFTP_FLOWS6.get_ptr_mut(key)?;
        hint(key.port_index(), port_hint::stamp(self.now_ns));
        // SAFETY: an LRU map value stays valid while the program runs; a
        // concurrent update from another CPU can only make its counters
        // approximate.
        Some(unsafe { &mut *p })
    }
}

impl TftpFlows<[u8; 16]> for KernelFlows6 {
    #[inline(always)]
    fn get_either(&mut self, first: &TftpKey6, second: &TftpKey6) -> Option<(bool, &mut TftpFlow)> {
        either(self, first, second)
    }

    #[inline(always)]
    fn insert(&mut self, key: &TftpKey6, flow: &TftpFlow) {
        // SAFETY: the value is only tested for presence, never read.
        let new = unsafe { TFTP_FLOWS6.get(key) }.is_none();
        match TFTP_FLOWS6.insert(key, flow, 0) {
            Ok(()) if new => bump(&TABLE_NEW, NEW_FLOW6),
            Ok(()) => {}
            Err(e) => aya_log_ebpf::warn!(&(), "TFTP transfer table insert failed: {}", e),
        }
        hint(key.port_index(), port_hint::stamp(self.now_ns));
    }
}

/// A kernel transfer table as seen from a packet at `now_ns` (the time
/// its finds stamp the port hints with). A trait, not a closure: in the
/// kernel build a closure may stay a BPF-to-BPF call.
pub trait Clocked {
    fn at(now_ns: u64) -> Self;
}

impl Clocked for KernelFlows {
    #[inline(always)]
    fn at(now_ns: u64) -> Self {
        KernelFlows { now_ns }
    }
}

impl Clocked for KernelFlows6 {
    #[inline(always)]
    fn at(now_ns: u64) -> Self {
        KernelFlows6 { now_ns }
    }
}

/// The slot of `key`'s client port.
#[inline(always)]
fn slot(key: &TftpKey) -> Option<&'static mut TftpSlot> {
    let p = TFTP_PORTS.get_ptr_mut(key.port_index())?;
    // SAFETY: an array value stays valid while the program runs; a
    // concurrent update from another CPU can only make its counters
    // approximate.
    Some(unsafe { &mut *p })
}

/// Marks client port `port` as carrying a followed transfer at tick
/// `stamp`; written only when the tick changed (a transfer's every packet
/// reads the hint, and a write would take its cache line from the other
/// CPUs).
#[inline(always)]
fn hint(port: u32, stamp: u32) {
    if let Some(h) = TFTP_PORT_HINTS.get_ptr_mut(port) {
        // SAFETY: a valid map value; one entry per port, so CPUs marking
        // different ports never overwrite each other.
        unsafe {
            if *h != stamp {
                *h = stamp;
            }
        }
    }
}

/// Whether `port` carried a followed transfer lately (the clock is read
/// only for a port that has a hint at all).
#[inline(always)]
pub fn port_hinted(port: u16) -> bool {
    match TFTP_PORT_HINTS.get(u32::from(port)) {
        Some(&h) if h != 0 => {
            // The coarse clock (a tick's resolution) is plenty for a TTL in
            // minutes, and ten times cheaper here (3 ns against 32:
            // BENCHMARKS.md).
            // SAFETY: a helper without arguments or preconditions.
            port_hint::fresh(h, unsafe { bpf_ktime_get_coarse_ns() })
        }
        _ => false,
    }
}

/// Follows a TFTP packet over IPv4.
#[inline(always)]
fn tftp(frame: &PacketFrame, meta: u64, dir: Direction, ifindex: u32, _ctx: Ctx) {
    follow::<_, KernelFlows>(frame, meta, dir, ifindex);
}

/// Follows a TFTP packet over IPv6.
#[inline(always)]
fn tftp6(frame: &PacketFrame, meta: u64, dir: Direction, ifindex: u32, _ctx: Ctx) {
    follow::<_, KernelFlows6>(frame, meta, dir, ifindex);
}

/// Follows a TFTP packet of `A`'s family: counters by opcode and error
/// code, the transfer's totals in its table, and an event for the packets
/// that matter.
#[inline(always)]
fn follow<A: Address, T: TftpFlows<A> + Clocked>(
    frame: &PacketFrame,
    meta: u64,
    dir: Direction,
    ifindex: u32,
) {
    let Some((at, class)) = UdpAt::unpack(meta) else {
        aya_log_ebpf::error!(&(), "TFTP stage handed an impossible argument {:x}", meta);
        return;
    };
    // The precise clock costs 31 ns here, the coarse one 3 (BENCHMARKS.md):
    // a transfer's packets stamp its table entry with the coarse one (a
    // tick is plenty for stalls counted in seconds); a request, which
    // starts the transfer's clock, and every event read the precise one.
    // SAFETY: helpers without arguments or preconditions.
    let now = unsafe {
        if class.is_tftp_request() {
            bpf_ktime_get_ns()
        } else {
            bpf_ktime_get_coarse_ns()
        }
    };
    let mut flows = T::at(now);
    let seen = match observe_tftp(frame, at, class, now, &mut flows) {
        Ok(Some(seen)) => seen,
        Ok(None) => return,
        Err(e) => {
            bump(&PARSE_ERRORS, parse_error_index(dir, e));
            return;
        }
    };
    bump(&TFTP_OPCODES, tftp_opcode_index(dir, seen.header.opcode));
    if seen.header.opcode == tftp::ERROR {
        bump(
            &TFTP_ERRORS,
            tftp_error_index(dir, seen.from_server, seen.header.arg),
        );
    }
    if seen.moment.is_none() {
        return;
    }
    let now = if class.is_tftp_request() {
        now
    } else {
        // SAFETY: a helper without arguments or preconditions.
        unsafe { bpf_ktime_get_ns() }
    };
    // Built in this CPU's `TFTP_RECORD`, then copied into the ring buffer
    // cut after the payload bytes it carries (none for DATA).
    let Some(rec) = TFTP_RECORD.get_ptr_mut(0) else {
        return;
    };
    // SAFETY: this CPU's slot, a `TftpRecord` (all-zero is a valid one),
    // 160 bytes; nothing else runs on this CPU until it is sent.
    let rec = unsafe {
        zero_words(rec.cast::<u64>(), size_of::<TftpRecord>() / 8);
        &mut *rec
    };
    rec.header = EventHeader {
        timestamp_ns: now,
        ifindex,
        kind: EventKind::Tftp as u8,
        direction: dir as u8,
        _reserved: [0; 2],
    };
    fill_tftp_event(
        frame,
        &seen,
        at.udp_at as usize + udp::HEADER_LEN,
        now,
        &mut rec.event,
    );
    // The bound again where the verifier sees it (it reads the masked
    // rounding as up to 248 bytes).
    let len = opaque(tftp_record_len(tftp_payload_carried(&seen))).min(size_of::<TftpRecord>());
    // SAFETY: the record's first `len` bytes (at most its size), plain
    // data, all written.
    let bytes =
        unsafe { core::slice::from_raw_parts((rec as *const TftpRecord).cast::<u8>(), len) };
    if EVENTS.output::<[u8]>(bytes, 0).is_err() {
        bump(&EVENTS_LOST, LOST_FULL);
        aya_log_ebpf::warn!(&(), "ring buffer full: a TFTP event is lost");
    }
}
