//! Reading capture files (pcap and pcapng) into frames with their capture
//! time, and turning the link types pxe-monitor reads into Ethernet.
//!
//! pcapng timestamps are counted in units each interface names
//! (`if_tsresol`: 10^-6 s when absent, as Wireshark and dumpcap write
//! them; 10^-9, 2^-n ...) from an offset (`if_tsoffset`, seconds);
//! pcap-file hands the raw count out as if it were nanoseconds, so it is
//! converted here per interface.

use std::{
    borrow::Cow,
    fs::File,
    io::{self, Read},
    path::{Path, PathBuf},
    time::Duration,
};

use pcap_file::{
    DataLink, Endianness, TsResolution,
    pcap::PcapParser,
    pcapng::{Block, PcapNgParser, blocks::interface_description::InterfaceDescriptionOption},
};
use thiserror::Error;

/// One captured frame.
#[derive(Clone, Debug)]
pub struct Packet {
    /// Capture time since the Unix epoch.
    pub timestamp: Duration,
    pub link: DataLink,
    /// The captured bytes (may be shorter than `orig_len` with a snaplen).
    pub data: Vec<u8>,
    pub orig_len: u32,
}

impl Packet {
    pub fn is_ethernet(&self) -> bool {
        self.link == DataLink::ETHERNET
    }
}

#[derive(Debug, Error)]
pub enum CaptureError {
    #[error("cannot open {path}: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is empty: a capture file holds at least a pcap or pcapng header")]
    Empty { path: PathBuf },
    #[error("{path} is not a pcap or pcapng file: {source}")]
    Format {
        path: PathBuf,
        source: pcap_file::PcapError,
    },
    #[error("{path}: damaged after {frames} frames: {source}")]
    Damaged {
        path: PathBuf,
        frames: usize,
        source: pcap_file::PcapError,
    },
}

const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];

/// One frame as the reader hands it out, borrowed from its buffer.
#[derive(Clone, Copy, Debug)]
pub struct PacketRef<'a> {
    pub timestamp: Duration,
    pub link: DataLink,
    pub data: &'a [u8],
    pub orig_len: u32,
}

impl PacketRef<'_> {
    pub fn to_owned(&self) -> Packet {
        Packet {
            timestamp: self.timestamp,
            link: self.link,
            data: self.data.to_vec(),
            orig_len: self.orig_len,
        }
    }
}

/// Whether frames of this link type can be read as Ethernet.
pub fn link_supported(link: DataLink) -> bool {
    matches!(
        link,
        DataLink::ETHERNET
            | DataLink::LINUX_SLL
            | DataLink::LINUX_SLL2
            | DataLink::NULL
            | DataLink::LOOP
    )
}

/// The frame as Ethernet: Ethernet as it is; Linux cooked (SLL, SLL2) and
/// BSD loopback captures get an Ethernet header built from their protocol
/// field. `None` for other link types, and for frames too short for their
/// link header or (loopback) not IPv4.
pub fn ethernet_frame<'a>(p: &PacketRef<'a>) -> Option<Cow<'a, [u8]>> {
    let with_ethertype = |ethertype: [u8; 2], rest: &[u8]| {
        let mut f = Vec::with_capacity(14 + rest.len());
        f.extend_from_slice(&[0; 12]);
        f.extend_from_slice(&ethertype);
        f.extend_from_slice(rest);
        Cow::Owned(f)
    };
    let d = p.data;
    match p.link {
        DataLink::ETHERNET => Some(Cow::Borrowed(d)),
        // 16-byte header, protocol at 14.
        DataLink::LINUX_SLL if d.len() >= 16 => Some(with_ethertype([d[14], d[15]], &d[16..])),
        // 20-byte header, protocol at 0.
        DataLink::LINUX_SLL2 if d.len() >= 20 => Some(with_ethertype([d[0], d[1]], &d[20..])),
        // 4-byte address family (host or network order): 2 is IPv4.
        DataLink::NULL | DataLink::LOOP if d.len() >= 4 => {
            let family = u32::from_le_bytes([d[0], d[1], d[2], d[3]]);
            let ipv4 = family == 2 || family.swap_bytes() == 2;
            ipv4.then(|| with_ethertype([0x08, 0x00], &d[4..]))
        }
        _ => None,
    }
}

/// Reads every frame of a pcap or pcapng file into memory.
pub fn read_file(path: &Path) -> Result<Vec<Packet>, CaptureError> {
    let mut out = Vec::new();
    for_each(path, |p| out.push(p.to_owned()))?;
    Ok(out)
}

