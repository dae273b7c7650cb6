//! pxe-monitor kernel programs: on ingress TC (the default) or XDP, on
//! egress TC.
//!
//! Each runs the shared classifier on each frame, bump per-CPU counters and
//! always let the packet through: no path here changes, drops or delays a
//! packet.
//!
//! The work is split in BPF functions: the program (here: the hooks and
//! stage one) reads the Ethernet/VLAN/IPv4/UDP headers
//! (`classify_headers`) and counts the frame; a DHCP message, an ICMP
//! destination unreachable or UDP that may be TFTP is handed, by its packed
//! offsets (`monitor_common::stage`), to a *global* function in `stage/`
//! (`pxe_dhcp_xdp` / `pxe_dhcp_tc` reads the BOOTP header and options with
//! `classify_dhcp`). The verifier checks a global function once, with its
//! arguments unknown, instead of once for every path through the header
//! parser that reaches it: 21k processed instructions instead of 159k for
//! the same work (docs/ebpf-notes.md). Every map is in `maps.rs`.
#![no_std]
#![no_main]

mod cost;
mod maps;
mod stage;

use aya_ebpf::{
    bindings::{TC_ACT_OK, xdp_action},
    macros::{classifier, xdp},
    programs::{TcContext, XdpContext},
};
use monitor_common::{
    classify::{Next, classify_headers_with},
    counters::{
        Direction, Family,
        maps::{parse_error_index, traffic_index},
    },
};
use monitor_ebpf::PacketFrame;

use crate::{
    maps::{PARSE_ERRORS, TRAFFIC, bump},
    stage::{dhcp, dhcp6, http, http::KernelWeb, icmp, tftp, tftp::port_hinted},
};

