//! Kernel-side helpers for the pxe-monitor programs in `main.rs`.
#![no_std]

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
        if offset > MAX_OFFSET {
            return None;
        }
        let p = self.start + offset;
        // Keep the `p + size > end` shape: for 1-byte reads LLVM would turn
        // it into `p >= end`, which loses the verifier's packet range.
        if core::hint::black_box(p + N) > self.end {
            return None;
        }
        // SAFETY: `p .. p + N` lies inside the packet (checked against
        // `data_end` just above), packet memory is readable for the whole
        // program run, and `[u8; N]` has alignment 1.
        Some(unsafe { &*(p as *const [u8; N]) })
    }
}
