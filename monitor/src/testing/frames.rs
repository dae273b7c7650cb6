//! Hand-built frames and capture files for what the lab cannot produce (an
//! IP phone's firmware, a crafted capture, a flood of clients): Ethernet,
//! IPv4 or IPv6, UDP or TCP headers around DHCP, DHCPv6, TFTP and HTTP
//! payloads, written with pcap-file.

use std::{path::Path, time::Duration};

use pcap_file::{
    DataLink,
    pcap::{PcapHeader, PcapPacket, PcapWriter},
};

pub const SERVER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 1];

/// An Ethernet + IPv4 + UDP frame (checksums zero: the monitor does not
/// check them).
pub fn udp(
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    src: ([u8; 4], u16),
    dst: ([u8; 4], u16),
    payload: &[u8],
) -> Vec<u8> {
    let mut f = Vec::with_capacity(42 + payload.len());
    f.extend_from_slice(&dst_mac);
    f.extend_from_slice(&src_mac);
    f.extend_from_slice(&[0x08, 0x00]);
    let total = (20 + 8 + payload.len()) as u16;
    f.extend_from_slice(&[0x45, 0, 0, 0, 0, 0, 0, 0, 64, 17, 0, 0]);
    f[16..18].copy_from_slice(&total.to_be_bytes());
    f.extend_from_slice(&src.0);
    f.extend_from_slice(&dst.0);
    f.extend_from_slice(&src.1.to_be_bytes());
    f.extend_from_slice(&dst.1.to_be_bytes());
    f.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(payload);
    f
}

/// A TCP segment in Ethernet + IPv4 (checksums zero), with `options`
/// (a multiple of 4 bytes) after the fixed header.
#[allow(clippy::too_many_arguments)]
pub fn tcp(
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    src: ([u8; 4], u16),
    dst: ([u8; 4], u16),
    seq: u32,
    flags: u8,
    options: &[u8],
    payload: &[u8],
) -> Vec<u8> {
    let segment = tcp_segment((src.1, dst.1), seq, flags, options, payload);
    let mut f = Vec::with_capacity(34 + segment.len());
    f.extend_from_slice(&dst_mac);
    f.extend_from_slice(&src_mac);
    f.extend_from_slice(&[0x08, 0x00]);
    let total = (20 + segment.len()) as u16;
    f.extend_from_slice(&[0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 6, 0, 0]);
    f[16..18].copy_from_slice(&total.to_be_bytes());
    f.extend_from_slice(&src.0);
    f.extend_from_slice(&dst.0);
    f.extend_from_slice(&segment);
    f
}

/// A TCP header (checksum zero) with `options` (a multiple of 4 bytes),
/// and its payload.
fn tcp_segment(ports: (u16, u16), seq: u32, flags: u8, options: &[u8], payload: &[u8]) -> Vec<u8> {
    let header = 20 + options.len();
    let mut f = Vec::with_capacity(header + payload.len());
    f.extend_from_slice(&ports.0.to_be_bytes());
    f.extend_from_slice(&ports.1.to_be_bytes());
    f.extend_from_slice(&seq.to_be_bytes());
    f.extend_from_slice(&[0; 4]);
    f.push(((header / 4) as u8) << 4);
    f.push(flags);
    f.extend_from_slice(&[0xff, 0xff, 0, 0, 0, 0]);
    f.extend_from_slice(options);
    f.extend_from_slice(payload);
    f
}

/// [`tcp`] over IPv6, after `extensions` as in [`udp6`].
#[allow(clippy::too_many_arguments)]
pub fn tcp6(
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    src: ([u8; 16], u16),
    dst: ([u8; 16], u16),
    extensions: &[(u8, Vec<u8>)],
    seq: u32,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    const TCP: u8 = 6;
    let segment = tcp_segment((src.1, dst.1), seq, flags, &[], payload);
    ipv6_frame(src_mac, dst_mac, (src.0, dst.0), extensions, TCP, &segment)
}

/// Ethernet + IPv6 around `upper` (of protocol `protocol`), after
/// `extensions`: each (its next-header code as the header before names
/// it, its bytes; the first byte is set to the next one's code).
fn ipv6_frame(
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    (src, dst): ([u8; 16], [u8; 16]),
    extensions: &[(u8, Vec<u8>)],
    protocol: u8,
    upper: &[u8],
) -> Vec<u8> {
    let mut f = Vec::with_capacity(54 + upper.len());
    f.extend_from_slice(&dst_mac);
    f.extend_from_slice(&src_mac);
    f.extend_from_slice(&[0x86, 0xdd]);
    let ext_len: usize = extensions.iter().map(|(_, e)| e.len()).sum();
    let first = extensions.first().map_or(protocol, |(n, _)| *n);
    f.extend_from_slice(&[0x60, 0, 0, 0]);
    f.extend_from_slice(&((ext_len + upper.len()) as u16).to_be_bytes());
    f.extend_from_slice(&[first, 64]);
    f.extend_from_slice(&src);
    f.extend_from_slice(&dst);
    for (i, (_, e)) in extensions.iter().enumerate() {
        let mut e = e.clone();
        e[0] = extensions.get(i + 1).map_or(protocol, |(n, _)| *n);
        f.extend_from_slice(&e);
    }
    f.extend_from_slice(upper);
    f
}

