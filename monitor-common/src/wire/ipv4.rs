//! IPv4 header (RFC 791), options included in its length.

use super::ParseError;
use crate::frame::Frame;

pub mod field {
    pub const VER_IHL: usize = 0;
    pub const TOTAL_LEN: usize = 2;
    pub const FLAGS_FRAG: usize = 6;
    pub const PROTOCOL: usize = 9;
    pub const SOURCE: usize = 12;
    pub const DESTINATION: usize = 16;
}

pub const MIN_HEADER_LEN: usize = 20;
pub const MAX_HEADER_LEN: usize = 60;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Icmp,
    Tcp,
    Udp,
    Unknown(u8),
}

impl From<u8> for Protocol {
    fn from(v: u8) -> Self {
        match v {
            1 => Protocol::Icmp,
            6 => Protocol::Tcp,
            17 => Protocol::Udp,
            other => Protocol::Unknown(other),
        }
    }
}

/// The fixed 20 bytes of an IPv4 header; `new_checked` also makes sure the
/// options the header length announces are inside the frame.
#[derive(Clone, Copy)]
pub struct Header<'a>(&'a [u8; MIN_HEADER_LEN]);

impl<'a> Header<'a> {
    #[inline(always)]
    pub fn new_checked<F: Frame + ?Sized>(frame: &'a F, offset: usize) -> Result<Self, ParseError> {
        let bytes = frame
            .array::<MIN_HEADER_LEN>(offset)
            .ok_or(ParseError::TruncatedIpv4)?;
        let h = Header(bytes);
        if h.version() != 4 || h.header_len() < MIN_HEADER_LEN || h.total_len() < h.header_len() {
            return Err(ParseError::BadIpv4Header);
        }
        // The last byte of the options must be in the frame.
        if frame.array::<1>(offset + h.header_len() - 1).is_none() {
            return Err(ParseError::TruncatedIpv4);
        }
        Ok(h)
    }

    pub fn version(&self) -> u8 {
        self.0[field::VER_IHL] >> 4
    }

    /// Header length in bytes, options included (20..=60).
    #[inline(always)]
    pub fn header_len(&self) -> usize {
        ((self.0[field::VER_IHL] & 0x0f) as usize) * 4
    }

    pub fn total_len(&self) -> usize {
        super::be16([self.0[field::TOTAL_LEN], self.0[field::TOTAL_LEN + 1]]) as usize
    }

    /// Fragment offset in bytes; non-zero for all but the first fragment.
    pub fn fragment_offset(&self) -> usize {
        ((super::be16([self.0[field::FLAGS_FRAG], self.0[field::FLAGS_FRAG + 1]]) & 0x1fff)
            as usize)
            * 8
    }

    pub fn protocol(&self) -> Protocol {
        Protocol::from(self.0[field::PROTOCOL])
    }

    pub fn source(&self) -> [u8; 4] {
        let s = field::SOURCE;
        [self.0[s], self.0[s + 1], self.0[s + 2], self.0[s + 3]]
    }

    pub fn destination(&self) -> [u8; 4] {
        let d = field::DESTINATION;
        [self.0[d], self.0[d + 1], self.0[d + 2], self.0[d + 3]]
    }
}
