//! Programs that each do one part of what the monitor's programs do, for
//! the "cost of the parts" table of `cargo xtask bench kernel`: the class
//! counter every frame pays, a clock read, a ring-buffer record of each
//! size the monitor sends, a hash-map lookup, a copy out of the frame. Never attached; loaded only by the benchmark (the numbers a
//! design choice rests on, measured again on each machine).

use aya_ebpf::bindings::xdp_action::XDP_PASS;
use aya_ebpf::{
    cty::c_void,
    helpers::{
        bpf_ktime_get_coarse_ns, bpf_ktime_get_ns,
        generated::{bpf_probe_read_kernel, bpf_xdp_load_bytes},
    },
    macros::xdp,
    programs::XdpContext,
};
use monitor_common::{
    Class,
    counters::Direction,
    counters::maps::traffic_index,
    event::{DhcpRecord, TftpRecord},
};

use crate::{
    maps::{EVENTS, EVENTS_LOST, PXE_XIDS, TRAFFIC},
    stage::zero_words,
};

/// A slot nothing reads, so that a result is kept.
#[inline(always)]
fn keep(v: u64) {
    if let Some(p) = EVENTS_LOST.get_ptr_mut(0) {
        // SAFETY: a per-CPU slot only this CPU writes; the benchmark's
        // object is its own.
        unsafe { core::ptr::write_volatile(p, v) };
    }
}

/// The class counter alone, as stage one bumps it for every frame (a
/// per-CPU array slot: packets and bytes), the frame not read: the floor
/// of what any counted frame costs.
#[xdp]
pub fn cost_count(ctx: XdpContext) -> u32 {
    let len = (ctx.data_end() - ctx.data()) as u64;
    if let Some(t) = TRAFFIC.get_ptr_mut(0) {
        // SAFETY: a per-CPU slot only this CPU writes; the benchmark's
        // object is its own.
        unsafe {
            (*t).packets += 1;
            (*t).bytes += len;
        }
    }
    XDP_PASS
}

/// The precise clock (`bpf_ktime_get_ns`): DHCP and TFTP event times.
#[xdp]
pub fn cost_clock(_ctx: XdpContext) -> u32 {
    // SAFETY: a helper without arguments or preconditions.
    keep(unsafe { bpf_ktime_get_ns() });
    XDP_PASS
}

/// The coarse clock (`bpf_ktime_get_coarse_ns`): port hints, transfers.
#[xdp]
pub fn cost_clock_coarse(_ctx: XdpContext) -> u32 {
    // SAFETY: as above.
    keep(unsafe { bpf_ktime_get_coarse_ns() });
    XDP_PASS
}

/// A record reserved, written word by word and submitted.
#[inline(always)]
fn record<T: 'static>() {
    if let Some(mut entry) = EVENTS.reserve::<T>(0) {
        // SAFETY: ring-buffer memory reserved for one `T`, whose size is a
        // multiple of 8 (asserted where the records are defined).
        unsafe { zero_words(entry.as_mut_ptr().cast::<u64>(), size_of::<T>() / 8) };
        entry.submit(0);
    }
}

/// The smallest record: the ring buffer's own cost.
#[xdp]
pub fn cost_record_16(_ctx: XdpContext) -> u32 {
    record::<[u64; 2]>();
    XDP_PASS
}

/// A TFTP event record.
#[xdp]
pub fn cost_record_tftp(_ctx: XdpContext) -> u32 {
    record::<TftpRecord>();
    XDP_PASS
}

/// A DHCP event record, the whole of it.
#[xdp]
pub fn cost_record_dhcp(_ctx: XdpContext) -> u32 {
    record::<DhcpRecord>();
    XDP_PASS
}

/// A lookup that finds its key in the PXE transaction table (LRU hash).
#[xdp]
pub fn cost_xid_lookup(_ctx: XdpContext) -> u32 {
    let xid = 0x5058_4500u32;
    // SAFETY: the value is only tested for presence, never read.
    if unsafe { PXE_XIDS.get(xid) }.is_none() {
        let _ = PXE_XIDS.insert(xid, 0, 0);
    }
    XDP_PASS
}

/// Copying 20 bytes of the frame with `bpf_probe_read_kernel`, as
/// `Frame::copy_prefix` does for every string in an event.
#[xdp]
pub fn cost_copy_20(ctx: XdpContext) -> u32 {
    let mut buf = [0u64; 3];
    let p = ctx.data() + 60;
    if p + 20 <= ctx.data_end() {
        // SAFETY: `buf` has room for 24 bytes; the helper faults safely in
        // any case.
        unsafe {
            bpf_probe_read_kernel(buf.as_mut_ptr().cast(), 20, p as *const c_void);
        }
    }
    keep(buf[0] ^ buf[1] ^ buf[2]);
    XDP_PASS
}

/// The same 20 bytes with `bpf_xdp_load_bytes`, the other way to copy.
#[xdp]
pub fn cost_copy_20_load_bytes(ctx: XdpContext) -> u32 {
    let mut buf = [0u64; 3];
    // SAFETY: the program's own context; `buf` has room for 24 bytes.
    unsafe {
        bpf_xdp_load_bytes(ctx.ctx, 60, buf.as_mut_ptr().cast(), 20);
    }
    keep(buf[0] ^ buf[1] ^ buf[2]);
    XDP_PASS
}

/// The least any program can do that settles non-PXE IPv6 and counts it:
/// one bounds check, the Ethernet type, the version, the next header and
/// the ICMPv6 type read at fixed offsets (no VLAN, no extension header, no
/// other next header), then the class counter. Measured on a router
/// advertisement: the floor under stage one's `other_ipv6`. (Reading the
/// Ethernet type and version as one 32-bit word does not help: the BPF
/// target builds it from byte loads, packet bytes having alignment 1.)
#[xdp]
pub fn cost_settle_ipv6(ctx: XdpContext) -> u32 {
    let (start, end) = (ctx.data(), ctx.data_end());
    if start + 62 > end {
        return XDP_PASS;
    }
    // SAFETY: 62 bytes from `start` lie inside the packet (checked just
    // above); `[u8; 62]` has alignment 1.
    let h = unsafe { &*(start as *const [u8; 62]) };
    let settled = h[12] == 0x86
        && h[13] == 0xdd
        && h[14] >> 4 == 6
        && h[20] == monitor_common::wire::ipv6::ICMPV6
        && h[54] != monitor_common::wire::icmp::TYPE6_DEST_UNREACHABLE;
    let class = if settled {
        Class::OtherIpv6
    } else {
        Class::NonIp
    };
    if let Some(t) = TRAFFIC.get_ptr_mut(traffic_index(Direction::Ingress, class)) {
        // SAFETY: a per-CPU slot only this CPU writes; the benchmark's
        // object is its own.
        unsafe {
            (*t).packets += 1;
            (*t).bytes += (end - start) as u64;
        }
    }
    XDP_PASS
}
