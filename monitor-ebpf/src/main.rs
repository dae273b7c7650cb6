//! pxe-monitor kernel programs: XDP on ingress, TC classifier on egress.
//!
//! Both run the shared classifier on each frame, bump per-CPU counters and
//! always let the packet through: no path here changes, drops or delays a
//! packet.
//!
//! The work is split in two BPF functions: the program reads the
//! Ethernet/VLAN/IPv4/UDP headers (`classify_headers`); a DHCP message is
//! handed, by its offsets, to a *global* function (`pxe_dhcp_xdp` /
//! `pxe_dhcp_tc`) that reads the BOOTP header and options
//! (`classify_dhcp`). The verifier checks a global function once, with its
//! arguments unknown, instead of once for every path through the header
//! parser that reaches it: 21k processed instructions instead of 159k for
//! the same work (docs/ebpf-notes.md).
#![no_std]
#![no_main]

use aya_ebpf::{
    bindings::{__sk_buff, TC_ACT_OK, xdp_action, xdp_md},
    helpers::{bpf_ktime_get_coarse_ns, bpf_ktime_get_ns},
    macros::{classifier, map, xdp},
    maps::{Array, LruHashMap, PerCpuArray, RingBuf, ring_buf::RingBufEntry},
    programs::{TcContext, XdpContext},
};
use monitor_common::{
    Class, Direction, Traffic,
    classify::{Next, classify_dhcp, classify_headers, classify_icmp},
    counters::maps::{
        self as names, dhcp_index, icmp_index, parse_error_index, tftp_error_index,
        tftp_opcode_index, traffic_index,
    },
};
use monitor_common::{
    event::{DhcpRecord, EventHeader, EventKind, IcmpRecord, TftpRecord},
    flow::{TftpFlow, TftpFlows, TftpKey, observe_tftp, port_hint, quotes_transfer},
    report::{fill_dhcp_event, fill_tftp_event, icmp_event},
    stage::{DhcpAt, DhcpScratch, IcmpAt, UdpAt},
    wire::{tftp, udp},
};
use monitor_ebpf::PacketFrame;

#[map(name = "TRAFFIC")]
static TRAFFIC: PerCpuArray<Traffic> = PerCpuArray::with_max_entries(names::TRAFFIC_LEN, 0);

#[map(name = "DHCP_TYPES")]
static DHCP_TYPES: PerCpuArray<u64> = PerCpuArray::with_max_entries(names::DHCP_TYPES_LEN, 0);

#[map(name = "ICMP_UNREACHABLE")]
static ICMP_UNREACHABLE: PerCpuArray<u64> =
    PerCpuArray::with_max_entries(names::ICMP_UNREACHABLE_LEN, 0);

#[map(name = "TFTP_OPCODES")]
static TFTP_OPCODES: PerCpuArray<u64> = PerCpuArray::with_max_entries(names::TFTP_OPCODES_LEN, 0);

#[map(name = "TFTP_ERRORS")]
static TFTP_ERRORS: PerCpuArray<u64> = PerCpuArray::with_max_entries(names::TFTP_ERRORS_LEN, 0);

#[map(name = "TFTP_FLOWS")]
static TFTP_FLOWS: LruHashMap<TftpKey, TftpFlow> =
    LruHashMap::with_max_entries(names::TFTP_FLOWS_LEN, 0);

#[map(name = "TFTP_PORT_HINTS")]
static TFTP_PORT_HINTS: Array<u32> = Array::with_max_entries(names::TFTP_PORT_HINTS_LEN, 0);

#[map(name = "EVENTS_LOST")]
static EVENTS_LOST: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

#[map(name = "EVENTS")]
static EVENTS: RingBuf = RingBuf::with_byte_size(names::EVENTS_BYTES, 0);

#[map(name = "PXE_XIDS")]
static PXE_XIDS: LruHashMap<u32, u32> = LruHashMap::with_max_entries(names::PXE_XIDS_LEN, 0);

