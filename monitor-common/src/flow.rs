//! TFTP transfers followed across the server's ephemeral port: learned from
//! each read or write request, aggregated per transfer (no event per DATA
//! packet), over IPv4 and IPv6. The same logic runs on the kernel's maps
//! and on the host's hash maps.

use crate::{
    classify::IcmpUnreachable,
    counters::{Class, Family},
    frame::Frame,
    stage::UdpAt,
    wire::{ParseError, ipv4, ipv6, tftp, udp},
};

/// An address as a transfer table keys it: IPv4's 4 bytes or IPv6's 16.
/// A table per family, not one keyed by 16 bytes for both: the IPv4 table
/// keeps its 12-byte keys and 64-byte port slots, and the kernel's TFTP
/// stage its stack (16-byte keys for both took it from 256 bytes to over
/// the verifier's 512: docs/ebpf-notes.md).
pub trait Address: Copy + Default + PartialEq + Eq + core::hash::Hash + core::fmt::Debug {
    /// The family whose classes carry it.
    const FAMILY: Family;

    /// The source and destination of the IP header at `ip_at`.
    fn read<F: Frame + ?Sized>(frame: &F, ip_at: usize) -> Result<(Self, Self), ParseError>;

    /// [`Address::read`], and where the datagram ends (the offset after
    /// its last byte, as its header says).
    fn read_datagram<F: Frame + ?Sized>(
        frame: &F,
        ip_at: usize,
    ) -> Result<(Self, Self, usize), ParseError>;

    /// Writes it as 16 bytes, IPv4 as `::ffff:a.b.c.d` (the events' form),
    /// into `zeroed` (all zero before: IPv4's ten leading zeros are not
    /// written, which in the kernel build would be a `memset` call).
    fn fill_16(self, zeroed: &mut [u8; 16]);
}

impl Address for [u8; 4] {
    const FAMILY: Family = Family::Ipv4;

    #[inline(always)]
    fn read<F: Frame + ?Sized>(frame: &F, ip_at: usize) -> Result<(Self, Self), ParseError> {
        let ip = ipv4::Header::new_checked(frame, ip_at)?;
        Ok((ip.source(), ip.destination()))
    }

    #[inline(always)]
    fn read_datagram<F: Frame + ?Sized>(
        frame: &F,
        ip_at: usize,
    ) -> Result<(Self, Self, usize), ParseError> {
        let ip = ipv4::Header::new_checked(frame, ip_at)?;
        Ok((ip.source(), ip.destination(), ip_at + ip.total_len()))
    }

    #[inline(always)]
    fn fill_16(self, zeroed: &mut [u8; 16]) {
        zeroed[10] = 0xff;
        zeroed[11] = 0xff;
        zeroed[12] = self[0];
        zeroed[13] = self[1];
        zeroed[14] = self[2];
        zeroed[15] = self[3];
    }
}

impl Address for [u8; 16] {
    const FAMILY: Family = Family::Ipv6;

    #[inline(always)]
    fn read<F: Frame + ?Sized>(frame: &F, ip_at: usize) -> Result<(Self, Self), ParseError> {
        let ip = ipv6::Header::new_checked(frame, ip_at)?;
        Ok((ip.source(), ip.destination()))
    }

    #[inline(always)]
    fn read_datagram<F: Frame + ?Sized>(
        frame: &F,
        ip_at: usize,
    ) -> Result<(Self, Self, usize), ParseError> {
        let ip = ipv6::Header::new_checked(frame, ip_at)?;
        Ok((
            ip.source(),
            ip.destination(),
            ip_at + ipv6::HEADER_LEN + ip.payload_len(),
        ))
    }

    #[inline(always)]
    fn fill_16(self, zeroed: &mut [u8; 16]) {
        *zeroed = self;
    }
}

/// A transfer: the client's address and port (from the request) and the
/// server's address.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(C)]
pub struct TftpKey<A = [u8; 4]> {
    pub client_ip: A,
    pub server_ip: A,
    pub client_port: [u8; 2],
    pub _reserved: [u8; 2],
}

/// A transfer over IPv6.
pub type TftpKey6 = TftpKey<[u8; 16]>;

const _: () = assert!(core::mem::size_of::<TftpKey>() == 12);
const _: () = assert!(core::mem::size_of::<TftpKey6>() == 36);

