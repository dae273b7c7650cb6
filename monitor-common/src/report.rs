//! Builds the event records of `crate::event` from what the stages found:
//! a DHCP message (`crate::stage::DhcpLocation`), an ICMP destination
//! unreachable (`crate::classify::IcmpUnreachable`), a TFTP packet
//! (`crate::flow::TftpSeen`), a web segment (`crate::conn::HttpSeen`). The kernel fills ring-buffer memory with
//! these, the host replica a local record: the same bytes.
//!
//! The top layer of the crate: it imports the records, the stages and the
//! parsers, and no module of the crate imports it.

use crate::{
    classify::IcmpUnreachable,
    conn::{HttpMoment, HttpSeen},
    counters::Class,
    event::{Dhcp6Event, DhcpEvent, HttpEvent, IcmpEvent, TftpEvent, dhcp_flags},
    flow::{Address, TftpSeen},
    frame::Frame,
    stage::{Dhcp6Location, DhcpLocation},
    wire::{
        dhcp::{self, Slot},
        dhcpv6, ipv4, ipv6, udp,
    },
};

/// Flags for each `VendorClass` (by discriminant).
const VENDOR_FLAGS: [u16; 4] = [
    0,
    dhcp_flags::VENDOR_PXE_CLIENT | dhcp_flags::VENDOR_CLASS,
    dhcp_flags::VENDOR_HTTP_CLIENT | dhcp_flags::VENDOR_CLASS,
    dhcp_flags::VENDOR_CLASS,
];

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
    flags |= crate::frame::opaque(pxe as usize) as u16 * f::PXE;
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
    // A server's reply may name the boot file and server in the BOOTP
    // fields; a client's request leaves them empty: not copied (two helper
    // calls of 128 and 64 bytes saved on every DISCOVER and REQUEST).
    // One copy each (a helper call in the kernel, not a byte loop), about
    // 20 ns (BENCHMARKS.md): an empty field (NUL first, as most replies'
    // `sname`) is left empty without one.
    if loc.op == 2 {
        let bootp_at = loc.bootp_at as usize;
        if b.has_file() {
            frame.copy_prefix(bootp_at + dhcp::field::FILE, ev.file.len(), &mut ev.file);
        }
        if b.has_sname() {
            frame.copy_prefix(bootp_at + dhcp::field::SNAME, ev.sname.len(), &mut ev.sname);
        }
    }
    true
}

/// The event for an ICMP or ICMPv6 destination unreachable (addresses in
/// 16 bytes, IPv4 as `::ffff:a.b.c.d`), `transfer` telling whether the
/// quoted datagram belongs to a followed TFTP transfer
/// ([`quotes_transfer`](crate::flow::quotes_transfer)).
#[inline(always)]
pub fn icmp_event<A: Address>(u: &IcmpUnreachable<A>, transfer: bool) -> IcmpEvent {
    let mut ev = IcmpEvent {
        reporter: [0; 16],
        quoted_src: [0; 16],
        quoted_dst: [0; 16],
        quoted_src_port: u.quoted.src_port.to_be_bytes(),
        quoted_dst_port: u.quoted.dst_port.to_be_bytes(),
        code: u.code,
        quoted_class: u.quoted_class as u8,
        transfer: transfer as u8,
        _reserved: 0,
    };
    u.reporter.fill_16(&mut ev.reporter);
    u.quoted.src.fill_16(&mut ev.quoted_src);
    u.quoted.dst.fill_16(&mut ev.quoted_dst);
    ev
}

/// How many bytes of a TFTP packet's payload its event carries (before
/// the cut to `TftpEvent::payload`): all of a request's, OACK's or ERROR's,
/// none of a DATA block's (the file's bytes are not the monitor's
/// business). The kernel cuts the record after them
/// (`event::tftp_record_len`).
#[inline(always)]
pub fn tftp_payload_carried<A: Address>(seen: &TftpSeen<A>) -> usize {
    if seen.header.opcode == crate::wire::tftp::DATA {
        0
    } else {
        usize::from(seen.payload_len)
    }
}

/// Fills `ev` (expected zeroed) for a TFTP packet seen by
/// [`observe_tftp`](crate::flow::observe_tftp); `payload_at` is where its
/// UDP payload starts.
#[inline(always)]
pub fn fill_tftp_event<F: Frame + ?Sized, A: Address>(
    frame: &F,
    seen: &TftpSeen<A>,
    payload_at: usize,
    now_ns: u64,
    ev: &mut TftpEvent,
) {
    seen.key.client_ip.fill_16(&mut ev.client_ip);
    seen.key.server_ip.fill_16(&mut ev.server_ip);
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
    let carried = tftp_payload_carried(seen);
    if carried > 0 {
        frame.copy_prefix(payload_at, carried, &mut ev.payload);
    }
    // Ethernet destination (0) of what the server sends, source (6) of
    // what the client sends.
    let mac_at = if seen.from_server { 0 } else { 6 };
    if let Some(m) = frame.array::<6>(mac_at) {
        // Byte by byte: `*m` becomes a call to the BPF object's `memmove`.
        ev.client_mac = [m[0], m[1], m[2], m[3], m[4], m[5]];
    }
}

