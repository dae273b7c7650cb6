//! How a classifier reads bytes out of a frame.

/// Read access to one frame (starting at the Ethernet header).
///
/// Implementations return `None` for any range that is not entirely inside
/// the frame; no reader ever panics. The kernel implementation bounds-checks
/// each read against `data_end` in the shape the verifier accepts; the host
/// implementation is a checked slice.
pub trait Frame {
    /// `N` bytes at `offset`, or `None` if the frame is shorter.
    fn array<const N: usize>(&self, offset: usize) -> Option<&[u8; N]>;
}

impl Frame for [u8] {
    #[inline]
    fn array<const N: usize>(&self, offset: usize) -> Option<&[u8; N]> {
        let end = offset.checked_add(N)?;
        self.get(offset..end)?.try_into().ok()
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
    }
}
