//! What the tracker remembers of one client: the [`Session`] and, per
//! stage, what it saw (offers and ACKs, the 4011 exchange, TFTP
//! transfers), each list bounded.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use monitor_common::{
    event::{DhcpEvent, dhcp_flags as f},
    wire::dhcp,
};

use crate::{event::text, verdict::Verdict};

/// Transfers kept per session (the first, and the latest ones).
pub const MAX_TRANSFERS: usize = 64;
/// Offers kept per session.
pub const MAX_OFFERS: usize = 16;
/// Timeline lines kept per session.
pub const MAX_TIMELINE: usize = 256;
/// Client addresses remembered per session (for closing its entries in
/// the address table).
pub const MAX_ADDRESSES: usize = 8;

/// A DHCP or proxyDHCP OFFER or ACK, as far as the tracker needs it.
#[derive(Clone, Debug, Default)]
pub struct Offer {
    pub server: [u8; 4],
    pub yiaddr: [u8; 4],
    pub siaddr: [u8; 4],
    pub boot_file: Option<String>,
    /// The `file` field carries options (option 52) and option 67 is not
    /// in the part the event holds: a boot file may be named all the same.
    pub boot_file_unseen: bool,
    pub tftp_server: Option<String>,
    pub vendor_pxe: bool,
    /// Option 60 starts with `HTTPClient`: the echo UEFI HTTP Boot needs.
    pub vendor_http: bool,
    pub vendor_specific: bool,
}

impl Offer {
    pub fn from_event(e: &DhcpEvent) -> Self {
        let (boot_file, boot_file_unseen) = boot_file(e);
        Offer {
            server: server_of(e),
            yiaddr: e.yiaddr,
            siaddr: e.siaddr,
            boot_file,
            boot_file_unseen,
            tftp_server: (e.flags & f::TFTP_SERVER != 0)
                .then(|| text(&e.tftp_server, e.tftp_server_len.into())),
            vendor_pxe: e.flags & f::VENDOR_PXE_CLIENT != 0,
            vendor_http: e.flags & f::VENDOR_HTTP_CLIENT != 0,
            vendor_specific: e.flags & f::VENDOR_SPECIFIC != 0,
        }
    }

    /// A proxyDHCP offer: no address, PXE vendor class.
    pub fn is_proxy(&self) -> bool {
        self.yiaddr == [0; 4] && self.vendor_pxe
    }
}

/// The server a DHCP reply comes from: option 54, else its source address.
pub fn server_of(e: &DhcpEvent) -> [u8; 4] {
    if e.flags & f::SERVER_ID != 0 {
        e.server_id
    } else {
        e.src_ip
    }
}

/// The boot file a DHCP message names: option 67, else the `file` field;
/// and whether a name may be there unseen. When option 52 says the `file`
/// field carries options (RFC 2132), option 67 is looked for among them
/// (in the part of the field the event holds), and the field is not a name.
fn boot_file(e: &DhcpEvent) -> (Option<String>, bool) {
    let named = |name: String| (!name.is_empty()).then_some(name);
    if e.flags & f::BOOTFILE != 0 {
        return (named(text(&e.bootfile, e.bootfile_len.into())), false);
    }
    if e.flags & f::OVERLOAD != 0 && e.overload & 1 != 0 {
        let mut found = None;
        dhcp::walk_options(&e.file[..], 0, |code, len, at| {
            if code == dhcp::option::BOOTFILE {
                found = e
                    .file
                    .get(at..at + usize::from(len))
                    .map(|v| text(v, v.len()));
                return false;
            }
            true
        });
        return match found {
            Some(name) => (named(name), false),
            None => (None, true),
        };
    }
    (named(text(&e.file, e.file.len())), false)
}

/// One TFTP transfer the client asked for.
#[derive(Clone, Debug)]
pub struct Transfer {
    pub client: SocketAddr,
    pub server: IpAddr,
    pub file: String,
    pub requests: u32,
    pub answered: bool,
    pub complete: bool,
    pub server_error: Option<(u16, String)>,
    pub unreachable: u32,
    pub first_ns: u64,
}

impl Transfer {
    /// A transfer whose first request came at `now`.
    pub fn new(client: SocketAddr, server: IpAddr, file: String, now: u64) -> Self {
        Transfer {
            client,
            server,
            file,
            requests: 1,
            answered: false,
            complete: false,
            server_error: None,
            unreachable: 0,
            first_ns: now,
        }
    }
}