/// How many payload bytes an HTTP event carries (before the cut to
/// `HttpEvent::payload`): those of a segment that starts a head, none of
/// any other (a file's bytes are not the monitor's business).
#[inline(always)]
pub fn http_payload_carried<A>(seen: &HttpSeen<A>) -> usize {
    match seen.moment {
        Some(HttpMoment::Request | HttpMoment::Response) => seen.payload_len as usize,
        _ => 0,
    }
}

/// Fills `ev` (expected zeroed) for a segment seen by
/// [`observe_http`](crate::conn::observe_http).
#[inline(always)]
pub fn fill_http_event<F: Frame + ?Sized, A: Address>(
    frame: &F,
    seen: &HttpSeen<A>,
    now_ns: u64,
    ev: &mut HttpEvent,
) {
    seen.key.client_ip.fill_16(&mut ev.client_ip);
    seen.key.server_ip.fill_16(&mut ev.server_ip);
    ev.client_port = seen.key.client_port;
    ev.server_port = seen.key.server_port;
    ev.seq = seen.seq.to_be_bytes();
    ev.offset = seen.offset;
    ev.server_bytes = seen.conn.server.bytes;
    ev.client_bytes = seen.conn.client.bytes;
    ev.elapsed_ms = (now_ns.saturating_sub(seen.conn.first_ns) / 1_000_000) as u32;
    ev.payload_len = seen.payload_len;
    ev.syns = seen.conn.syns;
    ev.requests = seen.conn.requests;
    ev.responses = seen.conn.responses;
    ev.moment = seen.moment.map_or(0, |m| m as u8);
    ev.from_server = seen.from_server as u8;
    ev.tcp_flags = seen.flags;
    ev.seen = seen.conn.seen;
    ev.web = seen.conn.web;
    ev.method = seen.method;
    let m = seen.conn.client_mac;
    ev.client_mac = [m[0], m[1], m[2], m[3], m[4], m[5]];
    let carried = http_payload_carried(seen);
    if carried > 0 {
        frame.copy_prefix(seen.payload_at, carried, &mut ev.payload);
    }
}

