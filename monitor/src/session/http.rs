//! The HTTP stage: a boot client's web connections and the fetches on
//! them (iPXE chains: script, kernel, initrd; UEFI HTTP Boot), and what
//! they decide: the last file arrived whole (booted), the server answered
//! an error status (HTTP-404, -403, -4XX, -5XX), nothing listens (RST to
//! the SYN: HTTP-REFUSED), no answer to the SYN (HTTP-TIMEOUT, live), the
//! connection ended before the Content-Length (HTTP-CUT).
//!
//! Requests and responses on a connection pair up in order (HTTP/1.1
//! answers in the order asked); a response's body runs from the end of
//! its head to the next response's head or to the connection's last
//! server byte, counted by sequence number (`conn::SideBytes`).

use std::net::{IpAddr, SocketAddr};

use monitor_common::{
    conn::{ConnKey6, HttpConn, HttpMoment, seen},
    event::HttpEvent,
    wire::{http, tcp::Web},
};

use super::{
    decide::{Live, Step},
    state::{MAX_TIMELINE, Session},
    timeline::note,
};
use crate::{
    diagnosis::{self, Fetched, Fetcher},
    event::{addr, http_payload, text},
    verdict::{HttpTransfer, TransferResult, TransferStatus},
};

/// Connections and fetches kept per session (the first, and the latest).
pub const MAX_CONNS: usize = 32;
pub const MAX_FETCHES: usize = 64;

/// SYNs without an answer after which the server is taken as silent
/// (iPXE and EDK2 retry for tens of seconds), and the time after the first
/// SYN, live.
const SILENT_SYNS: u16 = 4;

/// A connection of the client to a web server.
#[derive(Clone, Debug, Default)]
pub struct Conn {
    /// The events' form of the addresses (16 bytes, IPv4 as
    /// `::ffff:a.b.c.d`).
    pub key: ConnKey6,
    pub web: u8,
    pub first_ns: u64,
    pub syns: u16,
    /// `conn::seen` bits, from the latest event.
    pub seen: u8,
    /// The server's payload bytes so far (latest event or table read).
    pub server_bytes: u64,
    /// An RST came before the server's SYN-ACK: refused.
    pub refused: bool,
    /// Its latest segment seen (event or table read).
    pub last_ns: u64,
}

/// How a connection ended, as far as its file is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ended {
    Reset,
    ClosedByServer,
}

impl Ended {
    /// The words of the verdict's cause.
    const fn text(self) -> &'static str {
        match self {
            Ended::Reset => "was reset",
            Ended::ClosedByServer => "was closed by the server",
        }
    }
}

impl Conn {
    fn ended(&self) -> Option<Ended> {
        if self.seen & (seen::SERVER_RST | seen::CLIENT_RST) != 0 {
            Some(Ended::Reset)
        } else if self.seen & seen::SERVER_FIN != 0 {
            Some(Ended::ClosedByServer)
        } else {
            None
        }
    }
}

/// One request and what answered it.
#[derive(Clone, Debug)]
pub struct Fetch {
    /// The events' form of the addresses (16 bytes, IPv4 as
    /// `::ffff:a.b.c.d`).
    pub key: ConnKey6,
    pub method: http::Method,
    pub url: String,
    pub user_agent: Option<String>,
    /// Where the request stood in the client's byte stream (a resent
    /// segment is the same request).
    pub request_offset: u64,
    pub started_ns: u64,
    pub status: Option<u16>,
    pub reason: String,
    pub content_length: Option<u64>,
    pub chunked: bool,
    /// Where the response's head stood in the server's byte stream, and
    /// where its body starts and (once the next response began) ends.
    pub response_offset: Option<u64>,
    pub body_start: Option<u64>,
    pub body_end: Option<u64>,
    pub last_ns: u64,
}

impl Fetch {
    /// Body bytes seen, given the connection's server bytes.
    pub fn bytes(&self, server_bytes: u64) -> u64 {
        match self.body_start {
            Some(start) => self.body_end.unwrap_or(server_bytes).saturating_sub(start),
            None => 0,
        }
    }