/// Hands a parsed DHCP message from stage two to stage three (per CPU).
#[map(name = "DHCP_SCRATCH")]
static DHCP_SCRATCH: PerCpuArray<DhcpScratch> = PerCpuArray::with_max_entries(1, 0);

#[map(name = "PARSE_ERRORS")]
static PARSE_ERRORS: PerCpuArray<u64> = PerCpuArray::with_max_entries(names::PARSE_ERRORS_LEN, 0);

/// Ingress: every frame the interface receives.
#[xdp]
pub fn pxe_xdp(ctx: XdpContext) -> u32 {
    let frame = PacketFrame::new(ctx.data(), ctx.data_end());
    match headers(&frame, frame.size() as u64, Direction::Ingress) {
        // SAFETY (both): our own context, as the functions require.
        Some(Stage2::Dhcp(meta)) => unsafe {
            pxe_dhcp_xdp(ctx.ctx, meta);
        },
        Some(Stage2::Icmp(meta)) => unsafe {
            pxe_icmp_xdp(ctx.ctx, meta);
        },
        Some(Stage2::Tftp(meta)) => unsafe {
            pxe_tftp_xdp(ctx.ctx, meta);
        },
        None => {}
    }
    xdp_action::XDP_PASS
}

/// Baseline for `cargo xtask bench kernel`: passes every frame and does
/// nothing else. Never attached.
#[xdp]
pub fn bare_pass(_ctx: XdpContext) -> u32 {
    xdp_action::XDP_PASS
}

/// Egress: every frame the host sends out of the interface (a monitor on
/// the DHCP/PXE server sees its own OFFERs and ACKs here).
#[classifier]
pub fn pxe_tc_egress(ctx: TcContext) -> i32 {
    // Headers of locally built UDP packets are in the linear part; counting
    // uses the whole skb length.
    let frame = PacketFrame::new(ctx.data(), ctx.data_end());
    match headers(&frame, ctx.len() as u64, Direction::Egress) {
        // SAFETY (both): our own context, as the functions require.
        Some(Stage2::Dhcp(meta)) => unsafe {
            pxe_dhcp_tc(ctx.skb.skb, meta);
        },
        Some(Stage2::Icmp(meta)) => unsafe {
            pxe_icmp_tc(ctx.skb.skb, meta);
        },
        Some(Stage2::Tftp(meta)) => unsafe {
            pxe_tftp_tc(ctx.skb.skb, meta);
        },
        None => {}
    }
    TC_ACT_OK
}

/// Which stage-two function reads the frame, with its packed offsets.
enum Stage2 {
    Dhcp(u64),
    Icmp(u64),
    Tftp(u64),
}

/// Stage one: counts the frame; for a DHCP message or an ICMP destination
/// unreachable returns the packed offsets for stage two.
#[inline(always)]
fn headers(frame: &PacketFrame, len: u64, dir: Direction) -> Option<Stage2> {
    let (c, next) = classify_headers(frame);
    if let Some(t) = TRAFFIC.get_ptr_mut(traffic_index(dir, c.class)) {
        // SAFETY: per-CPU slot of this CPU; the program runs with
        // preemption disabled, so nothing else writes it concurrently.
        unsafe {
            (*t).packets += 1;
            (*t).bytes += len;
        }
    }
    if let Some(e) = c.error {
        bump(&PARSE_ERRORS, parse_error_index(dir, e));
    }
    match next? {
        Next::Dhcp(at) => Some(Stage2::Dhcp(at.pack(c.class))),
        Next::Icmp(at) => Some(Stage2::Icmp(at.pack())),
        Next::Udp { at, ports } => {
            // Other UDP is looked up as a transfer only when one of its
            // ports is a client port of a followed transfer.
            if c.class == Class::OtherUdp && !port_hinted(ports.0) && !port_hinted(ports.1) {
                return None;
            }
            Some(Stage2::Tftp(at.pack(c.class)))
        }
    }
}

