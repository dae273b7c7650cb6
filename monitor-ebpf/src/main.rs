//! pxe-monitor kernel programs: XDP on ingress, TC classifier on egress.
//!
//! Both run the shared `monitor_common::classify` on each frame, bump
//! per-CPU counters and always let the packet through: no path here
//! changes, drops or delays a packet.
#![no_std]
#![no_main]

use aya_ebpf::{
    bindings::{TC_ACT_OK, xdp_action},
    macros::{classifier, map, xdp},
    maps::PerCpuArray,
    programs::{TcContext, XdpContext},
};
use monitor_common::{
    Direction, Traffic, classify,
    counters::maps::{self as names, dhcp_index, parse_error_index, traffic_index},
};
use monitor_ebpf::PacketFrame;

#[map(name = "TRAFFIC")]
static TRAFFIC: PerCpuArray<Traffic> = PerCpuArray::with_max_entries(names::TRAFFIC_LEN, 0);

#[map(name = "DHCP_TYPES")]
static DHCP_TYPES: PerCpuArray<u64> = PerCpuArray::with_max_entries(names::DHCP_TYPES_LEN, 0);

#[map(name = "PARSE_ERRORS")]
static PARSE_ERRORS: PerCpuArray<u64> = PerCpuArray::with_max_entries(names::PARSE_ERRORS_LEN, 0);

/// Ingress: every frame the interface receives.
#[xdp]
pub fn pxe_xdp(ctx: XdpContext) -> u32 {
    let frame = PacketFrame::new(ctx.data(), ctx.data_end());
    let len = frame.size() as u64;
    observe(&frame, len, Direction::Ingress);
    xdp_action::XDP_PASS
}

/// Egress: every frame the host sends out of the interface (a monitor on
/// the DHCP/PXE server sees its own OFFERs and ACKs here).
#[classifier]
pub fn pxe_tc_egress(ctx: TcContext) -> i32 {
    // Headers of locally built UDP packets are in the linear part; counting
    // uses the whole skb length.
    let frame = PacketFrame::new(ctx.data(), ctx.data_end());
    observe(&frame, ctx.len() as u64, Direction::Egress);
    TC_ACT_OK
}

#[inline(always)]
fn observe(frame: &PacketFrame, len: u64, dir: Direction) {
    let c = classify(frame);
    if let Some(t) = TRAFFIC.get_ptr_mut(traffic_index(dir, c.class)) {
        // SAFETY: per-CPU slot of this CPU; the program runs with
        // preemption disabled, so nothing else writes it concurrently.
        unsafe {
            (*t).packets += 1;
            (*t).bytes += len;
        }
    }
    if let Some(ty) = c.dhcp_type {
        bump(&DHCP_TYPES, dhcp_index(dir, ty));
    }
    if let Some(e) = c.error {
        bump(&PARSE_ERRORS, parse_error_index(dir, e));
    }
}

#[inline(always)]
fn bump(map: &PerCpuArray<u64>, index: u32) {
    if let Some(v) = map.get_ptr_mut(index) {
        // SAFETY: as above, a per-CPU slot only this CPU writes.
        unsafe { *v += 1 };
    }
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
