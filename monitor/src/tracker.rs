//! Follows each PXE client from DISCOVER through proxyDHCP and TFTP to the
//! last block of its boot file, and decides how its boot went.
//!
//! A pure state machine: the time comes in with each event
//! ([`Tracker::on_event`]) and tick ([`Tracker::on_tick`]); nothing here
//! reads a clock or does I/O, so capture files and tests drive it exactly
//! as live traffic does.

use std::{collections::VecDeque, net::Ipv4Addr};

use rustc_hash::FxHashMap as HashMap;

use monitor_common::{
    Class, DhcpType,
    event::{DhcpEvent, IcmpEvent, TftpEvent, dhcp_flags as f},
    flow::{TftpFlow, TftpKey, TftpMoment},
    wire::{dhcp, tftp, udp},
};

use crate::{diagnosis, event::Event};

/// How a boot ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The boot file named by DHCP or the proxy was transferred to its last
    /// block.
    Booted,
    /// A failure, with its firmware code.
    Failed,
    /// The evidence ran out before a decision (e.g. a capture ends
    /// mid-transfer).
    Unfinished,
    /// The part that would decide cannot be seen from here.
    Unknown,
}

impl Outcome {
    pub const ALL: [Outcome; 4] = [
        Outcome::Booted,
        Outcome::Failed,
        Outcome::Unfinished,
        Outcome::Unknown,
    ];

    /// Its name in JSON, logs, metric labels and `?outcome=`.
    pub const fn label(self) -> &'static str {
        match self {
            Outcome::Booted => "booted",
            Outcome::Failed => "failed",
            Outcome::Unfinished => "unfinished",
            Outcome::Unknown => "unknown",
        }
    }

    pub fn from_label(s: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.label() == s)
    }
}

/// Patience before deciding from silence, in live use (firmware defaults:
/// ../shared/docs/lab-notes.md).
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// DISCOVERs with no offer (classic ROMs retry for about 60 s).
    pub no_offer_ns: u64,
    /// A 4011 request or a TFTP read request without an answer.
    pub no_answer_ns: u64,
    /// A session with nothing new for this long is closed as it stands.
    pub idle_ns: u64,
    /// A transfer whose blocks stopped coming this long ago (PXE-E35).
    pub stall_ns: u64,
    /// A DISCOVER this long after a session's verdict starts a new boot;
    /// sooner, it is the same boot's next stage (iPXE, a loader's DHCP).
    pub restart_ns: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        const S: u64 = 1_000_000_000;
        Timeouts {
            no_offer_ns: 60 * S,
            no_answer_ns: 10 * S,
            idle_ns: 300 * S,
            restart_ns: 60 * S,
            stall_ns: 30 * S,
        }
    }
}

/// Where the transfer table says a TFTP transfer stands.
pub type Progress<'a> = dyn Fn(&TftpKey) -> Option<TftpFlow> + 'a;

/// Transfers kept per session (the first, and the latest ones).
const MAX_TRANSFERS: usize = 64;
/// Offers and timeline lines kept per session.
const MAX_OFFERS: usize = 16;
const MAX_TIMELINE: usize = 256;

/// What the tracker reports for one client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub client_mac: [u8; 6],
    pub outcome: Outcome,
    pub code: Option<&'static str>,
    /// The server the verdict is about (the one that failed, or the boot
    /// file's server).
    pub server: Option<Ipv4Addr>,
    pub boot_file: Option<String>,
    pub cause: Option<String>,
    pub fix: Option<String>,
    /// Conditions on the servers worth fixing even though they did not
    /// decide this boot.
    pub warnings: Vec<String>,
    /// The kind of each warning (`diagnosis::WARNING_KINDS`).
    pub warning_kinds: Vec<&'static str>,
    pub first_seen_ns: u64,
    pub last_seen_ns: u64,
    /// One line per step, time relative to the first.
    pub timeline: Vec<(u64, String)>,
    /// Every TFTP transfer of the client, in order.
    pub transfers: Vec<TransferResult>,
    /// The DHCP servers that offered the client an address.
    pub dhcp_servers: Vec<DhcpServerSeen>,
    /// What the client's firmware prints for this failure, where known
    /// ([`diagnosis::console_message`]).
    pub console: Option<&'static str>,
}

/// What the session showed about one DHCP server that offered the client
/// an address (`pxe_server_warnings`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DhcpServerSeen {
    pub server: Ipv4Addr,
    /// It sent option 60 `PXEClient` with its address and did not answer
    /// the client on port 4011 (Microsoft KB 259670).
    pub option60: bool,
    /// Another server offered this client an address too.
    pub alongside_others: bool,
}

/// A figure measured when it happens (live metrics), not at the verdict.
#[derive(Clone, Debug, PartialEq)]
pub enum Measurement {
    /// A DHCP or proxyDHCP offer from `server`. `wait_ns`: from the DISCOVER
    /// it answers (the first of that attempt's retries) to the first offer;
    /// `None` for the offers after the first.
    Offer {
        server: Ipv4Addr,
        wait_ns: Option<u64>,
    },
    /// A TFTP transfer reached its last block: from the read request to the
    /// last block, and the bytes of its DATA packets (resent blocks count
    /// again).
    Transfer {
        server: Ipv4Addr,
        duration_ns: u64,
        bytes: u64,
    },
}

/// How one TFTP transfer ended.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct TransferResult {
    pub file: String,
    pub server: Ipv4Addr,
    /// `complete` (last block seen), `error` (the server refused),
    /// `unanswered`, or `incomplete`.
    pub result: &'static str,
    pub error_code: Option<u16>,
    pub requests: u32,
}

#[derive(Clone, Debug, Default)]
struct Offer {
    server: [u8; 4],
    yiaddr: [u8; 4],
    siaddr: [u8; 4],
    boot_file: Option<String>,
    /// The `file` field carries options (option 52) and option 67 is not
    /// in the part the event holds: a boot file may be named all the same.
    boot_file_unseen: bool,
    tftp_server: Option<String>,
    vendor_pxe: bool,
    vendor_specific: bool,
}

impl Offer {
    fn from_event(e: &DhcpEvent) -> Self {
        let server = if e.flags & f::SERVER_ID != 0 {
            e.server_id
        } else {
            e.src_ip
        };
        let (boot_file, boot_file_unseen) = boot_file(e);
        Offer {
            server,
            yiaddr: e.yiaddr,
            siaddr: e.siaddr,
            boot_file,
            boot_file_unseen,
            tftp_server: (e.flags & f::TFTP_SERVER != 0)
                .then(|| text(&e.tftp_server, e.tftp_server_len.into())),
            vendor_pxe: e.flags & f::VENDOR_PXE_CLIENT != 0,
            vendor_specific: e.flags & f::VENDOR_SPECIFIC != 0,
        }
    }

    /// A proxyDHCP offer: no address, PXE vendor class.
    fn is_proxy(&self) -> bool {
        self.yiaddr == [0; 4] && self.vendor_pxe
    }
}

#[derive(Clone, Debug, Default)]
struct Transfer {
    client: ([u8; 4], u16),
    server: [u8; 4],
    file: String,
    requests: u32,
    answered: bool,
    complete: bool,
    server_error: Option<(u16, String)>,
    unreachable: u32,
    first_ns: u64,
}

