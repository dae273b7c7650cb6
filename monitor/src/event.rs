//! Events as the kernel sends them (and the host replica builds them): the
//! [`Event`] type, decoding ring-buffer records, typed readers of their
//! fields, the text of their strings ([`text`]) and how to print it safely
//! ([`escape`]), and describing events for the debug log.

use std::{
    borrow::Cow,
    fmt::Write as _,
    mem::offset_of,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
};

use monitor_common::{
    Class, DhcpType, Direction,
    conn::HttpMoment,
    event::{
        DHCP_SHORT_LEN, DHCP6_FIXED_LEN, Dhcp6Event, Dhcp6Record, DhcpEvent, DhcpRecord,
        EventHeader, EventKind, HTTP_FIXED_LEN, HttpEvent, HttpRecord, IcmpEvent, IcmpRecord,
        TFTP_FIXED_LEN, TftpEvent, TftpRecord, dhcp_flags,
    },
    flow::TftpMoment,
    wire::{http, tftp},
};

/// A record from the ring buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Record {
    Dhcp(DhcpRecord),
    Icmp(IcmpRecord),
    Tftp(TftpRecord),
    Http(HttpRecord),
    Dhcp6(Dhcp6Record),
}

impl Record {
    pub fn header(&self) -> &EventHeader {
        match self {
            Record::Dhcp(r) => &r.header,
            Record::Icmp(r) => &r.header,
            Record::Tftp(r) => &r.header,
            Record::Http(r) => &r.header,
            Record::Dhcp6(r) => &r.header,
        }
    }

    /// The event part, as the host builds it.
    pub fn event(&self) -> Event {
        match self {
            Record::Dhcp(r) => Event::Dhcp(r.event),
            Record::Icmp(r) => Event::Icmp(r.event),
            Record::Tftp(r) => Event::Tftp(r.event),
            Record::Http(r) => Event::Http(r.event),
            Record::Dhcp6(r) => Event::Dhcp6(r.event),
        }
    }
}

/// A record from the ring buffer, or `None` if the bytes are not one
/// (unknown kind, or a size that does not fit the kind): counted and
/// skipped by the reader.
pub fn decode(bytes: &[u8]) -> Option<Record> {
    let kind = *bytes.get(offset_of!(EventHeader, kind))?;
    if kind == EventKind::Dhcp as u8 {
        // Or a short record, cut before its (empty) strings.
        read_cut::<DhcpRecord>(bytes, bytes.len() == DHCP_SHORT_LEN).map(Record::Dhcp)
    } else if kind == EventKind::IcmpUnreachable as u8 {
        read_pod::<IcmpRecord>(bytes).map(Record::Icmp)
    } else if kind == EventKind::Tftp as u8 {
        // Or cut after the payload bytes it carries.
        let cut = (TFTP_FIXED_LEN..size_of::<TftpRecord>()).contains(&bytes.len());
        read_cut::<TftpRecord>(bytes, cut).map(Record::Tftp)
    } else if kind == EventKind::Http as u8 {
        // Or cut after the payload bytes it carries, in whole words.
        let cut = (HTTP_FIXED_LEN..size_of::<HttpRecord>()).contains(&bytes.len())
            && bytes.len().is_multiple_of(8);
        read_cut::<HttpRecord>(bytes, cut).map(Record::Http)
    } else if kind == EventKind::Dhcp6 as u8 {
        // Or cut after the message bytes it carries, in whole words.
        let cut = (DHCP6_FIXED_LEN..size_of::<Dhcp6Record>()).contains(&bytes.len())
            && bytes.len().is_multiple_of(8);
        read_cut::<Dhcp6Record>(bytes, cut).map(Record::Dhcp6)
    } else {
        None
    }
}