impl<A> TftpKey<A> {
    /// The client port, the index of the transfer's slot and hint in the
    /// kernel's per-port tables.
    #[inline(always)]
    pub fn port_index(&self) -> u32 {
        u32::from(u16::from_be_bytes(self.client_port))
    }
}

/// A transfer's key in its family's table, from its addresses as the
/// agent holds them (`None` for a client and server of different
/// families, which no transfer has).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FamilyKey {
    V4(TftpKey),
    V6(TftpKey6),
}

impl FamilyKey {
    pub fn new(client: core::net::SocketAddr, server: core::net::IpAddr) -> Option<FamilyKey> {
        use core::net::IpAddr::{V4, V6};
        let client_port = client.port().to_be_bytes();
        // IPv4 stays IPv4 however it is written (`::ffff:a.b.c.d`).
        match (client.ip().to_canonical(), server.to_canonical()) {
            (V4(c), V4(s)) => Some(FamilyKey::V4(TftpKey {
                client_ip: c.octets(),
                server_ip: s.octets(),
                client_port,
                _reserved: [0; 2],
            })),
            (V6(c), V6(s)) => Some(FamilyKey::V6(TftpKey {
                client_ip: c.octets(),
                server_ip: s.octets(),
                client_port,
                _reserved: [0; 2],
            })),
            _ => None,
        }
    }
}

/// What is known of a transfer so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct TftpFlow {
    pub first_ns: u64,
    pub last_ns: u64,
    /// Payload bytes of the DATA packets (blocks resent count again).
    pub data_bytes: u64,
    pub data_packets: u32,
    pub acks: u32,
    /// Largest DATA payload seen.
    pub max_data_len: u16,
    pub highest_block: u16,
    /// The server's transfer port (from its first reply), 0 until then.
    pub server_port: [u8; 2],
    /// Block size the server's OACK agreed to; 0 without an OACK (then
    /// RFC 1350's 512 applies).
    pub blksize: u16,
    /// RRQ or WRQ.
    pub request: u8,
    pub _reserved: [u8; 7],
}

const _: () = assert!(core::mem::size_of::<TftpFlow>() == 48);

impl TftpFlow {
    /// The block size in use: the OACK's, else RFC 1350's 512.
    pub fn block_size(&self) -> u16 {
        if self.blksize == 0 {
            DEFAULT_BLKSIZE
        } else {
            self.blksize
        }
    }
}

/// RFC 1350's block size, used without a blksize option.
pub const DEFAULT_BLKSIZE: u16 = 512;

#[cfg(feature = "user")]
// SAFETY: repr(C), no padding (size asserted), all bit patterns valid.
unsafe impl aya::Pod for TftpKey {}
#[cfg(feature = "user")]
// SAFETY: as above.
unsafe impl aya::Pod for TftpKey6 {}
#[cfg(feature = "user")]
// SAFETY: as above.
unsafe impl aya::Pod for TftpFlow {}
#[cfg(feature = "user")]
// SAFETY: as above.
unsafe impl aya::Pod for TftpSlot {}

/// One slot of the kernel's per-port transfer array (`TFTP_PORTS`,
/// indexed by the client port): the transfer on that port, found with one
/// direct access and its addresses checked here, instead of a hash lookup
/// on every packet. A second transfer on a port whose slot holds a live
/// one goes to the overflow table (`TFTP_FLOWS`, an LRU hash), and the slot
/// records that it did. (Whether a port is worth looking at, at all, is
/// the port's hint in `TFTP_PORT_HINTS`.)
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct TftpSlot {
    pub client_ip: [u8; 4],
    pub server_ip: [u8; 4],
    /// [`port_hint`] stamp of the slot's transfer's last packet; 0: empty.
    /// A slot whose stamp lapsed may be taken by a new transfer.
    pub hint: u32,
    /// [`port_hint`] stamp of the last packet of a transfer on this port in
    /// the overflow table; 0: none.
    pub overflow: u32,
    pub flow: TftpFlow,
}

const _: () = assert!(core::mem::size_of::<TftpSlot>() == 64);

impl TftpSlot {
    /// Whether the slot holds the transfer of `key` (its port being the
    /// slot's index).
    #[inline(always)]
    pub fn holds(&self, key: &TftpKey) -> bool {
        self.hint != 0 && self.client_ip == key.client_ip && self.server_ip == key.server_ip
    }
}

