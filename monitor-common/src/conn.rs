//! Web connections of boot clients: TCP to or from the HTTP and HTTPS ports
//! ([`WebPorts`]) of a client that a PXE or HTTP-boot DHCP exchange gave an
//! address ([`BootClients`], learned from the ACK by [`learn_client`]),
//! followed per connection ([`HttpConn`]: flags seen, payload bytes each
//! way counted once by sequence number) with an [`HttpMoment`] for the
//! segments that matter: the SYN, the SYN-ACK, each segment that starts an
//! HTTP request or response head (HTTP only), the first FIN of each side,
//! an RST. The same logic runs on the kernel's LRU maps and the host's hash
//! maps.

use crate::{
    counters::DhcpType,
    flow::Address,
    frame::Frame,
    stage::{Dhcp6Location, DhcpLocation, TcpAt},
    wire::{
        ParseError, dhcp, dhcpv6,
        http::{self, Start},
        ipv6,
        tcp::{self, Web, flags},
    },
};

/// The web ports followed: 80, 8080 and 443 always, plus up to
/// [`WebPorts::EXTRA`] of each kind given by the user (`--http-port`,
/// `--https-port`; 0 = unused).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct WebPorts {
    pub http: [u16; WebPorts::EXTRA],
    pub https: [u16; WebPorts::EXTRA],
}

impl WebPorts {
    pub const EXTRA: usize = 4;

    /// Whether `port` is one of the fixed web ports (80, 8080, 443), and
    /// which kind: three compares.
    #[inline(always)]
    pub const fn fixed_kind(port: u16) -> Option<Web> {
        if port == tcp::PORT_HTTP || port == tcp::PORT_HTTP_ALT {
            Some(Web::Http)
        } else if port == tcp::PORT_HTTPS {
            Some(Web::Https)
        } else {
            None
        }
    }

    /// Whether `port` is one of the extra ports, and which kind.
    #[inline(always)]
    pub fn extra_kind(&self, port: u16) -> Option<Web> {
        if port == 0 {
            return None;
        }
        for i in 0..Self::EXTRA {
            if self.http[i] == port {
                return Some(Web::Http);
            }
            if self.https[i] == port {
                return Some(Web::Https);
            }
        }
        None
    }

    /// Whether `port` is a web port, and which kind; the extra ones are
    /// looked at only when `extra` (some are set).
    #[inline(always)]
    pub fn kind(&self, port: u16, extra: bool) -> Option<Web> {
        match Self::fixed_kind(port) {
            Some(w) => Some(w),
            None if extra => self.extra_kind(port),
            None => None,
        }
    }

    /// Which of a TCP segment's fixed ports is a web port (destination
    /// first): what other TCP pays for, six compares.
    #[inline(always)]
    pub const fn fixed_side(sport: u16, dport: u16) -> Option<(Web, bool)> {
        if let Some(w) = Self::fixed_kind(dport) {
            return Some((w, true));
        }
        match Self::fixed_kind(sport) {
            Some(w) => Some((w, false)),
            None => None,
        }
    }

    /// [`WebPorts::fixed_side`] for the extra ports.
    #[inline(always)]
    pub fn extra_side(&self, sport: u16, dport: u16) -> Option<(Web, bool)> {
        if let Some(w) = self.extra_kind(dport) {
            return Some((w, true));
        }
        self.extra_kind(sport).map(|w| (w, false))
    }

    /// Which of a TCP segment's ports is a web port: `Some((web,
    /// server_is_dst))`, the destination first (a client's segment); the
    /// fixed ports first, the extra ones only when `extra` (some are set).
    #[inline(always)]
    pub fn side(&self, sport: u16, dport: u16, extra: bool) -> Option<(Web, bool)> {
        match Self::fixed_side(sport, dport) {
            Some(s) => Some(s),
            None if extra => self.extra_side(sport, dport),
            None => None,
        }
    }