/// A `T` from a record the kernel cut short (`cut`: its length is one the
/// kind allows), the bytes it left out read as zeros; otherwise exactly
/// [`read_pod`].
fn read_cut<T: aya::Pod>(bytes: &[u8], cut: bool) -> Option<T> {
    if !cut || bytes.len() >= size_of::<T>() {
        return read_pod(bytes);
    }
    let mut v = std::mem::MaybeUninit::<T>::zeroed();
    // SAFETY: `T` is plain old data, so all-zero is a valid `T` and so is
    // any byte pattern over it; `bytes` is shorter than `T` (tested above).
    unsafe {
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), v.as_mut_ptr().cast::<u8>(), bytes.len());
        Some(v.assume_init())
    }
}

fn read_pod<T: aya::Pod>(bytes: &[u8]) -> Option<T> {
    if bytes.len() != size_of::<T>() {
        return None;
    }
    // SAFETY: `T` is plain old data (every bit pattern valid) and `bytes`
    // holds exactly its size; read_unaligned copes with any alignment.
    Some(unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast()) })
}

/// The value of a fixed-size text field: up to `len` bytes, without the
/// NUL padding some servers add (dnsmasq NUL-terminates option 67).
pub fn text(bytes: &[u8], len: usize) -> String {
    let v = &bytes[..len.min(bytes.len())];
    let end = v.iter().position(|b| *b == 0).unwrap_or(v.len());
    String::from_utf8_lossy(&v[..end]).into_owned()
}