/// Fills `ev` (expected zeroed) from a DHCPv6 message: addresses, ports,
/// the Ethernet source, the nearest relay's addresses, and the first 256
/// bytes of the client's or server's message. Returns how many of them it
/// holds, or `None` if the headers cannot be read again (never for the
/// same frame).
#[inline(always)]
pub fn fill_dhcp6_event<F: Frame + ?Sized>(
    frame: &F,
    loc: &Dhcp6Location,
    class: Class,
    pxe: bool,
    ev: &mut Dhcp6Event,
) -> Option<usize> {
    let ip = ipv6::Header::new_checked(frame, loc.at.ip_at as usize).ok()?;
    let u = udp::Header::new_checked(frame, loc.at.udp_at as usize).ok()?;
    let mac = frame.array::<6>(6)?;
    ev.src_ip = ip.source();
    ev.dst_ip = ip.destination();
    ev.src_port = u.source_port().to_be_bytes();
    ev.dst_port = u.destination_port().to_be_bytes();
    ev.src_mac = *mac;
    ev.xid = loc.xid.to_be_bytes();
    ev.msg_type = loc.msg_type;
    ev.inner_type = loc.inner_type;
    ev.class = class as u8;
    ev.relays = loc.relays;
    ev.vendor = loc.vendor as u8;
    ev.pxe = pxe as u8;
    if let Some(r) = loc.relay_at {
        let r = r as usize;
        if let (Some(link), Some(peer)) = (
            frame.array::<16>(r + dhcpv6::field::LINK_ADDRESS),
            frame.array::<16>(r + dhcpv6::field::PEER_ADDRESS),
        ) {
            ev.relay_link = *link;
            ev.relay_peer = *peer;
        }
    }
    let len = (loc.inner_end as usize).saturating_sub(loc.inner_at as usize);
    ev.msg_len = len.min(u16::MAX as usize) as u16;
    let n = frame.copy_prefix(loc.inner_at as usize, len, &mut ev.payload);
    ev.payload_len = n as u16;
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        classify::classify,
        counters::DhcpType,
        event::dhcp_flags as f,
        testing::{Builder, classify_built},
        wire::dhcp::VendorClass,
    };

    /// A PXE client's DISCOVER (options as iPXE sends them) and a server's
    /// OFFER with boot information, read into events.
    #[test]
    fn a_replys_file_and_sname_are_copied_when_they_hold_a_name() {
        let b = Builder {
            ports: (67, 68),
            ..Builder::dhcp(&[53, 1, 2, 255])
        };
        let (mut frame, len) = b.frame();
        let bootp = 14 + 20 + 8;
        frame[bootp] = 2; // a reply
        frame[bootp + dhcp::field::FILE..][..8].copy_from_slice(b"boot.efi");
        let fill = |frame: &[u8]| {
            let c = classify(frame);
            let mut ev = DhcpEvent::zeroed();
            assert!(fill_dhcp_event(
                frame,
                &c.dhcp.unwrap(),
                c.class,
                true,
                &mut ev
            ));
            ev
        };
        let ev = fill(&frame[..len]);
        assert_eq!(&ev.file[..9], b"boot.efi\0");
        assert_eq!(ev.sname, [0; 32], "an empty sname stays empty");
        frame[bootp + dhcp::field::SNAME..][..3].copy_from_slice(b"srv");
        let ev = fill(&frame[..len]);
        assert_eq!(&ev.sname[..4], b"srv\0");
        // A request's fields are never copied (empty in requests).
        frame[bootp] = 1;
        let ev = fill(&frame[..len]);
        assert_eq!((ev.file, ev.sname), ([0; 64], [0; 32]));
    }

    #[test]
    fn pxe_fields_reach_the_event() {
        const PXE_DISCOVER: &[u8] = &[
            53, 1, 1, 60, 32, b'P', b'X', b'E', b'C', b'l', b'i', b'e', b'n', b't', b':', b'A',
            b'r', b'c', b'h', b':', b'0', b'0', b'0', b'0', b'0', b':', b'U', b'N', b'D', b'I',
            b':', b'0', b'0', b'2', b'0', b'0', b'1', 93, 2, 0, 7, 77, 4, b'i', b'P', b'X', b'E',
            255,
        ];
        let c = classify_built(&Builder::dhcp(PXE_DISCOVER));
        let loc = c.dhcp.unwrap();
        assert_eq!(loc.vendor, VendorClass::PxeClient);
        assert!(loc.starts_pxe_transaction());
        let (frame, len) = Builder::dhcp(PXE_DISCOVER).frame();
        let mut ev = DhcpEvent::zeroed();
        assert!(fill_dhcp_event(&frame[..len], &loc, c.class, true, &mut ev));
        assert_eq!(ev.message_type, 1);
        assert_eq!(ev.client_arch, [0, 7]);
        assert_eq!(ev.xid, [0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(ev.chaddr, [0x52, 0x54, 0, 0x77, 0, 0x10]);
        let want =
            f::VENDOR_PXE_CLIENT | f::VENDOR_CLASS | f::CLIENT_ARCH | f::USER_CLASS_IPXE | f::PXE;
        assert_eq!(ev.flags, want, "{:#x}", ev.flags);

        const OFFER: &[u8] = &[
            53, 1, 2, 54, 4, 10, 77, 10, 1, 66, 10, b'1', b'0', b'.', b'7', b'7', b'.', b'1', b'0',
            b'.', b'1', 67, 9, b'b', b'o', b'o', b't', b'.', b'i', b'p', b'x', b'e', 43, 3, 6, 1,
            8, 255,
        ];
        let b = Builder {
            ports: (67, 68),
            ..Builder::dhcp(OFFER)
        };
        let c = classify_built(&b);
        let loc = c.dhcp.unwrap();
        assert_eq!(loc.vendor, VendorClass::None);
        assert!(!loc.is_pxe(c.class, false) && loc.is_pxe(c.class, true));
        let (frame, len) = b.frame();
        let mut ev = DhcpEvent::zeroed();
        assert!(fill_dhcp_event(
            &frame[..len],
            &loc,
            c.class,
            false,
            &mut ev
        ));
        assert_eq!(ev.message_type, 2);
        assert_eq!(ev.server_id, [10, 77, 10, 1]);
        assert_eq!(
            &ev.tftp_server[..usize::from(ev.tftp_server_len)],
            b"10.77.10.1"
        );
        assert_eq!(&ev.bootfile[..usize::from(ev.bootfile_len)], b"boot.ipxe");
        assert_eq!(ev.bootfile[9..], [0; 55], "nothing copied past the option");
        assert_eq!(
            ev.flags,
            f::SERVER_ID | f::TFTP_SERVER | f::BOOTFILE | f::VENDOR_SPECIFIC
        );
        assert_eq!(ev.class, Class::DhcpClient as u8);
        assert_eq!(ev.src_port, 67u16.to_be_bytes());
    }

    /// dhcproto's trap: `hlen` is never trusted; and an option whose length
    /// runs past the end of the frame is copied only up to that end.
    #[test]
    fn hlen_and_options_past_the_end() {
        let (mut f, len) = Builder::dhcp(&[53, 1, 1, 67, 200, b'b', b'o', b'o', b't']).frame();
        f[14 + 20 + 8 + 2] = 255; // hlen
        let frame = &f[..len];
        let c = classify(frame);
        assert_eq!(c.dhcp_type, Some(DhcpType::DISCOVER));
        let mut ev = DhcpEvent::zeroed();
        assert!(fill_dhcp_event(
            frame,
            &c.dhcp.unwrap(),
            c.class,
            false,
            &mut ev
        ));
        assert_eq!(
            ev.chaddr,
            [0x52, 0x54, 0, 0x77, 0, 0x10],
            "the first 6 bytes of chaddr"
        );
        assert_eq!(ev.bootfile_len, 200, "the length the option claims");
        assert_eq!(&ev.bootfile[..5], b"boot\0", "only what the frame holds");
    }
}