    /// Whether any extra port is set.
    #[inline(always)]
    pub fn has_extra(&self) -> bool {
        self.http.iter().chain(self.https.iter()).any(|&p| p != 0)
    }
}

/// A client a PXE or HTTP-boot exchange gave an address: its MAC and the
/// [`client_tick`] of the ACK.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct BootClient {
    pub mac: [u8; 6],
    pub _reserved: [u8; 2],
    pub tick: u32,
    pub _reserved2: u32,
}

const _: () = assert!(core::mem::size_of::<BootClient>() == 16);

/// Ticks of 2^30 ns (1.07 s), as the TFTP port hints count.
pub const CLIENT_TICK_SHIFT: u32 = 30;

/// A boot client's web traffic is followed for 560 ticks (about 10 min)
/// after its ACK: long enough for a chain of kernel and initrd over a slow
/// link, short enough that the installed system's own web traffic from the
/// same address stops being followed.
pub const CLIENT_TTL: u32 = 560;

/// The tick of `now_ns` (never 0).
#[inline(always)]
pub fn client_tick(now_ns: u64) -> u32 {
    let t = (now_ns >> CLIENT_TICK_SHIFT) as u32;
    if t == 0 { 1 } else { t }
}

impl BootClient {
    /// Whether its ACK is recent enough at `now_ns` (a tick of slack for
    /// two clocks).
    #[inline(always)]
    pub fn fresh(&self, now_ns: u64) -> bool {
        self.tick != 0
            && client_tick(now_ns).wrapping_add(1).wrapping_sub(self.tick) < CLIENT_TTL + 1
    }
}

/// The learned boot clients of one family (IPv4 addresses by default):
/// the kernel's LRU map or a host hash map.
pub trait BootClients<A = [u8; 4]> {
    fn get(&mut self, ip: &A) -> Option<BootClient>;
    fn learn(&mut self, ip: &A, client: &BootClient);
}

/// Learns the client of a PXE exchange's ACK (`pxe`: the message is part of
/// one): its address (`yiaddr`, else `ciaddr` for a renewal) and MAC.
#[inline(always)]
pub fn learn_client<F: Frame + ?Sized, C: BootClients>(
    frame: &F,
    loc: &DhcpLocation,
    ty: Option<DhcpType>,
    pxe: bool,
    now_ns: u64,
    clients: &mut C,
) {
    if !pxe || loc.op != 2 || ty != Some(DhcpType::ACK) {
        return;
    }
    let Ok(h) = dhcp::Header::new_checked(frame, loc.bootp_at as usize) else {
        return;
    };
    let ip = if h.yiaddr() != [0; 4] {
        h.yiaddr()
    } else {
        h.ciaddr()
    };
    if ip == [0; 4] {
        return;
    }
    clients.learn(
        &ip,
        &BootClient {
            mac: h.chaddr(),
            tick: client_tick(now_ns),
            ..BootClient::default()
        },
    );
}

/// Learns the client of a PXE or HTTP-boot exchange's DHCPv6 Reply
/// (`pxe`: the message is part of one): the address its IA_NA gives, and
/// the MAC in the client id's DUID, else, for a Reply no relay carried,
/// the Ethernet destination.
#[inline(always)]
pub fn learn_client6<F: Frame + ?Sized, C: BootClients<[u8; 16]>>(
    frame: &F,
    loc: &Dhcp6Location,
    pxe: bool,
    now_ns: u64,
    clients: &mut C,
) {
    if !pxe || loc.inner_type != dhcpv6::msg::REPLY {
        return;
    }
    let Some(ip) = dhcpv6::ia_na_address(frame, &loc.options) else {
        return;
    };
    let mac = match dhcpv6::client_mac(frame, &loc.options) {
        Some(mac) => mac,
        None if loc.relays == 0 => match frame.array::<6>(0) {
            Some(dst) => *dst,
            None => return,
        },
        None => return,
    };
    clients.learn(
        &ip,
        &BootClient {
            mac,
            tick: client_tick(now_ns),
            ..BootClient::default()
        },
    );
}