/// `s` with every character that a terminal or a log reader could act on
/// written as `\u{..}`: control characters (C0, DEL, C1: escape sequences,
/// line breaks that would fake a line of output) and the bidirectional
/// overrides that reorder what is shown. Boot file names, TFTP error
/// messages and option 66 come from the wire.
pub fn escape(s: &str) -> Cow<'_, str> {
    fn unsafe_char(c: char) -> bool {
        c.is_control()
            || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    }
    if !s.chars().any(unsafe_char) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if unsafe_char(c) {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// One line for the debug log.
pub fn describe(dir: u8, ev: &DhcpEvent) -> String {
    let ty = DhcpType::from_option(ev.message_type).label();
    let dir = if dir == Direction::Egress as u8 {
        "out"
    } else {
        "in"
    };
    let mac = ev.chaddr.map(|b| format!("{b:02x}")).join(":");
    let bootfile = if ev.flags & dhcp_flags::BOOTFILE != 0 {
        text(&ev.bootfile, ev.bootfile_len.into())
    } else {
        text(&ev.file, ev.file.len())
    };
    format!(
        "{dir} {ty} xid={:08x} client={mac} src={}:{} dst={}:{} yiaddr={} siaddr={} bootfile={bootfile:?} flags={:#06x}",
        u32::from_be_bytes(ev.xid),
        Ipv4Addr::from(ev.src_ip),
        u16::from_be_bytes(ev.src_port),
        Ipv4Addr::from(ev.dst_ip),
        u16::from_be_bytes(ev.dst_port),
        Ipv4Addr::from(ev.yiaddr),
        Ipv4Addr::from(ev.siaddr),
        ev.flags,
    )
}

/// The client's or server's message a DHCPv6 event carries (inside any
/// relays), as much of it as the kernel copied.
pub fn dhcp6_message(e: &Dhcp6Event) -> &[u8] {
    &e.payload[..usize::from(e.payload_len).min(e.payload.len())]
}

/// The message a DHCPv6 event carries and its walk (as the kernel walked
/// it).
fn dhcp6_inner(e: &Dhcp6Event) -> Option<(&[u8], monitor_common::wire::dhcpv6::Inner)> {
    let msg = dhcp6_message(e);
    let m = monitor_common::wire::dhcpv6::inner(msg, 0, msg.len()).ok()?;
    Some((msg, m))
}

/// The value of one option of the message a DHCPv6 event carries, if
/// present and whole in the copied bytes.
pub fn dhcp6_option(e: &Dhcp6Event, slot: monitor_common::wire::dhcpv6::Slot) -> Option<&[u8]> {
    let (msg, m) = dhcp6_inner(e)?;
    let (at, len) = m.options.value(msg, slot)?;
    msg.get(at..at + len)
}

/// The client's MAC: from the DUID in its client id (which servers echo),
/// else, for a client's own message that no relay carried, the Ethernet
/// source.
pub fn dhcp6_client_mac(e: &Dhcp6Event) -> Option<[u8; 6]> {
    use monitor_common::wire::dhcpv6;
    dhcp6_inner(e)
        .and_then(|(msg, m)| dhcpv6::client_mac(msg, &m.options))
        .or_else(|| (e.relays == 0 && dhcpv6::is_client_type(e.inner_type)).then_some(e.src_mac))
}

/// Option 59, the boot file URL, as text.
pub fn dhcp6_boot_url(e: &Dhcp6Event) -> Option<String> {
    dhcp6_option(e, monitor_common::wire::dhcpv6::Slot::BootFileUrl)
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

/// The address an Advertise or Reply gives the client
/// (`wire::dhcpv6::ia_na_address`, as the kernel reads it).
pub fn dhcp6_address(e: &Dhcp6Event) -> Option<Ipv6Addr> {
    let (msg, m) = dhcp6_inner(e)?;
    monitor_common::wire::dhcpv6::ia_na_address(msg, &m.options).map(Ipv6Addr::from)
}

/// Whether a server's message echoes `HTTPClient` as EDK2's HTTP Boot
/// takes it (`wire::dhcpv6::echoes_http_client`).
pub fn dhcp6_echoes_http_client(e: &Dhcp6Event) -> bool {
    dhcp6_inner(e)
        .is_some_and(|(msg, m)| monitor_common::wire::dhcpv6::echoes_http_client(msg, &m.options))
}

/// Option 61, the client's first architecture type.
pub fn dhcp6_arch(e: &Dhcp6Event) -> Option<u16> {
    let v = dhcp6_option(e, monitor_common::wire::dhcpv6::Slot::ClientArch)?;
    v.first_chunk::<2>().map(|a| u16::from_be_bytes(*a))
}

/// Option 15, user class, holds `iPXE` (each class a 2-byte length and its
/// bytes).
pub fn dhcp6_user_class_ipxe(e: &Dhcp6Event) -> bool {
    let Some(mut v) = dhcp6_option(e, monitor_common::wire::dhcpv6::Slot::UserClass) else {
        return false;
    };
    while let Some((len, rest)) = v.split_first_chunk::<2>() {
        let len = usize::from(u16::from_be_bytes(*len));
        let Some(class) = rest.get(..len) else {
            return false;
        };
        if class == b"iPXE" {
            return true;
        }
        v = &rest[len..];
    }
    false
}

/// One line for the debug log.
pub fn describe_dhcp6(dir: u8, ev: &Dhcp6Event) -> String {
    use monitor_common::counters::Dhcp6Type;
    let dir = if dir == Direction::Egress as u8 {
        "out"
    } else {
        "in"
    };
    let url = dhcp6_boot_url(ev);
    let relayed = if ev.relays > 0 {
        format!(
            " relayed by {} ({} hop)",
            Ipv6Addr::from(ev.relay_link),
            ev.relays
        )
    } else {
        String::new()
    };
    format!(
        "{dir} dhcpv6 {} ({}) xid={:06x} src=[{}]:{} dst=[{}]:{} client={}{relayed} boot_file_url={url:?}",
        Dhcp6Type::from_msg(ev.msg_type).label(),
        Dhcp6Type::from_msg(ev.inner_type).label(),
        u32::from_be_bytes(ev.xid),
        Ipv6Addr::from(ev.src_ip),
        u16::from_be_bytes(ev.src_port),
        Ipv6Addr::from(ev.dst_ip),
        u16::from_be_bytes(ev.dst_port),
        dhcp6_client_mac(ev).map_or("?".to_owned(), |m| m.map(|b| format!("{b:02x}")).join(":")),
    )
}

/// One line for the debug log.
pub fn describe_icmp(ev: &IcmpEvent) -> String {
    let src = SocketAddr::new(addr(ev.quoted_src), u16::from_be_bytes(ev.quoted_src_port));
    let dst = SocketAddr::new(addr(ev.quoted_dst), u16::from_be_bytes(ev.quoted_dst_port));
    format!(
        "icmp unreachable code {} from {}: nothing took {src} -> {dst}{}",
        ev.code,
        addr(ev.reporter),
        if ev.transfer != 0 {
            " (a followed TFTP transfer)"
        } else {
            ""
        },
    )
}

/// One line for the debug log.
pub fn describe_tftp(ev: &TftpEvent) -> String {
    let moment = match tftp_moment(ev) {
        Some(TftpMoment::Request) => "request",
        Some(TftpMoment::Oack) => "oack",
        Some(TftpMoment::Error) => "error",
        Some(TftpMoment::FirstData) => "first data",
        Some(TftpMoment::LastData) => "last data",
        None => "packet",
    };
    let payload = &ev.payload[..usize::from(ev.payload_len).min(ev.payload.len())];
    let text = if let Some(r) = tftp::parse_request(payload) {
        let (file, mode) = (
            String::from_utf8_lossy(r.filename),
            String::from_utf8_lossy(r.mode),
        );
        format!("file={file:?} mode={mode:?} {:?}", r.options)
    } else if let Some(o) = tftp::parse_oack(payload) {
        format!("{o:?}")
    } else if let Some((code, msg)) = tftp::parse_error(payload) {
        format!("code={code} message={:?}", String::from_utf8_lossy(msg))
    } else {
        String::new()
    };
    format!(
        "tftp {moment} client={} server={} opcode={} arg={} data_packets={} data_bytes={} elapsed_ms={} {}",
        SocketAddr::new(addr(ev.client_ip), u16::from_be_bytes(ev.client_port)),
        SocketAddr::new(addr(ev.server_ip), u16::from_be_bytes(ev.server_port)),
        u16::from_be_bytes(ev.opcode),
        u16::from_be_bytes(ev.arg),
        ev.data_packets,
        ev.data_bytes,
        ev.elapsed_ms,
        text,
    )
}

/// A 16-byte address of an event as the address it is: IPv4 for
/// `::ffff:a.b.c.d` (`wire::ipv6::v4_mapped`), else IPv6.
pub fn addr(a: [u8; 16]) -> IpAddr {
    Ipv6Addr::from(a).to_canonical()
}

/// The payload bytes an HTTP event carries.
pub fn http_payload(e: &HttpEvent) -> &[u8] {
    let n = usize::try_from(e.payload_len).map_or(e.payload.len(), |n| n.min(e.payload.len()));
    match HttpMoment::from_u8(e.moment) {
        Some(HttpMoment::Request | HttpMoment::Response) => &e.payload[..n],
        _ => &[],
    }
}

/// One line for the debug log.
pub fn describe_http(ev: &HttpEvent) -> String {
    let moment = match HttpMoment::from_u8(ev.moment) {
        Some(HttpMoment::Syn) => "syn",
        Some(HttpMoment::SynAck) => "syn-ack",
        Some(HttpMoment::Request) => "request",
        Some(HttpMoment::Response) => "response",
        Some(HttpMoment::Fin) => "fin",
        Some(HttpMoment::Rst) => "rst",
        None => "segment",
    };
    let payload = http_payload(ev);
    let head = if let Some(r) = http::parse_request(payload) {
        format!(
            "{} {:?}",
            r.method.label(),
            String::from_utf8_lossy(r.target)
        )
    } else if let Some(r) = http::parse_response(payload) {
        format!("status={} content_length={:?}", r.status, r.content_length)
    } else {
        String::new()
    };
    format!(
        "http {moment} client={} server={} from_server={} offset={} server_bytes={} client_bytes={} elapsed_ms={} {head}",
        SocketAddr::new(addr(ev.client_ip), u16::from_be_bytes(ev.client_port)),
        SocketAddr::new(addr(ev.server_ip), u16::from_be_bytes(ev.server_port)),
        ev.from_server,
        ev.offset,
        ev.server_bytes,
        ev.client_bytes,
        ev.elapsed_ms,
    )
}

/// An event as the kernel sends it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    Dhcp(DhcpEvent),
    Icmp(IcmpEvent),
    Tftp(TftpEvent),
    Http(HttpEvent),
    Dhcp6(Dhcp6Event),
}

impl Event {
    pub fn kind(&self) -> EventKind {
        match self {
            Event::Dhcp(_) => EventKind::Dhcp,
            Event::Icmp(_) => EventKind::IcmpUnreachable,
            Event::Tftp(_) => EventKind::Tftp,
            Event::Http(_) => EventKind::Http,
            Event::Dhcp6(_) => EventKind::Dhcp6,
        }
    }

    pub fn bytes(&self) -> &[u8] {
        match self {
            Event::Dhcp(e) => e.as_bytes(),
            Event::Icmp(e) => e.as_bytes(),
            Event::Tftp(e) => e.as_bytes(),
            Event::Http(e) => e.as_bytes(),
            Event::Dhcp6(e) => e.as_bytes(),
        }
    }
}

/// An event stamped with the kernel's monotonic clock (ns), as it travels
/// from a ring-buffer reader to the session tracker.
pub type Stamped = (Event, u64);

/// The kinds of record a ring-buffer reader counts
/// (`pxe_events_received_total{kind}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordKind {
    Dhcp,
    IcmpUnreachable,
    Tftp,
    Http,
    Dhcp6,
    /// Bytes that are no record: counted and skipped.
    Malformed,
}

