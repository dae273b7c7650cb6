//! TCP header (RFC 9293): ports, sequence and acknowledgement numbers,
//! data offset and flags. Options are skipped, not read: the data offset
//! says where the payload starts.

use super::ParseError;
use crate::frame::Frame;

pub mod field {
    pub const SOURCE_PORT: usize = 0;
    pub const DESTINATION_PORT: usize = 2;
    pub const SEQ: usize = 4;
    pub const ACK: usize = 8;
    pub const DATA_OFFSET: usize = 12;
    pub const FLAGS: usize = 13;
}

/// The fixed header, without options.
pub const MIN_HEADER_LEN: usize = 20;

/// Bits of the flags byte.
pub mod flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
}

/// HTTP's registered ports, followed without configuration.
pub const PORT_HTTP: u16 = 80;
pub const PORT_HTTP_ALT: u16 = 8080;
pub const PORT_HTTPS: u16 = 443;

/// Which kind of web port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Web {
    Http = 1,
    /// Connection-level only: the payload is encrypted.
    Https = 2,
}

impl Web {
    pub const ALL: [Web; 2] = [Web::Http, Web::Https];

    /// The URL scheme: a metric label.
    pub const fn label(self) -> &'static str {
        match self {
            Web::Http => "http",
            Web::Https => "https",
        }
    }
}

/// The fixed 20 bytes of a TCP header; `new_checked` also makes sure the
/// options the data offset announces are inside the frame.
#[derive(Clone, Copy)]
pub struct Header<'a>(&'a [u8; MIN_HEADER_LEN]);

impl<'a> Header<'a> {
    #[inline(always)]
    pub fn new_checked<F: Frame + ?Sized>(frame: &'a F, offset: usize) -> Result<Self, ParseError> {
        let h = frame
            .array::<MIN_HEADER_LEN>(offset)
            .map(Header)
            .ok_or(ParseError::TruncatedTcp)?;
        if h.header_len() < MIN_HEADER_LEN {
            return Err(ParseError::BadTcpHeader);
        }
        // The last byte of the options must be in the frame.
        if frame.array::<1>(offset + h.header_len() - 1).is_none() {
            return Err(ParseError::TruncatedTcp);
        }
        Ok(h)
    }

    #[inline(always)]
    pub fn source_port(&self) -> u16 {
        super::be16([self.0[field::SOURCE_PORT], self.0[field::SOURCE_PORT + 1]])
    }

    #[inline(always)]
    pub fn destination_port(&self) -> u16 {
        super::be16([
            self.0[field::DESTINATION_PORT],
            self.0[field::DESTINATION_PORT + 1],
        ])
    }

    #[inline(always)]
    pub fn seq(&self) -> u32 {
        let s = field::SEQ;
        u32::from_be_bytes([self.0[s], self.0[s + 1], self.0[s + 2], self.0[s + 3]])
    }

    #[inline(always)]
    pub fn ack(&self) -> u32 {
        let a = field::ACK;
        u32::from_be_bytes([self.0[a], self.0[a + 1], self.0[a + 2], self.0[a + 3]])
    }

    /// Header length in bytes, options included (20..=60).
    #[inline(always)]
    pub fn header_len(&self) -> usize {
        ((self.0[field::DATA_OFFSET] >> 4) as usize) * 4
    }

    /// The flags byte ([`flags`]).
    #[inline(always)]
    pub fn flags(&self) -> u8 {
        self.0[field::FLAGS]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(data_offset_words: u8, flags_byte: u8) -> [u8; 24] {
        let mut h = [0u8; 24];
        h[0..2].copy_from_slice(&49152u16.to_be_bytes());
        h[2..4].copy_from_slice(&80u16.to_be_bytes());
        h[4..8].copy_from_slice(&0x0102_0304u32.to_be_bytes());
        h[8..12].copy_from_slice(&0xa0b0_c0d0u32.to_be_bytes());
        h[12] = data_offset_words << 4;
        h[13] = flags_byte;
        h
    }

    #[test]
    fn fields_are_read() {
        let h = header(6, flags::SYN | flags::ACK);
        let t = Header::new_checked(&h[..], 0).unwrap();
        assert_eq!((t.source_port(), t.destination_port()), (49152, 80));
        assert_eq!((t.seq(), t.ack()), (0x0102_0304, 0xa0b0_c0d0));
        assert_eq!((t.header_len(), t.flags()), (24, flags::SYN | flags::ACK));
    }

    #[test]
    fn short_headers_and_options_are_refused() {
        let h = header(5, 0);
        assert_eq!(
            Header::new_checked(&h[..19], 0).err(),
            Some(ParseError::TruncatedTcp)
        );
        assert_eq!(
            Header::new_checked(&header(4, 0)[..], 0).err(),
            Some(ParseError::BadTcpHeader)
        );
        // Options announced (data offset 6 words) but cut.
        assert_eq!(
            Header::new_checked(&header(6, 0)[..23], 0).err(),
            Some(ParseError::TruncatedTcp)
        );
        assert!(Header::new_checked(&header(6, 0)[..24], 0).is_ok());
    }
}