#[derive(Clone, Debug, Default)]
struct Session {
    mac: [u8; 6],
    first_ns: u64,
    last_ns: u64,
    discovers: u32,
    first_discover_ns: Option<u64>,
    /// The first DISCOVER not answered yet (offer latency).
    awaiting_offer_ns: Option<u64>,
    /// The server a REQUEST (port 67) named in option 54, and when.
    requested: Option<([u8; 4], u64)>,
    ipxe: bool,
    arch: Option<u16>,
    offers: Vec<Offer>,
    ack: Option<Offer>,
    nak_from: Option<[u8; 4]>,
    client_ip: Option<[u8; 4]>,
    proxy_requests: u32,
    proxy_target: Option<[u8; 4]>,
    proxy_first_ns: Option<u64>,
    proxy_ack: Option<Offer>,
    proxy_unreachable: u32,
    transfers: Vec<Transfer>,
    verdict: Option<Verdict>,
    /// Its verdict was handed out by `take_decided` (live use).
    reported: bool,
    keep_timeline: bool,
    timeline: Vec<(u64, String)>,
}

/// The tracker: sessions by client MAC, at most `max_sessions` at once.
#[derive(Debug)]
pub struct Tracker {
    sessions: HashMap<[u8; 6], Session>,
    /// Client addresses (from ACKs, or the source of a request) to MACs.
    by_ip: HashMap<[u8; 4], [u8; 6]>,
    /// Order sessions were created in, for eviction.
    order: VecDeque<[u8; 6]>,
    finished: Vec<Verdict>,
    max_sessions: usize,
    timeouts: Timeouts,
    keep_timeline: bool,
    /// Sessions dropped (oldest first) because the table was full.
    pub evicted: u64,
    /// Sessions created so far.
    pub started: u64,
    /// Figures for live metrics, when asked for.
    measurements: Option<Vec<Measurement>>,
    /// Fingerprints of the latest events and when they came, one slot per
    /// fingerprint's low bits: the same message seen twice (a router's two
    /// interfaces: the client's broadcast and its relayed copy) counts
    /// once.
    recent: Box<[(u64, u64); RECENT_EVENTS]>,
}

/// How long a copy of the same message may trail it (a relay or a router
/// forwards within milliseconds; a client's retry comes seconds later).
const DUPLICATE_NS: u64 = 100_000_000;
/// Fingerprint slots (a power of two): a copy is recognised unless another
/// message took its slot in the meantime.
const RECENT_EVENTS: usize = 256;

/// What identifies a message across the copies a relay or router makes
/// (they change addresses, ports, hops, giaddr; not these fields).
fn fingerprint(ev: &Event) -> u64 {
    use std::hash::Hasher;
    let u32_of = |b: [u8; 4]| u64::from(u32::from_ne_bytes(b));
    let u16_of = |b: [u8; 2]| u64::from(u16::from_ne_bytes(b));
    // The fields, packed into words (a word per write: this runs for every
    // event, replay included).
    let words: [u64; 4] = match ev {
        Event::Dhcp(e) => {
            let mut mac = [0u8; 8];
            mac[..6].copy_from_slice(&e.chaddr);
            [
                u32_of(e.xid)
                    | u64::from(e.message_type) << 32
                    | u64::from(e.op) << 40
                    | u64::from(e.flags & f::SERVER_ID != 0) << 48
                    | u64::from(e.class == Class::ProxyDhcp as u8) << 49,
                u64::from_ne_bytes(mac),
                u32_of(e.ciaddr) | u32_of(e.yiaddr) << 32,
                u32_of(e.server_id),
            ]
        }
        Event::Tftp(e) => [
            1 << 63 | u32_of(e.client_ip) | u16_of(e.client_port) << 32 | u64::from(e.moment) << 48,
            u32_of(e.server_ip) | u16_of(e.opcode) << 32 | u16_of(e.arg) << 48,
            u64::from(e.payload_len) | u64::from(e.data_packets) << 16,
            0,
        ],
        Event::Icmp(e) => [
            1 << 62 | u32_of(e.quoted_src) | u64::from(e.code) << 32,
            u32_of(e.quoted_dst),
            u16_of(e.quoted_src_port) | u16_of(e.quoted_dst_port) << 16,
            0,
        ],
    };
    let mut h = rustc_hash::FxHasher::default();
    for w in words {
        h.write_u64(w);
    }
    h.finish()
}

impl Tracker {
    pub fn new(max_sessions: usize, timeouts: Timeouts) -> Self {
        Tracker {
            sessions: HashMap::default(),
            by_ip: HashMap::default(),
            order: VecDeque::new(),
            finished: Vec::new(),
            max_sessions: max_sessions.max(1),
            timeouts,
            keep_timeline: true,
            evicted: 0,
            started: 0,
            measurements: None,
            recent: Box::new([(0, 0); RECENT_EVENTS]),
        }
    }

    /// Whether `ev` is a copy of an event of the last moments; remembers it.
    fn duplicate(&mut self, ev: &Event, now_ns: u64) -> bool {
        // Never 0, the mark of an empty slot.
        let fp = fingerprint(ev) | 1;
        let slot = &mut self.recent[(fp as usize) & (RECENT_EVENTS - 1)];
        if slot.1 == fp && now_ns.saturating_sub(slot.0) <= DUPLICATE_NS {
            return true;
        }
        *slot = (now_ns, fp);
        false
    }

    /// Also keep [`Measurement`]s, taken with
    /// [`take_measurements`](Self::take_measurements) (live use).
    pub fn with_measurements(mut self) -> Self {
        self.measurements = Some(Vec::new());
        self
    }

