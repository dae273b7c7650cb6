//! ICMP and ICMPv6 destination unreachable (`pxe_icmp_xdp`/`_tc`): the UDP
//! datagram it quotes, counted by that datagram's class, and an event when
//! it went to a PXE port or belongs to a followed TFTP transfer (the
//! family's transfer table).

use aya_ebpf::helpers::bpf_ktime_get_ns;
use monitor_common::{
    classify::classify_icmp,
    counters::{
        Direction,
        maps::{LOST_FULL, icmp_index, parse_error_index},
    },
    event::{EventHeader, EventKind, IcmpEvent, IcmpRecord},
    flow::quotes_transfer,
    report::icmp_event,
    stage::IcmpAt,
};
use monitor_ebpf::PacketFrame;

use super::{
    Ctx,
    tftp::{KernelFlows, KernelFlows6},
};
use crate::maps::{EVENTS, EVENTS_LOST, ICMP_UNREACHABLE, PARSE_ERRORS, bump};

stage!(
    /// Stage two for an ICMP destination unreachable.
    pxe_icmp_xdp,
    pxe_icmp_tc,
    pxe_icmp_tc_in,
    icmp
);

/// Counts an ICMP destination unreachable by the class of the datagram it
/// quotes and sends an event when that was a PXE port.
#[inline(always)]
fn icmp(frame: &PacketFrame, meta: u64, dir: Direction, ifindex: u32, _ctx: Ctx) {
    let c = classify_icmp(frame, IcmpAt::unpack(meta));
    if let Some(e) = c.error {
        bump(&PARSE_ERRORS, parse_error_index(dir, e));
    }
    // SAFETY: a helper without arguments or preconditions.
    let now_ns = unsafe { aya_ebpf::helpers::bpf_ktime_get_coarse_ns() };
    if let Some(u) = &c.icmp6 {
        bump(&ICMP_UNREACHABLE, icmp_index(dir, u.quoted_class));
        let transfer = quotes_transfer(u, &mut KernelFlows6 { now_ns });
        if transfer || u.quotes_pxe_port() {
            send(icmp_event(u, transfer), dir, ifindex);
        }
        return;
    }
    let Some(u) = &c.icmp else {
        return;
    };
    bump(&ICMP_UNREACHABLE, icmp_index(dir, u.quoted_class));
    let transfer = quotes_transfer(u, &mut KernelFlows { now_ns });
    if transfer || u.quotes_pxe_port() {
        send(icmp_event(u, transfer), dir, ifindex);
    }
}

/// Sends an ICMP event.
#[inline(always)]
fn send(event: IcmpEvent, dir: Direction, ifindex: u32) {
    let Some(mut entry) = EVENTS.reserve::<IcmpRecord>(0) else {
        bump(&EVENTS_LOST, LOST_FULL);
        aya_log_ebpf::warn!(&(), "ring buffer full: an ICMP event is lost");
        return;
    };
    entry.write(IcmpRecord {
        header: EventHeader {
            // SAFETY: a helper without arguments or preconditions.
            timestamp_ns: unsafe { bpf_ktime_get_ns() },
            ifindex,
            kind: EventKind::IcmpUnreachable as u8,
            direction: dir as u8,
            _reserved: [0; 2],
        },
        event,
    });
    entry.submit(0);
}