    /// Whether the whole body arrived: a HEAD's or a bodiless status's at
    /// once, else by Content-Length, else (chunked or close-delimited) when
    /// the server closed or the next response began.
    pub fn complete(&self, conn: Option<&Conn>) -> bool {
        let Some(status) = self.status else {
            return false;
        };
        if self.method == http::Method::Head || status == 204 || status == 304 || status < 200 {
            return true;
        }
        let server_bytes = conn.map_or(0, |c| c.server_bytes);
        match self.content_length {
            Some(n) => self.body_start.is_some() && self.bytes(server_bytes) >= n,
            None => self.body_end.is_some() || conn.is_some_and(|c| c.seen & seen::SERVER_FIN != 0),
        }
    }

    fn fetched<'a>(&'a self, arch: Option<u16>) -> Fetched<'a> {
        Fetched {
            url: &self.url,
            server: addr(self.key.server_ip),
            port: u16::from_be_bytes(self.key.server_port),
            fetcher: Fetcher::from_user_agent(self.user_agent.as_deref(), arch),
        }
    }
}

/// An HTTP event of one of the client's connections.
pub fn on_http(s: &mut Session, e: &HttpEvent, now: u64) {
    let t = s.rel(now);
    let key = ConnKey6 {
        client_ip: e.client_ip,
        server_ip: e.server_ip,
        client_port: e.client_port,
        server_port: e.server_port,
    };
    s.client_ip.get_or_insert(addr(e.client_ip));
    let i = match s.conns.iter().rposition(|c| c.key == key) {
        Some(i) if e.moment != HttpMoment::Syn as u8 || s.conns[i].seen & seen::SYN_ACK == 0 => i,
        // A new connection (a port reused after the last one ended).
        _ => {
            if s.conns.len() >= MAX_CONNS {
                s.conns.remove(1);
            }
            s.conns.push(Conn {
                key,
                web: e.web,
                first_ns: now,
                ..Conn::default()
            });
            s.conns.len() - 1
        }
    };
    let keep = s.keep_timeline && s.timeline.len() < MAX_TIMELINE;
    let c = &mut s.conns[i];
    c.syns = c.syns.max(e.syns);
    c.seen |= e.seen;
    c.server_bytes = c.server_bytes.max(e.server_bytes);
    c.last_ns = c.last_ns.max(now);
    let server = SocketAddr::new(addr(e.server_ip), u16::from_be_bytes(e.server_port));
    let payload = http_payload(e);
    let mut line = None;
    match HttpMoment::from_u8(e.moment) {
        Some(HttpMoment::Syn) if e.syns == 1 && keep => {
            line = Some(format!("TCP connection to {server}"));
        }
        Some(HttpMoment::Rst) => {
            if c.seen & seen::SYN_ACK == 0 && e.from_server != 0 {
                c.refused = true;
            }
            if keep {
                let who = if e.from_server != 0 {
                    "server"
                } else {
                    "client"
                };
                line = Some(format!("TCP connection to {server} reset by the {who}"));
            }
        }
        Some(HttpMoment::Request) => {
            if let Some(r) = http::parse_request(payload)
                && !s
                    .fetches
                    .iter()
                    .any(|f| f.key == key && f.request_offset == e.offset)
            {
                let url = url(&r, e);
                if keep {
                    line = Some(format!("HTTP {} {url}", r.method.label()));
                }
                if s.fetches.len() >= MAX_FETCHES {
                    s.fetches.remove(1);
                }
                s.fetches.push(Fetch {
                    key,
                    method: r.method,
                    url,
                    user_agent: r.user_agent.map(|u| text(u, u.len())),
                    request_offset: e.offset,
                    started_ns: now,
                    status: None,
                    reason: String::new(),
                    content_length: None,
                    chunked: false,
                    response_offset: None,
                    body_start: None,
                    body_end: None,
                    last_ns: now,
                });
            }
        }
        Some(HttpMoment::Response) => {
            if let Some(r) = http::parse_response(payload)
                && r.status >= 200
                && !s
                    .fetches
                    .iter()
                    .any(|f| f.key == key && f.response_offset == Some(e.offset))
            {
                // The previous response on the connection ends here.
                if let Some(prev) = s
                    .fetches
                    .iter_mut()
                    .rev()
                    .find(|f| f.key == key && f.status.is_some())
                    && prev.body_end.is_none()
                {
                    prev.body_end = Some(e.offset);
                }
                if let Some(f) = s
                    .fetches
                    .iter_mut()
                    .find(|f| f.key == key && f.status.is_none())
                {
                    f.status = Some(r.status);
                    f.reason = text(r.reason, r.reason.len());
                    f.content_length = r.content_length;
                    f.chunked = r.chunked;
                    f.response_offset = Some(e.offset);
                    f.body_start = r.head_len.map(|n| e.offset + n as u64);
                    f.last_ns = now;
                    if keep {
                        line = Some(format!(
                            "HTTP {} {} for {}{}",
                            r.status,
                            f.reason,
                            f.url,
                            f.content_length
                                .map_or_else(String::new, |n| format!(" ({n} bytes)"))
                        ));
                    }
                }
            }
        }
        _ => {}
    }
    if let Some(f) = s.fetches.iter_mut().rev().find(|f| f.key == key) {
        f.last_ns = now;
    }
    if let Some(line) = line {
        note!(s, t, line);
    }
}

