//! Stages two and three: each three *global* BPF functions (one per
//! hook) that stage one in `main.rs`, or the stage before, calls with the
//! program's context and one packed argument (`monitor_common::stage`).
//! `dhcp.rs` parses a DHCP message and tracks PXE transactions, `icmp.rs`
//! reads an ICMP destination unreachable, `tftp.rs` follows TFTP requests
//! and transfers. Here: the macro that defines a stage per hook, the
//! context passed on, and the zeroing of ring-buffer records.

use aya_ebpf::{
    bindings::{__sk_buff, xdp_md},
    maps::ring_buf::RingBufEntry,
};

/// The context a stage-two or stage-three function was called with, to pass
/// on to the next stage.
#[derive(Clone, Copy)]
enum Ctx {
    Xdp(*mut xdp_md),
    TcEgress(*mut __sk_buff),
    TcIngress(*mut __sk_buff),
}

/// Defines a stage as three *global* BPF functions, one per hook (XDP, TC
/// egress, TC ingress), which the verifier checks once each with their
/// arguments unknown, instead of once for every path through the caller
/// that reaches them. Each builds the frame from its own context and runs
/// `$body(frame, arg, direction, ifindex, ctx)`, `arg` being the stage's
/// packed argument (`monitor_common::stage`); the direction is a constant
/// of each function, so the verifier never explores the other one.
/// Defined before the stage modules, which use it; paths are absolute so
/// that it expands the same in each.
macro_rules! stage {
    ($(#[$doc:meta])* $xdp:ident, $tc:ident, $tci:ident, $body:ident) => {
        $(#[$doc])*
        ///
        /// # Safety
        /// `ctx` must be the context of the running XDP program.
        #[unsafe(no_mangle)]
        #[inline(never)]
        pub unsafe extern "C" fn $xdp(
            ctx: *mut ::aya_ebpf::bindings::xdp_md,
            arg: u64,
        ) -> i32 {
            // SAFETY: called only by this object's XDP code with the
            // program's own context; the verifier checks the accesses.
            let (frame, ifindex) = unsafe {
                let c = &*ctx;
                (
                    ::monitor_ebpf::PacketFrame::new(c.data as usize, c.data_end as usize),
                    c.ingress_ifindex,
                )
            };
            // `black_box`: an argument the body ignores would be dropped by
            // LLVM, and the verifier refuses the call ("not a scalar").
            $body(
                &frame,
                ::core::hint::black_box(arg),
                ::monitor_common::counters::Direction::Ingress,
                ifindex,
                $crate::stage::Ctx::Xdp(ctx),
            );
            0
        }

        stage!(@tc $(#[$doc])* $tc, Egress, TcEgress, $body);
        stage!(@tc $(#[$doc])* $tci, Ingress, TcIngress, $body);
    };
    (@tc $(#[$doc:meta])* $name:ident, $dir:ident, $ctx:ident, $body:ident) => {
        $(#[$doc])*
        ///
        /// # Safety
        /// `skb` must be the context of the running TC program.
        #[unsafe(no_mangle)]
        #[inline(never)]
        pub unsafe extern "C" fn $name(
            skb: *mut ::aya_ebpf::bindings::__sk_buff,
            arg: u64,
        ) -> i32 {
            // SAFETY: called only by this object's TC code with the
            // program's own context; the verifier checks the accesses.
            let (frame, ifindex) = unsafe {
                let s = &*skb;
                (
                    ::monitor_ebpf::PacketFrame::new(s.data as usize, s.data_end as usize),
                    s.ifindex,
                )
            };
            $body(
                &frame,
                ::core::hint::black_box(arg),
                ::monitor_common::counters::Direction::$dir,
                ifindex,
                $crate::stage::Ctx::$ctx(skb),
            );
            0
        }
    };
}

pub mod dhcp;
pub mod dhcp6;
pub mod http;
pub mod icmp;
pub mod tftp;

/// `words` 8-byte words at `w` set to zero.
///
/// # Safety
/// `w` must be valid for writes of `words` words, 8-byte aligned.
#[inline(always)]
pub(crate) unsafe fn zero_words(w: *mut u64, words: usize) {
    for i in 0..words {
        // SAFETY: inside the range the caller vouches for. Volatile word
        // stores: `write_bytes` becomes a memset byte loop that the verifier
        // walks byte by byte.
        unsafe { core::ptr::write_volatile(w.add(i), 0) };
    }
}

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
    // SAFETY: `rec` points at memory reserved for one `T`, 8-byte aligned,
    // a whole number of words long (caller's promise); once zeroed it is a
    // valid `T` (caller's promise).
    unsafe {
        zero_words(rec.cast::<u64>(), size_of::<T>() / 8);
        &mut *rec
    }
}