/// `frame` (Ethernet + IPv4) with `options` (a multiple of 4 bytes) after
/// its IPv4 header: the header length and the total length grow.
pub fn with_ipv4_options(frame: &[u8], options: &[u8]) -> Vec<u8> {
    let mut f = frame[..34].to_vec();
    f.extend_from_slice(options);
    f.extend_from_slice(&frame[34..]);
    f[14] = 0x40 | ((20 + options.len()) / 4) as u8;
    let total = u16::from_be_bytes([f[16], f[17]]) + options.len() as u16;
    f[16..18].copy_from_slice(&total.to_be_bytes());
    f
}

/// ICMP destination unreachable, port unreachable (code 3), from
/// `reporter` to the sender of the quoted UDP datagram (its IPv4 and UDP
/// headers).
pub fn icmp_port_unreachable(
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    reporter: [u8; 4],
    quoted_src: ([u8; 4], u16),
    quoted_dst: ([u8; 4], u16),
) -> Vec<u8> {
    let quoted = udp([0; 6], [0; 6], quoted_src, quoted_dst, &[]);
    let mut f = Vec::with_capacity(14 + 20 + 8 + 28);
    f.extend_from_slice(&dst_mac);
    f.extend_from_slice(&src_mac);
    f.extend_from_slice(&[0x08, 0x00]);
    let total = (20 + 8 + 28) as u16;
    f.extend_from_slice(&[0x45, 0, 0, 0, 0, 0, 0, 0, 64, 1, 0, 0]);
    f[16..18].copy_from_slice(&total.to_be_bytes());
    f.extend_from_slice(&reporter);
    f.extend_from_slice(&quoted_src.0);
    f.extend_from_slice(&[3, 3, 0, 0, 0, 0, 0, 0]);
    // The quoted IPv4 header and UDP header, without the Ethernet header.
    f.extend_from_slice(&quoted[14..42]);
    f
}

/// A DHCP message: `op` 1 (request) or 2 (reply), options after the
/// message type (53), each (code, value).
pub fn dhcp(
    op: u8,
    message_type: u8,
    xid: u32,
    chaddr: [u8; 6],
    yiaddr: [u8; 4],
    siaddr: [u8; 4],
    options: &[(u8, &[u8])],
) -> Vec<u8> {
    let mut p = vec![0u8; 236];
    p[0] = op;
    p[1] = 1;
    p[2] = 6;
    p[4..8].copy_from_slice(&xid.to_be_bytes());
    p[16..20].copy_from_slice(&yiaddr);
    p[20..24].copy_from_slice(&siaddr);
    p[28..34].copy_from_slice(&chaddr);
    p.extend_from_slice(&[99, 130, 83, 99, 53, 1, message_type]);
    for (code, value) in options {
        p.push(*code);
        p.push(value.len() as u8);
        p.extend_from_slice(value);
    }
    p.push(255);
    p
}

/// An Ethernet + IPv6 + UDP frame (checksums zero), with `extensions`
/// (each: next header value of the extension, its bytes with the first
/// byte, the next header, filled in here) between the fixed header and UDP.
pub fn udp6(
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    src: ([u8; 16], u16),
    dst: ([u8; 16], u16),
    extensions: &[(u8, Vec<u8>)],
    payload: &[u8],
) -> Vec<u8> {
    const UDP: u8 = 17;
    let mut datagram = Vec::with_capacity(8 + payload.len());
    datagram.extend_from_slice(&src.1.to_be_bytes());
    datagram.extend_from_slice(&dst.1.to_be_bytes());
    datagram.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    datagram.extend_from_slice(&[0, 0]);
    datagram.extend_from_slice(payload);
    ipv6_frame(src_mac, dst_mac, (src.0, dst.0), extensions, UDP, &datagram)
}

/// An ICMPv6 port unreachable (type 1, code 4) from `reporter` quoting the
/// IPv6 packet of `quoted` (an Ethernet frame), checksum zero.
pub fn icmp6_port_unreachable(
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    reporter: [u8; 16],
    dst: [u8; 16],
    quoted: &[u8],
) -> Vec<u8> {
    let body = &quoted[14..];
    let mut f = Vec::with_capacity(62 + body.len());
    f.extend_from_slice(&dst_mac);
    f.extend_from_slice(&src_mac);
    f.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0]);
    f.extend_from_slice(&((8 + body.len()) as u16).to_be_bytes());
    f.extend_from_slice(&[58, 64]);
    f.extend_from_slice(&reporter);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&[1, 4, 0, 0, 0, 0, 0, 0]);
    f.extend_from_slice(body);
    f
}

