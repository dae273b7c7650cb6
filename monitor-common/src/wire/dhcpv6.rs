//! DHCPv6 message (RFC 8415): client/server and relay headers, options,
//! and the PXE parts (RFC 5970: boot file URL, client architecture; the
//! vendor class of enterprise 343 that EDK2 and iPXE send).

use super::ParseError;
use crate::frame::{Frame, opaque};

pub mod field {
    pub const MSG_TYPE: usize = 0;
    pub const XID: usize = 1;
    /// Options of a client/server message.
    pub const OPTIONS: usize = 4;
    pub const HOP_COUNT: usize = 1;
    pub const LINK_ADDRESS: usize = 2;
    pub const PEER_ADDRESS: usize = 18;
    /// Options of a relay message.
    pub const RELAY_OPTIONS: usize = 34;
}

/// Message types (RFC 8415 §7.3, RFC 5007, RFC 7341).
pub mod msg {
    pub const SOLICIT: u8 = 1;
    pub const ADVERTISE: u8 = 2;
    pub const REQUEST: u8 = 3;
    pub const CONFIRM: u8 = 4;
    pub const RENEW: u8 = 5;
    pub const REBIND: u8 = 6;
    pub const REPLY: u8 = 7;
    pub const RELEASE: u8 = 8;
    pub const DECLINE: u8 = 9;
    pub const RECONFIGURE: u8 = 10;
    pub const INFORMATION_REQUEST: u8 = 11;
    pub const RELAY_FORW: u8 = 12;
    pub const RELAY_REPL: u8 = 13;
}

/// Option codes.
pub mod option {
    pub const CLIENT_ID: u16 = 1;
    pub const SERVER_ID: u16 = 2;
    pub const IA_NA: u16 = 3;
    /// An address inside an IA_NA.
    pub const IAADDR: u16 = 5;
    pub const RELAY_MSG: u16 = 9;
    pub const USER_CLASS: u16 = 15;
    pub const VENDOR_CLASS: u16 = 16;
    pub const INTERFACE_ID: u16 = 18;
    pub const BOOTFILE_URL: u16 = 59;
    pub const BOOTFILE_PARAM: u16 = 60;
    pub const CLIENT_ARCH_TYPE: u16 = 61;
}

/// The enterprise number of the PXE vendor class (Intel).
pub const ENTERPRISE_PXE: u32 = 343;

/// Options stepped over in one message before giving up (a client's
/// Solicit carries about ten; EDK2's, measured here, 8).
pub const MAX_OPTION_STEPS: usize = 24;

/// Relay headers stepped through to the client's or server's message: a
/// relay of a relay. RFC 8415 allows 8 (`HOP_COUNT_LIMIT`); a deeper chain
/// is counted by its outer type and read no further.
pub const MAX_RELAY_DEPTH: usize = 2;

/// The header of a DHCPv6 message at some offset: type and transaction id
/// for client/server messages, hop count and addresses for relays.
#[derive(Clone, Copy)]
pub struct Header<'a>(&'a [u8; 4]);

impl<'a> Header<'a> {
    #[inline(always)]
    pub fn new_checked<F: Frame + ?Sized>(frame: &'a F, offset: usize) -> Result<Self, ParseError> {
        frame
            .array::<4>(offset)
            .map(Header)
            .ok_or(ParseError::TruncatedDhcpv6)
    }

    #[inline(always)]
    pub fn msg_type(&self) -> u8 {
        self.0[field::MSG_TYPE]
    }

    /// The 24-bit transaction id (meaningless in a relay message).
    #[inline(always)]
    pub fn xid(&self) -> u32 {
        u32::from_be_bytes([0, self.0[1], self.0[2], self.0[3]])
    }

    #[inline(always)]
    pub fn is_relay(&self) -> bool {
        matches!(self.msg_type(), msg::RELAY_FORW | msg::RELAY_REPL)
    }
}

/// Whether a client sends messages of this type.
#[inline(always)]
pub const fn is_client_type(t: u8) -> bool {
    matches!(
        t,
        msg::SOLICIT
            | msg::REQUEST
            | msg::CONFIRM
            | msg::RENEW
            | msg::REBIND
            | msg::RELEASE
            | msg::DECLINE
            | msg::INFORMATION_REQUEST
    )
}

