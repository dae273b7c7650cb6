//! The event records the kernel sends to userspace through the ring buffer
//! (and the host replica builds the same way): fixed-size `repr(C)` records
//! with no padding (sizes asserted below), fields in network byte order
//! where they come from the wire. Records only: `crate::report` fills them
//! from what the stages found, and this module imports nothing of the crate,
//! so the userspace decoder depends on the records alone.

/// What kind of record follows the header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum EventKind {
    Dhcp = 1,
    IcmpUnreachable = 2,
    Tftp = 3,
    Http = 4,
    Dhcp6 = 5,
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

/// The length of a short DHCP record: a [`DhcpRecord`] cut before its
/// strings (options 66 and 67, `file`, `sname`), sent for the messages that
/// carry none of them (a client's DISCOVER and REQUEST), whose strings read
/// as empty. A third of the bytes: the ring buffer's cost grows with a
/// record's size (BENCHMARKS.md).
pub const DHCP_SHORT_LEN: usize =
    core::mem::size_of::<EventHeader>() + core::mem::offset_of!(DhcpEvent, tftp_server);

const _: () = assert!(DHCP_SHORT_LEN == 72 && DHCP_SHORT_LEN.is_multiple_of(8));

#[cfg(feature = "user")]
// SAFETY: repr(C), no padding (sizes asserted), all bit patterns valid.
unsafe impl aya::Pod for DhcpRecord {}

/// An ICMP or ICMPv6 destination unreachable quoting a UDP datagram of a
/// PXE port (67, 68, 69, 4011; 546, 547) or of a followed TFTP transfer:
/// the definitive sign that nothing took it. Addresses of either family in
/// 16 bytes (IPv4 as `::ffff:a.b.c.d`, as in [`TftpEvent`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct IcmpEvent {
    /// Who sent the ICMP message (the host that refused the datagram).
    pub reporter: [u8; 16],
    pub quoted_src: [u8; 16],
    pub quoted_dst: [u8; 16],
    pub quoted_src_port: [u8; 2],
    pub quoted_dst_port: [u8; 2],
    /// ICMP code (3: port unreachable), or ICMPv6 code (4).
    pub code: u8,
    /// `Class as u8` of the quoted datagram.
    pub quoted_class: u8,
    /// 1 when the quoted datagram belongs to a followed TFTP transfer (its
    /// ports are ephemeral, so its class says nothing).
    pub transfer: u8,
    pub _reserved: u8,
}

const _: () = assert!(core::mem::size_of::<IcmpEvent>() == 56);

impl IcmpEvent {
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
}

const _: () = assert!(core::mem::size_of::<IcmpRecord>() == 72);

#[cfg(feature = "user")]
// SAFETY: repr(C), no padding (sizes asserted), all bit patterns valid.
unsafe impl aya::Pod for IcmpRecord {}

/// A TFTP packet that matters to a boot: a request, an OACK, an ERROR, the
/// first DATA and a short (last) DATA of a transfer, with the transfer's
/// totals so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct TftpEvent {
    /// Addresses of either family, IPv4 as `::ffff:a.b.c.d`
    /// (`wire::ipv6::v4_mapped`).
    pub client_ip: [u8; 16],
    pub server_ip: [u8; 16],
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
    /// The client's side of the frame's Ethernet header: the source of what
    /// the client sends, the destination of what it gets (the client's
    /// MAC on its own segment; a router's where the transfer is routed).
    /// It names a client whose DHCP was not seen here.
    pub client_mac: [u8; 6],
    pub _reserved: [u8; 4],
    /// The UDP payload, first 96 bytes, of a request or OACK (file name,
    /// mode and options) or an ERROR (code and message); empty for DATA
    /// (the file's bytes are not the monitor's business). Last, so that a
    /// record can be cut after the bytes it carries ([`tftp_record_len`]).
    pub payload: [u8; 96],
}

const _: () = assert!(core::mem::size_of::<TftpEvent>() == 168);

