//! How a classifier reads bytes out of a frame.

/// Read access to one frame (starting at the Ethernet header).
///
/// Implementations return `None` for any range that is not entirely inside
/// the frame; no reader ever panics. The kernel implementation bounds-checks
/// each read against `data_end` in the shape the verifier accepts; the host
/// implementation is a checked slice.
/// `x`, with LLVM unable to see where it came from: a barrier that keeps
/// it from merging bounds tests into forms the verifier cannot follow
/// (docs/ebpf-notes.md). In BPF an `asm!` move of the register to itself; `core::hint::black_box` instead goes through the stack,
/// a store and a load at every use (measured: docs/ebpf-notes.md).
/// Elsewhere, `black_box`.
#[inline(always)]
pub fn opaque(x: usize) -> usize {
    #[cfg(target_arch = "bpf")]
    {
        let mut x = x;
        // One `mov` of the register to itself (an empty template would
        // leave two BTF line records at one instruction, which the kernel
        // refuses).
        // SAFETY: the instruction reads and writes no memory and leaves
        // the register as it was.
        unsafe { core::arch::asm!("{0} = {0}", inout(reg) x, options(nomem, nostack)) };
        x
    }
    #[cfg(not(target_arch = "bpf"))]
    {
        core::hint::black_box(x)
    }
}

pub trait Frame {
    /// `N` bytes at `offset`, or `None` if the frame is shorter.
    fn array<const N: usize>(&self, offset: usize) -> Option<&[u8; N]>;

    /// Copies `min(max, N, bytes left in the frame)` bytes from `offset`
    /// into the start of `out` and returns how many; the rest of `out` is
    /// untouched. In the kernel this is one helper call instead of a loop
    /// (a byte loop with early exits multiplies the verifier's states).
    fn copy_prefix<const N: usize>(&self, offset: usize, max: usize, out: &mut [u8; N]) -> usize;
}

impl Frame for [u8] {
    #[inline]
    fn array<const N: usize>(&self, offset: usize) -> Option<&[u8; N]> {
        let end = offset.checked_add(N)?;
        self.get(offset..end)?.try_into().ok()
    }

    fn copy_prefix<const N: usize>(&self, offset: usize, max: usize, out: &mut [u8; N]) -> usize {
        let avail = self.len().saturating_sub(offset);
        let n = max.min(N).min(avail);
        if n > 0 {
            out[..n].copy_from_slice(&self[offset..offset + n]);
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::Frame;

    #[test]
    fn slice_reads_are_checked() {
        let bytes = [1u8, 2, 3, 4];
        assert_eq!(bytes[..].array::<2>(2), Some(&[3, 4]));
        assert_eq!(bytes[..].array::<2>(3), None);
        assert_eq!(bytes[..].array::<1>(usize::MAX), None);
        assert_eq!(bytes[..].array::<0>(4), Some(&[]));
        let mut out = [9u8; 3];
        assert_eq!(bytes[..].copy_prefix(1, 10, &mut out), 3);
        assert_eq!(out, [2, 3, 4]);
        let mut out = [9u8; 3];
        assert_eq!(
            bytes[..].copy_prefix(3, 10, &mut out),
            1,
            "cut at the frame's end"
        );
        assert_eq!(out, [4, 9, 9]);
        assert_eq!(bytes[..].copy_prefix(1, 2, &mut out), 2, "cut at max");
        assert_eq!(bytes[..].copy_prefix(9, 2, &mut out), 0, "past the end");
    }
}