/// A client's DHCPv6 message from its link-local address to
/// All_DHCP_Relay_Agents_and_Servers (ff02::1:2), and the server's answer
/// back to it, as frames.
pub fn dhcpv6_exchange(
    client_mac: [u8; 6],
    link_local: [u8; 16],
    server: [u8; 16],
    (request, reply): (&[u8], &[u8]),
) -> [Vec<u8>; 2] {
    let mut all_servers = [0u8; 16];
    all_servers[..2].copy_from_slice(&[0xff, 0x02]);
    all_servers[13..].copy_from_slice(&[1, 0, 2]);
    [
        udp6(
            client_mac,
            [0x33, 0x33, 0, 1, 0, 2],
            (link_local, 546),
            (all_servers, 547),
            &[],
            request,
        ),
        udp6(
            SERVER_MAC,
            client_mac,
            (server, 547),
            (link_local, 546),
            &[],
            reply,
        ),
    ]
}

/// A DHCPv6 client/server message with options, each (code, value).
pub fn dhcpv6(msg_type: u8, xid: u32, options: &[(u16, &[u8])]) -> Vec<u8> {
    let mut p = vec![msg_type];
    p.extend_from_slice(&xid.to_be_bytes()[1..]);
    for (code, value) in options {
        p.extend_from_slice(&code.to_be_bytes());
        p.extend_from_slice(&(value.len() as u16).to_be_bytes());
        p.extend_from_slice(value);
    }
    p
}

/// A DHCPv6 Relay-forw (12) or Relay-repl (13) carrying `inner`.
pub fn dhcpv6_relay(msg_type: u8, link: [u8; 16], peer: [u8; 16], inner: &[u8]) -> Vec<u8> {
    let mut p = vec![msg_type, 0];
    p.extend_from_slice(&link);
    p.extend_from_slice(&peer);
    p.extend_from_slice(&9u16.to_be_bytes());
    p.extend_from_slice(&(inner.len() as u16).to_be_bytes());
    p.extend_from_slice(inner);
    p
}

/// The value of DHCPv6 option 16 (vendor class) as EDK2 sends it:
/// enterprise 343, one data item.
pub fn pxe_vendor_class6(data: &[u8]) -> Vec<u8> {
    let mut v = 343u32.to_be_bytes().to_vec();
    v.extend_from_slice(&(data.len() as u16).to_be_bytes());
    v.extend_from_slice(data);
    v
}

/// A TFTP read request for `file` (octet mode).
pub fn rrq(file: &[u8]) -> Vec<u8> {
    let mut p = vec![0, 1];
    p.extend_from_slice(file);
    p.push(0);
    p.extend_from_slice(b"octet\0");
    p
}

pub fn tftp_error(code: u16, message: &[u8]) -> Vec<u8> {
    let mut p = vec![0, 5];
    p.extend_from_slice(&code.to_be_bytes());
    p.extend_from_slice(message);
    p.push(0);
    p
}

pub fn tftp_data(block: u16, data: &[u8]) -> Vec<u8> {
    let mut p = vec![0, 3];
    p.extend_from_slice(&block.to_be_bytes());
    p.extend_from_slice(data);
    p
}

pub fn tftp_ack(block: u16) -> Vec<u8> {
    let mut p = vec![0, 4];
    p.extend_from_slice(&block.to_be_bytes());
    p
}

/// Writes `frames` (time since the first in ns, bytes) as an Ethernet pcap
/// starting at `start_s` seconds after the epoch.
pub fn write_pcap(path: &Path, start_s: u64, frames: &[(u64, Vec<u8>)]) {
    write_pcap_link(path, DataLink::ETHERNET, start_s, frames);
}

pub fn write_pcap_link(path: &Path, link: DataLink, start_s: u64, frames: &[(u64, Vec<u8>)]) {
    let header = PcapHeader {
        datalink: link,
        snaplen: 65535,
        ..PcapHeader::default()
    };
    let file = std::fs::File::create(path).expect("creating the capture");
    let mut w = PcapWriter::with_header(std::io::BufWriter::new(file), header).unwrap();
    for (at, data) in frames {
        let ts = Duration::from_secs(start_s) + Duration::from_nanos(*at);
        w.write_packet(&PcapPacket::new(ts, data.len() as u32, data))
            .unwrap();
    }
}

/// A file in the temporary directory, removed when dropped.
pub struct TempFile(pub std::path::PathBuf);

impl TempFile {
    pub fn new(name: &str) -> Self {
        TempFile(std::env::temp_dir().join(format!("pxe-{}-{name}", std::process::id())))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