impl TftpEvent {
    pub const fn zeroed() -> Self {
        TftpEvent {
            client_ip: [0; 16],
            server_ip: [0; 16],
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
            client_mac: [0; 6],
            _reserved: [0; 4],
            payload: [0; 96],
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
}

const _: () = assert!(core::mem::size_of::<TftpRecord>() == 184);

/// The bytes of a [`TftpRecord`] before its payload.
pub const TFTP_FIXED_LEN: usize =
    core::mem::size_of::<EventHeader>() + core::mem::offset_of!(TftpEvent, payload);

const _: () = assert!(TFTP_FIXED_LEN == 88);

/// How much of a [`TftpRecord`] the kernel sends for a payload of
/// `payload` bytes: the fixed part and the payload's bytes (at most 96),
/// in whole 8-byte words; the agent reads the rest as zeros. A request for
/// `pxelinux.0` is a 112-byte record, not 184: the ring buffer's cost grows
/// with a record's size (BENCHMARKS.md).
#[inline(always)]
pub const fn tftp_record_len(payload: usize) -> usize {
    let n = if payload < 96 { payload } else { 96 };
    TFTP_FIXED_LEN + ((n + 7) & 0xf8)
}

#[cfg(feature = "user")]
// SAFETY: repr(C), no padding (sizes asserted), all bit patterns valid.
unsafe impl aya::Pod for TftpRecord {}

/// A segment of a boot client's web connection that matters: its SYN, the
/// SYN-ACK, one that starts an HTTP request or response head (with its
/// first bytes: the request line and headers, the status line and
/// Content-Length), a side's first FIN, an RST; with the connection's
/// totals so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct HttpEvent {
    /// Both families in 16 bytes, IPv4 as `::ffff:a.b.c.d`.
    pub client_ip: [u8; 16],
    pub server_ip: [u8; 16],
    pub client_port: [u8; 2],
    pub server_port: [u8; 2],
    /// The segment's TCP sequence number, big-endian.
    pub seq: [u8; 4],
    /// Where the segment's first payload byte stands in its side's byte
    /// stream (0: the first byte after the SYN).
    pub offset: u64,
    /// Payload bytes the server / the client sent so far, each counted once.
    pub server_bytes: u64,
    pub client_bytes: u64,
    /// Milliseconds from the connection's first segment to this one.
    pub elapsed_ms: u32,
    /// TCP payload length of this segment.
    pub payload_len: u32,
    pub syns: u16,
    pub requests: u16,
    pub responses: u16,
    /// `crate::conn::HttpMoment as u8`.
    pub moment: u8,
    pub from_server: u8,
    /// The segment's TCP flags.
    pub tcp_flags: u8,
    /// `crate::conn::seen` bits of the connection after this segment.
    pub seen: u8,
    /// `crate::wire::tcp::Web as u8` of the server's port.
    pub web: u8,
    /// `crate::wire::http::Method as u8` of a request, else 0.
    pub method: u8,
    /// The MAC the client's DHCP ACK was for.
    pub client_mac: [u8; 6],
    pub _reserved: [u8; 6],
    /// The first 256 payload bytes of a segment that starts a head; empty
    /// otherwise. Last, so that a record can be cut after the bytes it
    /// carries ([`http_record_len`]).
    pub payload: [u8; 256],
}

const _: () = assert!(core::mem::size_of::<HttpEvent>() == 352);

impl HttpEvent {
    pub const fn zeroed() -> Self {
        HttpEvent {
            client_ip: [0; 16],
            server_ip: [0; 16],
            client_port: [0; 2],
            server_port: [0; 2],
            seq: [0; 4],
            offset: 0,
            server_bytes: 0,
            client_bytes: 0,
            elapsed_ms: 0,
            payload_len: 0,
            syns: 0,
            requests: 0,
            responses: 0,
            moment: 0,
            from_server: 0,
            tcp_flags: 0,
            seen: 0,
            web: 0,
            method: 0,
            client_mac: [0; 6],
            _reserved: [0; 6],
            payload: [0; 256],
        }
    }

    pub fn as_bytes(&self) -> &[u8; core::mem::size_of::<HttpEvent>()] {
        // SAFETY: repr(C) with byte arrays and naturally aligned integers
        // laid out without padding (size asserted): every byte initialised.
        unsafe { &*(self as *const HttpEvent as *const [u8; core::mem::size_of::<HttpEvent>()]) }
    }
}

/// A ring-buffer record carrying an [`HttpEvent`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct HttpRecord {
    pub header: EventHeader,
    pub event: HttpEvent,
}

const _: () = assert!(core::mem::size_of::<HttpRecord>() == 368);

