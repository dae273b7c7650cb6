//! BOOTP / DHCP message (RFC 951, RFC 2131/2132): fixed header and options.

use super::ParseError;
use crate::frame::{Frame, opaque};

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
    pub const VENDOR_SPECIFIC: u8 = 43;
    pub const OVERLOAD: u8 = 52;
    pub const MESSAGE_TYPE: u8 = 53;
    pub const SERVER_ID: u8 = 54;
    pub const VENDOR_CLASS: u8 = 60;
    pub const TFTP_SERVER: u8 = 66;
    pub const BOOTFILE: u8 = 67;
    pub const USER_CLASS: u8 = 77;
    pub const CLIENT_ARCH: u8 = 93;
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

    pub fn op_code(&self) -> u8 {
        self.fixed[field::OP]
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

    /// Whether the `file` field holds a name (its first byte is not NUL).
    pub fn has_file(&self) -> bool {
        self.fixed[field::FILE] != 0
    }

    /// Whether the `sname` field holds a name (its first byte is not NUL).
    pub fn has_sname(&self) -> bool {
        self.fixed[field::SNAME] != 0
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
/// [`opaque`].
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
        // `opaque` keeps LLVM from turning this back into a branch.
        let not_pad = opaque(((code as u32).wrapping_neg() >> 31) as usize);
        i = opaque(i + 1 + not_pad * (1 + len as usize));
    }
}

/// The options the monitor reads, each recorded in its own slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub enum Slot {
    MessageType = 1,
    ServerId = 2,
    VendorClass = 3,
    TftpServer = 4,
    BootFile = 5,
    VendorSpecific = 6,
    UserClass = 7,
    ClientArch = 8,
    Overload = 9,
}

/// Number of slots in [`OptionSlots`] (slot 0 is scratch).
pub const SLOTS: usize = 16;

/// Slot of each option code; 0 (a scratch slot) for the options not read.
/// A table lookup keeps the option walk free of per-code branches.
static SLOT_OF: [u8; 256] = {
    let mut t = [0u8; 256];
    t[option::MESSAGE_TYPE as usize] = Slot::MessageType as u8;
    t[option::SERVER_ID as usize] = Slot::ServerId as u8;
    t[option::VENDOR_CLASS as usize] = Slot::VendorClass as u8;
    t[option::TFTP_SERVER as usize] = Slot::TftpServer as u8;
    t[option::BOOTFILE as usize] = Slot::BootFile as u8;
    t[option::VENDOR_SPECIFIC as usize] = Slot::VendorSpecific as u8;
    t[option::USER_CLASS as usize] = Slot::UserClass as u8;
    t[option::CLIENT_ARCH as usize] = Slot::ClientArch as u8;
    t[option::OVERLOAD as usize] = Slot::Overload as u8;
    t
};

/// Where the options of interest are: for each [`Slot`], the frame offset of
/// the option's length byte (its value follows), 0 when absent. When an
/// option appears twice the last one counts.
///
/// Made by [`OptionSlots::empty`], not `Default` (which becomes a byte
/// loop in the BPF object).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OptionSlots([u16; SLOTS]);

impl OptionSlots {
    /// Walks the options from `start` (the byte after the magic cookie) once.
    #[inline(always)]
    pub fn scan<F: Frame + ?Sized>(frame: &F, start: usize) -> Self {
        let mut slots = OptionSlots::empty();
        walk_options(frame, start, |code, _len, value| {
            let slot = SLOT_OF[code as usize] as usize & (SLOTS - 1);
            slots.0[slot] = (value - 1) as u16;
            true
        });
        slots
    }

    /// The recorded offsets, for storing them outside the parser.
    /// No option seen: all slots 0, stored one by one. (From a constant
    /// zero LLVM makes a `memset` call, which in the BPF object writes the
    /// bytes one at a time in a 32-step loop: measured in
    /// docs/ebpf-notes.md. A zero it cannot see through is stored as is.)
    #[inline(always)]
    pub fn empty() -> Self {
        OptionSlots([opaque(0) as u16; SLOTS])
    }

    pub fn raw(&self) -> [u16; SLOTS] {
        self.0
    }

