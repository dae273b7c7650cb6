//! TFTP (`pxe_tftp_xdp`/`_tc`): requests to port 69 and the packets of
//! followed transfers, run through the shared `flow::observe_tftp` on the
//! kernel's transfer table ([`KernelFlows`] over `TFTP_FLOWS`); counters by
//! opcode and error code, an event for the packets that matter. Also both
//! halves of the port hints: stage one asks [`port_hinted`] before handing
//! other UDP here, and this stage stamps the hint of every packet it
//! follows.

use aya_ebpf::helpers::{bpf_ktime_get_coarse_ns, bpf_ktime_get_ns};
use monitor_common::{
    counters::{
        Direction,
        maps::{LOST_FULL, NEW_FLOW, parse_error_index, tftp_error_index, tftp_opcode_index},
    },
    event::{EventHeader, EventKind, TftpRecord},
    flow::{TftpFlow, TftpFlows, TftpKey, observe_tftp, port_hint},
    report::fill_tftp_event,
    stage::UdpAt,
    wire::{tftp, udp},
};
use monitor_ebpf::PacketFrame;

use super::{Ctx, zeroed};
use crate::maps::{
    EVENTS, EVENTS_LOST, PARSE_ERRORS, TABLE_NEW, TFTP_ERRORS, TFTP_FLOWS, TFTP_OPCODES,
    TFTP_PORT_HINTS, bump,
};

stage!(
    /// Stage two for TFTP: requests and followed transfers.
    pxe_tftp_xdp,
    pxe_tftp_tc,
    pxe_tftp_tc_in,
    tftp
);

/// The kernel's transfer table.
pub struct KernelFlows;

impl TftpFlows for KernelFlows {
    #[inline(always)]
    fn get_either(&mut self, first: &TftpKey, second: &TftpKey) -> Option<(bool, &mut TftpFlow)> {
        let (found, p) = match TFTP_FLOWS.get_ptr_mut(first) {
            Some(p) => (true, p),
            None => (false, TFTP_FLOWS.get_ptr_mut(second)?),
        };
        // SAFETY: an LRU map value stays valid while the program runs; a
        // concurrent update from another CPU can only make its counters
        // approximate.
        Some((found, unsafe { &mut *p }))
    }

    #[inline(always)]
    fn insert(&mut self, key: &TftpKey, flow: &TftpFlow) {
        // A full LRU map evicts its oldest entry; an error is something
        // else (no memory).
        // A request resent from the same port replaces its own entry.
        // SAFETY: the value is only tested for presence, never read.
        let new = unsafe { TFTP_FLOWS.get(key) }.is_none();
        match TFTP_FLOWS.insert(key, flow, 0) {
            Ok(()) if new => bump(&TABLE_NEW, NEW_FLOW),
            Ok(()) => {}
            Err(e) => aya_log_ebpf::warn!(&(), "TFTP transfer table insert failed: {}", e),
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
            // minutes, and several times cheaper on this hot path.
            // SAFETY: a helper without arguments or preconditions.
            port_hint::fresh(h, unsafe { bpf_ktime_get_coarse_ns() })
        }
        _ => false,
    }
}

/// Follows a TFTP packet: counters by opcode and error code, the transfer's
/// totals in `TFTP_FLOWS`, and an event for the packets that matter.
#[inline(always)]
fn tftp(frame: &PacketFrame, meta: u64, dir: Direction, ifindex: u32, _ctx: Ctx) {
    let Some((at, class)) = UdpAt::unpack(meta) else {
        aya_log_ebpf::error!(&(), "TFTP stage handed an impossible argument {:x}", meta);
        return;
    };
    // SAFETY: a helper without arguments or preconditions.
    let now = unsafe { bpf_ktime_get_ns() };
    let seen = match observe_tftp(frame, at, class, now, &mut KernelFlows) {
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
    // Every packet of a followed transfer keeps its port's hint fresh.
    let port = u16::from_be_bytes(seen.key.client_port);
    if let Some(h) = TFTP_PORT_HINTS.get_ptr_mut(u32::from(port)) {
        let stamp = port_hint::stamp(now);
        // SAFETY: a valid map value; one slot per port, so CPUs marking
        // different ports never overwrite each other. Written only when the
        // second changed, to keep the cache line shared.
        unsafe {
            if *h != stamp {
                *h = stamp;
            }
        }
    }
    if seen.moment.is_none() {
        return;
    }
    let Some(mut entry) = EVENTS.reserve::<TftpRecord>(0) else {
        bump(&EVENTS_LOST, LOST_FULL);
        aya_log_ebpf::warn!(&(), "ring buffer full: a TFTP event is lost");
        return;
    };
    // SAFETY: all-zero is a valid `TftpRecord`, 152 bytes.
    let rec = unsafe { zeroed(&mut entry) };
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
    entry.submit(0);
}