/// A connection: the client's address and port, the server's (IPv4
/// addresses by default).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(C)]
pub struct ConnKey<A = [u8; 4]> {
    pub client_ip: A,
    pub server_ip: A,
    pub client_port: [u8; 2],
    pub server_port: [u8; 2],
}

/// A connection over IPv6.
pub type ConnKey6 = ConnKey<[u8; 16]>;

const _: () = assert!(core::mem::size_of::<ConnKey>() == 12);
const _: () = assert!(core::mem::size_of::<ConnKey6>() == 36);

/// A connection's key in its family's table, from the events' form of
/// its addresses (16 bytes, IPv4 as `::ffff:a.b.c.d`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnFamilyKey {
    V4(ConnKey),
    V6(ConnKey6),
}

impl ConnFamilyKey {
    pub fn of(key: &ConnKey6) -> ConnFamilyKey {
        match (
            ipv6::mapped_v4(&key.client_ip),
            ipv6::mapped_v4(&key.server_ip),
        ) {
            (Some(client_ip), Some(server_ip)) => ConnFamilyKey::V4(ConnKey {
                client_ip,
                server_ip,
                client_port: key.client_port,
                server_port: key.server_port,
            }),
            _ => ConnFamilyKey::V6(*key),
        }
    }
}

/// Bits of [`HttpConn::seen`].
pub mod seen {
    pub const SYN: u8 = 1 << 0;
    pub const SYN_ACK: u8 = 1 << 1;
    pub const CLIENT_FIN: u8 = 1 << 2;
    pub const SERVER_FIN: u8 = 1 << 3;
    pub const CLIENT_RST: u8 = 1 << 4;
    pub const SERVER_RST: u8 = 1 << 5;
    /// The server's payload has started (its base sequence number is set).
    pub const SERVER_DATA: u8 = 1 << 6;
    /// The client's payload has started.
    pub const CLIENT_DATA: u8 = 1 << 7;
}

/// One side's byte count: payload bytes counted once each, from the side's
/// first sequence number.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct SideBytes {
    /// Payload bytes so far (the highest sequence number seen, less the
    /// first), resent bytes not counted again.
    pub bytes: u64,
    /// The sequence number after the highest byte seen.
    pub next: u32,
    pub segments: u32,
}

impl SideBytes {
    /// A segment of `len` payload bytes at `seq`: counts what is new, and
    /// returns the offset of the segment's first byte from the side's
    /// first (the same for a resent segment).
    #[inline(always)]
    fn segment(&mut self, started: bool, seq: u32, len: u32) -> u64 {
        self.segments += 1;
        if !started {
            self.next = seq;
        }
        let end = seq.wrapping_add(len);
        let ahead = end.wrapping_sub(self.next);
        // Ahead by less than 2^31: new bytes (a gap counts: they were
        // sent, this monitor missed them).
        if (ahead as i32) > 0 {
            self.bytes += u64::from(ahead);
            self.next = end;
        }
        self.bytes
            .saturating_sub(u64::from(self.next.wrapping_sub(seq)))
    }
}

/// What is known of a connection so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct HttpConn {
    pub first_ns: u64,
    pub last_ns: u64,
    pub server: SideBytes,
    pub client: SideBytes,
    /// Segments of the client that started a request head, of the server
    /// that started a response head.
    pub requests: u16,
    pub responses: u16,
    pub syns: u16,
    /// [`seen`] bits.
    pub seen: u8,
    /// [`Web`] of the server port.
    pub web: u8,
    pub client_mac: [u8; 6],
    pub _reserved: [u8; 2],
}

const _: () = assert!(core::mem::size_of::<HttpConn>() == 64);