    /// The figures measured since the last call.
    pub fn take_measurements(&mut self) -> Vec<Measurement> {
        self.measurements
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// Without the per-client timeline (JSON output and live use do not
    /// show it; formatting each step is most of the tracker's work).
    pub fn without_timeline(mut self) -> Self {
        self.keep_timeline = false;
        self
    }

    /// Sessions being followed.
    pub fn active(&self) -> usize {
        self.sessions.len()
    }

    /// One event at `now_ns`. `eth_src` is the frame's Ethernet source when
    /// known (capture files): it names a client whose DHCP was not seen.
    pub fn on_event(&mut self, ev: &Event, now_ns: u64, eth_src: Option<[u8; 6]>) {
        if self.duplicate(ev, now_ns) {
            return;
        }
        let mac = match ev {
            Event::Dhcp(e) => Some(e.chaddr),
            Event::Icmp(e) => self
                .by_ip
                .get(&e.quoted_src)
                .or_else(|| self.by_ip.get(&e.quoted_dst))
                .copied(),
            Event::Tftp(e) => self.by_ip.get(&e.client_ip).copied().or_else(|| {
                // The request's frame comes from the client itself.
                (e.moment == TftpMoment::Request as u8)
                    .then_some(eth_src)
                    .flatten()
            }),
        };
        let Some(mac) = mac else { return };
        // A client booting again, well after its last verdict: a new session.
        if let (Event::Dhcp(e), Some(s)) = (ev, self.sessions.get(&mac))
            && e.message_type == 1
            && s.verdict.is_some()
            && now_ns.saturating_sub(s.last_ns) >= self.timeouts.restart_ns
        {
            self.close(mac, false);
        }
        if !self.sessions.contains_key(&mac) {
            if matches!(ev, Event::Icmp(_)) {
                return;
            }
            self.make_room();
            self.order.push_back(mac);
            self.started += 1;
            let s = Session {
                mac,
                first_ns: now_ns,
                keep_timeline: self.keep_timeline,
                ..Session::default()
            };
            self.sessions.insert(mac, s);
        }
        let Some(s) = self.sessions.get_mut(&mac) else {
            return;
        };
        s.last_ns = s.last_ns.max(now_ns);
        let measured = match ev {
            Event::Dhcp(e) => on_dhcp(s, e, now_ns),
            Event::Icmp(e) => {
                on_icmp(s, e, now_ns);
                None
            }
            Event::Tftp(e) => on_tftp(s, e, now_ns),
        };
        if let (Some(m), Some(list)) = (measured, self.measurements.as_mut()) {
            list.push(m);
        }
        if let Some(ip) = s.client_ip {
            self.by_ip.insert(ip, mac);
        }
        if let Event::Tftp(e) = ev {
            self.by_ip.insert(e.client_ip, mac);
        }
        if s.verdict.is_none() {
            s.verdict = decide(s, now_ns, None);
        }
    }

    /// Decides from silence (live use) and closes idle sessions.
    pub fn on_tick(&mut self, now_ns: u64) {
        self.on_tick_with(now_ns, &|_| None);
    }

    /// [`on_tick`](Self::on_tick), with where each transfer stands: the
    /// transfer table (kernel map or host replica) knows when its last
    /// block passed, which no event says (DATA is aggregated).
    pub fn on_tick_with(&mut self, now_ns: u64, progress: &Progress<'_>) {
        let t = self.timeouts;
        let mut closed = Vec::new();
        for (mac, s) in &mut self.sessions {
            if s.verdict.is_none() {
                s.verdict = decide(s, now_ns, Some((&t, progress)));
            }
            if now_ns.saturating_sub(s.last_ns) >= t.idle_ns {
                closed.push(*mac);
            }
        }
        for mac in closed {
            self.close(mac, true);
        }
    }

    /// End of input: every session gets its verdict (`unfinished` where
    /// the evidence does not decide).
    pub fn finish(&mut self) -> Vec<Verdict> {
        let macs: Vec<[u8; 6]> = self.order.iter().copied().collect();
        for mac in macs {
            self.close(mac, false);
        }
        std::mem::take(&mut self.finished)
    }

    /// Verdicts of sessions closed so far (live use), except those
    /// already handed out by [`take_decided`](Self::take_decided).
    pub fn take_finished(&mut self) -> Vec<Verdict> {
        std::mem::take(&mut self.finished)
    }

    /// Verdicts reached since the last call, while their sessions stay open
    /// for what follows (a second stage, retries): live use reports a boot
    /// as soon as it is decided.
    pub fn take_decided(&mut self) -> Vec<Verdict> {
        let mut out = Vec::new();
        for s in self.sessions.values_mut() {
            if let (Some(v), false) = (&s.verdict, s.reported) {
                out.push(finish_verdict(s, v.clone()));
                s.reported = true;
            }
        }
        out.sort_by_key(|v| v.last_seen_ns);
        out
    }

    fn make_room(&mut self) {
        while self.sessions.len() >= self.max_sessions {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if self.sessions.remove(&old).is_some() {
                self.evicted += 1;
            }
        }
    }

    /// `idle`: closed because nothing came for a long time (live use).
    fn close(&mut self, mac: [u8; 6], idle: bool) {
        let Some(mut s) = self.sessions.remove(&mac) else {
            return;
        };
        self.order.retain(|m| *m != mac);
        self.by_ip.retain(|_, m| *m != mac);
        // Decided at once on evidence; what came after (more retries) only
        // sharpens the wording of the same verdict.
        let v = match s.verdict.take() {
            Some(v) => decide(&s, s.last_ns, None)
                .filter(|n| n.code == v.code && n.outcome == v.outcome)
                .unwrap_or(v),
            None => unfinished(&s, idle),
        };
        if !s.reported {
            self.finished.push(finish_verdict(&s, v));
        }
    }
}

/// Adds a timeline line, formatted only when the timeline is kept.
macro_rules! note {
    ($s:expr, $t:expr, $line:expr $(,)?) => {
        if $s.keep_timeline && $s.timeline.len() < MAX_TIMELINE {
            $s.timeline.push(($t, $line));
        }
    };
}

fn text(bytes: &[u8], len: usize) -> String {
    crate::event::text(bytes, len)
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

fn ip(a: [u8; 4]) -> Ipv4Addr {
    Ipv4Addr::from(a)
}

fn rel(s: &Session, now: u64) -> u64 {
    now.saturating_sub(s.first_ns)
}

fn on_dhcp(s: &mut Session, e: &DhcpEvent, now: u64) -> Option<Measurement> {
    let ty = DhcpType::from_option(e.message_type);
    let proxy_port = e.class == Class::ProxyDhcp as u8;
    if e.flags & f::USER_CLASS_IPXE != 0 {
        s.ipxe = true;
    }
    if e.flags & f::CLIENT_ARCH != 0 {
        s.arch = Some(u16::from_be_bytes(e.client_arch));
    }
    let t = rel(s, now);
    match (ty, proxy_port) {
        (DhcpType::DISCOVER, _) => {
            s.discovers += 1;
            s.first_discover_ns.get_or_insert(now);
            s.awaiting_offer_ns.get_or_insert(now);
            let arch = s.arch.map_or(String::new(), |a| format!(", arch {a}"));
            s.timeline
                .push((t, format!("DISCOVER #{}{arch}", s.discovers)));
        }
        (DhcpType::OFFER, false) => {
            let o = Offer::from_event(e);
            let what = if o.is_proxy() {
                "proxyDHCP OFFER"
            } else {
                "OFFER"
            };
            note!(
                s,
                t,
                format!("{what} from {} ({})", ip(o.server), describe(&o),)
            );
            let server = ip(o.server);
            if s.offers.len() < MAX_OFFERS {
                s.offers.push(o);
            }
            return Some(Measurement::Offer {
                server,
                wait_ns: s.awaiting_offer_ns.take().map(|t0| now.saturating_sub(t0)),
            });
        }
        (DhcpType::REQUEST, false) => {
            if e.flags & f::SERVER_ID != 0 {
                s.requested = Some((e.server_id, now));
            }
            note!(s, t, "REQUEST".into())
        }
        (DhcpType::REQUEST, true) => {
            s.proxy_requests += 1;
            s.proxy_target = Some(e.dst_ip);
            s.proxy_first_ns.get_or_insert(now);
            if e.src_ip != [0; 4] {
                s.client_ip.get_or_insert(e.src_ip);
            }
            note!(
                s,
                t,
                format!(
                    "boot-server REQUEST #{} to {}:4011",
                    s.proxy_requests,
                    ip(e.dst_ip)
                ),
            );
        }
        (DhcpType::ACK, false) => {
            let o = Offer::from_event(e);
            if o.yiaddr != [0; 4] {
                s.client_ip = Some(o.yiaddr);
            }
            s.timeline
                .push((t, format!("ACK from {} ({})", ip(o.server), describe(&o))));
            s.ack = Some(o);
        }
        (DhcpType::ACK, true) => {
            let o = Offer::from_event(e);
            note!(
                s,
                t,
                format!("boot-server ACK from {} ({})", ip(e.src_ip), describe(&o),)
            );
            s.proxy_ack = Some(o);
        }
        (DhcpType::NAK, _) => {
            s.nak_from = Some(if e.flags & f::SERVER_ID != 0 {
                e.server_id
            } else {
                e.src_ip
            });
            note!(s, t, format!("NAK from {}", ip(e.src_ip)));
        }
        _ => {}
    }
    None
}

fn describe(o: &Offer) -> String {
    let mut parts = Vec::new();
    if o.yiaddr != [0; 4] {
        parts.push(format!("address {}", ip(o.yiaddr)));
    }
    if o.siaddr != [0; 4] {
        parts.push(format!("next-server {}", ip(o.siaddr)));
    }
    if let Some(t) = &o.tftp_server {
        parts.push(format!("option 66 {t}"));
    }
    match &o.boot_file {
        Some(b) => parts.push(format!("boot file {b}")),
        None => parts.push("no boot file".into()),
    }
    if o.vendor_pxe {
        parts.push("option 60 PXEClient".into());
    }
    if o.vendor_specific {
        parts.push("option 43".into());
    }
    parts.join(", ")
}

fn on_icmp(s: &mut Session, e: &IcmpEvent, now: u64) {
    let port = u16::from_be_bytes(e.quoted_dst_port);
    let t = rel(s, now);
    if port == udp::PORT_PXE {
        s.proxy_unreachable += 1;
        note!(
            s,
            t,
            format!(
                "ICMP port unreachable from {}: nothing listens on {}:4011",
                ip(e.reporter),
                ip(e.quoted_dst)
            ),
        );
    } else if port == udp::PORT_TFTP {
        if let Some(tr) = s
            .transfers
            .iter_mut()
            .rev()
            .find(|tr| tr.server == e.quoted_dst)
        {
            tr.unreachable += 1;
        }
        note!(
            s,
            t,
            format!(
                "ICMP port unreachable from {}: nothing listens on {}:69",
                ip(e.reporter),
                ip(e.quoted_dst)
            ),
        );
    }
}

fn on_tftp(s: &mut Session, e: &TftpEvent, now: u64) -> Option<Measurement> {
    let t = rel(s, now);
    let client = (e.client_ip, u16::from_be_bytes(e.client_port));
    let payload = &e.payload[..usize::from(e.payload_len).min(e.payload.len())];
    if e.moment == TftpMoment::Request as u8 {
        let file = tftp::parse_request(payload).map_or_else(String::new, |r| {
            String::from_utf8_lossy(r.filename).into_owned()
        });
        s.client_ip.get_or_insert(e.client_ip);
        // A retry names the same file to the same server.
        if let Some(tr) = s
            .transfers
            .iter_mut()
            .rev()
            .find(|tr| tr.file == file && tr.server == e.server_ip && !tr.answered)
        {
            tr.requests += 1;
            tr.client = client;
        } else {
            // Bounded: a client that loops (or a flood) cannot grow it.
            if s.transfers.len() >= MAX_TRANSFERS {
                s.transfers.remove(1);
            }
            s.transfers.push(Transfer {
                client,
                server: e.server_ip,
                file: file.clone(),
                requests: 1,
                first_ns: now,
                ..Transfer::default()
            });
        }
        note!(
            s,
            t,
            format!("TFTP read request {file:?} to {}", ip(e.server_ip),)
        );
        return None;
    }
    let tr = s
        .transfers
        .iter_mut()
        .rev()
        .find(|tr| tr.client == client && tr.server == e.server_ip)?;
    tr.answered |= e.from_server != 0;
    let mut measured = None;
    match e.moment {
        m if m == TftpMoment::Oack as u8 => {
            note!(s, t, format!("TFTP OACK for {:?}", tr.file))
        }
        m if m == TftpMoment::LastData as u8 => {
            // Once, though a monitor on two hooks may see it twice.
            if !tr.complete {
                measured = Some(Measurement::Transfer {
                    server: ip(e.server_ip),
                    duration_ns: u64::from(e.elapsed_ms) * 1_000_000,
                    bytes: e.data_bytes.into(),
                });
            }
            tr.complete = true;
            note!(
                s,
                t,
                format!(
                    "TFTP {:?} complete: {} bytes in {} block(s)",
                    tr.file, e.data_bytes, e.data_packets
                ),
            );
        }
        m if m == TftpMoment::Error as u8 && e.from_server != 0 => {
            let (code, msg) = tftp::parse_error(payload)
                .map_or((u16::from_be_bytes(e.arg), String::new()), |(c, m)| {
                    (c, String::from_utf8_lossy(m).into_owned())
                });
            tr.server_error = Some((code, msg.clone()));
            note!(
                s,
                t,
                format!(
                    "TFTP ERROR {code} from {} for {:?}: {msg}",
                    ip(e.server_ip),
                    tr.file
                ),
            );
        }
        m if m == TftpMoment::Error as u8 => {
            note!(
                s,
                t,
                format!(
                    "TFTP transfer of {:?} aborted by the client (code {})",
                    tr.file,
                    u16::from_be_bytes(e.arg)
                ),
            );
        }
        _ => {}
    }
    measured
}

/// The boot file the client was told to fetch, and from where.
fn boot_target(s: &Session) -> (Option<String>, Option<[u8; 4]>) {
    let from = |o: &Offer| {
        o.boot_file.clone().map(|b| {
            (
                b,
                if o.siaddr != [0; 4] {
                    Some(o.siaddr)
                } else {
                    None
                },
            )
        })
    };
    s.proxy_ack
        .as_ref()
        .and_then(from)
        .or_else(|| s.ack.as_ref().and_then(from))
        .or_else(|| s.offers.iter().find(|o| o.is_proxy()).and_then(from))
        .map_or((None, None), |(b, srv)| (Some(b), srv))
}

fn same_file(requested: &str, named: &str) -> bool {
    requested.trim_start_matches('/') == named.trim_start_matches('/')
}

/// The verdict the evidence supports now, or `None` to wait. With
/// `timeouts`, silence counts as evidence too (live use).
fn decide(s: &Session, now: u64, live: Option<(&Timeouts, &Progress<'_>)>) -> Option<Verdict> {
    let timeouts = live.map(|(t, _)| t);
    let (named, _) = boot_target(s);
    // TFTP decides first: a boot file arrived, or its server refused it.
    let boot_transfer = |tr: &Transfer| named.as_deref().is_none_or(|n| same_file(&tr.file, n));
    if let Some(tr) = s
        .transfers
        .iter()
        .find(|tr| tr.complete && boot_transfer(tr))
    {
        return Some(diagnosis::booted(s.mac, &tr.file, tr.server));
    }
    if s.transfers.iter().any(|tr| tr.complete) {
        // A file other than the named one arrived (a loader's own files):
        // the boot file itself came earlier or by another path.
        let tr = s.transfers.iter().find(|tr| tr.complete)?;
        return Some(diagnosis::booted(s.mac, &tr.file, tr.server));
    }
    if let Some(tr) = s.transfers.iter().find(|tr| boot_transfer(tr)) {
        if let Some((code, msg)) = &tr.server_error {
            return Some(diagnosis::tftp_error(
                s.mac, &tr.file, tr.server, *code, msg,
            ));
        }
        if !tr.answered && tr.unreachable > 0 {
            return Some(diagnosis::tftp_no_server(
                s.mac,
                &tr.file,
                tr.server,
                tr.requests,
                true,
            ));
        }
        if let Some(t) = timeouts
            && !tr.answered
            && now.saturating_sub(tr.first_ns) >= t.no_answer_ns
        {
            return Some(diagnosis::tftp_no_server(
                s.mac,
                &tr.file,
                tr.server,
                tr.requests,
                false,
            ));
        }
        // Started, then the blocks stopped: PXE-E35.
        if let Some((t, progress)) = live
            && tr.answered
        {
            let key = TftpKey {
                client_ip: tr.client.0,
                server_ip: tr.server,
                client_port: tr.client.1.to_be_bytes(),
                _reserved: [0; 2],
            };
            if let Some(flow) = progress(&key)
                && flow.data_packets > 0
                && now.saturating_sub(flow.last_ns) >= t.stall_ns
            {
                return Some(diagnosis::tftp_stalled(s.mac, &tr.file, tr.server, &flow));
            }
        }
    }
    if !s.transfers.is_empty() {
        return None;
    }
    // The boot-server (4011) step.
    if let Some(target) = s.proxy_target
        && s.proxy_ack.is_none()
    {
        let timed_out = timeouts.is_some_and(|t| {
            s.proxy_first_ns
                .is_some_and(|f| now.saturating_sub(f) >= t.no_answer_ns)
        });
        if s.proxy_unreachable > 0 || s.proxy_requests >= 4 || timed_out {
            let assigned_by = s.ack.as_ref().map(|a| a.server);
            let kb259670 = s
                .ack
                .as_ref()
                .is_some_and(|a| a.vendor_pxe && a.server == target);
            return Some(diagnosis::proxy_silent(
                s.mac,
                target,
                s.proxy_requests,
                s.proxy_unreachable > 0,
                kb259670,
                assigned_by,
            ));
        }
        return None;
    }
    if let Some(server) = s.nak_from {
        return Some(diagnosis::nak(s.mac, server));
    }
    let proxy_offered = s.offers.iter().any(Offer::is_proxy);
    // Live: the client has its boot information and nothing more of its
    // boot passed here for a while (its boot-server and TFTP exchanges go
    // to a server this interface does not carry): unknown, never a failure.
    let quiet = timeouts.is_some_and(|t| now.saturating_sub(s.last_ns) >= t.no_answer_ns);
    let unseen = || {
        let (file, server) = boot_target(s);
        Some(diagnosis::unseen_transfer(s.mac, file, server))
    };
    if let Some(ack) = &s.ack {
        // The client will ask a proxy (an offer said so): wait for it.
        if proxy_offered || ack.vendor_pxe || s.proxy_target.is_some() {
            return if quiet { unseen() } else { None };
        }
        let offered_file = s
            .offers
            .iter()
            .filter(|o| o.server == ack.server)
            .find_map(|o| o.boot_file.clone());
        let file = ack.boot_file.clone().or(offered_file);
        match file {
            // Option 52 hid part of the answer: no claim about its file.
            None if ack.boot_file_unseen => return if quiet { unseen() } else { None },
            None => return Some(diagnosis::no_boot_file(s.mac, ack.server, s.offers.len())),
            Some(file) if ack.siaddr == [0; 4] && (ack.tftp_server.is_none() || s.ipxe) => {
                return Some(diagnosis::no_tftp_server(
                    s.mac,
                    ack.server,
                    &file,
                    ack.tftp_server.as_deref(),
                ));
            }
            Some(_) => return if quiet { unseen() } else { None },
        }
    }
    // No ACK yet: the offers (or their absence) decide once the client has
    // given up (four DISCOVERs), or after the timeout.
    let gave_up = s.discovers >= 4
        || timeouts.is_some_and(|t| {
            s.first_discover_ns
                .is_some_and(|f| now.saturating_sub(f) >= t.no_offer_ns)
        });
    if gave_up {
        let address_offers = s.offers.iter().filter(|o| o.yiaddr != [0; 4]).count();
        if address_offers == 0 && proxy_offered {
            let proxy = s.offers.iter().find(|o| o.is_proxy()).map(|o| o.server);
            return Some(diagnosis::proxy_only(s.mac, proxy, s.discovers));
        }
        if s.offers.is_empty() {
            return Some(diagnosis::no_offers(s.mac, s.discovers));
        }
        // Offers came, and the client asked for none of them: none was
        // good enough (UEFI firmware wants a boot file or a proxy).
        if s.requested.is_none()
            && !proxy_offered
            && s.offers
                .iter()
                .all(|o| o.boot_file.is_none() && !o.boot_file_unseen)
        {
            let server = s.offers[0].server;
            return Some(diagnosis::no_boot_file(s.mac, server, s.offers.len()));
        }
    }
    // The client asked for another server's offer, and neither that offer
    // nor the answer passed here (unicast to the client on another port of
    // the segment): this interface cannot tell how it went.
    if let (Some(t), Some((server, at))) = (timeouts, s.requested)
        && !s.offers.iter().any(|o| o.server == server)
        && now.saturating_sub(at) >= t.no_answer_ns
    {
        return Some(diagnosis::unseen_dhcp_server(s.mac, server));
    }
    None
}

/// No verdict when the session ends. Live, a client that got its boot
/// information and then long silence from here probably fetched its file
/// by a path this monitor does not see: unknown, never a failure.
fn unfinished(s: &Session, idle: bool) -> Verdict {
    let (file, server) = boot_target(s);
    if idle && (s.ack.is_some() || s.proxy_ack.is_some()) && s.transfers.is_empty() {
        return diagnosis::unseen_transfer(s.mac, file, server);
    }
    diagnosis::unfinished(s.mac, file, server)
}

/// Adds what every verdict carries: times, timeline, warnings.
fn finish_verdict(s: &Session, mut v: Verdict) -> Verdict {
    v.first_seen_ns = s.first_ns;
    v.last_seen_ns = s.last_ns;
    v.timeline = s.timeline.clone();
    v.transfers = s
        .transfers
        .iter()
        .map(|t| TransferResult {
            file: t.file.clone(),
            server: ip(t.server),
            result: if t.complete {
                "complete"
            } else if t.server_error.is_some() {
                "error"
            } else if !t.answered {
                "unanswered"
            } else {
                "incomplete"
            },
            error_code: t.server_error.as_ref().map(|(c, _)| *c),
            requests: t.requests,
        })
        .collect();
    if v.boot_file.is_none() {
        v.boot_file = boot_target(s).0;
    }
    let warnings = diagnosis::warnings(
        s.offers
            .iter()
            .chain(s.ack.iter())
            .map(|o| (o.server, o.yiaddr, option60_unanswered(s, o))),
        s.arch,
        v.boot_file.as_deref(),
        v.outcome == Outcome::Booted,
    );
    (v.warning_kinds, v.warnings) = warnings.into_iter().unzip();
    v.dhcp_servers = dhcp_servers(s);
    v.console = v
        .code
        .and_then(|code| diagnosis::console_message(s.arch, code));
    v
}

/// The offer carries option 60 PXEClient, and its server did not answer the
/// client on 4011 (where it does, e.g. WDS on the DHCP server, option 60 is
/// how it should be set up).
fn option60_unanswered(s: &Session, o: &Offer) -> bool {
    o.vendor_pxe && s.proxy_ack.as_ref().is_none_or(|p| p.server != o.server)
}

/// The servers that offered the client an address (not proxies), in the
/// order they first did.
fn dhcp_servers(s: &Session) -> Vec<DhcpServerSeen> {
    let mut seen: Vec<DhcpServerSeen> = Vec::new();
    for o in s.offers.iter().chain(s.ack.iter()) {
        if o.yiaddr == [0; 4] {
            continue;
        }
        let option60 = option60_unanswered(s, o);
        match seen.iter_mut().find(|d| d.server == ip(o.server)) {
            Some(d) => d.option60 |= option60,
            None => seen.push(DhcpServerSeen {
                server: ip(o.server),
                option60,
                alongside_others: false,
            }),
        }
    }
    let several = seen.len() > 1;
    for d in &mut seen {
        d.alongside_others = several;
    }
    seen
}

#[cfg(test)]
mod tests {
    use monitor_common::event::{DhcpEvent, IcmpEvent, TftpEvent};

    use super::*;

    const MAC: [u8; 6] = [0x52, 0x54, 0, 0x77, 0, 0x10];
    const SERVER: [u8; 4] = [10, 77, 10, 1];
    const CLIENT: [u8; 4] = [10, 77, 10, 100];
    const S: u64 = 1_000_000_000;

    fn dhcp(ty: u8, class: Class, flags: u16) -> DhcpEvent {
        let mut e = DhcpEvent::zeroed();
        e.message_type = ty;
        e.class = class as u8;
        e.chaddr = MAC;
        e.flags = flags | f::PXE;
        e.xid = [1, 2, 3, 4];
        e
    }

    fn discover() -> Event {
        Event::Dhcp(dhcp(
            1,
            Class::DhcpServer,
            f::VENDOR_PXE_CLIENT | f::CLIENT_ARCH,
        ))
    }

    /// An OFFER or ACK from SERVER with an address, next-server and a file.
    fn reply(ty: u8, file: Option<&str>) -> Event {
        let mut e = dhcp(ty, Class::DhcpClient, f::SERVER_ID);
        e.src_ip = SERVER;
        e.server_id = SERVER;
        e.yiaddr = CLIENT;
        e.siaddr = SERVER;
        if let Some(file) = file {
            e.flags |= f::BOOTFILE;
            e.bootfile[..file.len()].copy_from_slice(file.as_bytes());
            e.bootfile_len = file.len() as u8;
        }
        Event::Dhcp(e)
    }

    fn tftp(moment: TftpMoment, payload: &[u8], from_server: bool) -> Event {
        let mut e = TftpEvent::zeroed();
        e.client_ip = CLIENT;
        e.server_ip = SERVER;
        e.client_port = 2000u16.to_be_bytes();
        e.moment = moment as u8;
        e.from_server = from_server as u8;
        e.payload[..payload.len()].copy_from_slice(payload);
        e.payload_len = payload.len() as u16;
        if moment == TftpMoment::Error {
            e.opcode = tftp::ERROR.to_be_bytes();
            e.arg = [payload[2], payload[3]];
        }
        Event::Tftp(e)
    }

    fn run(events: &[(u64, Event)], tick: Option<u64>) -> Vec<Verdict> {
        let mut t = Tracker::new(16, Timeouts::default());
        for (at, e) in events {
            t.on_event(e, *at, None);
        }
        if let Some(at) = tick {
            t.on_tick(at);
        }
        t.finish()
    }

    fn healthy() -> Vec<(u64, Event)> {
        vec![
            (0, discover()),
            (S / 100, reply(2, Some("boot.ipxe"))),
            (
                3 * S,
                Event::Dhcp(dhcp(3, Class::DhcpServer, f::VENDOR_PXE_CLIENT)),
            ),
            (3 * S + 1, reply(5, Some("boot.ipxe"))),
            (
                3 * S + 2,
                tftp(TftpMoment::Request, b"\0\x01boot.ipxe\0octet\0", false),
            ),
            (
                3 * S + 3,
                tftp(TftpMoment::LastData, b"\0\x03\0\x01#!ipxe", true),
            ),
        ]
    }

    #[test]
    fn healthy_boot_and_what_is_not_a_failure() {
        let v = run(&healthy(), None);
        assert_eq!(
            (v.len(), v[0].outcome, v[0].boot_file.as_deref()),
            (1, Outcome::Booted, Some("boot.ipxe"))
        );
        // A size probe aborted by the client, then the real download: booted.
        let mut probe = healthy();
        probe.insert(
            5,
            (3 * S + 2, tftp(TftpMoment::Error, b"\0\x05\0\x08", false)),
        );
        assert_eq!(run(&probe, None)[0].outcome, Outcome::Booted);
        // pxelinux's config probes after the boot file: still booted.
        let mut probes = healthy();
        for i in 0..9 {
            probes.push((
                4 * S + i,
                tftp(
                    TftpMoment::Request,
                    b"\0\x01pxelinux.cfg/01-x\0octet\0",
                    false,
                ),
            ));
            probes.push((
                4 * S + i,
                tftp(TftpMoment::Error, b"\0\x05\0\x01not found\0", true),
            ));
        }
        assert_eq!(run(&probes, None)[0].outcome, Outcome::Booted);
    }

    #[test]
    fn no_offer_decides_after_four_discovers_or_the_timeout() {
        let four: Vec<_> = [0, 1, 3, 7].iter().map(|s| (s * S, discover())).collect();
        assert_eq!(run(&four, None)[0].code, Some("PXE-E51"));
        // Three DISCOVERs and the capture ends: not decided.
        assert_eq!(run(&four[..3], None)[0].outcome, Outcome::Unfinished);
        // Live: one DISCOVER, then silence up to the timeout exactly.
        let t = Timeouts::default().no_offer_ns;
        assert_eq!(run(&four[..1], Some(t - 1))[0].outcome, Outcome::Unfinished);
        assert_eq!(run(&four[..1], Some(t))[0].code, Some("PXE-E51"));
    }

    #[test]
    fn tftp_refusals_decide_at_once() {
        let mut missing = healthy();
        missing[5] = (
            3 * S + 3,
            tftp(TftpMoment::Error, b"\0\x05\0\x01File not found\0", true),
        );
        let v = &run(&missing, None)[0];
        assert_eq!(
            (v.code, v.server),
            (Some("PXE-E3B"), Some(Ipv4Addr::from(SERVER)))
        );
        assert!(v.cause.as_deref().unwrap().contains("File not found"));
        missing[5] = (3 * S + 3, tftp(TftpMoment::Error, b"\0\x05\0\x02\0", true));
        assert_eq!(run(&missing, None)[0].code, Some("PXE-E3C"));
        missing[5] = (3 * S + 3, tftp(TftpMoment::Error, b"\0\x05\0\x04\0", true));
        assert_eq!(run(&missing, None)[0].code, Some("PXE-E36"));
        // Nothing on port 69: ICMP port unreachable.
        let mut dead = healthy();
        let mut icmp = IcmpEvent::default();
        (icmp.reporter, icmp.quoted_src, icmp.quoted_dst) = (SERVER, CLIENT, SERVER);
        icmp.quoted_dst_port = 69u16.to_be_bytes();
        dead[5] = (3 * S + 3, Event::Icmp(icmp));
        assert_eq!(run(&dead, None)[0].code, Some("PXE-E32"));
    }

    #[test]
    fn kb259670_and_a_nak() {
        let mut e = dhcp(
            5,
            Class::DhcpClient,
            f::SERVER_ID | f::VENDOR_PXE_CLIENT | f::BOOTFILE,
        );
        (e.src_ip, e.server_id, e.yiaddr) = (SERVER, SERVER, CLIENT);
        let mut req = dhcp(3, Class::ProxyDhcp, f::VENDOR_PXE_CLIENT);
        (req.src_ip, req.dst_ip) = (CLIENT, SERVER);
        let mut events = vec![(0, discover()), (S, Event::Dhcp(e))];
        for i in 0..3 {
            events.push((2 * S + i * S / 4, Event::Dhcp(req)));
        }
        // Three unanswered requests: the client has not given up yet.
        assert_eq!(run(&events, None)[0].outcome, Outcome::Unfinished);
        events.push((3 * S, Event::Dhcp(req)));
        let v = &run(&events, None)[0];
        assert_eq!(v.code, Some("PXE-E55"));
        assert!(v.cause.as_deref().unwrap().contains("KB 259670"));
        // The server behind it, for pxe_server_warnings.
        assert_eq!(
            v.dhcp_servers,
            [DhcpServerSeen {
                server: ip(SERVER),
                option60: true,
                alongside_others: false
            }]
        );
        // The same server answering on 4011 (WDS on the DHCP server): option
        // 60 is how that is set up, no warning.
        let mut ack = dhcp(5, Class::ProxyDhcp, f::SERVER_ID | f::VENDOR_PXE_CLIENT);
        (ack.src_ip, ack.server_id) = (SERVER, SERVER);
        let mut answered = events[..3].to_vec();
        answered.push((2 * S + 10, Event::Dhcp(ack)));
        let v = &run(&answered, None)[0];
        assert!(!v.dhcp_servers[0].option60, "{v:?}");
        assert!(!v.warning_kinds.contains(&"option60_on_dhcp_server"));
        let nak = Event::Dhcp(dhcp(6, Class::DhcpClient, 0));
        assert_eq!(run(&[(0, discover()), (S, nak)], None)[0].code, Some("NAK"));
    }

    #[test]
    fn offer_waits_transfers_and_servers_are_measured() {
        let mut t = Tracker::new(16, Timeouts::default()).with_measurements();
        let mut last = tftp(TftpMoment::LastData, b"\0\x03\0\x01#!ipxe", true);
        if let Event::Tftp(e) = &mut last {
            (e.elapsed_ms, e.data_bytes) = (250, 3000);
        }
        let second_stage = Event::Dhcp(dhcp(
            1,
            Class::DhcpServer,
            f::VENDOR_PXE_CLIENT | f::USER_CLASS_IPXE,
        ));
        // A retried DISCOVER, offers from two servers (one with option 60),
        // the transfer (its last block seen twice, as by two hooks), then
        // iPXE's second stage and its offer.
        let mut rogue = reply(2, None);
        if let Event::Dhcp(e) = &mut rogue {
            (e.src_ip, e.server_id) = ([10, 77, 10, 9], [10, 77, 10, 9]);
            e.flags |= f::VENDOR_PXE_CLIENT;
        }
        let events = [
            (0, discover()),
            (4 * S, discover()),
            (4 * S + S / 10, reply(2, Some("boot.ipxe"))),
            (4 * S + S / 5, rogue),
            (5 * S, reply(5, Some("boot.ipxe"))),
            (
                5 * S + 1,
                tftp(TftpMoment::Request, b"\0\x01boot.ipxe\0octet\0", false),
            ),
            (6 * S, last),
            (6 * S + 1, last),
            (7 * S, second_stage),
            (7 * S + S / 50, reply(2, Some("boot.ipxe"))),
        ];
        for (at, e) in &events {
            t.on_event(e, *at, None);
        }
        let offer = |last: u8, wait_ns| Measurement::Offer {
            server: Ipv4Addr::new(10, 77, 10, last),
            wait_ns,
        };
        assert_eq!(
            t.take_measurements(),
            [
                // From the first DISCOVER, across its retry.
                offer(1, Some(4 * S + S / 10)),
                offer(9, None),
                Measurement::Transfer {
                    server: ip(SERVER),
                    duration_ns: 250_000_000,
                    bytes: 3000,
                },
                offer(1, Some(S / 50)),
            ]
        );
        assert!(t.take_measurements().is_empty());
        let v = t.finish();
        assert_eq!(v[0].outcome, Outcome::Booted);
        let seen = |last, option60| DhcpServerSeen {
            server: Ipv4Addr::new(10, 77, 10, last),
            option60,
            alongside_others: true,
        };
        assert_eq!(v[0].dhcp_servers, [seen(1, false), seen(9, true)]);
        // Without with_measurements nothing is kept.
        let mut quiet = Tracker::new(16, Timeouts::default());
        for (at, e) in &events {
            quiet.on_event(e, *at, None);
        }
        assert!(quiet.take_measurements().is_empty());
    }

    #[test]
    fn offers_the_client_never_takes_and_offers_this_interface_cannot_see() {
        // UEFI firmware (EDK2) ignores offers without a boot file: four
        // DISCOVERs, each answered, and never a REQUEST: PXE-E53.
        let mut events = Vec::new();
        for (i, at) in [0, 4, 12, 28].into_iter().enumerate() {
            events.push((at * S, discover()));
            events.push((at * S + i as u64 + 1, reply(2, None)));
        }
        assert_eq!(run(&events[..6], None)[0].outcome, Outcome::Unfinished);
        let v = &run(&events, None)[0];
        assert_eq!(
            (v.outcome, v.code, v.server),
            (Outcome::Failed, Some("PXE-E53"), Some(ip(SERVER)))
        );
        // The client asks for the offer of a server whose answers do not
        // pass here: unknown, once the answer had its time, never a failure.
        let mut req = dhcp(3, Class::DhcpServer, f::VENDOR_PXE_CLIENT | f::SERVER_ID);
        req.server_id = [10, 77, 10, 3];
        let events = [
            (0, discover()),
            (S / 100, reply(2, Some("boot.ipxe"))),
            (S, Event::Dhcp(req)),
        ];
        assert_eq!(run(&events, Some(5 * S))[0].outcome, Outcome::Unfinished);
        let v = &run(&events, Some(11 * S))[0];
        assert_eq!(
            (v.outcome, v.code, v.server),
            (Outcome::Unknown, None, Some(Ipv4Addr::new(10, 77, 10, 3)))
        );
        assert!(
            v.cause
                .as_deref()
                .unwrap()
                .contains("did not pass this interface")
        );
    }

    #[test]
    fn a_message_seen_on_two_interfaces_counts_once() {
        // A router sees the client's broadcast DISCOVER, then its relayed
        // copy (giaddr, hops, addresses changed): two DISCOVERs, not four.
        let relayed = |at| {
            let Event::Dhcp(mut e) = discover() else {
                unreachable!()
            };
            (e.giaddr, e.hops, e.src_ip) = ([10, 77, 10, 254], 1, [10, 77, 10, 254]);
            (at + 2_000_000, Event::Dhcp(e))
        };
        let events = [(0, discover()), relayed(0), (S, discover()), relayed(S)];
        assert_eq!(run(&events, None)[0].outcome, Outcome::Unfinished);
        // The same DISCOVER as a retry a second later does count.
        let retries: Vec<_> = (0..4).map(|i| (i * S, discover())).collect();
        assert_eq!(run(&retries, None)[0].code, Some("PXE-E51"));
    }

    #[test]
    fn option_overload_is_read_not_taken_for_a_file_name() {
        // Option 52 = 1: the `file` field carries options, 67 among them.
        let overloaded = |file: &[u8]| {
            let Event::Dhcp(mut e) = reply(5, None) else {
                unreachable!()
            };
            e.flags |= f::OVERLOAD;
            e.overload = 1;
            e.file[..file.len()].copy_from_slice(file);
            Event::Dhcp(e)
        };
        let events = |ack| [(0, discover()), (S / 100, reply(2, None)), (S, ack)];
        let v = &run(&events(overloaded(b"\x43\x09boot.ipxe\xff")), Some(20 * S))[0];
        assert_eq!(v.boot_file.as_deref(), Some("boot.ipxe"), "{v:?}");
        assert_ne!(v.code, Some("PXE-E53"));
        // Option 67 beyond what the event holds: no claim of a missing file.
        let v = &run(&events(overloaded(b"\x0c\x04host\xff")), None)[0];
        assert_eq!(v.outcome, Outcome::Unfinished, "{v:?}");
        // Without option 52 the same ACK has no boot file: PXE-E53.
        let v = &run(&events(reply(5, None)), None)[0];
        assert_eq!(v.code, Some("PXE-E53"));
    }

    #[test]
    fn a_client_that_starts_over_is_one_session() {
        let mut events = healthy();
        // iPXE's second stage: DISCOVER again with user class iPXE.
        events.push((
            5 * S,
            Event::Dhcp(dhcp(
                1,
                Class::DhcpServer,
                f::VENDOR_PXE_CLIENT | f::USER_CLASS_IPXE,
            )),
        ));
        let v = run(&events, None);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].outcome, Outcome::Booted);
    }

    #[test]
    fn a_transfer_this_monitor_cannot_see_is_unknown_never_failed() {
        let dhcp_only = &healthy()[..4];
        // The capture ends after the ACK: the evidence ran out.
        assert_eq!(run(dhcp_only, None)[0].outcome, Outcome::Unfinished);
        // Live: the boot information, then five minutes of silence here.
        let v = &run(dhcp_only, Some(3 * S + Timeouts::default().idle_ns + 1))[0];
        assert_eq!((v.outcome, v.code), (Outcome::Unknown, None));
        assert_eq!(v.boot_file.as_deref(), Some("boot.ipxe"));
    }

    #[test]
    fn a_transfer_that_stops_is_e35() {
        let mut events = healthy();
        events[5] = (
            3 * S + 3,
            tftp(TftpMoment::FirstData, b"\0\x03\0\x01", true),
        );
        let stalled = |k: &TftpKey| {
            (k.client_ip == CLIENT).then_some(TftpFlow {
                data_packets: 40,
                data_bytes: 40 * 512,
                highest_block: 40,
                last_ns: 4 * S,
                ..TftpFlow::default()
            })
        };
        let mut t = Tracker::new(16, Timeouts::default());
        for (at, e) in &events {
            t.on_event(e, *at, None);
        }
        // Blocks stopped at 4 s: not yet at 33 s, E35 from 34 s on.
        t.on_tick_with(33 * S, &stalled);
        assert!(t.take_decided().is_empty());
        t.on_tick_with(34 * S, &stalled);
        let v = t.take_decided();
        assert_eq!(v[0].code, Some("PXE-E35"), "{v:?}");
        assert!(v[0].cause.as_deref().unwrap().contains("40 block(s)"));
        // Without progress information (a capture that ends): unfinished.
        assert_eq!(run(&events, None)[0].outcome, Outcome::Unfinished);
    }

    #[test]
    fn a_reboot_minutes_later_is_a_new_session() {
        let mut events = healthy();
        for (t, e) in healthy() {
            events.push((t + 120 * S, e));
        }
        let v = run(&events, None);
        assert_eq!(v.len(), 2, "two boots");
        assert!(v.iter().all(|v| v.outcome == Outcome::Booted));
        assert!(v[1].first_seen_ns >= 120 * S);
        // A loop of boots keeps each session small.
        let mut many = Vec::new();
        for i in 0..500 {
            many.extend(healthy().into_iter().map(|(t, e)| (t + i * 120 * S, e)));
        }
        let v = run(&many, None);
        assert_eq!(v.len(), 500);
        assert!(v.iter().all(|v| v.transfers.len() == 1));
    }

    #[test]
    fn events_a_few_ms_out_of_order() {
        let mut events = healthy();
        events.swap(4, 5);
        events[4].0 = 3 * S + 5;
        events[5].0 = 3 * S + 2;
        // The DATA before its request is not linked; the request alone does
        // not decide: unfinished, never a failure.
        assert_ne!(run(&events, None)[0].outcome, Outcome::Failed);
    }

    /// Any sequence of events: no panic, at most `max_sessions` sessions.
    #[test]
    fn random_sequences_stay_within_bounds() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..200 {
            let mut t = Tracker::new(8, Timeouts::default());
            let mut now = 0;
            for _ in 0..300 {
                now += next() % (2 * S);
                let r = next();
                let mut ev = match r % 3 {
                    0 => {
                        let mut e = dhcp(
                            (r >> 8) as u8 % 9,
                            Class::ALL[(r >> 16) as usize % 7],
                            (r >> 24) as u16,
                        );
                        e.chaddr[5] = (r >> 40) as u8 % 16;
                        e.yiaddr = [10, 0, 0, (r >> 48) as u8];
                        Event::Dhcp(e)
                    }
                    1 => {
                        let moment = [
                            TftpMoment::Request,
                            TftpMoment::Oack,
                            TftpMoment::Error,
                            TftpMoment::LastData,
                        ][(r >> 8) as usize % 4];
                        tftp(
                            moment,
                            &[0, (r >> 16) as u8 % 7, 0, (r >> 24) as u8 % 9],
                            r & 1 == 0,
                        )
                    }
                    _ => Event::Icmp(IcmpEvent {
                        quoted_src: [10, 0, 0, (r >> 8) as u8],
                        quoted_dst_port: [[0, 69], [0x0f, 0xab]][(r >> 16) as usize % 2],
                        ..IcmpEvent::default()
                    }),
                };
                if let Event::Tftp(e) = &mut ev {
                    e.client_ip = [10, 0, 0, (r >> 32) as u8];
                }
                t.on_event(&ev, now, Some([0, 0, 0, 0, 0, (r >> 56) as u8 % 32]));
                assert!(t.active() <= 8);
                if r % 17 == 0 {
                    t.on_tick(now);
                }
            }
            let _ = t.finish();
            assert_eq!(t.active(), 0);
        }
    }
}