/// Options recorded by [`Options::scan`], each by the offset of its code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub enum Slot {
    ClientId = 1,
    ServerId = 2,
    IaNa = 3,
    RelayMsg = 4,
    UserClass = 5,
    VendorClass = 6,
    InterfaceId = 7,
    BootFileUrl = 8,
    BootFileParam = 9,
    ClientArch = 10,
}

pub const SLOTS: usize = 16;

/// The slot of each option code below 64 (0: not recorded). A table, not
/// a match: in the kernel's walk a branch per code multiplied the
/// verifier's states (over its 1M instructions).
static SLOT_OF: [u8; 64] = {
    let mut t = [0u8; 64];
    t[option::CLIENT_ID as usize] = Slot::ClientId as u8;
    t[option::SERVER_ID as usize] = Slot::ServerId as u8;
    t[option::IA_NA as usize] = Slot::IaNa as u8;
    t[option::RELAY_MSG as usize] = Slot::RelayMsg as u8;
    t[option::USER_CLASS as usize] = Slot::UserClass as u8;
    t[option::VENDOR_CLASS as usize] = Slot::VendorClass as u8;
    t[option::INTERFACE_ID as usize] = Slot::InterfaceId as u8;
    t[option::BOOTFILE_URL as usize] = Slot::BootFileUrl as u8;
    t[option::BOOTFILE_PARAM as usize] = Slot::BootFileParam as u8;
    t[option::CLIENT_ARCH_TYPE as usize] = Slot::ClientArch as u8;
    t
};

/// Where the options of interest of one message are: the offset of each
/// one's code in the frame (0: absent; the last of a repeated option).
/// The relays' options (interface id) and the relayed message's share the
/// table: no option of interest is in both.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Options([u16; SLOTS]);

impl Options {
    pub fn has(&self, slot: Slot) -> bool {
        self.0[slot as usize] != 0
    }

    /// The offset of the option's code, if present.
    #[inline(always)]
    pub fn at(&self, slot: Slot) -> Option<usize> {
        match self.0[slot as usize] as usize {
            0 => None,
            at => Some(at),
        }
    }

    /// The option's value: offset and length.
    #[inline(always)]
    pub fn value<F: Frame + ?Sized>(&self, frame: &F, slot: Slot) -> Option<(usize, usize)> {
        let at = self.at(slot)?;
        let h = frame.array::<4>(at)?;
        Some((at + 4, u16::from_be_bytes([h[2], h[3]]) as usize))
    }

    pub fn raw(&self) -> [u16; SLOTS] {
        self.0
    }

    pub fn from_raw(raw: [u16; SLOTS]) -> Self {
        Options(raw)
    }
}

/// What the vendor class option (16) says about the client, as for
/// DHCPv4's option 60 (`super::dhcp::VendorClass`): enterprise 343 and
/// data starting `PXEClient` or `HTTPClient`.
#[inline(always)]
pub fn vendor_class<F: Frame + ?Sized>(frame: &F, opts: &Options) -> super::dhcp::VendorClass {
    use super::dhcp::VendorClass;
    let Some((at, len)) = opts.value(frame, Slot::VendorClass) else {
        return VendorClass::None;
    };
    // enterprise-number (4), then vendor-class-data: length (2), data.
    let Some(h) = frame.array::<6>(at) else {
        return VendorClass::Other;
    };
    if len < 6 || u32::from_be_bytes([h[0], h[1], h[2], h[3]]) != ENTERPRISE_PXE {
        return VendorClass::Other;
    }
    let data_len = (u16::from_be_bytes([h[4], h[5]]) as usize).min(len - 6);
    if data_len >= 9 && frame.array::<9>(at + 6) == Some(b"PXEClient") {
        VendorClass::PxeClient
    } else if data_len >= 10 && frame.array::<10>(at + 6) == Some(b"HTTPClient") {
        VendorClass::HttpClient
    } else {
        VendorClass::Other
    }
}