/// The bytes of an [`HttpRecord`] before its payload.
pub const HTTP_FIXED_LEN: usize =
    core::mem::size_of::<EventHeader>() + core::mem::offset_of!(HttpEvent, payload);

const _: () = assert!(HTTP_FIXED_LEN == 112);

/// How much of an [`HttpRecord`] the kernel sends for `payload` carried
/// bytes: the fixed part and the bytes (at most 256), in whole 8-byte
/// words; the agent reads the rest as zeros.
#[inline(always)]
pub const fn http_record_len(payload: usize) -> usize {
    let n = if payload < 256 { payload } else { 256 };
    HTTP_FIXED_LEN + ((n + 7) & 0x1f8)
}

#[cfg(feature = "user")]
// SAFETY: repr(C), no padding (sizes asserted), all bit patterns valid.
unsafe impl aya::Pod for HttpRecord {}

/// One DHCPv6 message of a PXE exchange: addresses and ports, the relay
/// nearest the client (if relayed), and the first bytes of the client's or
/// server's message itself (inside any relays), which userspace reads with
/// the same `wire::dhcpv6` parser: the kernel copies, it does not pick
/// options apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct Dhcp6Event {
    pub src_ip: [u8; 16],
    pub dst_ip: [u8; 16],
    /// The nearest relay's link and peer address (zero when not relayed).
    pub relay_link: [u8; 16],
    pub relay_peer: [u8; 16],
    pub src_port: [u8; 2],
    pub dst_port: [u8; 2],
    /// The Ethernet source.
    pub src_mac: [u8; 6],
    /// The transaction id, big-endian, the top byte zero.
    pub xid: [u8; 4],
    /// The type on the wire (a relay's, when relayed) and of the message
    /// the payload holds.
    pub msg_type: u8,
    pub inner_type: u8,
    /// `Class as u8`.
    pub class: u8,
    pub relays: u8,
    /// `VendorClass as u8`.
    pub vendor: u8,
    /// Part of a PXE exchange (always set in the kernel's events).
    pub pxe: u8,
    /// The message's length (from the relay option or the UDP length) and
    /// how many of its bytes `payload` holds.
    pub msg_len: u16,
    pub payload_len: u16,
    /// The message: type, transaction id, options.
    pub payload: [u8; 256],
}

const _: () = assert!(core::mem::size_of::<Dhcp6Event>() == 344);

impl Dhcp6Event {
    pub const fn zeroed() -> Self {
        Dhcp6Event {
            src_ip: [0; 16],
            dst_ip: [0; 16],
            relay_link: [0; 16],
            relay_peer: [0; 16],
            src_port: [0; 2],
            dst_port: [0; 2],
            src_mac: [0; 6],
            xid: [0; 4],
            msg_type: 0,
            inner_type: 0,
            class: 0,
            relays: 0,
            vendor: 0,
            pxe: 0,
            msg_len: 0,
            payload_len: 0,
            payload: [0; 256],
        }
    }

    pub fn as_bytes(&self) -> &[u8; core::mem::size_of::<Dhcp6Event>()] {
        // SAFETY: repr(C) with byte arrays, u8 and two u16 at even offsets,
        // laid out without padding (size asserted): every byte initialised.
        unsafe { &*(self as *const Dhcp6Event as *const [u8; core::mem::size_of::<Dhcp6Event>()]) }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct Dhcp6Record {
    pub header: EventHeader,
    pub event: Dhcp6Event,
}

const _: () = assert!(core::mem::size_of::<Dhcp6Record>() == 360);

/// The record without its payload: what every DHCPv6 record sends.
pub const DHCP6_FIXED_LEN: usize =
    core::mem::size_of::<EventHeader>() + core::mem::offset_of!(Dhcp6Event, payload);

const _: () = assert!(DHCP6_FIXED_LEN == 104);

/// The bytes sent for a record whose payload holds `payload` bytes: the
/// fixed part and the payload rounded up to whole words.
#[inline(always)]
pub const fn dhcp6_record_len(payload: usize) -> usize {
    let n = if payload < 256 { payload } else { 256 };
    DHCP6_FIXED_LEN + ((n + 7) & 0x1f8)
}

#[cfg(feature = "user")]
// SAFETY: repr(C), no padding (sizes asserted), all bit patterns valid.
unsafe impl aya::Pod for Dhcp6Record {}
