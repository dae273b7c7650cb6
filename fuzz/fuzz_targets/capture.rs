//! The capture reader (`capture::for_each_in`, as `replay` reads a file) on
//! arbitrary bytes, delivered in reads of arbitrary sizes: it never panics;
//! every frame it hands out is bytes of the input, in order, none
//! overlapping; what it allocates is bounded by what it was given (a
//! record's buffer grows as its bytes arrive, to at most
//! `capture::MAX_RECORD`), whatever the length fields claim; it turns only
//! what it can into Ethernet.
#![no_main]

use std::{
    alloc::{GlobalAlloc, Layout, System},
    io::Read,
    path::Path,
    sync::atomic::{AtomicUsize, Ordering},
};

use libfuzzer_sys::fuzz_target;
use monitor::capture::{self, ethernet_frame, link_supported};
use pcap_file::DataLink;

/// The heap in use and its peak, so a run can check what the reader took.
struct Counting;

static IN_USE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is passed to the system allocator unchanged; the
// counters only observe the sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now = IN_USE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(now, Ordering::Relaxed);
        // SAFETY: the caller's layout, as GlobalAlloc::alloc requires.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        IN_USE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Hands the bytes out in reads whose sizes the input chose.
struct Chunked<'a> {
    data: &'a [u8],
    sizes: &'a [u8],
    turn: usize,
}

impl Read for Chunked<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let size = self
            .sizes
            .get(self.turn % self.sizes.len().max(1))
            .map_or(buf.len(), |s| usize::from(*s) + 1);
        self.turn += 1;
        let n = size.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

fuzz_target!(|input: &[u8]| {
    // The first byte: how many read sizes follow; then the capture.
    let (sizes, data) = match input.split_first() {
        Some((n, rest)) => rest.split_at(usize::from(*n % 8).min(rest.len())),
        None => (&[][..], input),
    };
    let src = Chunked {
        data,
        sizes,
        turn: 0,
    };
    let base = IN_USE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let mut from = 0usize;
    let mut frames = 0usize;
    let result = capture::for_each_in(src, Path::new("fuzz"), 256, |p| {
        frames += 1;
        // The frame is the next bytes of the input that hold it, after the
        // previous frame.
        let at = data[from..]
            .windows(p.data.len().max(1))
            .position(|w| p.data.is_empty() || w == p.data)
            .map(|i| from + i);
        let at = at.unwrap_or_else(|| {
            panic!(
                "frame {frames} ({} bytes) is not in the input after byte {from}",
                p.data.len()
            )
        });
        from = at + p.data.len();
        // Ethernet as it is; any other link's payload after a header made
        // for it.
        if let Some(f) = ethernet_frame(&p) {
            assert!(
                link_supported(p.link),
                "Ethernet made of an unsupported link type"
            );
            if p.link == DataLink::ETHERNET {
                assert_eq!(&*f, p.data);
            } else {
                assert!(
                    f.len() >= 14 && p.data.ends_with(&f[14..]),
                    "the payload changed"
                );
            }
        }
    });
    let took = PEAK.load(Ordering::Relaxed).saturating_sub(base);
    // The buffer (doubled only when full of bytes read: under twice the
    // input, three times while it moves), the parser's copies of the
    // section header and interfaces and the reader's list of interfaces
    // (each a fraction of the block it came from), and small change:
    // proportional to the input, never to what its length fields claim.
    let bound = 64 * 1024 + 32 * data.len();
    assert!(
        took <= bound,
        "the reader took {took} bytes for {} bytes of input (bound {bound})",
        data.len()
    );
    if let Ok(n) = result {
        assert_eq!(n, frames, "the count returned is the frames handed out");
    }
});
