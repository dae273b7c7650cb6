//! Events the kernel sends to userspace through the ring buffer, built by
//! the same code on the host. Fixed-size `repr(C)` records with no padding
//! (sizes asserted below), fields in network byte order where they come
//! from the wire.

use crate::{
    Class, Frame,
    wire::{
        dhcp::{self, Slot},
        ipv4, udp,
    },
};

/// Compatibility: [`DhcpLocation`] moved to `crate::stage`; remove once
/// monitor/src imports it from there.
pub use crate::stage::DhcpLocation;

/// What kind of record follows the header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum EventKind {
    Dhcp = 1,
    IcmpUnreachable = 2,
    Tftp = 3,
}

/// Precedes every ring-buffer record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct EventHeader {
    /// `bpf_ktime_get_ns()` in the kernel (monotonic, boot time base).
    pub timestamp_ns: u64,
    pub ifindex: u32,
    /// [`EventKind`].
    pub kind: u8,
    /// `Direction as u8`.
    pub direction: u8,
    pub _reserved: [u8; 2],
}

const _: () = assert!(core::mem::size_of::<EventHeader>() == 16);

/// Bits of [`DhcpEvent::flags`].
pub mod dhcp_flags {
    /// Option 60 starts with `PXEClient`.
    pub const VENDOR_PXE_CLIENT: u16 = 1 << 0;
    /// Option 60 starts with `HTTPClient`.
    pub const VENDOR_HTTP_CLIENT: u16 = 1 << 1;
    /// Option 60 is present (whatever it says).
    pub const VENDOR_CLASS: u16 = 1 << 2;
    /// Option 43 (PXE vendor sub-options) is present.
    pub const VENDOR_SPECIFIC: u16 = 1 << 3;
    pub const TFTP_SERVER: u16 = 1 << 4;
    pub const BOOTFILE: u16 = 1 << 5;
    /// Option 77 (user class) is `iPXE`: an iPXE second stage.
    pub const USER_CLASS_IPXE: u16 = 1 << 6;
    pub const CLIENT_ARCH: u16 = 1 << 7;
    pub const SERVER_ID: u16 = 1 << 8;
    pub const OVERLOAD: u16 = 1 << 9;
    /// Part of a PXE exchange: a boot client's vendor class, port 4011, or a
    /// reply to a transaction a boot client started.
    pub const PXE: u16 = 1 << 10;
}

/// One DHCP / proxyDHCP message of a PXE exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct DhcpEvent {
    pub xid: [u8; 4],
    pub src_ip: [u8; 4],
    pub dst_ip: [u8; 4],
    pub ciaddr: [u8; 4],
    pub yiaddr: [u8; 4],
    pub siaddr: [u8; 4],
    pub giaddr: [u8; 4],
    /// Option 54.
    pub server_id: [u8; 4],
    pub src_port: [u8; 2],
    pub dst_port: [u8; 2],
    pub chaddr: [u8; 6],
    /// Option 93, first architecture (RFC 4578), big-endian.
    pub client_arch: [u8; 2],
    /// [`dhcp_flags`].
    pub flags: u16,
    /// Option 53, 0 when absent.
    pub message_type: u8,
    /// BOOTP op: 1 request, 2 reply.
    pub op: u8,
    pub hops: u8,
    /// `Class as u8`.
    pub class: u8,
    /// Option 52 value (1 file, 2 sname, 3 both), 0 when absent.
    pub overload: u8,
    /// Lengths of options 66 and 67 (values may be cut to the arrays below).
    pub tftp_server_len: u8,
    pub bootfile_len: u8,
    pub _reserved: [u8; 3],
    /// Option 66 value, first 32 bytes.
    pub tftp_server: [u8; 32],
    /// Option 67 value, first 64 bytes.
    pub bootfile: [u8; 64],
    /// BOOTP `file` field, first 64 bytes.
    pub file: [u8; 64],
    /// BOOTP `sname` field, first 32 bytes.
    pub sname: [u8; 32],
}

const _: () = assert!(core::mem::size_of::<DhcpEvent>() == 248);