/// Whether a server's option 16 echoes `HTTPClient` as EDK2's HTTP Boot
/// takes it (HttpBootDhcp6.c): at least 16 bytes whose first class data
/// is `HTTPClient`, whatever the enterprise number ([`vendor_class`]
/// wants 343, which a client sends; dnsmasq writes its own when it echoes).
#[inline(always)]
pub fn echoes_http_client<F: Frame + ?Sized>(frame: &F, opts: &Options) -> bool {
    // The option whole in the frame, as EDK2 has it.
    opts.value(frame, Slot::VendorClass)
        .is_some_and(|(at, len)| {
            len >= 16
                && frame.array::<1>(at + len - 1).is_some()
                && frame.array::<10>(at + 6) == Some(b"HTTPClient")
        })
}

/// The Ethernet address inside a DUID (RFC 8415 §11): DUID-LLT (type 1:
/// hardware type, time, address) or DUID-LL (type 3: hardware type,
/// address) of hardware type 1 (Ethernet). EDK2 and iPXE send a DUID-LLT
/// or DUID-LL with the NIC's MAC; other DUIDs (enterprise, UUID) hold none.
pub fn duid_mac(duid: &[u8]) -> Option<[u8; 6]> {
    duid_mac_at(duid, 0, duid.len())
}

/// [`duid_mac`] of the `len`-byte DUID at `at` in a frame.
#[inline(always)]
pub fn duid_mac_at<F: Frame + ?Sized>(frame: &F, at: usize, len: usize) -> Option<[u8; 6]> {
    let h = frame.array::<4>(at)?;
    if u16::from_be_bytes([h[2], h[3]]) != 1 {
        return None;
    }
    let mac_at = match (u16::from_be_bytes([h[0], h[1]]), len) {
        (1, 14) => at + 8,
        (3, 10) => at + 4,
        _ => return None,
    };
    frame.array::<6>(mac_at).copied()
}

/// The MAC in the client id's DUID ([`duid_mac`]), which servers echo.
#[inline(always)]
pub fn client_mac<F: Frame + ?Sized>(frame: &F, opts: &Options) -> Option<[u8; 6]> {
    let (at, len) = opts.value(frame, Slot::ClientId)?;
    duid_mac_at(frame, at, len)
}

/// Sub-options of an IA_NA stepped over looking for its address: a status
/// code may come first; more is not seen from servers.
pub const IA_STEPS: usize = 4;

/// The address an Advertise or Reply gives the client: the first IAADDR
/// (option 5) inside its IA_NA (after IAID, T1 and T2), within
/// [`IA_STEPS`] sub-options and the IA_NA's length.
#[inline(always)]
pub fn ia_na_address<F: Frame + ?Sized>(frame: &F, opts: &Options) -> Option<[u8; 16]> {
    let (at, len) = opts.value(frame, Slot::IaNa)?;
    let end = at + len;
    let mut sub = at + 12;
    for _ in 0..IA_STEPS {
        let h = frame.array::<4>(sub)?;
        let sub_len = u16::from_be_bytes([h[2], h[3]]) as usize;
        if sub + 4 + sub_len > end {
            return None;
        }
        if u16::from_be_bytes([h[0], h[1]]) == option::IAADDR && sub_len >= 16 {
            return frame.array::<16>(sub + 4).copied();
        }
        sub += 4 + sub_len;
    }
    None
}

/// The client's or server's message inside up to [`MAX_RELAY_DEPTH`]
/// relay messages, from the message at `at` ending at `end`: its offset,
/// type, transaction id, and the options of it and its relays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Inner {
    pub at: usize,
    pub end: usize,
    pub msg_type: u8,
    pub xid: u32,
    pub options: Options,
    /// Relay headers stepped through (0: not relayed).
    pub relays: u8,
    /// The relay nearest the client (its peer address is the client's),
    /// if relayed.
    pub relay_at: Option<usize>,
    /// Whether the walk of the options reached the message's end (not an
    /// option running past it, nor the step bound).
    pub options_whole: bool,
}