#[cfg(feature = "user")]
// SAFETY: repr(C), no padding (sizes asserted), all bit patterns valid.
unsafe impl aya::Pod for ConnKey {}
#[cfg(feature = "user")]
// SAFETY: as above.
unsafe impl aya::Pod for ConnKey6 {}
#[cfg(feature = "user")]
// SAFETY: as above.
unsafe impl aya::Pod for HttpConn {}
#[cfg(feature = "user")]
// SAFETY: as above.
unsafe impl aya::Pod for BootClient {}
#[cfg(feature = "user")]
// SAFETY: as above.
unsafe impl aya::Pod for WebPorts {}

/// The connection table of one family: the kernel's LRU map or a host
/// hash map.
pub trait HttpConns<A = [u8; 4]> {
    fn get(&mut self, key: &ConnKey<A>) -> Option<&mut HttpConn>;
    fn insert(&mut self, key: &ConnKey<A>, conn: &HttpConn);
}

/// Which segments of a connection deserve an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum HttpMoment {
    /// The client's SYN (each one: retries say the server does not answer).
    Syn = 1,
    /// The server's first SYN-ACK.
    SynAck = 2,
    /// A client segment that starts a request head.
    Request = 3,
    /// A server segment that starts a response head.
    Response = 4,
    /// The first FIN of a side.
    Fin = 5,
    /// An RST from either side.
    Rst = 6,
}

impl HttpMoment {
    pub const fn from_u8(v: u8) -> Option<HttpMoment> {
        match v {
            1 => Some(HttpMoment::Syn),
            2 => Some(HttpMoment::SynAck),
            3 => Some(HttpMoment::Request),
            4 => Some(HttpMoment::Response),
            5 => Some(HttpMoment::Fin),
            6 => Some(HttpMoment::Rst),
            _ => None,
        }
    }
}

/// SYNs of one connection that get an event: enough to tell "no answer"
/// from a slow server, few enough that a SYN flood to one port costs
/// nothing more.
pub const MAX_SYN_EVENTS: u16 = 8;

/// What one segment was, for counters and the event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HttpSeen<A = [u8; 4]> {
    pub key: ConnKey<A>,
    pub from_server: bool,
    pub flags: u8,
    pub seq: u32,
    /// Where the payload starts in the frame, and its length.
    pub payload_at: usize,
    pub payload_len: u32,
    /// The offset of the segment's first payload byte in its side's byte
    /// stream.
    pub offset: u64,
    pub moment: Option<HttpMoment>,
    /// For [`HttpMoment::Request`], the method.
    pub method: u8,
    /// The connection after this segment.
    pub conn: HttpConn,
}

