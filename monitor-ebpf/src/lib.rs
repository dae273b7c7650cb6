//! Kernel-side helpers for the pxe-monitor programs in `main.rs`.
#![no_std]

use aya_ebpf::{cty::c_void, helpers::generated::bpf_probe_read_kernel};
use monitor_common::Frame;

/// Frames at most this long are read; offsets past it are refused before
/// any pointer arithmetic so the verifier sees a bounded offset.
pub const MAX_OFFSET: usize = 0x3fff;

/// Packet memory between `data` and `data_end`, as an XDP or TC program
/// sees it.
pub struct PacketFrame {
    start: usize,
    end: usize,
}

impl PacketFrame {
    #[inline(always)]
    pub fn new(start: usize, end: usize) -> Self {
        PacketFrame { start, end }
    }

    #[inline(always)]
    pub fn size(&self) -> usize {
        self.end - self.start
    }
}

impl Frame for PacketFrame {
    #[inline(always)]
    fn array<const N: usize>(&self, offset: usize) -> Option<&[u8; N]> {
        // `black_box`: LLVM would otherwise merge this test with the
        // caller's tests on `offset` into wrapping arithmetic whose bounds
        // the verifier cannot follow.
        let offset = monitor_common::frame::opaque(offset);
        if offset > MAX_OFFSET {
            return None;
        }
        let p = self.start + offset;
        // Keep the `p + size > end` shape: for 1-byte reads LLVM would turn
        // it into `p >= end`, which loses the verifier's packet range.
        if monitor_common::frame::opaque(p + N) > self.end {
            return None;
        }
        // SAFETY: `p .. p + N` lies inside the packet (checked against
        // `data_end` just above), packet memory is readable for the whole
        // program run, and `[u8; N]` has alignment 1.
        Some(unsafe { &*(p as *const [u8; N]) })
    }

    #[inline(always)]
    fn copy_prefix<const N: usize>(&self, offset: usize, max: usize, out: &mut [u8; N]) -> usize {
        let offset = monitor_common::frame::opaque(offset);
        if offset > MAX_OFFSET {
            return 0;
        }
        let p = self.start + offset;
        if p >= self.end {
            return 0;
        }
        let mut n = max;
        if n > N {
            n = N;
        }
        if n > self.end - p {
            n = self.end - p;
        }
        // SAFETY: `out` has room for N >= n bytes; the source range
        // `p .. p + n` lies inside the packet (checked above), and
        // bpf_probe_read_kernel faults safely in any case.
        let ret = unsafe {
            bpf_probe_read_kernel(
                out.as_mut_ptr().cast::<c_void>(),
                n as u32,
                p as *const c_void,
            )
        };
        if ret == 0 { n } else { 0 }
    }
}