/// The URL a request names: absolute as sent, else built from its Host
/// header (or the server's address) and target.
fn url(r: &http::Request<'_>, e: &HttpEvent) -> String {
    let target = text(r.target, r.target.len());
    if target.starts_with("http://") || target.starts_with("https://") {
        return target;
    }
    let port = u16::from_be_bytes(e.server_port);
    let host = r
        .host
        .map(|h| text(h, h.len()))
        .unwrap_or_else(|| host(addr(e.server_ip), port, 80));
    format!("http://{host}{target}")
}

/// A URL's host part for a server: its address (IPv6 in brackets), and
/// the port unless it is the scheme's `default`.
fn host(server: IpAddr, port: u16, default: u16) -> String {
    match (server, port == default) {
        (IpAddr::V6(a), true) => format!("[{a}]"),
        (a, true) => a.to_string(),
        (a, false) => SocketAddr::new(a, port).to_string(),
    }
}

/// Takes the connection table's figures (live, and replay's host table):
/// the server's bytes of each connection the client still has open.
pub fn refresh(s: &mut Session, progress: &dyn Fn(&ConnKey6) -> Option<HttpConn>) {
    for c in &mut s.conns {
        if let Some(t) = progress(&c.key) {
            c.server_bytes = c.server_bytes.max(t.server.bytes);
            c.seen |= t.seen;
            c.syns = c.syns.max(t.syns);
            c.last_ns = c.last_ns.max(t.last_ns);
        }
    }
}

/// Whether a 404 is one a boot goes on after: iPXE's probe for
/// `autoexec.ipxe` (ipxe #1327).
fn probe(f: &Fetch) -> bool {
    f.url.ends_with("/autoexec.ipxe")
}