impl RecordKind {
    /// In declaration order: `kind as usize` is its place here.
    pub const ALL: [RecordKind; 6] = [
        RecordKind::Dhcp,
        RecordKind::IcmpUnreachable,
        RecordKind::Tftp,
        RecordKind::Http,
        RecordKind::Dhcp6,
        RecordKind::Malformed,
    ];

    pub const fn label(self) -> &'static str {
        match self {
            RecordKind::Dhcp => "dhcp",
            RecordKind::IcmpUnreachable => "icmp_unreachable",
            RecordKind::Tftp => "tftp",
            RecordKind::Http => "http",
            RecordKind::Dhcp6 => "dhcpv6",
            RecordKind::Malformed => "malformed",
        }
    }

    /// The kind of a decoded record, or `Malformed`.
    pub fn of(record: Option<&Record>) -> RecordKind {
        match record {
            Some(Record::Dhcp(_)) => RecordKind::Dhcp,
            Some(Record::Icmp(_)) => RecordKind::IcmpUnreachable,
            Some(Record::Tftp(_)) => RecordKind::Tftp,
            Some(Record::Http(_)) => RecordKind::Http,
            Some(Record::Dhcp6(_)) => RecordKind::Dhcp6,
            None => RecordKind::Malformed,
        }
    }
}