    /// Offsets stored by [`raw`](Self::raw). Every later read still checks
    /// them against the frame, so garbage only reads as absent options.
    pub fn from_raw(raw: [u16; SLOTS]) -> Self {
        OptionSlots(raw)
    }

    pub fn has(&self, slot: Slot) -> bool {
        self.0[slot as usize] != 0
    }

    /// 1 if the option is present, else 0, computed without a branch: in
    /// the kernel each branch whose sides leave different register values
    /// doubles the states the verifier has to explore after it.
    #[inline(always)]
    pub fn presence(&self, slot: Slot) -> u16 {
        let at = self.0[slot as usize] as u32;
        opaque((at.wrapping_neg() >> 31) as usize) as u16
    }

    /// The option's length byte, when present and inside the frame.
    #[inline(always)]
    pub fn len<F: Frame + ?Sized>(&self, frame: &F, slot: Slot) -> Option<u8> {
        match self.0[slot as usize] as usize {
            0 => None,
            at => frame.array::<1>(at).map(|b| b[0]),
        }
    }

    /// The first `N` bytes of the option's value, when it has at least `N`.
    ///
    /// A reference, not a copy: returning `Option<[u8; N]>` by value lets
    /// LLVM pack it into a register together with a pointer on the `None`
    /// path, which the verifier refuses ("pointer arithmetic prohibited").
    #[inline(always)]
    pub fn value<'f, F: Frame + ?Sized, const N: usize>(
        &self,
        frame: &'f F,
        slot: Slot,
    ) -> Option<&'f [u8; N]> {
        let len = self.len(frame, slot)? as usize;
        if len < N {
            return None;
        }
        frame.array::<N>(self.0[slot as usize] as usize + 1)
    }

    /// Copies the option's value into `out`, at most `out.len()` bytes and
    /// never past the frame; returns the option's length (which may exceed
    /// what was copied). Bytes not copied are left as they are.
    #[inline(always)]
    pub fn copy<F: Frame + ?Sized, const N: usize>(
        &self,
        frame: &F,
        slot: Slot,
        out: &mut [u8; N],
    ) -> u8 {
        let Some(len) = self.len(frame, slot) else {
            return 0;
        };
        frame.copy_prefix(self.0[slot as usize] as usize + 1, len as usize, out);
        len
    }
}

/// The value of option 53 (`Ok(None)` when the message has none: BOOTP).
#[inline(always)]
pub fn message_type<F: Frame + ?Sized>(
    frame: &F,
    slots: &OptionSlots,
) -> Result<Option<u8>, ParseError> {
    if !slots.has(Slot::MessageType) {
        return Ok(None);
    }
    match slots.value::<F, 1>(frame, Slot::MessageType) {
        Some(&[t]) => Ok(Some(t)),
        None => Err(ParseError::BadDhcpOption),
    }
}

/// What option 60 says about the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum VendorClass {
    None = 0,
    /// Starts with `PXEClient`: a PXE ROM, iPXE, a UEFI PXE stack, or a
    /// server (proxyDHCP) announcing PXE service.
    PxeClient,
    /// Starts with `HTTPClient`: UEFI HTTP boot.
    HttpClient,
    Other,
}

impl VendorClass {
    /// From `VendorClass as u8`; unknown values read as `None`.
    #[inline(always)]
    pub fn from_u8(v: u8) -> Self {
        match v {
            1 => VendorClass::PxeClient,
            2 => VendorClass::HttpClient,
            3 => VendorClass::Other,
            _ => VendorClass::None,
        }
    }

    #[inline(always)]
    pub fn read<F: Frame + ?Sized>(frame: &F, slots: &OptionSlots) -> Self {
        if !slots.has(Slot::VendorClass) {
            return VendorClass::None;
        }
        if slots.value::<F, 9>(frame, Slot::VendorClass) == Some(b"PXEClient") {
            VendorClass::PxeClient
        } else if slots.value::<F, 10>(frame, Slot::VendorClass) == Some(b"HTTPClient") {
            VendorClass::HttpClient
        } else {
            VendorClass::Other
        }
    }

    pub fn is_boot_client(self) -> bool {
        matches!(self, VendorClass::PxeClient | VendorClass::HttpClient)
    }
}