/// Everything seen of one client, by stage.
#[derive(Clone, Debug, Default)]
pub struct Session {
    pub mac: [u8; 6],
    /// Which session of the table this is (stale entries of the eviction
    /// order carry an older number).
    pub seq: u64,
    pub first_ns: u64,
    pub last_ns: u64,
    /// A DHCP message of a PXE or HTTP-boot exchange of this client was
    /// seen (the kernel sends DHCP events for those only): a boot client,
    /// not a phone reading its configuration over TFTP.
    pub announced: bool,
    // DHCP
    pub discovers: u32,
    pub first_discover_ns: Option<u64>,
    /// The first DISCOVER not answered yet (offer latency).
    pub awaiting_offer_ns: Option<u64>,
    /// The server a REQUEST (port 67) named in option 54, and when.
    pub requested: Option<([u8; 4], u64)>,
    pub ipxe: bool,
    /// The client asked as a UEFI HTTP Boot client (option 60
    /// `HTTPClient`): it takes only offers that echo it and name a URI.
    pub http_boot: bool,
    pub arch: Option<u16>,
    pub offers: Vec<Offer>,
    pub ack: Option<Offer>,
    pub nak_from: Option<[u8; 4]>,
    pub client_ip: Option<IpAddr>,
    // The boot server on port 4011.
    pub proxy_requests: u32,
    pub proxy_target: Option<[u8; 4]>,
    pub proxy_first_ns: Option<u64>,
    pub proxy_ack: Option<Offer>,
    pub proxy_unreachable: u32,
    // TFTP
    pub transfers: Vec<Transfer>,
    // HTTP
    pub conns: Vec<super::http::Conn>,
    pub fetches: Vec<super::http::Fetch>,
    /// Addresses of this client in the tracker's address table.
    pub addresses: Vec<IpAddr>,
    /// Boxed: most sessions of a full table (a flood) have none.
    pub verdict: Option<Box<Verdict>>,
    /// It appeared during a DHCP flood.
    pub flood_suspect: bool,
    /// Its verdict was handed out by `take_decided` (live use).
    pub reported: bool,
    pub keep_timeline: bool,
    pub timeline: Vec<(u64, String)>,
}

impl Session {
    /// Time since the session's first event.
    pub fn rel(&self, now: u64) -> u64 {
        now.saturating_sub(self.first_ns)
    }

    /// A client that appeared during a DHCP flood and did what its forged
    /// clients do: one DISCOVER, and no REQUEST, ACK, NAK, 4011 request or
    /// TFTP.
    pub fn is_flood_client(&self) -> bool {
        self.flood_suspect
            && self.discovers <= 1
            && self.requested.is_none()
            && self.ack.is_none()
            && self.nak_from.is_none()
            && self.proxy_requests == 0
            && self.transfers.is_empty()
            && self.conns.is_empty()
    }

    /// The boot file the client was told to fetch, and from where.
    pub fn boot_target(&self) -> (Option<String>, Option<IpAddr>) {
        let from = |o: &Offer| {
            o.boot_file
                .clone()
                .map(|b| (b, (o.siaddr != [0; 4]).then_some(IpAddr::from(o.siaddr))))
        };
        self.proxy_ack
            .as_ref()
            .and_then(from)
            .or_else(|| self.ack.as_ref().and_then(from))
            .or_else(|| self.offers.iter().find(|o| o.is_proxy()).and_then(from))
            .map_or((None, None), |(b, srv)| (Some(b), srv))
    }

    /// The offer carries option 60 PXEClient, and its server did not answer
    /// the client on 4011 (where it does, e.g. WDS on the DHCP server,
    /// option 60 is how it should be set up).
    pub fn option60_unanswered(&self, o: &Offer) -> bool {
        o.vendor_pxe && self.proxy_ack.as_ref().is_none_or(|p| p.server != o.server)
    }
}

pub fn ip(a: [u8; 4]) -> Ipv4Addr {
    Ipv4Addr::from(a)
}

/// Whether a boot file is a URL (UEFI HTTP Boot, iPXE): it is fetched over
/// HTTP, not TFTP, and needs no TFTP server.
pub fn is_url(file: &str) -> bool {
    let f = file.as_bytes();
    let starts = |p: &[u8]| f.len() >= p.len() && f[..p.len()].eq_ignore_ascii_case(p);
    starts(b"http://") || starts(b"https://")
}

/// Whether a requested file is the named one (a leading `/` or not).
pub fn same_file(requested: &str, named: &str) -> bool {
    requested.trim_start_matches('/') == named.trim_start_matches('/')
}