/// Whether the DHCP message went from or to port 4011 (the boot server).
pub fn on_proxy_port(e: &DhcpEvent) -> bool {
    u32::from(e.class) == Class::ProxyDhcp as u32
}

/// Which moment of a transfer a TFTP event reports.
pub fn tftp_moment(e: &TftpEvent) -> Option<TftpMoment> {
    [
        TftpMoment::Request,
        TftpMoment::Oack,
        TftpMoment::Error,
        TftpMoment::FirstData,
        TftpMoment::LastData,
    ]
    .into_iter()
    .find(|m| *m as u8 == e.moment)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_records_decode_with_zeros_and_other_lengths_are_refused() {
        let mut whole = [0xaau8; size_of::<DhcpRecord>()];
        whole[offset_of!(EventHeader, kind)] = EventKind::Dhcp as u8;
        let Some(Record::Dhcp(short)) = decode(&whole[..DHCP_SHORT_LEN]) else {
            panic!("a short DHCP record is refused");
        };
        assert_eq!(short.event.xid, [0xaa; 4]);
        assert_eq!(
            (short.event.bootfile, short.event.sname),
            ([0; 64], [0; 32])
        );
        assert!(decode(&whole).is_some());
        assert!(decode(&whole[..DHCP_SHORT_LEN + 8]).is_none());

        let mut whole = [0x55u8; size_of::<TftpRecord>()];
        whole[offset_of!(EventHeader, kind)] = EventKind::Tftp as u8;
        let Some(Record::Tftp(cut)) = decode(&whole[..TFTP_FIXED_LEN + 16]) else {
            panic!("a cut TFTP record is refused");
        };
        assert_eq!(&cut.event.payload[..16], &[0x55; 16]);
        assert_eq!(cut.event.payload[16..], [0; 80]);
        assert!(decode(&whole[..TFTP_FIXED_LEN - 8]).is_none());
        assert!(decode(&[whole.as_slice(), &[0; 8]].concat()).is_none());

        let mut whole = [0x66u8; size_of::<Dhcp6Record>()];
        whole[offset_of!(EventHeader, kind)] = EventKind::Dhcp6 as u8;
        let Some(Record::Dhcp6(cut)) = decode(&whole[..DHCP6_FIXED_LEN + 24]) else {
            panic!("a cut DHCPv6 record is refused");
        };
        assert_eq!(&cut.event.payload[..24], &[0x66; 24]);
        assert!(cut.event.payload[24..].iter().all(|b| *b == 0));
        assert!(decode(&whole).is_some());
        // Not whole words, or shorter than the fixed part.
        assert!(decode(&whole[..DHCP6_FIXED_LEN + 20]).is_none());
        assert!(decode(&whole[..DHCP6_FIXED_LEN - 8]).is_none());
    }

    #[test]
    fn dhcpv6_readers() {
        use crate::testing::frames::dhcpv6;
        let mac = [0x52, 0x54, 0, 0x12, 0x34, 0x56];
        let duid = [&[0, 1, 0, 1, 0x2e, 0x1a, 0x2b, 0x3c][..], &mac].concat();
        let url = b"tftp://[fd77:10::1]/tiny.efi";
        let msg = dhcpv6(2, 0xabcdef, &[(1, &duid), (59, url)]);
        let mut e = Dhcp6Event::zeroed();
        e.payload[..msg.len()].copy_from_slice(&msg);
        e.payload_len = msg.len() as u16;
        (e.msg_type, e.inner_type) = (2, 2);
        assert_eq!(dhcp6_client_mac(&e), Some(mac));
        assert_eq!(
            dhcp6_boot_url(&e).as_deref(),
            Some("tftp://[fd77:10::1]/tiny.efi")
        );
        // A Solicit without a client id: its Ethernet source, unless relayed.
        let msg = dhcpv6(1, 1, &[]);
        let mut s = Dhcp6Event::zeroed();
        s.payload[..msg.len()].copy_from_slice(&msg);
        (s.payload_len, s.msg_type, s.inner_type, s.src_mac) = (4, 1, 1, [2; 6]);
        assert_eq!(dhcp6_client_mac(&s), Some([2; 6]));
        s.relays = 1;
        assert_eq!(dhcp6_client_mac(&s), None);
        assert_eq!(dhcp6_boot_url(&s), None);
        // A URL of control characters is escaped where it is printed.
        let msg = dhcpv6(2, 1, &[(59, b"tftp://x/\x1b[2J")]);
        let mut a = Dhcp6Event::zeroed();
        a.payload[..msg.len()].copy_from_slice(&msg);
        a.payload_len = msg.len() as u16;
        assert!(!escape(&describe_dhcp6(0, &a)).contains('\x1b'));
    }

    #[test]
    fn record_kinds_index_their_list() {
        for (i, k) in RecordKind::ALL.into_iter().enumerate() {
            assert_eq!(k as usize, i, "{k:?}");
        }
    }

    #[test]
    fn escape_leaves_plain_text_and_defuses_the_rest() {
        assert!(matches!(
            escape("pxelinux.0 from 10.0.0.1"),
            Cow::Borrowed(_)
        ));
        assert_eq!(escape("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(escape("x\nBOOTED"), "x\\u{a}BOOTED");
        assert_eq!(escape("\u{9b}31m"), "\\u{9b}31m");
        assert_eq!(escape("abc\u{202e}fed"), "abc\\u{202e}fed");
        assert_eq!(escape("Ünïcödé"), "Ünïcödé");
    }
}