/// One walk over the options of the message at `at` and, through each
/// relay's option 9, of the message it carries: at most
/// [`MAX_OPTION_STEPS`] options in all and [`MAX_RELAY_DEPTH`] relays.
/// One loop, not a walk per level: three inlined walks (one per level)
/// took the kernel's verifier past its 1M instructions. `Err` when a
/// message header is cut short, a relay carries no message, or the relays
/// go deeper than the bound.
#[inline(always)]
pub fn inner<F: Frame + ?Sized>(frame: &F, at: usize, end: usize) -> Result<Inner, ParseError> {
    let h = Header::new_checked(frame, at)?;
    let mut msg = Inner {
        at,
        end,
        msg_type: h.msg_type(),
        xid: h.xid(),
        options: Options::default(),
        relays: 0,
        relay_at: None,
        options_whole: false,
    };
    let mut opt = options_at(frame, at, h.is_relay())?;
    let mut relay = h.is_relay();
    let mut end = end;
    for _ in 0..MAX_OPTION_STEPS {
        if opt >= end {
            msg.options_whole = true;
            break;
        }
        let Some(o) = frame.array::<4>(opt) else {
            break;
        };
        let code = u16::from_be_bytes([o[0], o[1]]);
        let next = opaque(opt + 4 + u16::from_be_bytes([o[2], o[3]]) as usize);
        if next > end {
            break;
        }
        if relay && code == option::RELAY_MSG {
            // Into the relayed message.
            if msg.relays as usize == MAX_RELAY_DEPTH {
                return Err(ParseError::Dhcpv6RelayChain);
            }
            msg.relays += 1;
            msg.relay_at = Some(msg.at);
            let inner_at = opt + 4;
            let h = Header::new_checked(frame, inner_at)?;
            (msg.at, msg.end, msg.msg_type, msg.xid) = (inner_at, next, h.msg_type(), h.xid());
            relay = h.is_relay();
            opt = options_at(frame, inner_at, relay)?;
            end = next;
            continue;
        }
        let slot = if (code as usize) < SLOT_OF.len() {
            SLOT_OF[code as usize] as usize & (SLOTS - 1)
        } else {
            0
        };
        msg.options.0[slot] = opt as u16;
        opt = next;
    }
    // Slot 0 collects the options not of interest.
    msg.options.0[0] = 0;
    if relay {
        return Err(ParseError::BadDhcpv6Option);
    }
    Ok(msg)
}

