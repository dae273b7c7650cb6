//! What the tracker remembers of one client: the [`Session`] and, per
//! stage, what it saw (offers and ACKs, the 4011 exchange, TFTP
//! transfers), each list bounded.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use monitor_common::{
    event::{DhcpEvent, dhcp_flags as f},
    wire::dhcp,
};

use crate::{
    event::text,
    verdict::{Attempt, BootProtocol, Verdict},
};

/// Transfers kept per session (the first, and the latest ones).
pub const MAX_TRANSFERS: usize = 64;
/// Offers kept per session.
pub const MAX_OFFERS: usize = 16;
/// Timeline lines kept per session.
pub const MAX_TIMELINE: usize = 256;
/// Earlier attempts kept per session (EDK2 makes four per NIC).
pub const MAX_ATTEMPTS: usize = 16;
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

/// An attempt the firmware left for its next boot option: how it ended,
/// and its whole verdict (a boot whose attempts all failed is judged by the
/// one that got furthest).
#[derive(Clone, Debug)]
pub struct EndedAttempt {
    pub summary: Attempt,
    pub verdict: Box<Verdict>,
}

/// A DHCPv6 Advertise or Reply to the client, as far as the tracker needs
/// it.
#[derive(Clone, Debug, Default)]
pub struct Offer6 {
    /// Its source: the server, or the relay nearest the client.
    pub from: Option<Ipv6Addr>,
    /// The address it gives (IA_NA).
    pub address: Option<Ipv6Addr>,
    /// Option 59.
    pub boot_url: Option<String>,
    /// Option 16 `PXEClient`: a proxy (sends the client to 4011).
    pub vendor_pxe: bool,
    /// Option 16 `HTTPClient`: the echo UEFI HTTP Boot needs.
    pub vendor_http: bool,
}

impl Offer6 {
    /// The boot file it names and its server: a `tftp://` URL's path and
    /// host; any other URL as it is, with no server (PXE over IPv6 fetches
    /// over TFTP only).
    pub fn target(&self) -> Option<(String, Option<IpAddr>)> {
        let url = self.boot_url.as_deref()?;
        Some(tftp_url(url).unwrap_or_else(|| (url.to_owned(), None)))
    }

    /// It names a boot file the PXE client can fetch (a `tftp://` URL).
    pub fn names_tftp_file(&self) -> bool {
        self.boot_url
            .as_deref()
            .is_some_and(|u| tftp_url(u).is_some())
    }

    /// An answer UEFI HTTP Boot can boot from: `HTTPClient` echoed and a
    /// boot file URL.
    pub fn http_bootable(&self) -> bool {
        self.vendor_http && self.boot_url.is_some()
    }
}

/// A `tftp://host/path` URL (RFC 5970 option 59): the path and, when the
/// host is an address (`[v6]`, `a.b.c.d`, either with a port), the server.
pub fn tftp_url(url: &str) -> Option<(String, Option<IpAddr>)> {
    const SCHEME: &str = "tftp://";
    let head = url.get(..SCHEME.len())?;
    if !head.eq_ignore_ascii_case(SCHEME) {
        return None;
    }
    let rest = &url[SCHEME.len()..];
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split_once(']').map_or(v6, |(a, _)| a),
        None => host.split_once(':').map_or(host, |(a, _)| a),
    };
    Some((path.to_owned(), host.parse().ok()))
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
    // DHCPv6
    pub solicits: u32,
    pub first_solicit_ns: Option<u64>,
    pub advertises: Vec<Offer6>,
    pub requests6: u32,
    pub reply6: Option<Offer6>,
    /// The transaction of the client's latest DHCPv6 message (a server's
    /// answer names the client by it when its DUID holds no MAC).
    pub xid6: Option<[u8; 4]>,
    // The boot server on port 4011.
    pub proxy_requests: u32,
    pub proxy_target: Option<IpAddr>,
    pub proxy_first_ns: Option<u64>,
    pub proxy_ack: Option<Offer>,
    /// The boot server's Reply from 4011 over IPv6.
    pub proxy_reply6: Option<Offer6>,
    pub proxy_unreachable: u32,
    // TFTP
    pub transfers: Vec<Transfer>,
    // HTTP
    pub conns: Vec<super::http::Conn>,
    pub fetches: Vec<super::http::Fetch>,
    /// The boot option of the current attempt, from its first DISCOVER or
    /// Solicit, and when that came.
    pub protocol: Option<BootProtocol>,
    pub attempt_first_ns: u64,
    /// The transaction of the latest DISCOVER or Solicit.
    pub attempt_xid: Option<[u8; 4]>,
    /// The attempts of this boot that ended before the current one.
    pub attempts: Vec<EndedAttempt>,
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
            && self.solicits <= 1
            && self.requests6 == 0
            && self.reply6.is_none()
    }

    /// The current attempt ended (the firmware went on to `next`): it is
    /// kept as `ended`, and what the stages saw of it is forgotten; the
    /// client's identity, timeline and addresses stay.
    pub fn next_attempt(&mut self, ended: EndedAttempt, next: BootProtocol, now: u64) {
        let mut attempts = std::mem::take(&mut self.attempts);
        if attempts.len() >= MAX_ATTEMPTS {
            attempts.remove(0);
        }
        attempts.push(ended);
        *self = Session {
            mac: self.mac,
            seq: self.seq,
            first_ns: self.first_ns,
            last_ns: self.last_ns,
            announced: self.announced,
            protocol: Some(next),
            attempt_first_ns: now,
            attempts,
            addresses: std::mem::take(&mut self.addresses),
            xid6: self.xid6,
            flood_suspect: self.flood_suspect,
            keep_timeline: self.keep_timeline,
            timeline: std::mem::take(&mut self.timeline),
            ..Session::default()
        };
    }

    /// The current attempt is over IPv6.
    pub fn is_ipv6(&self) -> bool {
        matches!(
            self.protocol,
            Some(BootProtocol::PxeIpv6 | BootProtocol::HttpIpv6)
        )
    }

    /// UEFI firmware: a failed attempt is followed by its next boot option
    /// (iPXE's EFI build too: when it gives up, it returns to the boot
    /// manager, which tries the next).
    pub fn falls_back(&self) -> bool {
        self.arch.is_some_and(crate::diagnosis::is_efi)
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
            .or_else(|| {
                // DHCPv6: the boot server's or the Reply's option 59, else
                // an Advertise's.
                self.proxy_reply6
                    .iter()
                    .chain(self.reply6.iter())
                    .chain(self.advertises.iter())
                    .find_map(Offer6::target)
            })
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