/// How one pcapng interface counts time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TsUnits {
    /// `if_tsresol`: bit 7 clear, units of 10^-n s; set, 2^-n s.
    pub resol: u8,
    /// `if_tsoffset`: seconds added to every timestamp.
    pub offset_s: i64,
}

impl Default for TsUnits {
    /// What an interface without the options counts in: microseconds.
    fn default() -> Self {
        TsUnits {
            resol: 6,
            offset_s: 0,
        }
    }
}

impl TsUnits {
    fn of(options: &[InterfaceDescriptionOption<'_>]) -> Self {
        let mut t = TsUnits::default();
        for o in options {
            match o {
                InterfaceDescriptionOption::IfTsResol(r) => t.resol = *r,
                // A signed count of seconds, stored as 64 bits.
                InterfaceDescriptionOption::IfTsOffset(s) => t.offset_s = *s as i64,
                _ => {}
            }
        }
        t
    }

    /// A raw timestamp as time since the epoch (saturating where a crafted
    /// resolution or offset would overflow).
    pub fn to_duration(self, raw: u64) -> Duration {
        let raw = u128::from(raw);
        let n = u32::from(self.resol & 0x7f);
        let nanos: u128 = if self.resol & 0x80 == 0 {
            if n <= 9 {
                raw.saturating_mul(10u128.pow(9 - n))
            } else {
                raw / 10u128.checked_pow(n - 9).unwrap_or(u128::MAX)
            }
        } else if n < 64 {
            raw.saturating_mul(1_000_000_000) >> n
        } else {
            0
        };
        let offset = i128::from(self.offset_s) * 1_000_000_000;
        let total = (nanos as i128).saturating_add(offset).max(0);
        let total = u64::try_from(total).unwrap_or(u64::MAX);
        Duration::from_nanos(total)
    }
}

/// The largest record read (a pcap packet record or a pcapng block, its
/// headers included): 8 MiB, what pcap-file's own reader held, 32 times
/// Wireshark's largest snap length. A length field claiming more is
/// damage, not a reason to allocate.
pub const MAX_RECORD: usize = 8 << 20;

/// How much a file is read at a time.
const FILE_CHUNK: usize = 1 << 20;

/// The records of a capture, read in turn: the buffer holds the record at
/// hand and what the last read brought after it; it grows only to hold a
/// record larger than itself, to at most [`MAX_RECORD`], and only as the
/// record's bytes arrive.
struct Records<R> {
    src: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl<R: Read> Records<R> {
    fn new(src: R, chunk: usize) -> Self {
        Records {
            src,
            buf: vec![0; chunk.clamp(64, MAX_RECORD)],
            start: 0,
            end: 0,
        }
    }

    /// Whether the next `n` bytes (`n` <= [`MAX_RECORD`]) are buffered,
    /// reading as needed; false when the input ends first. The buffer
    /// doubles only when it is full of bytes read, so a length field
    /// claiming more than the input holds costs no more than the input.
    fn fill(&mut self, n: usize) -> io::Result<bool> {
        debug_assert!(n <= MAX_RECORD);
        while self.end - self.start < n {
            if self.end == self.buf.len() {
                if self.start > 0 {
                    self.buf.copy_within(self.start..self.end, 0);
                    self.end -= self.start;
                    self.start = 0;
                } else {
                    let grown = (self.buf.len() * 2).min(n.max(self.buf.len()));
                    self.buf.resize(grown, 0);
                }
                continue;
            }
            match self.src.read(&mut self.buf[self.end..]) {
                Ok(0) => return Ok(false),
                Ok(k) => self.end += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    /// [`fill`](Self::fill), the input ending first an error.
    fn need(&mut self, n: usize) -> io::Result<()> {
        if self.fill(n)? {
            Ok(())
        } else {
            Err(io::ErrorKind::UnexpectedEof.into())
        }
    }

    /// The buffered bytes from the current position.
    fn peek(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// The next `n` bytes, buffered by [`fill`](Self::fill) before.
    fn take(&mut self, n: usize) -> &[u8] {
        let at = self.start;
        self.start += n;
        &self.buf[at..at + n]
    }
}

/// Calls `f` for every frame of a pcap or pcapng file, in order, without
/// keeping them (large captures); returns the number of frames.
pub fn for_each(path: &Path, f: impl FnMut(PacketRef<'_>)) -> Result<usize, CaptureError> {
    let file = File::open(path).map_err(|e| CaptureError::Open {
        path: path.to_owned(),
        source: e,
    })?;
    for_each_in(file, path, FILE_CHUNK, f)
}

/// [`for_each`] on any reader (`path` names it in errors), read `chunk`
/// bytes at a time: the fuzz target feeds it bytes.
pub fn for_each_in(
    src: impl Read,
    path: &Path,
    chunk: usize,
    mut f: impl FnMut(PacketRef<'_>),
) -> Result<usize, CaptureError> {
    let mut r = Records::new(src, chunk);
    let io = |e: io::Error| CaptureError::Open {
        path: path.to_owned(),
        source: e,
    };
    let format = |e| CaptureError::Format {
        path: path.to_owned(),
        source: e,
    };
    let damaged = |frames, e| CaptureError::Damaged {
        path: path.to_owned(),
        frames,
        source: e,
    };
    let damaged_io = |frames, e| damaged(frames, pcap_file::PcapError::IoError(e));
    if !r.fill(1).map_err(io)? {
        return Err(CaptureError::Empty {
            path: path.to_owned(),
        });
    }
    r.fill(PCAPNG_MAGIC.len()).map_err(io)?;
    let mut n = 0;
    if r.peek().starts_with(&PCAPNG_MAGIC) {
        // The first block is a section header; its own byte-order magic
        // says how its length is written.
        let short = |e| format(pcap_file::PcapError::IoError(e));
        r.need(12).map_err(short)?;
        let first = match block_len(r.peek(), None) {
            Some(Ok(len)) => len,
            Some(Err(e)) => return Err(format(e)),
            None => return Err(short(io::ErrorKind::UnexpectedEof.into())),
        };
        r.need(first).map_err(short)?;
        let (_, mut parser) = PcapNgParser::new(r.take(first)).map_err(format)?;
        // Each interface of the current section: its link type and units.
        let mut interfaces: Vec<(DataLink, TsUnits)> = Vec::new();
        let mut endianness = parser.section().endianness;
        let interface = |interfaces: &[(DataLink, TsUnits)], id: usize| {
            interfaces
                .get(id)
                .copied()
                .unwrap_or((DataLink::ETHERNET, TsUnits::default()))
        };
        while r.fill(1).map_err(|e| damaged_io(n, e))? {
            r.need(12).map_err(|e| damaged_io(n, e))?;
            let len = match block_len(r.peek(), Some(endianness)) {
                Some(Ok(len)) => len,
                Some(Err(e)) => return Err(damaged(n, e)),
                None => return Err(damaged_io(n, io::ErrorKind::UnexpectedEof.into())),
            };
            r.need(len).map_err(|e| damaged_io(n, e))?;
            let (_, block) = parser.next_block(r.take(len)).map_err(|e| damaged(n, e))?;
            let (timestamp, link, orig_len, data) = match &block {
                Block::SectionHeader(s) => {
                    interfaces.clear();
                    endianness = s.endianness;
                    continue;
                }
                Block::InterfaceDescription(i) => {
                    interfaces.push((i.linktype, TsUnits::of(&i.options)));
                    continue;
                }
                Block::EnhancedPacket(p) => {
                    let (link, units) = interface(&interfaces, p.interface_id as usize);
                    // pcap-file hands out the raw 64-bit count as nanoseconds.
                    let raw = u64::try_from(p.timestamp.as_nanos()).unwrap_or(u64::MAX);
                    (units.to_duration(raw), link, p.original_len, &p.data)
                }
                Block::Packet(p) => {
                    // The obsolete Packet Block: pcap-file reads its two
                    // 32-bit halves (high, then low) as one integer, which
                    // swaps them in a little-endian section.
                    let raw = match endianness {
                        Endianness::Big => p.timestamp,
                        Endianness::Little => p.timestamp.rotate_left(32),
                    };
                    let (link, units) = interface(&interfaces, p.interface_id.into());
                    (units.to_duration(raw), link, p.original_len, &p.data)
                }
                // No timestamp: the capture's clock stands still.
                Block::SimplePacket(p) => {
                    let (link, _) = interface(&interfaces, 0);
                    (Duration::ZERO, link, p.original_len, &p.data)
                }
                _ => continue,
            };
            f(PacketRef {
                timestamp,
                link,
                orig_len,
                data,
            });
            n += 1;
        }
    } else {
        r.need(PCAP_HEADER_LEN)
            .map_err(|e| format(pcap_file::PcapError::IoError(e)))?;
        let (_, parser) = PcapParser::new(r.take(PCAP_HEADER_LEN)).map_err(format)?;
        let header = parser.header();
        let frac_ns = match header.ts_resolution {
            TsResolution::MicroSecond => 1_000,
            TsResolution::NanoSecond => 1,
        };
        while r.fill(1).map_err(|e| damaged_io(n, e))? {
            r.need(PCAP_RECORD_HEADER_LEN)
                .map_err(|e| damaged_io(n, e))?;
            let h = &r.peek()[8..12];
            let captured = match header.endianness {
                Endianness::Big => u32::from_be_bytes([h[0], h[1], h[2], h[3]]),
                Endianness::Little => u32::from_le_bytes([h[0], h[1], h[2], h[3]]),
            } as usize;
            let len = PCAP_RECORD_HEADER_LEN + captured;
            if len > MAX_RECORD {
                return Err(damaged(n, too_large()));
            }
            r.need(len).map_err(|e| damaged_io(n, e))?;
            // Raw packets: pcap-file's checked conversion refuses a frame
            // whose original length exceeds the snap length, which is
            // exactly what a capture with a small snaplen holds.
            let (_, p) = parser
                .next_raw_packet(r.take(len))
                .map_err(|e| damaged(n, e))?;
            let nanos = u64::from(p.ts_frac) * frac_ns;
            f(PacketRef {
                timestamp: Duration::from_secs(u64::from(p.ts_sec)) + Duration::from_nanos(nanos),
                link: header.datalink,
                orig_len: p.orig_len,
                data: &p.data,
            });
            n += 1;
        }
    }
    Ok(n)
}

const PCAP_HEADER_LEN: usize = 24;
const PCAP_RECORD_HEADER_LEN: usize = 16;

fn too_large() -> pcap_file::PcapError {
    pcap_file::PcapError::InvalidField("a record longer than 8 MiB (MAX_RECORD)")
}

/// The length of the pcapng block at the start of `b`, read in the
/// section's byte order (`None`: a section header, whose own byte-order
/// magic says): `None` when fewer than 12 bytes are there, an error for a
/// length no block can have (under 12, not a multiple of 4, or over
/// [`MAX_RECORD`]).
fn block_len(b: &[u8], section: Option<Endianness>) -> Option<Result<usize, pcap_file::PcapError>> {
    let b = b.get(..12)?;
    let field = |at: usize| [b[at], b[at + 1], b[at + 2], b[at + 3]];
    let order = if b[..4] == PCAPNG_MAGIC || section.is_none() {
        match field(8) {
            [0x1a, 0x2b, 0x3c, 0x4d] => Endianness::Big,
            [0x4d, 0x3c, 0x2b, 0x1a] => Endianness::Little,
            _ => {
                return Some(Err(pcap_file::PcapError::InvalidField(
                    "SectionHeaderBlock: wrong magic number",
                )));
            }
        }
    } else {
        section.unwrap_or(Endianness::Big)
    };
    let len = match order {
        Endianness::Big => u32::from_be_bytes(field(4)),
        Endianness::Little => u32::from_le_bytes(field(4)),
    } as usize;
    Some(if len < 12 || !len.is_multiple_of(4) {
        Err(pcap_file::PcapError::InvalidField(
            "a block length under 12 or not a multiple of 4",
        ))
    } else if len > MAX_RECORD {
        Err(too_large())
    } else {
        Ok(len)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_units() {
        let s = 1_700_000_000u64;
        let at = |resol, offset_s, raw| TsUnits { resol, offset_s }.to_duration(raw);
        assert_eq!(at(6, 0, s * 1_000_000 + 5), Duration::new(s, 5_000));
        assert_eq!(at(9, 0, s * 1_000_000_000 + 5), Duration::new(s, 5));
        assert_eq!(at(3, 0, s * 1_000 + 5), Duration::new(s, 5_000_000));
        // 2^-20 s units: 2^20 units are one second.
        assert_eq!(at(0x80 | 20, 0, s << 20), Duration::new(s, 0));
        assert_eq!(at(6, 100, 0), Duration::from_secs(100));
        assert_eq!(at(6, -100, 50_000_000), Duration::ZERO);
        // Crafted options saturate, never panic.
        let _ = at(0x7f, i64::MAX, u64::MAX);
        let _ = at(0xff, i64::MIN, u64::MAX);
        let _ = at(0, i64::MAX, u64::MAX);
    }
}
