//! Ethernet II header and 802.1Q / 802.1ad tags.

use super::ParseError;
use crate::frame::Frame;

pub mod field {
    pub const DESTINATION: core::ops::Range<usize> = 0..6;
    pub const SOURCE: core::ops::Range<usize> = 6..12;
    pub const ETHERTYPE: usize = 12;
    /// In a VLAN tag (which follows an ethertype of 0x8100 / 0x88a8).
    pub const TAG_TCI: usize = 0;
    pub const TAG_ETHERTYPE: usize = 2;
}

pub const HEADER_LEN: usize = 14;
pub const TAG_LEN: usize = 4;
/// Tags read before giving up: a C-tag inside an S-tag (QinQ).
pub const MAX_TAGS: usize = 2;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EtherType {
    Ipv4,
    Arp,
    /// 802.1Q customer tag.
    Vlan,
    /// 802.1ad service tag (QinQ).
    QinQ,
    Ipv6,
    Unknown(u16),
}

impl From<u16> for EtherType {
    fn from(v: u16) -> Self {
        match v {
            0x0800 => EtherType::Ipv4,
            0x0806 => EtherType::Arp,
            0x8100 => EtherType::Vlan,
            0x88a8 => EtherType::QinQ,
            0x86dd => EtherType::Ipv6,
            other => EtherType::Unknown(other),
        }
    }
}

/// The 14-byte Ethernet II header at the start of a frame.
#[derive(Clone, Copy)]
pub struct Header<'a>(&'a [u8; HEADER_LEN]);

impl<'a> Header<'a> {
    #[inline(always)]
    pub fn new_checked<F: Frame + ?Sized>(frame: &'a F) -> Result<Self, ParseError> {
        frame
            .array::<HEADER_LEN>(0)
            .map(Header)
            .ok_or(ParseError::TruncatedEthernet)
    }

    pub fn destination(&self) -> [u8; 6] {
        let mut m = [0; 6];
        m.copy_from_slice(&self.0[field::DESTINATION]);
        m
    }

    pub fn source(&self) -> [u8; 6] {
        let mut m = [0; 6];
        m.copy_from_slice(&self.0[field::SOURCE]);
        m
    }

    #[inline(always)]
    pub fn ethertype(&self) -> EtherType {
        EtherType::from(super::be16([
            self.0[field::ETHERTYPE],
            self.0[field::ETHERTYPE + 1],
        ]))
    }
}

/// One 4-byte VLAN tag (TCI + the ethertype that follows it).
#[derive(Clone, Copy)]
pub struct Tag<'a>(&'a [u8; TAG_LEN]);

impl<'a> Tag<'a> {
    #[inline(always)]
    pub fn new_checked<F: Frame + ?Sized>(frame: &'a F, offset: usize) -> Result<Self, ParseError> {
        frame
            .array::<TAG_LEN>(offset)
            .map(Tag)
            .ok_or(ParseError::TruncatedVlan)
    }

    /// VLAN id (low 12 bits of the TCI).
    pub fn vlan_id(&self) -> u16 {
        super::be16([self.0[field::TAG_TCI], self.0[field::TAG_TCI + 1]]) & 0x0fff
    }

    #[inline(always)]
    pub fn ethertype(&self) -> EtherType {
        EtherType::from(super::be16([
            self.0[field::TAG_ETHERTYPE],
            self.0[field::TAG_ETHERTYPE + 1],
        ]))
    }
}

/// Where the network layer starts and what it is, after up to
/// [`MAX_TAGS`] VLAN tags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct L3 {
    pub offset: usize,
    pub ethertype: EtherType,
}

/// Reads the Ethernet header and any VLAN tags.
#[inline(always)]
pub fn l3<F: Frame + ?Sized>(frame: &F) -> Result<L3, ParseError> {
    let mut ethertype = Header::new_checked(frame)?.ethertype();
    let mut offset = HEADER_LEN;
    for _ in 0..MAX_TAGS {
        if !matches!(ethertype, EtherType::Vlan | EtherType::QinQ) {
            break;
        }
        ethertype = Tag::new_checked(frame, offset)?.ethertype();
        offset += TAG_LEN;
    }
    Ok(L3 { offset, ethertype })
}
