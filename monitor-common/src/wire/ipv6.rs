//! IPv6 header (RFC 8200) and a bounded walk over its extension headers.

use super::ParseError;
use crate::frame::Frame;

pub mod field {
    pub const VERSION: usize = 0;
    pub const PAYLOAD_LEN: usize = 4;
    pub const NEXT_HEADER: usize = 6;
    pub const SOURCE: core::ops::Range<usize> = 8..24;
    pub const DESTINATION: core::ops::Range<usize> = 24..40;
}

pub const HEADER_LEN: usize = 40;

/// Next-header values the walk steps over.
pub const HOP_BY_HOP: u8 = 0;
pub const ROUTING: u8 = 43;
pub const FRAGMENT: u8 = 44;
pub const DESTINATION_OPTIONS: u8 = 60;
/// Next-header values the classifier reads.
pub const TCP: u8 = 6;
pub const UDP: u8 = 17;
pub const ICMPV6: u8 = 58;

/// Extension headers stepped over before giving up. RFC 8200 §4.1 orders
/// at most hop-by-hop, destination options, routing, fragment and
/// destination options again before the upper layer; DHCPv6 and TFTP
/// packets carry none in practice (the lab's OVMF and dnsmasq sent none).
/// A fixed bound keeps the kernel's walk a short unrolled loop.
pub const MAX_EXTENSIONS: usize = 4;

/// The 40-byte IPv6 header.
#[derive(Clone, Copy)]
pub struct Header<'a>(&'a [u8; HEADER_LEN]);

impl<'a> Header<'a> {
    #[inline(always)]
    pub fn new_checked<F: Frame + ?Sized>(frame: &'a F, offset: usize) -> Result<Self, ParseError> {
        let h = frame
            .array::<HEADER_LEN>(offset)
            .map(Header)
            .ok_or(ParseError::TruncatedIpv6)?;
        if h.0[field::VERSION] >> 4 != 6 {
            return Err(ParseError::BadIpv6Header);
        }
        Ok(h)
    }

    #[inline(always)]
    pub fn next_header(&self) -> u8 {
        self.0[field::NEXT_HEADER]
    }

    pub fn payload_len(&self) -> usize {
        super::be16([self.0[field::PAYLOAD_LEN], self.0[field::PAYLOAD_LEN + 1]]) as usize
    }

    pub fn source(&self) -> [u8; 16] {
        let mut a = [0; 16];
        a.copy_from_slice(&self.0[field::SOURCE]);
        a
    }

    pub fn destination(&self) -> [u8; 16] {
        let mut a = [0; 16];
        a.copy_from_slice(&self.0[field::DESTINATION]);
        a
    }
}

/// Where the upper-layer header of an IPv6 packet is, after the extension
/// headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Upper {
    /// The next-header value of the upper layer (UDP, TCP, ICMPv6, ...).
    pub protocol: u8,
    /// Its offset in the frame.
    pub offset: usize,
    /// A fragment header said this is not the first fragment: the upper
    /// layer's header is in another packet.
    pub later_fragment: bool,
}

/// An IPv4 address as an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`,
/// RFC 4291 2.5.5.2): the one 16-byte form that tables keyed by the
/// addresses of both families use.
#[inline(always)]
pub const fn v4_mapped(a: [u8; 4]) -> [u8; 16] {
    [
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, a[0], a[1], a[2], a[3],
    ]
}

/// The IPv4 address written as `::ffff:a.b.c.d` ([`v4_mapped`]), if it is
/// one.
pub fn mapped_v4(a: &[u8; 16]) -> Option<[u8; 4]> {
    (a[..10] == [0; 10] && a[10] == 0xff && a[11] == 0xff).then_some([a[12], a[13], a[14], a[15]])
}