impl DhcpEvent {
    pub const fn zeroed() -> Self {
        DhcpEvent {
            xid: [0; 4],
            src_ip: [0; 4],
            dst_ip: [0; 4],
            ciaddr: [0; 4],
            yiaddr: [0; 4],
            siaddr: [0; 4],
            giaddr: [0; 4],
            server_id: [0; 4],
            src_port: [0; 2],
            dst_port: [0; 2],
            chaddr: [0; 6],
            client_arch: [0; 2],
            flags: 0,
            message_type: 0,
            op: 0,
            hops: 0,
            class: 0,
            overload: 0,
            tftp_server_len: 0,
            bootfile_len: 0,
            _reserved: [0; 3],
            tftp_server: [0; 32],
            bootfile: [0; 64],
            file: [0; 64],
            sname: [0; 32],
        }
    }

    /// The record as bytes (for comparing kernel and host output).
    pub fn as_bytes(&self) -> &[u8; core::mem::size_of::<DhcpEvent>()] {
        // SAFETY: `DhcpEvent` is `repr(C)` with only byte arrays, u8 and one
        // u16 laid out without padding (its size is asserted to be the sum
        // of its fields), so every byte is initialised.
        unsafe { &*(self as *const DhcpEvent as *const [u8; core::mem::size_of::<DhcpEvent>()]) }
    }
}

/// A ring-buffer record carrying a [`DhcpEvent`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct DhcpRecord {
    pub header: EventHeader,
    pub event: DhcpEvent,
}

const _: () = assert!(core::mem::size_of::<DhcpRecord>() == 264);

#[cfg(feature = "user")]
// SAFETY: repr(C), no padding (sizes asserted), all bit patterns valid.
unsafe impl aya::Pod for DhcpRecord {}

/// Flags for each `VendorClass` (by discriminant).
const VENDOR_FLAGS: [u16; 4] = [
    0,
    dhcp_flags::VENDOR_PXE_CLIENT | dhcp_flags::VENDOR_CLASS,
    dhcp_flags::VENDOR_HTTP_CLIENT | dhcp_flags::VENDOR_CLASS,
    dhcp_flags::VENDOR_CLASS,
];

/// An ICMP destination unreachable quoting a UDP datagram of a PXE port
/// (67, 68, 69, 4011): the definitive sign that nothing took it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct IcmpEvent {
    /// Who sent the ICMP message (the host that refused the datagram).
    pub reporter: [u8; 4],
    pub quoted_src: [u8; 4],
    pub quoted_dst: [u8; 4],
    pub quoted_src_port: [u8; 2],
    pub quoted_dst_port: [u8; 2],
    /// ICMP code (3: port unreachable).
    pub code: u8,
    /// `Class as u8` of the quoted datagram.
    pub quoted_class: u8,
    /// 1 when the quoted datagram belongs to a followed TFTP transfer (its
    /// ports are ephemeral, so its class says nothing).
    pub transfer: u8,
    pub _reserved: u8,
}

const _: () = assert!(core::mem::size_of::<IcmpEvent>() == 20);

impl IcmpEvent {
    /// The event, `transfer` telling whether the quoted datagram belongs to
    /// a followed TFTP transfer.
    pub fn new(u: &crate::classify::IcmpUnreachable, transfer: bool) -> Self {
        IcmpEvent {
            reporter: u.reporter,
            quoted_src: u.quoted.src,
            quoted_dst: u.quoted.dst,
            quoted_src_port: u.quoted.src_port.to_be_bytes(),
            quoted_dst_port: u.quoted.dst_port.to_be_bytes(),
            code: u.code,
            quoted_class: u.quoted_class as u8,
            transfer: transfer as u8,
            _reserved: 0,
        }
    }

    /// Whether the quoted datagram went to or came from a PXE port, so the
    /// message matters to a boot.
    pub fn is_pxe_related(u: &crate::classify::IcmpUnreachable) -> bool {
        u.quoted_class.is_dhcp() || u.quoted_class == Class::TftpRequest
    }

    /// Whether the quoted datagram belongs to a followed TFTP transfer
    /// (either way: the server's DATA to a client port, or the client's ACK
    /// to the server's port).
    #[inline(always)]
    pub fn quotes_transfer<T: crate::flow::TftpFlows>(
        u: &crate::classify::IcmpUnreachable,
        flows: &mut T,
    ) -> bool {
        if u.quoted_class != Class::OtherUdp {
            return false;
        }
        let q = &u.quoted;
        let to_client = crate::flow::TftpKey {
            client_ip: q.dst,
            server_ip: q.src,
            client_port: q.dst_port.to_be_bytes(),
            _reserved: [0; 2],
        };
        let from_client = crate::flow::TftpKey {
            client_ip: q.src,
            server_ip: q.dst,
            client_port: q.src_port.to_be_bytes(),
            _reserved: [0; 2],
        };
        flows.get_either(&to_client, &from_client).is_some()
    }