/// Where the options of the message at `at` start: after a relay's 34
/// bytes of header (which must be there), or a client/server message's 4.
#[inline(always)]
fn options_at<F: Frame + ?Sized>(frame: &F, at: usize, relay: bool) -> Result<usize, ParseError> {
    if !relay {
        return Ok(at + field::OPTIONS);
    }
    frame
        .array::<{ field::RELAY_OPTIONS }>(at)
        .ok_or(ParseError::TruncatedDhcpv6)?;
    Ok(at + field::RELAY_OPTIONS)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::wire::dhcp::VendorClass;
    use std::{vec, vec::Vec};

    fn opt(code: u16, data: &[u8]) -> Vec<u8> {
        let mut v = code.to_be_bytes().to_vec();
        v.extend_from_slice(&(data.len() as u16).to_be_bytes());
        v.extend_from_slice(data);
        v
    }

    fn vendor(enterprise: u32, data: &[u8]) -> Vec<u8> {
        let mut v = enterprise.to_be_bytes().to_vec();
        v.extend_from_slice(&(data.len() as u16).to_be_bytes());
        v.extend_from_slice(data);
        opt(option::VENDOR_CLASS, &v)
    }

    /// EDK2's Solicit, as measured here (options abridged).
    fn solicit() -> Vec<u8> {
        let mut m = vec![msg::SOLICIT, 0x12, 0x34, 0x56];
        m.extend(opt(
            option::CLIENT_ID,
            &[0, 1, 0, 1, 1, 2, 3, 4, 0x52, 0x54, 0, 0x12, 0x34, 0x56],
        ));
        m.extend(vendor(ENTERPRISE_PXE, b"PXEClient:Arch:00007:UNDI:003000"));
        m.extend(opt(option::CLIENT_ARCH_TYPE, &[0, 7]));
        m
    }

    fn relay(inner: &[u8]) -> Vec<u8> {
        let mut m = vec![msg::RELAY_FORW, 0];
        m.extend_from_slice(&[0x20; 16]);
        m.extend_from_slice(&[0xfe; 16]);
        m.extend(opt(option::INTERFACE_ID, b"eth0"));
        m.extend(opt(option::RELAY_MSG, inner));
        m
    }

    #[test]
    fn a_pxe_solicit() {
        let m = solicit();
        let i = inner(&m[..], 0, m.len()).unwrap();
        assert_eq!((i.msg_type, i.xid, i.relays), (msg::SOLICIT, 0x123456, 0));
        assert!(i.options_whole);
        assert!(i.options.has(Slot::ClientId) && i.options.has(Slot::ClientArch));
        assert_eq!(vendor_class(&m[..], &i.options), VendorClass::PxeClient);
    }

    #[test]
    fn vendor_classes() {
        let with = |o: Vec<u8>| {
            let mut m = vec![msg::SOLICIT, 0, 0, 1];
            m.extend(o);
            let i = inner(&m[..], 0, m.len()).unwrap();
            vendor_class(&m[..], &i.options)
        };
        assert_eq!(
            with(vendor(343, b"HTTPClient:Arch:00016")),
            VendorClass::HttpClient
        );
        assert_eq!(with(vendor(311, b"PXEClient")), VendorClass::Other);
        assert_eq!(with(vendor(343, b"PXE")), VendorClass::Other);
        assert_eq!(
            with(opt(option::VENDOR_CLASS, &[0, 0, 1])),
            VendorClass::Other
        );
        assert_eq!(
            with(opt(option::USER_CLASS, b"\0\x04iPXE")),
            VendorClass::None
        );
    }

    #[test]
    fn relays_are_stepped_through_up_to_the_bound() {
        let one = relay(&solicit());
        let i = inner(&one[..], 0, one.len()).unwrap();
        assert_eq!((i.msg_type, i.xid, i.relays), (msg::SOLICIT, 0x123456, 1));
        assert_eq!(vendor_class(&one[..], &i.options), VendorClass::PxeClient);
        assert_eq!(i.relay_at, Some(0));
        // The relay's interface id is kept beside the client's options.
        assert!(i.options.has(Slot::InterfaceId) && i.options.has(Slot::ClientId));
        let two = relay(&one);
        assert_eq!(inner(&two[..], 0, two.len()).unwrap().relays, 2);
        let three = relay(&two);
        assert_eq!(
            inner(&three[..], 0, three.len()),
            Err(ParseError::Dhcpv6RelayChain)
        );
    }

    #[test]
    fn macs_in_duids() {
        let mac = [0x52, 0x54, 0, 0x12, 0x34, 0x56];
        let llt = [&[0, 1, 0, 1, 0x2e, 0x1a, 0x2b, 0x3c][..], &mac].concat();
        let ll = [&[0, 3, 0, 1][..], &mac].concat();
        assert_eq!(duid_mac(&llt), Some(mac));
        assert_eq!(duid_mac(&ll), Some(mac));
        // UUID (type 4), a non-Ethernet hardware type, cut short.
        assert_eq!(duid_mac(&[0, 4, 1, 2, 3, 4, 5, 6, 7, 8]), None);
        assert_eq!(duid_mac(&[&[0, 3, 0, 6][..], &mac].concat()), None);
        assert_eq!(duid_mac(&llt[..12]), None);
        assert_eq!(duid_mac(&[0, 3]), None);
    }

    #[test]
    fn cut_and_bad_messages() {
        let m = solicit();
        // An option running past the end: the walk stops, the options
        // before it are kept.
        let i = inner(&m[..], 0, m.len() - 1).unwrap();
        assert!(!i.options_whole && i.options.has(Slot::ClientId));
        assert!(!i.options.has(Slot::ClientArch));
        assert_eq!(inner(&m[..3], 0, 3), Err(ParseError::TruncatedDhcpv6));
        // A relay without a relay message, and one cut in its header.
        let mut r = vec![msg::RELAY_FORW, 0];
        r.extend_from_slice(&[0; 32]);
        assert_eq!(inner(&r[..], 0, r.len()), Err(ParseError::BadDhcpv6Option));
        assert_eq!(inner(&r[..20], 0, 20), Err(ParseError::TruncatedDhcpv6));
    }
}