/// Ingress: every frame the interface receives.
#[xdp]
pub fn pxe_xdp(ctx: XdpContext) -> u32 {
    let frame = PacketFrame::new(ctx.data(), ctx.data_end());
    match headers(&frame, frame.size() as u64, Direction::Ingress) {
        // SAFETY: our own context, as the stage functions require.
        Some(Stage2::Dhcp(arg)) => unsafe {
            dhcp::pxe_dhcp_xdp(ctx.ctx, arg);
        },
        // SAFETY: as above.
        Some(Stage2::Icmp(arg)) => unsafe {
            icmp::pxe_icmp_xdp(ctx.ctx, arg);
        },
        // SAFETY: as above.
        Some(Stage2::Tftp(arg)) => unsafe {
            tftp::pxe_tftp_xdp(ctx.ctx, arg);
        },
        // SAFETY: as above.
        Some(Stage2::Tftp6(arg)) => unsafe {
            tftp::pxe_tftp6_xdp(ctx.ctx, arg);
        },
        // SAFETY: as above.
        Some(Stage2::Http(arg)) => unsafe {
            http::pxe_http_xdp(ctx.ctx, arg);
        },
        // SAFETY: as above.
        Some(Stage2::Http6(arg)) => unsafe {
            http::pxe_http6_xdp(ctx.ctx, arg);
        },
        // SAFETY: as above.
        Some(Stage2::Dhcp6(arg)) => unsafe {
            dhcp6::pxe_dhcp6_xdp(ctx.ctx, arg);
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

/// Baseline for `cargo xtask bench veth`: a TC program that passes every
/// frame and does nothing else.
#[classifier]
pub fn bare_tc(_ctx: TcContext) -> i32 {
    TC_ACT_OK
}

/// Egress: every frame the host sends out of the interface (a monitor on
/// the DHCP/PXE server sees its own OFFERs and ACKs here).
#[classifier]
pub fn pxe_tc_egress(ctx: TcContext) -> i32 {
    tc(ctx, Direction::Egress)
}

/// Ingress at TC, the default hook: every frame the interface receives,
/// after the driver and GRO built its skb (a GRO'd TCP super-packet is one
/// call). Unlike native XDP it leaves the driver's receive path as it is
/// (veth, virtio_net and others turn GRO/LRO off or change their receive
/// mode while an XDP program is attached: BENCHMARKS.md), and it runs
/// beside other programs on the interface (TCX).
#[classifier]
pub fn pxe_tc_ingress(ctx: TcContext) -> i32 {
    tc(ctx, Direction::Ingress)
}

/// Both TC hooks: stage one on the linear part of the skb, then the stage
/// functions. A PXE packet whose bytes are not all in the linear part (a
/// driver that keeps only the headers there) is made linear first with
/// `bpf_skb_pull_data`, which moves bytes into the head and changes nothing
/// of the packet; no other packet is touched.
#[inline(always)]
fn tc(ctx: TcContext, dir: Direction) -> i32 {
    let frame = PacketFrame::new(ctx.data(), ctx.data_end());
    let len = ctx.len();
    let next = headers(&frame, len.into(), dir);
    // A web segment needs its headers and the first bytes of its payload
    // only (a GRO'd one may be 64 KB): what a head's event carries.
    let want = match next {
        Some(Stage2::Http(_) | Stage2::Http6(_)) => len.min(HTTP_PULL),
        Some(_) => len.min(MAX_PULL),
        None => 0,
    };
    if (frame.size() as u32) < want {
        // Best effort: on failure the stages read what is linear and count
        // what they cannot read as truncated.
        let _ = ctx.pull_data(want);
    }
    let skb = ctx.skb.skb;
    match (next, dir) {
        // SAFETY: our own context, as the stage functions require.
        (Some(Stage2::Dhcp(arg)), Direction::Egress) => unsafe {
            dhcp::pxe_dhcp_tc(skb, arg);
        },
        // SAFETY: as above.
        (Some(Stage2::Dhcp(arg)), Direction::Ingress) => unsafe {
            dhcp::pxe_dhcp_tc_in(skb, arg);
        },
        // SAFETY: as above.
        (Some(Stage2::Icmp(arg)), Direction::Egress) => unsafe {
            icmp::pxe_icmp_tc(skb, arg);
        },
        // SAFETY: as above.
        (Some(Stage2::Icmp(arg)), Direction::Ingress) => unsafe {
            icmp::pxe_icmp_tc_in(skb, arg);
        },
        // SAFETY: as above.
        (Some(Stage2::Tftp(arg)), Direction::Egress) => unsafe {
            tftp::pxe_tftp_tc(skb, arg);
        },
        // SAFETY: as above.
        (Some(Stage2::Tftp(arg)), Direction::Ingress) => unsafe {
            tftp::pxe_tftp_tc_in(skb, arg);
        },
        // SAFETY: as above.
        (Some(Stage2::Tftp6(arg)), Direction::Egress) => unsafe {
            tftp::pxe_tftp6_tc(skb, arg);
        },
        // SAFETY: as above.
        (Some(Stage2::Tftp6(arg)), Direction::Ingress) => unsafe {
            tftp::pxe_tftp6_tc_in(skb, arg);
        },
        // SAFETY: as above.
        (Some(Stage2::Http(arg)), Direction::Egress) => unsafe {
            http::pxe_http_tc(skb, arg);
        },
        // SAFETY: as above.
        (Some(Stage2::Http(arg)), Direction::Ingress) => unsafe {
            http::pxe_http_tc_in(skb, arg);
        },
        // SAFETY: as above.
        (Some(Stage2::Http6(arg)), Direction::Egress) => unsafe {
            http::pxe_http6_tc(skb, arg);
        },
        // SAFETY: as above.
        (Some(Stage2::Http6(arg)), Direction::Ingress) => unsafe {
            http::pxe_http6_tc_in(skb, arg);
        },
        // SAFETY: as above.
        (Some(Stage2::Dhcp6(arg)), Direction::Egress) => unsafe {
            dhcp6::pxe_dhcp6_tc(skb, arg);
        },
        // SAFETY: as above.
        (Some(Stage2::Dhcp6(arg)), Direction::Ingress) => unsafe {
            dhcp6::pxe_dhcp6_tc_in(skb, arg);
        },
        (None, _) => {}
    }
    TC_ACT_OK
}

/// The most bytes a TC hook makes linear: a whole Ethernet frame with two
/// VLAN tags (PXE packets are never larger; `MAX_OFFSET` bounds reads).
const MAX_PULL: u32 = 1522;

/// The most bytes a TC hook makes linear for a web segment: Ethernet with
/// two tags, IPv6 with 256 bytes of extension headers (a web segment's
/// rarely has any; IPv4 with all its options is shorter), TCP with all its
/// options, and the 256 payload bytes an event carries.
const HTTP_PULL: u32 = 18 + 40 + 4 * 64 + 60 + 256;

/// Which stage-two function reads the frame, with its packed offsets.
enum Stage2 {
    Dhcp(u64),
    Icmp(u64),
    Tftp(u64),
    Tftp6(u64),
    Http(u64),
    Http6(u64),
    Dhcp6(u64),
}

/// Stage one: counts the frame; for a DHCP message, an ICMP destination
/// unreachable or UDP that may be TFTP returns the packed argument for
/// stage two.
#[inline(always)]
fn headers(frame: &PacketFrame, len: u64, dir: Direction) -> Option<Stage2> {
    // Stage one decides whether TCP is a web port's while its ports are
    // in registers (`KernelWeb`): other TCP hands nothing on. Stage two is
    // chosen after the counters, not before: chosen before (its port-hint
    // lookups ahead of the counter's), the rare-conditions build's
    // pxe_tc_ingress grew to 528 bytes of combined stack (limit 512).
    let (c, next) = classify_headers_with(frame, &KernelWeb);
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
        Next::Tcp(at) if at.v6 => Some(Stage2::Http6(at.pack())),
        Next::Tcp(at) => Some(Stage2::Http(at.pack())),
        Next::Dhcp6(at) => Some(Stage2::Dhcp6(at.pack(c.class))),
        Next::Udp { at, ports } => {
            // Other UDP is looked up as a transfer only when one of its
            // ports is a client port of a followed transfer.
            if c.class.is_other_udp() && !port_hinted(ports.0) && !port_hinted(ports.1) {
                return None;
            }
            if c.class.family() == Family::Ipv6 {
                return Some(Stage2::Tftp6(at.pack(c.class)));
            }
            Some(Stage2::Tftp(at.pack(c.class)))
        }
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