    pub fn as_bytes(&self) -> &[u8; core::mem::size_of::<IcmpEvent>()] {
        // SAFETY: repr(C), only byte fields: no padding, every byte
        // initialised.
        unsafe { &*(self as *const IcmpEvent as *const [u8; core::mem::size_of::<IcmpEvent>()]) }
    }
}

/// A ring-buffer record carrying an [`IcmpEvent`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct IcmpRecord {
    pub header: EventHeader,
    pub event: IcmpEvent,
    pub _pad: [u8; 4],
}

const _: () = assert!(core::mem::size_of::<IcmpRecord>() == 40);

#[cfg(feature = "user")]
// SAFETY: repr(C), no padding (sizes asserted), all bit patterns valid.
unsafe impl aya::Pod for IcmpRecord {}

/// A TFTP packet that matters to a boot: a request, an OACK, an ERROR, the
/// first DATA and a short (last) DATA of a transfer, with the transfer's
/// totals so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct TftpEvent {
    pub client_ip: [u8; 4],
    pub server_ip: [u8; 4],
    pub client_port: [u8; 2],
    pub server_port: [u8; 2],
    pub opcode: [u8; 2],
    /// Block number (DATA/ACK) or error code (ERROR), big-endian.
    pub arg: [u8; 2],
    /// `crate::flow::TftpMoment as u8`.
    pub moment: u8,
    pub from_server: u8,
    /// UDP payload length of this packet.
    pub payload_len: u16,
    pub data_packets: u32,
    pub data_bytes: u32,
    pub highest_block: u16,
    pub max_data_len: u16,
    /// Milliseconds from the request to this packet (0 for the request).
    pub elapsed_ms: u32,
    /// Block size agreed by the OACK, 0 without one (512 applies).
    pub blksize: u16,
    /// The UDP payload, first 94 bytes (file name, mode and options of a
    /// request or OACK; code and message of an ERROR).
    pub payload: [u8; 94],
}

const _: () = assert!(core::mem::size_of::<TftpEvent>() == 132);

impl TftpEvent {
    pub const fn zeroed() -> Self {
        TftpEvent {
            client_ip: [0; 4],
            server_ip: [0; 4],
            client_port: [0; 2],
            server_port: [0; 2],
            opcode: [0; 2],
            arg: [0; 2],
            moment: 0,
            from_server: 0,
            payload_len: 0,
            data_packets: 0,
            data_bytes: 0,
            highest_block: 0,
            max_data_len: 0,
            elapsed_ms: 0,
            blksize: 0,
            payload: [0; 94],
        }
    }

    pub fn as_bytes(&self) -> &[u8; core::mem::size_of::<TftpEvent>()] {
        // SAFETY: repr(C) with byte arrays and naturally aligned integers
        // laid out without padding (size asserted): every byte initialised.
        unsafe { &*(self as *const TftpEvent as *const [u8; core::mem::size_of::<TftpEvent>()]) }
    }
}

/// A ring-buffer record carrying a [`TftpEvent`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct TftpRecord {
    pub header: EventHeader,
    pub event: TftpEvent,
    pub _pad: [u8; 4],
}

const _: () = assert!(core::mem::size_of::<TftpRecord>() == 152);

#[cfg(feature = "user")]
// SAFETY: repr(C), no padding (sizes asserted), all bit patterns valid.
unsafe impl aya::Pod for TftpRecord {}