/// Follows one TCP segment to or from a web port found at `at`, over
/// IPv4 or IPv6 (`A`, the address): `Ok(None)` when neither end is a
/// fresh boot client.
#[inline(always)]
pub fn observe_http<F, A, C, T>(
    frame: &F,
    at: TcpAt,
    now_ns: u64,
    clients: &mut C,
    conns: &mut T,
) -> Result<Option<HttpSeen<A>>, ParseError>
where
    F: Frame + ?Sized,
    A: Address,
    C: BootClients<A>,
    T: HttpConns<A>,
{
    let (src, dst, end) = A::read_datagram(frame, at.ip_at as usize)?;
    // The boot client is the end that is not the web port's (the server's).
    let (client_ip, from_server) = if at.server_is_dst {
        (src, false)
    } else {
        (dst, true)
    };
    let Some(client) = clients.get(&client_ip) else {
        return Ok(None);
    };
    if !client.fresh(now_ns) {
        return Ok(None);
    }
    let t = tcp::Header::new_checked(frame, at.tcp_at as usize)?;
    let (sport, dport) = (t.source_port(), t.destination_port());
    let key = if from_server {
        ConnKey {
            client_ip: dst,
            server_ip: src,
            client_port: dport.to_be_bytes(),
            server_port: sport.to_be_bytes(),
        }
    } else {
        ConnKey {
            client_ip: src,
            server_ip: dst,
            client_port: sport.to_be_bytes(),
            server_port: dport.to_be_bytes(),
        }
    };
    let fl = t.flags();
    let payload_at = at.tcp_at as usize + t.header_len();
    let payload_len = end.saturating_sub(payload_at) as u32;
    let syn = fl & flags::SYN != 0;
    let mut moment = None;
    let conn = match conns.get(&key) {
        Some(c) => c,
        None => {
            // A connection starts with the client's SYN; one seen in the
            // middle (the monitor started late) is followed from there.
            let fresh = HttpConn {
                first_ns: now_ns,
                last_ns: now_ns,
                web: at.web as u8,
                client_mac: client.mac,
                ..HttpConn::default()
            };
            conns.insert(&key, &fresh);
            match conns.get(&key) {
                Some(c) => c,
                None => return Ok(None),
            }
        }
    };
    conn.last_ns = now_ns;
    let seq = t.seq();
    if syn && !from_server {
        conn.syns = conn.syns.saturating_add(1);
        conn.seen |= seen::SYN;
        if conn.syns <= MAX_SYN_EVENTS {
            moment = Some(HttpMoment::Syn);
        }
    }
    if syn && from_server && conn.seen & seen::SYN_ACK == 0 {
        conn.seen |= seen::SYN_ACK;
        // The server's byte stream starts after the SYN.
        conn.server.next = seq.wrapping_add(1);
        conn.seen |= seen::SERVER_DATA;
        moment = Some(HttpMoment::SynAck);
    }
    if syn && !from_server && conn.seen & seen::CLIENT_DATA == 0 {
        conn.client.next = seq.wrapping_add(1);
        conn.seen |= seen::CLIENT_DATA;
    }
    let mut offset = 0;
    let mut method = 0;
    if payload_len > 0 {
        let (side, started_bit) = if from_server {
            (&mut conn.server, seen::SERVER_DATA)
        } else {
            (&mut conn.client, seen::CLIENT_DATA)
        };
        offset = side.segment(conn.seen & started_bit != 0, seq, payload_len);
        conn.seen |= started_bit;
        if at.web == Web::Http {
            let mut first = [0u8; 8];
            frame.copy_prefix(payload_at, payload_len as usize, &mut first);
            match (http::message_start(&first), from_server) {
                (Some(Start::Request(m)), false) => {
                    conn.requests = conn.requests.saturating_add(1);
                    method = m as u8;
                    moment = Some(HttpMoment::Request);
                }
                (Some(Start::Response), true) => {
                    conn.responses = conn.responses.saturating_add(1);
                    moment = Some(HttpMoment::Response);
                }
                _ => {}
            }
        }
    }
    if fl & flags::FIN != 0 {
        let bit = if from_server {
            seen::SERVER_FIN
        } else {
            seen::CLIENT_FIN
        };
        if conn.seen & bit == 0 {
            conn.seen |= bit;
            if moment.is_none() {
                moment = Some(HttpMoment::Fin);
            }
        }
    }
    if fl & flags::RST != 0 {
        conn.seen |= if from_server {
            seen::SERVER_RST
        } else {
            seen::CLIENT_RST
        };
        moment = Some(HttpMoment::Rst);
    }
    Ok(Some(HttpSeen {
        key,
        from_server,
        flags: fl,
        seq,
        payload_at,
        payload_len,
        offset,
        moment,
        method,
        conn: *conn,
    }))
}

/// The host's stage one asks its configured ports (the kernel asks its
/// globals, `monitor-ebpf` `stage::http::KernelWeb`).
impl crate::classify::WebSide for WebPorts {
    #[inline(always)]
    fn side(&self, sport: u16, dport: u16) -> Option<(Web, bool)> {
        WebPorts::side(self, sport, dport, self.has_extra())
    }
}