/// Steps over up to [`MAX_EXTENSIONS`] extension headers (hop-by-hop,
/// routing, destination options: 8 bytes a unit; fragment: 8 bytes) from
/// the fixed header at `ip_at`. A chain longer than that is
/// [`ParseError::Ipv6ExtensionChain`]; one cut short is
/// [`ParseError::TruncatedIpv6`]. A later fragment ends the walk (its
/// upper layer is elsewhere).
#[inline(always)]
pub fn upper<F: Frame + ?Sized>(frame: &F, ip_at: usize, first: u8) -> Result<Upper, ParseError> {
    let mut protocol = first;
    let mut offset = ip_at + HEADER_LEN;
    for _ in 0..MAX_EXTENSIONS {
        match protocol {
            HOP_BY_HOP | ROUTING | DESTINATION_OPTIONS => {
                let h = frame.array::<2>(offset).ok_or(ParseError::TruncatedIpv6)?;
                protocol = h[0];
                offset += (h[1] as usize + 1) * 8;
            }
            FRAGMENT => {
                let h = frame.array::<8>(offset).ok_or(ParseError::TruncatedIpv6)?;
                // Offset in 8-byte units, the top 13 bits of bytes 2..4.
                if super::be16([h[2], h[3]]) >> 3 != 0 {
                    return Ok(Upper {
                        protocol: h[0],
                        offset: offset + 8,
                        later_fragment: true,
                    });
                }
                protocol = h[0];
                offset += 8;
            }
            _ => {
                return Ok(Upper {
                    protocol,
                    offset,
                    later_fragment: false,
                });
            }
        }
    }
    if matches!(
        protocol,
        HOP_BY_HOP | ROUTING | DESTINATION_OPTIONS | FRAGMENT
    ) {
        return Err(ParseError::Ipv6ExtensionChain);
    }
    Ok(Upper {
        protocol,
        offset,
        later_fragment: false,
    })
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::{vec, vec::Vec};

    /// An IPv6 header with `next` as its next header, then `rest`.
    fn packet(next: u8, rest: &[u8]) -> Vec<u8> {
        let mut p = vec![0x60, 0, 0, 0];
        p.extend_from_slice(&(rest.len() as u16).to_be_bytes());
        p.extend_from_slice(&[next, 64]);
        p.extend_from_slice(&[0xfe, 0x80]);
        p.extend_from_slice(&[0; 14]);
        p.extend_from_slice(&[0xff, 0x02]);
        p.extend_from_slice(&[0; 11]);
        p.extend_from_slice(&[1, 0, 2]);
        p.extend_from_slice(rest);
        p
    }

    /// An 8-byte option header (hop-by-hop, routing or destination
    /// options) naming `next`.
    fn ext(next: u8) -> [u8; 8] {
        [next, 0, 1, 4, 0, 0, 0, 0]
    }

    #[test]
    fn no_extensions() {
        let p = packet(UDP, &[0; 8]);
        assert_eq!(Header::new_checked(&p[..], 0).unwrap().next_header(), UDP);
        assert_eq!(
            upper(&p[..], 0, UDP),
            Ok(Upper {
                protocol: UDP,
                offset: 40,
                later_fragment: false
            })
        );
    }

    #[test]
    fn a_chain_up_to_the_bound_is_walked_and_one_beyond_it_is_an_error() {
        let kinds = [
            HOP_BY_HOP,
            DESTINATION_OPTIONS,
            ROUTING,
            DESTINATION_OPTIONS,
        ];
        for n in 1..=MAX_EXTENSIONS + 1 {
            let mut rest = Vec::new();
            for i in 0..n {
                let next = if i + 1 == n { UDP } else { kinds[(i + 1) % 4] };
                rest.extend_from_slice(&ext(next));
            }
            rest.extend_from_slice(&[0; 8]);
            let p = packet(kinds[0], &rest);
            let got = upper(&p[..], 0, kinds[0]);
            if n <= MAX_EXTENSIONS {
                assert_eq!(
                    got,
                    Ok(Upper {
                        protocol: UDP,
                        offset: 40 + 8 * n,
                        later_fragment: false
                    }),
                    "{n} headers"
                );
            } else {
                assert_eq!(got, Err(ParseError::Ipv6ExtensionChain), "{n} headers");
            }
        }
    }

    #[test]
    fn lengths_count_in_eight_byte_units() {
        // A hop-by-hop header of 24 bytes (length 2).
        let mut rest = vec![UDP, 2];
        rest.extend_from_slice(&[0; 22]);
        rest.extend_from_slice(&[0; 8]);
        let p = packet(HOP_BY_HOP, &rest);
        assert_eq!(upper(&p[..], 0, HOP_BY_HOP).unwrap().offset, 64);
    }

    #[test]
    fn fragments_first_and_later() {
        // First fragment (offset 0, more fragments): the walk goes on.
        let p = packet(
            FRAGMENT,
            &[UDP, 0, 0, 1, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0],
        );
        assert_eq!(
            upper(&p[..], 0, FRAGMENT),
            Ok(Upper {
                protocol: UDP,
                offset: 48,
                later_fragment: false
            })
        );
        // Offset 185 (1480 bytes): a later fragment.
        let p = packet(FRAGMENT, &[UDP, 0, 0x05, 0xc8, 0, 0, 0, 7, 0, 0]);
        assert!(upper(&p[..], 0, FRAGMENT).unwrap().later_fragment);
    }

    #[test]
    fn truncations_are_errors() {
        let p = packet(HOP_BY_HOP, &[UDP]);
        assert_eq!(upper(&p[..], 0, HOP_BY_HOP), Err(ParseError::TruncatedIpv6));
        let p = packet(FRAGMENT, &[UDP, 0, 0, 0]);
        assert_eq!(upper(&p[..], 0, FRAGMENT), Err(ParseError::TruncatedIpv6));
        let p = packet(UDP, &[]);
        assert!(Header::new_checked(&p[..39], 0).is_err());
        let mut v4 = p.clone();
        v4[0] = 0x45;
        assert_eq!(
            Header::new_checked(&v4[..], 0).err(),
            Some(ParseError::BadIpv6Header)
        );
    }
}