/// Fills `ev` (expected zeroed) for a TFTP packet seen by
/// `crate::flow::observe_tftp`; `payload_at` is where its UDP payload starts.
#[inline(always)]
pub fn fill_tftp_event<F: Frame + ?Sized>(
    frame: &F,
    seen: &crate::flow::TftpSeen,
    payload_at: usize,
    now_ns: u64,
    ev: &mut TftpEvent,
) {
    ev.client_ip = seen.key.client_ip;
    ev.server_ip = seen.key.server_ip;
    ev.client_port = seen.key.client_port;
    ev.server_port = seen.server_port.to_be_bytes();
    ev.opcode = seen.header.opcode.to_be_bytes();
    ev.arg = seen.header.arg.to_be_bytes();
    ev.moment = seen.moment.map_or(0, |m| m as u8);
    ev.from_server = seen.from_server as u8;
    ev.payload_len = seen.payload_len;
    ev.data_packets = seen.flow.data_packets;
    ev.data_bytes = seen.flow.data_bytes as u32;
    ev.highest_block = seen.flow.highest_block;
    ev.max_data_len = seen.flow.max_data_len;
    ev.elapsed_ms = (now_ns.saturating_sub(seen.flow.first_ns) / 1_000_000) as u32;
    ev.blksize = seen.flow.blksize;
    frame.copy_prefix(payload_at, seen.payload_len as usize, &mut ev.payload);
}

/// Fills `ev` (expected zeroed) from the frame. Returns `false` if the
/// headers found by `classify` cannot be read again (never for the same
/// frame).
#[inline(always)]
pub fn fill_dhcp_event<F: Frame + ?Sized>(
    frame: &F,
    loc: &DhcpLocation,
    class: Class,
    pxe: bool,
    ev: &mut DhcpEvent,
) -> bool {
    let (Ok(ip), Ok(u), Ok(b)) = (
        ipv4::Header::new_checked(frame, loc.ip_at as usize),
        udp::Header::new_checked(frame, loc.udp_at as usize),
        dhcp::Header::new_checked(frame, loc.bootp_at as usize),
    ) else {
        return false;
    };
    let s = &loc.slots;
    use dhcp_flags as f;
    // Built without branches (see `OptionSlots::presence`).
    let mut flags = VENDOR_FLAGS[loc.vendor as usize & 3];
    flags |= s.presence(Slot::VendorSpecific) * f::VENDOR_SPECIFIC;
    flags |= s.presence(Slot::TftpServer) * f::TFTP_SERVER;
    flags |= s.presence(Slot::BootFile) * f::BOOTFILE;
    flags |= s.presence(Slot::ClientArch) * f::CLIENT_ARCH;
    flags |= s.presence(Slot::ServerId) * f::SERVER_ID;
    flags |= s.presence(Slot::Overload) * f::OVERLOAD;
    flags |= core::hint::black_box(pxe as u16) * f::PXE;
    if s.value::<F, 4>(frame, Slot::UserClass) == Some(b"iPXE") {
        flags |= f::USER_CLASS_IPXE;
    }
    ev.flags = flags;
    ev.xid = loc.xid.to_be_bytes();
    ev.src_ip = ip.source();
    ev.dst_ip = ip.destination();
    ev.src_port = u.source_port().to_be_bytes();
    ev.dst_port = u.destination_port().to_be_bytes();
    ev.ciaddr = b.ciaddr();
    ev.yiaddr = b.yiaddr();
    ev.siaddr = b.siaddr();
    ev.giaddr = b.giaddr();
    ev.chaddr = b.chaddr();
    ev.op = loc.op;
    ev.hops = b.hops();
    ev.class = class as u8;
    // Written in place (the event starts zeroed): see `OptionSlots::value`.
    if let Some(v) = s.value::<F, 1>(frame, Slot::MessageType) {
        ev.message_type = v[0];
    }
    if let Some(v) = s.value::<F, 1>(frame, Slot::Overload) {
        ev.overload = v[0];
    }
    if let Some(v) = s.value::<F, 4>(frame, Slot::ServerId) {
        ev.server_id = *v;
    }
    if let Some(v) = s.value::<F, 2>(frame, Slot::ClientArch) {
        ev.client_arch = *v;
    }
    ev.tftp_server_len = s.copy(frame, Slot::TftpServer, &mut ev.tftp_server);
    ev.bootfile_len = s.copy(frame, Slot::BootFile, &mut ev.bootfile);
    // One copy each (a helper call in the kernel, not a byte loop).
    let bootp_at = loc.bootp_at as usize;
    frame.copy_prefix(bootp_at + dhcp::field::FILE, ev.file.len(), &mut ev.file);
    frame.copy_prefix(bootp_at + dhcp::field::SNAME, ev.sname.len(), &mut ev.sname);
    true
}
