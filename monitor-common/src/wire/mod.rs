//! Zero-copy views of the headers the monitor reads.
//!
//! Each view wraps a reference to the header's fixed bytes inside the frame,
//! obtained through [`crate::Frame::array`]; `new_checked` is the only way to
//! build one, and no accessor can fail or panic afterwards. Offsets are named
//! in each module's `field` module. Parsers fail with [`ParseError`]
//! (`error.rs`); this layer imports nothing else of the crate but
//! [`crate::frame`].

pub mod dhcp;
pub mod dhcpv6;
mod error;
pub mod ethernet;
pub mod http;
pub mod icmp;
pub mod ipv4;
pub mod ipv6;
pub mod tcp;
pub mod tftp;
pub mod udp;

pub use error::ParseError;

#[inline(always)]
pub(crate) const fn be16(b: [u8; 2]) -> u16 {
    u16::from_be_bytes(b)
}