/// What the fetches decide: the last one's outcome. `Pass` when the
/// client opened no web connection.
pub fn decide(s: &Session, now: u64, live: Option<&Live<'_>>) -> Step {
    if s.conns.is_empty() {
        return Step::Pass;
    }
    let conn_of = |k: &ConnKey6| s.conns.iter().rev().find(|c| c.key == *k);
    // The last fetch that matters: not a probe that failed, not a HEAD
    // refused before a GET of the same URL.
    let last = s.fetches.iter().enumerate().rev().find(|(i, f)| {
        let failed = f.status.is_some_and(|st| st >= 400);
        let head_then_get = f.method == http::Method::Head
            && failed
            && s.fetches[i + 1..].iter().any(|g| g.url == f.url);
        !(head_then_get || (failed && probe(f)))
    });
    // A connection with no request on it yet, newer than the last fetch:
    // refused, silent, or on its way.
    let newest = s.conns.last();
    let pending = newest.filter(|c| {
        last.is_none_or(|(_, f)| c.first_ns > f.started_ns)
            && !s.fetches.iter().any(|f| f.key == c.key)
    });
    if let Some(c) = pending {
        // No request on it: what the verdict says comes from the
        // connection, the fetcher from the client's latest request.
        let (server, port) = (addr(c.key.server_ip), u16::from_be_bytes(c.key.server_port));
        let url = format!("http://{}/", SocketAddr::new(server, port));
        let user_agent = s
            .fetches
            .last()
            .and_then(|f| f.user_agent.as_deref())
            .or(s.ipxe.then_some("iPXE"));
        let mut f = Fetched {
            url: &url,
            server,
            port,
            fetcher: Fetcher::from_user_agent(user_agent, s.arch),
        };
        if c.refused {
            return Step::Decided(diagnosis::http_refused(&f, s.mac));
        }
        // HTTPS: the connection is all there is to see. Established and
        // answered: the file came (unless it was reset).
        if c.web == Web::Https as u8 && c.seen & seen::SYN_ACK != 0 && c.server_bytes > 0 {
            let url = format!("https://{}/", SocketAddr::new(server, port));
            f.url = &url;
            return match c.ended() {
                Some(Ended::Reset) => Step::Decided(diagnosis::http_cut(
                    &f,
                    s.mac,
                    c.server_bytes,
                    c.server_bytes,
                    Ended::Reset.text(),
                )),
                _ => Step::Decided(diagnosis::booted(s.mac, &url, server)),
            };
        }
        if c.seen & seen::SYN_ACK == 0 {
            let silent = c.syns >= SILENT_SYNS
                || live.is_some_and(|l| now.saturating_sub(c.first_ns) >= l.timeouts.no_answer_ns);
            if silent && live.is_some() {
                return Step::Decided(diagnosis::http_no_answer(&f, s.mac, c.syns));
            }
        }
        return Step::Wait;
    }
    let Some((_, f)) = last else {
        return Step::Wait;
    };
    let conn = conn_of(&f.key);
    let fetched = f.fetched(s.arch);
    if let Some(status) = f.status
        && status >= 400
    {
        return Step::Decided(diagnosis::http_status(&fetched, s.mac, status, &f.reason));
    }
    if f.complete(conn) {
        return Step::Decided(diagnosis::booted(s.mac, &f.url, addr(f.key.server_ip)));
    }
    let server_bytes = conn.map_or(0, |c| c.server_bytes);
    if let (Some(n), Some(how)) = (f.content_length, conn.and_then(Conn::ended)) {
        return Step::Decided(diagnosis::http_cut(
            &fetched,
            s.mac,
            f.bytes(server_bytes),
            n,
            how.text(),
        ));
    }
    if let (Some(live), Some(n)) = (live, f.content_length)
        && now.saturating_sub(f.last_ns.max(conn.map_or(0, |c| c.last_ns)))
            >= live.timeouts.stall_ns
        && f.status.is_some()
    {
        return Step::Decided(diagnosis::http_cut(
            &fetched,
            s.mac,
            f.bytes(server_bytes),
            n,
            "stopped",
        ));
    }
    Step::Wait
}

/// A fetch as the verdict lists it, beside the TFTP transfers.
pub fn result(s: &Session, f: &Fetch) -> TransferResult {
    let conn = s.conns.iter().rev().find(|c| c.key == f.key);
    let server_bytes = conn.map_or(0, |c| c.server_bytes);
    let status = match f.status {
        _ if f.complete(conn) && f.status.is_some_and(|st| st < 400) => TransferStatus::Complete,
        Some(st) if st >= 400 => TransferStatus::Error,
        None => TransferStatus::Unanswered,
        Some(_) => TransferStatus::Incomplete,
    };
    TransferResult {
        file: f.url.clone(),
        server: addr(f.key.server_ip),
        status,
        error_code: f.status,
        requests: 1,
        http: Some(HttpTransfer {
            method: f.method.label(),
            url: f.url.clone(),
            status: f.status,
            bytes: f.bytes(server_bytes),
            content_length: f.content_length,
            duration_ns: f
                .last_ns
                .max(conn.map_or(0, |c| c.last_ns))
                .saturating_sub(f.started_ns),
            user_agent: f.user_agent.clone(),
        }),
    }
}