/// Whether `port` carried a followed transfer lately (the clock is read
/// only for a port that has a hint at all).
#[inline(always)]
fn port_hinted(port: u16) -> bool {
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

/// The context a stage-two or stage-three function was called with, to pass
/// on to the next stage.
#[derive(Clone, Copy)]
enum Ctx {
    Xdp(*mut xdp_md),
    Tc(*mut __sk_buff),
}

/// Defines a stage as two *global* BPF functions, one per hook, which the
/// verifier checks once each with their arguments unknown, instead of once
/// for every path through the caller that reaches them. Each builds the
/// frame from its own context and runs `$body(frame, arg, direction,
/// ifindex, ctx)`.
macro_rules! stage {
    ($(#[$doc:meta])* $xdp:ident, $tc:ident, $body:ident) => {
        $(#[$doc])*
        ///
        /// # Safety
        /// `ctx` must be the context of the running XDP program.
        #[unsafe(no_mangle)]
        #[inline(never)]
        pub unsafe extern "C" fn $xdp(ctx: *mut xdp_md, arg: u64) -> i32 {
            // SAFETY: called only by this object's XDP code with the
            // program's own context; the verifier checks the accesses.
            let (frame, ifindex) = unsafe {
                let c = &*ctx;
                (PacketFrame::new(c.data as usize, c.data_end as usize), c.ingress_ifindex)
            };
            // `black_box`: an argument the body ignores would be dropped by
            // LLVM, and the verifier refuses the call ("not a scalar").
            $body(&frame, core::hint::black_box(arg), Direction::Ingress, ifindex, Ctx::Xdp(ctx));
            0
        }

        $(#[$doc])*
        ///
        /// # Safety
        /// `skb` must be the context of the running TC program.
        #[unsafe(no_mangle)]
        #[inline(never)]
        pub unsafe extern "C" fn $tc(skb: *mut __sk_buff, arg: u64) -> i32 {
            // SAFETY: as above, for the TC program.
            let (frame, ifindex) = unsafe {
                let s = &*skb;
                (PacketFrame::new(s.data as usize, s.data_end as usize), s.ifindex)
            };
            $body(&frame, core::hint::black_box(arg), Direction::Egress, ifindex, Ctx::Tc(skb));
            0
        }
    };
}

stage!(
    /// Stage two for a DHCP message: BOOTP header and options.
    pxe_dhcp_xdp,
    pxe_dhcp_tc,
    dhcp
);
stage!(
    /// Stage three for a DHCP message: PXE transactions, counters, event.
    pxe_dhcp_track_xdp,
    pxe_dhcp_track_tc,
    track
);
stage!(
    /// Stage two for an ICMP destination unreachable.
    pxe_icmp_xdp,
    pxe_icmp_tc,
    icmp
);
stage!(
    /// Stage two for TFTP: requests and followed transfers.
    pxe_tftp_xdp,
    pxe_tftp_tc,
    tftp
);

/// Ring-buffer memory reserved for one `T`, zeroed word by word.
///
/// # Safety
/// All-zero bytes must be a valid `T`, and its size a multiple of 8 (the
/// ring buffer hands out 8-byte aligned memory).
#[inline(always)]
unsafe fn zeroed<T>(entry: &mut RingBufEntry<T>) -> &mut T {
    const {
        assert!(
            size_of::<T>().is_multiple_of(8),
            "ring-buffer records are whole 8-byte words"
        )
    };
    let rec = entry.as_mut_ptr();
    let words = size_of::<T>() / 8;
    // SAFETY: `rec` points at memory reserved for one `T`, 8-byte aligned,
    // `words * 8` bytes long (caller's promise); once zeroed it is a valid
    // `T` (caller's promise). Volatile word stores: `write_bytes` becomes a
    // memset byte loop that the verifier walks byte by byte.
    unsafe {
        let w = rec.cast::<u64>();
        for i in 0..words {
            core::ptr::write_volatile(w.add(i), 0);
        }
        &mut *rec
    }
}

/// The kernel's transfer table.
struct KernelFlows;

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
        // A full LRU map evicts its oldest entry; nothing to handle.
        let _ = TFTP_FLOWS.insert(key, flow, 0);
    }
}

/// Follows a TFTP packet: counters by opcode and error code, the transfer's
/// totals in `TFTP_FLOWS`, and an event for the packets that matter.
#[inline(always)]
fn tftp(frame: &PacketFrame, meta: u64, dir: Direction, ifindex: u32, _ctx: Ctx) {
    let Some((at, class)) = UdpAt::unpack(meta) else {
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
        bump(&EVENTS_LOST, 0);
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

/// Counts an ICMP destination unreachable by the class of the datagram it
/// quotes and sends an event when that was a PXE port.
#[inline(always)]
fn icmp(frame: &PacketFrame, meta: u64, dir: Direction, ifindex: u32, _ctx: Ctx) {
    let c = classify_icmp(frame, IcmpAt::unpack(meta));
    if let Some(e) = c.error {
        bump(&PARSE_ERRORS, parse_error_index(dir, e));
    }
    let Some(u) = &c.icmp else {
        return;
    };
    bump(&ICMP_UNREACHABLE, icmp_index(dir, u.quoted_class));
    let transfer = quotes_transfer(u, &mut KernelFlows);
    if !transfer && !u.quotes_pxe_port() {
        return;
    }
    let Some(mut entry) = EVENTS.reserve::<IcmpRecord>(0) else {
        bump(&EVENTS_LOST, 0);
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
        event: icmp_event(u, transfer),
        _pad: [0; 4],
    });
    entry.submit(0);
}

/// Stage two: BOOTP header and options. Parks a readable message in
/// `DHCP_SCRATCH` and calls stage three.
#[inline(always)]
fn dhcp(frame: &PacketFrame, meta: u64, dir: Direction, _ifindex: u32, ctx: Ctx) {
    if dhcp_parse(frame, meta, dir) {
        // SAFETY: the program's own context, passed on.
        match ctx {
            Ctx::Xdp(c) => unsafe { pxe_dhcp_track_xdp(c, 0) },
            Ctx::Tc(s) => unsafe { pxe_dhcp_track_tc(s, 0) },
        };
    }
}

#[inline(always)]
fn dhcp_parse(frame: &PacketFrame, meta: u64, dir: Direction) -> bool {
    let Some((at, class)) = DhcpAt::unpack(meta) else {
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
    if pxe {
        match EVENTS.reserve::<DhcpRecord>(0) {
            Some(mut entry) => {
                // SAFETY: all-zero is a valid `DhcpRecord`, 264 bytes.
                let rec = unsafe { zeroed(&mut entry) };
                rec.header = EventHeader {
                    // SAFETY: a helper without arguments or preconditions.
                    timestamp_ns: unsafe { bpf_ktime_get_ns() },
                    ifindex,
                    kind: EventKind::Dhcp as u8,
                    direction: dir as u8,
                    _reserved: [0; 2],
                };
                if fill_dhcp_event(frame, &loc, class, pxe, &mut rec.event) {
                    entry.submit(0);
                } else {
                    entry.discard(0);
                }
            }
            None => bump(&EVENTS_LOST, 0),
        }
    }
    // Only new transactions: the lookup above already refreshed a known
    // one, and an update costs more than a lookup.
    if !known && loc.starts_pxe_transaction() {
        // A full LRU map evicts its oldest entry; nothing to handle.
        let _ = PXE_XIDS.insert(loc.xid, 0, 0);
    }
}

#[inline(always)]
fn bump(map: &PerCpuArray<u64>, index: u32) {
    if let Some(v) = map.get_ptr_mut(index) {
        // SAFETY: a per-CPU slot only this CPU writes (see `headers`).
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