/// A transfer table of one family: the kernel's maps or a host hash map.
pub trait TftpFlows<A: Address> {
    /// The transfer under `first`, else under `second`; `true` when it was
    /// `first`. One lookup per key at most (each costs a map lookup in the
    /// kernel).
    fn get_either(
        &mut self,
        first: &TftpKey<A>,
        second: &TftpKey<A>,
    ) -> Option<(bool, &mut TftpFlow)>;
    fn insert(&mut self, key: &TftpKey<A>, flow: &TftpFlow);
}

/// Which packets of a transfer deserve an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum TftpMoment {
    Request = 1,
    Oack = 2,
    Error = 3,
    /// The first DATA of a transfer that is not also its last.
    FirstData = 4,
    /// A DATA shorter than the block size in use: the transfer's last block
    /// (for a one-block file also its first).
    LastData = 5,
}

/// What one TFTP packet was, for counters and the event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TftpSeen<A = [u8; 4]> {
    pub key: TftpKey<A>,
    pub header: tftp::Header,
    pub from_server: bool,
    pub server_port: u16,
    pub payload_len: u16,
    pub moment: Option<TftpMoment>,
    /// The transfer after this packet.
    pub flow: TftpFlow,
}

/// The `blksize` an OACK agrees to, 0 if it names none. Reads the first 64
/// bytes of options: bounded for the verifier, and OACKs are short.
#[inline(always)]
pub fn oack_blksize<F: Frame + ?Sized>(frame: &F, payload_at: usize, payload_len: usize) -> u16 {
    const NAME: &[u8; 8] = b"blksize\0";
    let mut buf = [0u8; 64];
    let n = frame.copy_prefix(payload_at + 2, payload_len.saturating_sub(2), &mut buf);
    // Every index goes through `get`: a panic path (even one that cannot
    // be taken) leaves the BPF function without a final exit.
    let at = |i: usize| {
        if i < n {
            buf.get(i).copied().unwrap_or(0)
        } else {
            0
        }
    };
    for i in 0..buf.len() - NAME.len() {
        // Option names start at 0 or after a NUL.
        if i + NAME.len() > n || (i > 0 && at(i - 1) != 0) {
            continue;
        }
        let mut same = true;
        for (j, c) in NAME.iter().enumerate() {
            // ASCII lower case for letters; the NUL unchanged.
            same &= (at(i + j) | if *c == 0 { 0 } else { 0x20 }) == *c;
        }
        if !same {
            continue;
        }
        let mut value: u32 = 0;
        for k in 0..6 {
            let c = at(i + NAME.len() + k);
            if c == 0 {
                break;
            }
            let d = c.wrapping_sub(b'0');
            if d > 9 {
                return 0;
            }
            value = value * 10 + u32::from(d);
        }
        return if value <= u32::from(u16::MAX) {
            value as u16
        } else {
            0
        };
    }
    0
}

