//! BOOTP / DHCP message (RFC 951, RFC 2131/2132): fixed header and options.

use crate::{Frame, ParseError};

pub mod field {
    pub const OP: usize = 0;
    pub const HTYPE: usize = 1;
    pub const HLEN: usize = 2;
    pub const HOPS: usize = 3;
    pub const XID: usize = 4;
    pub const CIADDR: usize = 12;
    pub const YIADDR: usize = 16;
    pub const SIADDR: usize = 20;
    pub const GIADDR: usize = 24;
    pub const CHADDR: usize = 28;
    pub const SNAME: usize = 44;
    pub const FILE: usize = 108;
    pub const MAGIC: usize = 236;
    pub const OPTIONS: usize = 240;
}

/// BOOTP fixed header.
pub const FIXED_LEN: usize = 236;
/// Fixed header plus the magic cookie.
pub const HEADER_LEN: usize = 240;
pub const MAGIC_COOKIE: [u8; 4] = [99, 130, 83, 99];

/// Bytes of the options field walked at most (the classic 312-byte area).
pub const MAX_OPTIONS_LEN: usize = 312;
/// Options visited at most; bounds the walk for the verifier.
pub const MAX_OPTION_STEPS: usize = 48;

pub mod option {
    pub const PAD: u8 = 0;
    pub const MESSAGE_TYPE: u8 = 53;
    pub const END: u8 = 255;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Request,
    Reply,
    Unknown(u8),
}

/// The fixed header of a BOOTP/DHCP message. `has_options` tells whether the
/// magic cookie (and so the DHCP options area) follows.
#[derive(Clone, Copy)]
pub struct Header<'a> {
    fixed: &'a [u8; FIXED_LEN],
    has_options: bool,
}

impl<'a> Header<'a> {
    #[inline(always)]
    pub fn new_checked<F: Frame + ?Sized>(frame: &'a F, offset: usize) -> Result<Self, ParseError> {
        let fixed = frame
            .array::<FIXED_LEN>(offset)
            .ok_or(ParseError::TruncatedBootp)?;
        let has_options =
            matches!(frame.array::<4>(offset + field::MAGIC), Some(m) if *m == MAGIC_COOKIE);
        Ok(Header { fixed, has_options })
    }

    pub fn op(&self) -> Op {
        match self.fixed[field::OP] {
            1 => Op::Request,
            2 => Op::Reply,
            other => Op::Unknown(other),
        }
    }

    pub fn hops(&self) -> u8 {
        self.fixed[field::HOPS]
    }

    pub fn xid(&self) -> u32 {
        u32::from_be_bytes(self.ip_at(field::XID))
    }

    pub fn ciaddr(&self) -> [u8; 4] {
        self.ip_at(field::CIADDR)
    }

    pub fn yiaddr(&self) -> [u8; 4] {
        self.ip_at(field::YIADDR)
    }

    pub fn siaddr(&self) -> [u8; 4] {
        self.ip_at(field::SIADDR)
    }

    pub fn giaddr(&self) -> [u8; 4] {
        self.ip_at(field::GIADDR)
    }

    /// Client hardware address, first 6 bytes (Ethernet), whatever `hlen`
    /// says: never sliced by an untrusted length.
    pub fn chaddr(&self) -> [u8; 6] {
        let c = field::CHADDR;
        let f = self.fixed;
        [f[c], f[c + 1], f[c + 2], f[c + 3], f[c + 4], f[c + 5]]
    }

    pub fn has_options(&self) -> bool {
        self.has_options
    }

    fn ip_at(&self, at: usize) -> [u8; 4] {
        let f = self.fixed;
        [f[at], f[at + 1], f[at + 2], f[at + 3]]
    }
}

/// Walks DHCP options starting at `start` (the byte after the magic cookie),
/// calling `visit(code, len, value_offset)` for each option; `visit` returns
/// `false` to stop. Stops at END, at the end of the frame, after
/// [`MAX_OPTIONS_LEN`] bytes or [`MAX_OPTION_STEPS`] options.
///
/// `visit` also sees PAD (code 0, whose `len` is really the next byte):
/// visitors match the codes they want. Skipping PAD here would add a branch
/// per option, and the verifier would explore both sides of it at every
/// step (measured: over its 1M-instruction limit).
///
/// Shaped for the eBPF verifier (see the toolchain notes): constant
/// iteration cap, the byte limit checked first, no branch that continues
/// the loop, the step computed without a branch and hidden behind
/// `black_box`.
#[inline(always)]
pub fn walk_options<F, V>(frame: &F, start: usize, mut visit: V)
where
    F: Frame + ?Sized,
    V: FnMut(u8, u8, usize) -> bool,
{
    let mut i: usize = 0;
    for _ in 0..MAX_OPTION_STEPS {
        if i >= MAX_OPTIONS_LEN {
            return;
        }
        let at = start + i;
        let Some(&[code, len]) = frame.array::<2>(at) else {
            return;
        };
        if code == option::END {
            return;
        }
        if !visit(code, len, at + 2) {
            return;
        }
        // PAD is one byte; every other option is code, length, value.
        // `black_box` keeps LLVM from turning this back into a branch.
        let not_pad = core::hint::black_box((code as u32).wrapping_neg() >> 31);
        i = core::hint::black_box(i + 1 + (not_pad * (1 + len as u32)) as usize);
    }
}

/// The value of option 53, `Ok(None)` when the message has none (BOOTP).
#[inline(always)]
pub fn message_type<F: Frame + ?Sized>(
    frame: &F,
    options: usize,
) -> Result<Option<u8>, ParseError> {
    let mut found: Result<Option<u8>, ParseError> = Ok(None);
    walk_options(frame, options, |code, len, value| {
        if code != option::MESSAGE_TYPE {
            return true;
        }
        found = match frame.array::<1>(value) {
            Some(&[v]) if len >= 1 => Ok(Some(v)),
            _ => Err(ParseError::BadDhcpOption),
        };
        false
    });
    found
}
