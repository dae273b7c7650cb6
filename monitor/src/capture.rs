//! Reading capture files (pcap and pcapng) into frames.

use std::{
    fs::File,
    io::{BufReader, Read},
    path::{Path, PathBuf},
    time::Duration,
};

use pcap_file::{
    DataLink, TsResolution,
    pcap::PcapReader,
    pcapng::{Block, PcapNgReader},
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

/// Reads every frame of a pcap or pcapng file into memory.
pub fn read_file(path: &Path) -> Result<Vec<Packet>, CaptureError> {
    let mut out = Vec::new();
    for_each(path, |p| out.push(p.to_owned()))?;
    Ok(out)
}

/// Calls `f` for every frame of a pcap or pcapng file, in order, without
/// keeping them (large captures); returns the number of frames.
pub fn for_each(path: &Path, mut f: impl FnMut(PacketRef<'_>)) -> Result<usize, CaptureError> {
    let open = |e| CaptureError::Open {
        path: path.to_owned(),
        source: e,
    };
    let mut file = BufReader::new(File::open(path).map_err(open)?);
    let mut magic = [0u8; 4];
    file.read_exact(&mut magic).map_err(open)?;
    let file = BufReader::with_capacity(1 << 20, File::open(path).map_err(open)?);
    let format = |e| CaptureError::Format {
        path: path.to_owned(),
        source: e,
    };
    let damaged = |frames, e| CaptureError::Damaged {
        path: path.to_owned(),
        frames,
        source: e,
    };
    let mut n = 0;
    if magic == PCAPNG_MAGIC {
        let mut r = PcapNgReader::new(file).map_err(format)?;
        // Link type of each interface of the current section.
        let mut links: Vec<DataLink> = Vec::new();
        while let Some(block) = r.next_block() {
            let block = block.map_err(|e| damaged(n, e))?;
            if let Block::SectionHeader(_) = block {
                links.clear();
            } else if let Block::InterfaceDescription(i) = block {
                links.push(i.linktype);
            } else if let Block::EnhancedPacket(p) = block {
                let link = links
                    .get(p.interface_id as usize)
                    .copied()
                    .unwrap_or(DataLink::ETHERNET);
                f(PacketRef {
                    timestamp: p.timestamp,
                    link,
                    orig_len: p.original_len,
                    data: &p.data,
                });
                n += 1;
            }
        }
    } else {
        let mut r = PcapReader::new(file).map_err(format)?;
        let header = r.header();
        let frac_ns = match header.ts_resolution {
            TsResolution::MicroSecond => 1_000,
            TsResolution::NanoSecond => 1,
        };
        // Raw packets: pcap-file's checked conversion refuses a frame whose
        // original length exceeds the snap length, which is exactly what a
        // capture with a small snaplen holds.
        while let Some(p) = r.next_raw_packet() {
            let p = p.map_err(|e| damaged(n, e))?;
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