/// Follows one UDP datagram of class `TftpRequest` (to port 69) or
/// `OtherUdp` (maybe a transfer's) of `A`'s family, found at `at`:
/// `Ok(None)` when it is not TFTP (or of the other family: each family
/// has its table).
#[inline(always)]
pub fn observe_tftp<F: Frame + ?Sized, A: Address, T: TftpFlows<A>>(
    frame: &F,
    at: UdpAt,
    class: Class,
    now_ns: u64,
    flows: &mut T,
) -> Result<Option<TftpSeen<A>>, ParseError> {
    if class.family() != A::FAMILY {
        return Ok(None);
    }
    let (src, dst) = A::read(frame, at.ip_at as usize)?;
    let u = udp::Header::new_checked(frame, at.udp_at as usize)?;
    let payload_at = at.udp_at as usize + udp::HEADER_LEN;
    let (sport, dport) = (u.source_port(), u.destination_port());
    let payload_len = u.length().saturating_sub(udp::HEADER_LEN) as u16;
    if class.is_tftp_request() {
        let header = tftp::Header::new_checked(frame, payload_at)?;
        let key = TftpKey {
            client_ip: src,
            server_ip: dst,
            client_port: sport.to_be_bytes(),
            _reserved: [0; 2],
        };
        let mut moment = None;
        let mut flow = TftpFlow::default();
        if header.opcode == tftp::RRQ || header.opcode == tftp::WRQ {
            flow = TftpFlow {
                first_ns: now_ns,
                last_ns: now_ns,
                request: header.opcode as u8,
                ..TftpFlow::default()
            };
            flows.insert(&key, &flow);
            moment = Some(TftpMoment::Request);
        }
        return Ok(Some(TftpSeen {
            key,
            header,
            from_server: false,
            server_port: dport,
            payload_len,
            moment,
            flow,
        }));
    }
    if !class.is_other_udp() {
        return Ok(None);
    }
    // A server's reply goes to the client's port; the client's ACK comes
    // from it.
    let to_client = TftpKey {
        client_ip: dst,
        server_ip: src,
        client_port: dport.to_be_bytes(),
        _reserved: [0; 2],
    };
    let from_client = TftpKey {
        client_ip: src,
        server_ip: dst,
        client_port: sport.to_be_bytes(),
        _reserved: [0; 2],
    };
    let Some((from_server, flow)) = flows.get_either(&to_client, &from_client) else {
        return Ok(None);
    };
    let key = if from_server { to_client } else { from_client };
    let header = tftp::Header::new_checked(frame, payload_at)?;
    flow.last_ns = now_ns;
    let server_port = if from_server { sport } else { dport };
    if from_server && flow.server_port == [0, 0] {
        flow.server_port = sport.to_be_bytes();
    }
    let mut moment = None;
    match (from_server, header.opcode) {
        (true, tftp::DATA) => {
            let len = payload_len.saturating_sub(4);
            flow.data_packets += 1;
            flow.data_bytes += u64::from(len);
            if header.arg > flow.highest_block {
                flow.highest_block = header.arg;
            }
            if len < flow.block_size() {
                moment = Some(TftpMoment::LastData);
            } else if flow.data_packets == 1 {
                moment = Some(TftpMoment::FirstData);
            }
            if len > flow.max_data_len {
                flow.max_data_len = len;
            }
        }
        (true, tftp::OACK) => {
            flow.blksize = oack_blksize(frame, payload_at, payload_len as usize);
            moment = Some(TftpMoment::Oack);
        }
        (_, tftp::ERROR) => moment = Some(TftpMoment::Error),
        (false, tftp::ACK) => flow.acks += 1,
        _ => {}
    }
    let flow = *flow;
    Ok(Some(TftpSeen {
        key,
        header,
        from_server,
        server_port,
        payload_len,
        moment,
        flow,
    }))
}

/// Whether the datagram an ICMP or ICMPv6 destination unreachable quotes
/// belongs to a followed transfer in the family's table (either way: the
/// server's DATA to a client port, or the client's ACK to the server's
/// port). Only other UDP can: a transfer runs between ephemeral ports.
#[inline(always)]
pub fn quotes_transfer<A: Address, T: TftpFlows<A>>(u: &IcmpUnreachable<A>, flows: &mut T) -> bool {
    let q = &u.quoted;
    u.quoted_class.is_other_udp() && quoted_in(flows, (q.src, q.src_port), (q.dst, q.dst_port))
}

/// Whether a quoted datagram from `src` to `dst` (address, port) belongs
/// to a followed transfer, either way.
#[inline(always)]
fn quoted_in<A: Address, T: TftpFlows<A>>(flows: &mut T, src: (A, u16), dst: (A, u16)) -> bool {
    let to_client = TftpKey {
        client_ip: dst.0,
        server_ip: src.0,
        client_port: dst.1.to_be_bytes(),
        _reserved: [0; 2],
    };
    let from_client = TftpKey {
        client_ip: src.0,
        server_ip: dst.0,
        client_port: src.1.to_be_bytes(),
        _reserved: [0; 2],
    };
    flows.get_either(&to_client, &from_client).is_some()
}

/// The kernel's per-port hints: which UDP ports are client ports of a
/// transfer being followed, so that other UDP skips the transfer lookup.
/// A hint holds the tick (2^30 ns of the boot clock, about a second) the
/// port last carried a packet of a followed transfer, and lapses
/// [`port_hint::TTL`] ticks (about 5 minutes) later: a finished transfer
/// stops costing a lookup for every datagram on its port.
pub mod port_hint {
    /// Ticks of 2^30 ns (1.07 s): a shift, where whole seconds would take a
    /// 64-bit division on every packet (measured: docs/ebpf-notes.md).
    pub const TICK_SHIFT: u32 = 30;

