//! ICMP (RFC 792) and ICMPv6 (RFC 4443): destination unreachable, with the
//! datagram it quotes.

use super::{ParseError, ipv4, ipv6};
use crate::frame::Frame;

pub mod field {
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    /// The quoted datagram (IPv4 header + at least 8 bytes) follows the
    /// 8-byte ICMP header.
    pub const QUOTED: usize = 8;
}

pub const HEADER_LEN: usize = 8;
pub const TYPE_DEST_UNREACHABLE: u8 = 3;
/// Code 3: nothing listens on the quoted UDP port.
pub const CODE_PORT_UNREACHABLE: u8 = 3;
/// ICMPv6 destination unreachable, and its code 4: port unreachable.
pub const TYPE6_DEST_UNREACHABLE: u8 = 1;
pub const CODE6_PORT_UNREACHABLE: u8 = 4;

#[derive(Clone, Copy)]
pub struct Header<'a>(&'a [u8; HEADER_LEN]);

impl<'a> Header<'a> {
    #[inline(always)]
    pub fn new_checked<F: Frame + ?Sized>(frame: &'a F, offset: usize) -> Result<Self, ParseError> {
        frame
            .array::<HEADER_LEN>(offset)
            .map(Header)
            .ok_or(ParseError::TruncatedIcmp)
    }

    pub fn icmp_type(&self) -> u8 {
        self.0[field::TYPE]
    }

    pub fn code(&self) -> u8 {
        self.0[field::CODE]
    }
}

/// The UDP datagram a destination-unreachable message quotes (IPv4
/// addresses by default).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuotedUdp<A = [u8; 4]> {
    pub src: A,
    pub dst: A,
    pub src_port: u16,
    pub dst_port: u16,
}

/// The UDP datagram an ICMPv6 destination unreachable quotes.
pub type QuotedUdp6 = QuotedUdp<[u8; 16]>;

/// Reads the quoted IPv4 header (options included) and the first 8 bytes
/// of the quoted UDP header. `Ok(None)` when the quoted datagram is not
/// UDP.
#[inline(always)]
pub fn quoted_udp<F: Frame + ?Sized>(
    frame: &F,
    icmp_at: usize,
) -> Result<Option<QuotedUdp>, ParseError> {
    let at = icmp_at + field::QUOTED;
    let ip = ipv4::Header::new_checked(frame, at).map_err(|_| ParseError::TruncatedIcmp)?;
    if ip.protocol() != ipv4::Protocol::Udp {
        return Ok(None);
    }
    let udp = frame
        .array::<4>(at + ip.header_len())
        .ok_or(ParseError::TruncatedIcmp)?;
    Ok(Some(QuotedUdp {
        src: ip.source(),
        dst: ip.destination(),
        src_port: u16::from_be_bytes([udp[0], udp[1]]),
        dst_port: u16::from_be_bytes([udp[2], udp[3]]),
    }))
}

/// Reads the quoted IPv6 header, its extension headers (the same bounded
/// walk as for a packet of its own) and the first 4 bytes of the quoted
/// UDP header. `Ok(None)` when the quoted packet is not UDP, or a later
/// fragment.
#[inline(always)]
pub fn quoted_udp6<F: Frame + ?Sized>(
    frame: &F,
    icmp_at: usize,
) -> Result<Option<QuotedUdp6>, ParseError> {
    let at = icmp_at + field::QUOTED;
    let ip = ipv6::Header::new_checked(frame, at).map_err(|_| ParseError::TruncatedIcmp)?;
    let upper = ipv6::upper(frame, at, ip.next_header()).map_err(|_| ParseError::TruncatedIcmp)?;
    if upper.later_fragment || upper.protocol != ipv6::UDP {
        return Ok(None);
    }
    let udp = frame
        .array::<4>(upper.offset)
        .ok_or(ParseError::TruncatedIcmp)?;
    Ok(Some(QuotedUdp {
        src: ip.source(),
        dst: ip.destination(),
        src_port: u16::from_be_bytes([udp[0], udp[1]]),
        dst_port: u16::from_be_bytes([udp[2], udp[3]]),
    }))
}
