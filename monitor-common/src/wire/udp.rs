//! UDP header (RFC 768).

use super::ParseError;
use crate::frame::Frame;

pub mod field {
    pub const SOURCE_PORT: usize = 0;
    pub const DESTINATION_PORT: usize = 2;
    pub const LENGTH: usize = 4;
}

pub const HEADER_LEN: usize = 8;

pub const PORT_DHCP_SERVER: u16 = 67;
pub const PORT_DHCP_CLIENT: u16 = 68;
pub const PORT_TFTP: u16 = 69;
pub const PORT_PXE: u16 = 4011;
pub const PORT_DHCPV6_CLIENT: u16 = 546;
pub const PORT_DHCPV6_SERVER: u16 = 547;

#[derive(Clone, Copy)]
pub struct Header<'a>(&'a [u8; HEADER_LEN]);

impl<'a> Header<'a> {
    #[inline(always)]
    pub fn new_checked<F: Frame + ?Sized>(frame: &'a F, offset: usize) -> Result<Self, ParseError> {
        let h = frame
            .array::<HEADER_LEN>(offset)
            .map(Header)
            .ok_or(ParseError::TruncatedUdp)?;
        if h.length() < HEADER_LEN {
            return Err(ParseError::BadUdpLength);
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

    pub fn length(&self) -> usize {
        super::be16([self.0[field::LENGTH], self.0[field::LENGTH + 1]]) as usize
    }
}