    /// A transfer silent this long (280 ticks, 300.6 s) is over: TFTP
    /// clients and servers give up after seconds.
    pub const TTL: u32 = 280;

    /// The hint for a packet at `now_ns` (never 0, which means "none").
    #[inline(always)]
    pub fn stamp(now_ns: u64) -> u32 {
        let t = (now_ns >> TICK_SHIFT) as u32;
        if t == 0 { 1 } else { t }
    }

    /// Whether `hint` still marks its port at `now_ns`. A hint up to a
    /// tick ahead counts (stamped by one clock, checked by another, which
    /// may lag it by a scheduler tick).
    #[inline(always)]
    pub fn fresh(hint: u32, now_ns: u64) -> bool {
        hint != 0 && stamp(now_ns).wrapping_add(1).wrapping_sub(hint) < TTL + 1
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn hints_lapse() {
            const T: u64 = 1 << TICK_SHIFT;
            assert!(!fresh(0, 5 * T), "no hint");
            assert_eq!(stamp(0), 1, "never 0");
            let h = stamp(1000 * T);
            assert!(fresh(h, 1000 * T));
            assert!(fresh(h, (1000 + u64::from(TTL) - 1) * T));
            assert!(!fresh(h, (1000 + u64::from(TTL)) * T));
            // About five minutes.
            assert!((300..302).contains(&((u64::from(TTL) * T) / 1_000_000_000)));
            // The checking clock a tick behind the stamping one.
            assert!(fresh(stamp(1001 * T), 1000 * T + T - 1));
            assert!(fresh(stamp(1001 * T), 1000 * T));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_get_the_mapped_form_of_ipv4() {
        // `fill_16` writes by hand what `v4_mapped` builds (a value would
        // cost the kernel a `memset` call): the same bytes.
        let mut out = [0u8; 16];
        [10u8, 77, 10, 1].fill_16(&mut out);
        assert_eq!(out, ipv6::v4_mapped([10, 77, 10, 1]));
        let v6 = [0xfd, 0x77, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        v6.fill_16(&mut out);
        assert_eq!(out, v6);
    }

    #[test]
    fn a_transfer_is_keyed_in_its_familys_table() {
        use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
        let v4 = IpAddr::V4(Ipv4Addr::new(10, 77, 10, 1));
        let mapped = IpAddr::V6(Ipv4Addr::new(10, 77, 10, 100).to_ipv6_mapped());
        let v6 = IpAddr::V6(Ipv6Addr::new(0xfd77, 0x10, 0, 0, 0, 0, 0, 1));
        assert_eq!(
            FamilyKey::new(SocketAddr::new(mapped, 1500), v4),
            Some(FamilyKey::V4(TftpKey {
                client_ip: [10, 77, 10, 100],
                server_ip: [10, 77, 10, 1],
                client_port: 1500u16.to_be_bytes(),
                _reserved: [0; 2],
            })),
            "IPv4 written as ::ffff:a.b.c.d is IPv4"
        );
        assert!(matches!(
            FamilyKey::new(SocketAddr::new(v6, 1500), v6),
            Some(FamilyKey::V6(k)) if k.server_ip == [0xfd, 0x77, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]
        ));
        assert_eq!(FamilyKey::new(SocketAddr::new(v6, 1500), v4), None);
    }

    #[test]
    fn oack_blksize_is_read_wherever_it_stands() {
        let frame = |opts: &[u8]| {
            let mut f = [0u8; 128];
            f[..2].copy_from_slice(&tftp::OACK.to_be_bytes());
            f[2..2 + opts.len()].copy_from_slice(opts);
            (f, 2 + opts.len())
        };
        for (opts, want) in [
            (&b"blksize\x001432\0tsize\x0024\0"[..], 1432),
            (b"tsize\x0024\0blksize\x00512\0", 512),
            (b"TSIZE\x000\0BLKSIZE\x001468\0WINDOWSIZE\x004\0", 1468),
            (b"tsize\x0024\0", 0),
            (b"xblksize\x001432\0", 0),
            (b"blksize\x0014x2\0", 0),
            (b"blksize\x00", 0),
        ] {
            let (f, len) = frame(opts);
            assert_eq!(
                oack_blksize(&f[..len], 0, len),
                want,
                "{:?}",
                core::str::from_utf8(opts)
            );
        }
    }
}
