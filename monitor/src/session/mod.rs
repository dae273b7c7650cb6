//! The session layer: follows each client from DISCOVER through the boot
//! server on 4011 and TFTP to the last block of its boot file, and decides
//! how its boot went.
//!
//! A pure state machine: the time comes in with each event
//! ([`Tracker::on_event`]) and tick ([`Tracker::on_tick`]); nothing here
//! reads a clock or does I/O, so capture files and tests drive it exactly
//! as live traffic does. Every table is bounded.
//!
//! A session is one boot of one machine (its MAC ties its DHCPv4 chaddr,
//! its DHCPv6 DUID and its Ethernet source), made of attempts: UEFI
//! firmware tries PXE over IPv4, PXE over IPv6, HTTP Boot over IPv4 and
//! over IPv6 in turn, each after the one before failed. A DISCOVER or
//! Solicit of another boot option than the current attempt's (not from
//! iPXE, which runs DHCPv4 and DHCPv6 side by side) ends that attempt; the
//! boot's verdict is the attempt that booted, or the one that cannot be
//! seen, or the failure that got furthest, and lists the others
//! (`decide::boot_verdict`).
//!
//! - `state`: what is remembered per client, by stage;
//! - `attempt`: which boot option an event starts, and the firmware going
//!   on from one attempt to the next;
//! - `dhcp`, `dhcp6`, `proxy`, `tftp`, `http`: one module per boot stage,
//!   each with what its events change and what it decides (a new stage is
//!   a module beside them and an entry in `decide::STAGES`);
//! - `decide`: the stages in order, how an attempt ended, and what every
//!   verdict carries;
//! - `dedup`: the same message seen twice counts once;
//! - `flood`: a DHCP flood told from a boot storm (new clients a second);
//! - `timeline`: the per-client timeline of text output;
//! - `tables`: how full each table is, and the bound each keeps to.

mod attempt;
mod decide;
mod dedup;
mod dhcp;
mod dhcp6;
mod flood;
mod http;
mod proxy;
mod state;
mod tables;
mod tftp;
mod timeline;

pub use tables::Tables;

use std::{
    collections::VecDeque,
    net::{IpAddr, Ipv4Addr},
};

use monitor_common::{
    conn::{ConnKey6, HttpConn},
    flow::{FamilyKey, TftpFlow, TftpMoment},
    wire::dhcpv6,
};
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use crate::{
    diagnosis,
    event::{Event, addr, dhcp6_client_mac, tftp_moment},
    verdict::Verdict,
};
use attempt::{attempt_of, attempt_xid, started_over};
use decide::{
    Closed, Live, boot_verdict, decide, decide_ended, finish_verdict, tftp_only, unfinished,
};
use state::{MAX_ADDRESSES, Session};

/// Clients remembered with DHCP cut short before their session starts
/// (forgotten all at once when full: a capture's snaplen cuts every
/// message, so the next ones refill it).
const CUT_SHORT_MAX: usize = 4096;

/// New client MACs a second above which a DHCP flood is under way, by
/// default: five times a fleet of 10,000 booting within 10 s.
pub const FLOOD_NEW_CLIENTS_PER_S: u32 = 5000;

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
    /// Quiet after a file arrived whole (or an HTTP fetch failed) before
    /// the boot is decided: a chain goes on with its next file within it
    /// (iPXE's script, kernel and initrd; ipxe.efi's own DHCP and fetch),
    /// or tries the next URL of `chain a || chain b`.
    pub settle_ns: u64,
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
            settle_ns: 15 * S,
        }
    }
}

/// Clients seen only through TFTP (no PXE or HTTP-boot DHCP exchange of
/// theirs seen here): IP phones, switches and firmware upgrades read files
/// from the same servers, and a monitor that cannot see DHCP at all (on a
/// TFTP-only server) sees boot clients that way too.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TftpOnlyClients {
    /// Their transfers are reported ([`crate::verdict::Outcome::TftpOnly`]),
    /// never a boot verdict.
    #[default]
    Transfers,
    /// Each gets a boot verdict inferred from TFTP alone
    /// ([`crate::verdict::Basis::TftpAlone`]).
    Boots,
    /// `Boots` while no DHCP message has been seen, `Transfers` after.
    Auto,
}

/// Where the kernel's tables (or the host's replica) say a TFTP transfer
/// and a web connection stand.
pub struct Progress<'a> {
    pub tftp: &'a dyn Fn(&FamilyKey) -> Option<TftpFlow>,
    pub http: &'a dyn Fn(&ConnKey6) -> Option<HttpConn>,
}

impl Progress<'static> {
    /// No table: only the events count.
    pub const NONE: Progress<'static> = Progress {
        tftp: &|_| None,
        http: &|_| None,
    };
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
        server: IpAddr,
        duration_ns: u64,
        bytes: u64,
    },
}

/// The tracker: sessions by client MAC, at most `max_sessions` at once.
#[derive(Debug)]
pub struct Tracker {
    /// Boxed: the table's buckets stay small, and a full table of a flood
    /// costs the sessions it holds, not twice their size in empty buckets.
    sessions: HashMap<[u8; 6], Box<Session>>,
    /// Client addresses (from ACKs, or the source of a request) to MACs.
    by_ip: HashMap<IpAddr, [u8; 6]>,
    /// DHCPv6 transactions of clients to their MACs (for an answer whose
    /// DUID holds no MAC); one per session, its latest.
    by_xid6: HashMap<[u8; 4], [u8; 6]>,
    /// Sessions in the order they were created, for eviction: (MAC, the
    /// session's `seq`). Entries of closed sessions are skipped when met
    /// and dropped when they outnumber the open ones.
    order: VecDeque<([u8; 6], u64)>,
    next_seq: u64,
    /// Sessions decided since the last `take_decided` (live use only).
    decided: Option<Vec<[u8; 6]>>,
    finished: Vec<Verdict>,
    max_sessions: usize,
    timeouts: Timeouts,
    keep_timeline: bool,
    tftp_only: TftpOnlyClients,
    /// A DHCP message was seen (here or by the driver's counters).
    dhcp_seen: bool,
    /// Clients whose DHCP was seen cut short, before their session starts.
    cut_short: HashSet<[u8; 6]>,
    flood: flood::FloodDetector,
    /// A flood's clients get a verdict each (replay) or are only counted
    /// in [`flood_clients`](Self::flood_clients) (live).
    flood_verdicts: bool,
    /// Clients of a DHCP flood closed so far (one DISCOVER, nothing else).
    pub flood_clients: u64,
    /// Sessions closed early (oldest first) because the table was full;
    /// each still got its verdict.
    pub evicted: u64,
    /// Sessions created so far.
    pub started: u64,
    /// Figures for live metrics, when asked for.
    measurements: Option<Vec<Measurement>>,
    recent: dedup::Recent,
}

impl Tracker {
    pub fn new(max_sessions: usize, timeouts: Timeouts) -> Self {
        Tracker {
            sessions: HashMap::default(),
            by_ip: HashMap::default(),
            by_xid6: HashMap::default(),
            order: VecDeque::new(),
            next_seq: 0,
            decided: None,
            finished: Vec::new(),
            max_sessions: max_sessions.max(1),
            timeouts,
            keep_timeline: true,
            tftp_only: TftpOnlyClients::default(),
            dhcp_seen: false,
            cut_short: HashSet::default(),
            flood: flood::FloodDetector::new(FLOOD_NEW_CLIENTS_PER_S),
            flood_verdicts: true,
            flood_clients: 0,
            evicted: 0,
            started: 0,
            measurements: None,
            recent: dedup::Recent::default(),
        }
    }

    /// Also keep [`Measurement`]s, taken with
    /// [`take_measurements`](Self::take_measurements) (live use).
    pub fn with_measurements(mut self) -> Self {
        self.measurements = Some(Vec::new());
        self
    }

    /// Hand out verdicts as soon as they are reached, with
    /// [`take_decided`](Self::take_decided) (live use).
    pub fn with_early_verdicts(mut self) -> Self {
        self.decided = Some(Vec::new());
        self
    }

    /// New client MACs a second above which a DHCP flood is under way.
    pub fn with_flood_bound(mut self, new_clients_per_s: u32) -> Self {
        self.flood = flood::FloodDetector::new(new_clients_per_s);
        self
    }

    /// A flood's clients are counted in
    /// [`flood_clients`](Self::flood_clients), without a verdict each: a
    /// flood of hundreds of thousands of forged clients costs no
    /// allocation per client (live use).
    pub fn counting_floods(mut self) -> Self {
        self.flood_verdicts = false;
        self
    }

    /// Whether a DHCP flood is under way, and the most new clients seen in
    /// one of its seconds.
    pub fn flooding(&self) -> Option<u32> {
        self.flood.active().then_some(self.flood.peak_per_s)
    }

    /// The flood bound in use (new client MACs a second).
    pub fn flood_bound(&self) -> u32 {
        self.flood.max_new_per_s
    }

    /// How clients seen only through TFTP are reported.
    pub fn with_tftp_only(mut self, mode: TftpOnlyClients) -> Self {
        self.tftp_only = mode;
        self
    }

    /// Without the per-client timeline (JSON output and live use do not
    /// show it; formatting each step is most of the tracker's work).
    pub fn without_timeline(mut self) -> Self {
        self.keep_timeline = false;
        self
    }

    /// The driver saw a DHCP message (of any client) where it watches:
    /// [`TftpOnlyClients::Auto`] stops inferring boots from TFTP alone.
    pub fn dhcp_seen(&mut self) {
        self.dhcp_seen = true;
    }

    /// Whether [`dhcp_seen`](Self::dhcp_seen) would still change anything
    /// (`--tftp-only-clients auto`, and no DHCP seen yet): the drivers look
    /// at their DHCP counters only while it does.
    pub fn wants_dhcp_seen(&self) -> bool {
        self.tftp_only == TftpOnlyClients::Auto && !self.dhcp_seen
    }

    /// A DHCP message of `mac` was seen that the capture cut short (a small
    /// snaplen): whether its exchange was a PXE one cannot be read, so the
    /// client is judged as a boot client.
    pub fn dhcp_cut_short(&mut self, mac: [u8; 6]) {
        self.dhcp_seen = true;
        if let Some(s) = self.sessions.get_mut(&mac) {
            s.announced = true;
            return;
        }
        if self.cut_short.len() >= CUT_SHORT_MAX {
            self.cut_short.clear();
        }
        self.cut_short.insert(mac);
    }

    /// The figures measured since the last call.
    pub fn take_measurements(&mut self) -> Vec<Measurement> {
        self.measurements
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// Sessions being followed.
    pub fn active(&self) -> usize {
        self.sessions.len()
    }

    /// The bound on sessions followed at once.
    pub fn max_sessions(&self) -> usize {
        self.max_sessions
    }

    /// How full each table is ([`Tables::over_bound`] says if too full).
    pub fn tables(&self) -> Tables {
        Tables {
            sessions: self.sessions.len(),
            by_ip: self.by_ip.len(),
            by_xid6: self.by_xid6.len(),
            order: self.order.len(),
            cut_short: self.cut_short.len(),
        }
    }

    /// Whether a client without a PXE exchange gets a boot verdict.
    fn infers_boots(&self) -> bool {
        match self.tftp_only {
            TftpOnlyClients::Transfers => false,
            TftpOnlyClients::Boots => true,
            TftpOnlyClients::Auto => !self.dhcp_seen,
        }
    }

    /// One event at `now_ns`.
    pub fn on_event(&mut self, ev: &Event, now_ns: u64) {
        if self.recent.duplicate(ev, now_ns) {
            return;
        }
        let mac = match ev {
            Event::Dhcp(e) => Some(e.chaddr),
            // The DUID's MAC (EDK2 and iPXE send DUID-LLT or DUID-LL), the
            // Ethernet source of a client's own message, or the client
            // whose transaction a server answers.
            Event::Dhcp6(e) => dhcp6_client_mac(e).or_else(|| self.by_xid6.get(&e.xid).copied()),
            Event::Icmp(e) => self
                .by_ip
                .get(&addr(e.quoted_src))
                .or_else(|| self.by_ip.get(&addr(e.quoted_dst)))
                .copied(),
            // The kernel follows the web connections of clients its DHCP
            // ACKs named, and says which MAC.
            Event::Http(e) => self
                .by_ip
                .get(&addr(e.client_ip))
                .copied()
                .or((e.client_mac != [0; 6]).then_some(e.client_mac)),
            Event::Tftp(e) => self.by_ip.get(&addr(e.client_ip)).copied().or_else(|| {
                // A client whose DHCP was not seen: the Ethernet address of
                // its request names it.
                (tftp_moment(e) == Some(TftpMoment::Request) && e.client_mac != [0; 6])
                    .then_some(e.client_mac)
            }),
        };
        let Some(mac) = mac else { return };
        let attempt = attempt_of(ev);
        if let (Event::Dhcp(_) | Event::Dhcp6(_), Some(s)) = (ev, self.sessions.get(&mac)) {
            // Before the close below: the session it ends is judged with
            // DHCP known to be visible.
            self.dhcp_seen = true;
            // A client booting again, well after its last verdict; or a
            // client seen so far only over TFTP that now starts a PXE
            // exchange: a new session.
            // (A verdict that waits for quiet counts: the quiet came.)
            let reboot = attempt.is_some()
                && now_ns.saturating_sub(s.last_ns) >= self.timeouts.restart_ns
                && (s.verdict.is_some() || decide_ended(s).is_some());
            if reboot || started_over(s, ev) || !s.announced {
                self.close(mac, Closed::End);
            }
        }
        if !self.sessions.contains_key(&mac) {
            if matches!(ev, Event::Icmp(_)) {
                return;
            }
            self.open(mac, now_ns);
        }
        if let Some((protocol, from_ipxe)) = attempt {
            self.attempt(mac, protocol, from_ipxe, now_ns);
            if let Some(s) = self.sessions.get_mut(&mac) {
                s.attempt_xid = attempt_xid(ev);
            }
        }
        let infer = self.infers_boots();
        let Some(s) = self.sessions.get_mut(&mac) else {
            return;
        };
        s.last_ns = s.last_ns.max(now_ns);
        let measured = match ev {
            Event::Dhcp(e) => {
                s.announced = true;
                self.dhcp_seen = true;
                dhcp::on_dhcp(s, e, now_ns)
            }
            Event::Icmp(e) => {
                if proxy::is_about(e) {
                    proxy::on_unreachable(s, e, now_ns);
                } else if tftp::is_about(e) {
                    tftp::on_unreachable(s, e, now_ns);
                }
                None
            }
            Event::Tftp(e) => tftp::on_tftp(s, e, now_ns),
            Event::Http(e) => {
                http::on_http(s, e, now_ns);
                None
            }
            Event::Dhcp6(e) => {
                s.announced = true;
                self.dhcp_seen = true;
                if dhcpv6::is_client_type(e.inner_type) {
                    // One transaction a session: its earlier one goes.
                    if let Some(old) = s.xid6.filter(|x| *x != e.xid)
                        && self.by_xid6.get(&old) == Some(&mac)
                    {
                        self.by_xid6.remove(&old);
                    }
                    self.by_xid6.insert(e.xid, mac);
                    s.xid6 = Some(e.xid);
                }
                dhcp6::on_dhcp6(s, e, now_ns);
                None
            }
        };
        if let (Some(m), Some(list)) = (measured, self.measurements.as_mut()) {
            list.push(m);
        }
        let tftp_client = match ev {
            Event::Tftp(e) => Some(addr(e.client_ip)),
            Event::Http(e) => Some(addr(e.client_ip)),
            _ => None,
        };
        for addr in s.client_ip.into_iter().chain(tftp_client) {
            if self.by_ip.insert(addr, mac) != Some(mac) && !s.addresses.contains(&addr) {
                // The oldest address goes, from the table too (else a
                // client at ever new addresses grows it without bound).
                if s.addresses.len() >= MAX_ADDRESSES {
                    let old = s.addresses.remove(0);
                    if self.by_ip.get(&old) == Some(&mac) {
                        self.by_ip.remove(&old);
                    }
                }
                s.addresses.push(addr);
            }
        }
        // A flood's client is decided by silence (`on_tick`) or at its end.
        if s.verdict.is_none() && !s.is_flood_client() {
            s.verdict = judge(s, now_ns, None, infer).map(Box::new);
            if s.verdict.is_some()
                && let Some(d) = self.decided.as_mut()
            {
                d.push(mac);
            }
        }
    }

    /// Decides from silence (live use) and closes idle sessions.
    pub fn on_tick(&mut self, now_ns: u64) {
        self.on_tick_with(now_ns, &Progress::NONE);
    }

    /// [`on_tick`](Self::on_tick), with where each transfer stands: the
    /// transfer table (kernel map or host replica) knows when its last
    /// block passed, which no event says (DATA is aggregated).
    pub fn on_tick_with(&mut self, now_ns: u64, progress: &Progress<'_>) {
        let t = self.timeouts;
        let live = Live {
            timeouts: &t,
            progress,
        };
        let infer = self.infers_boots();
        self.flood.roll(now_ns);
        let mut closed = Vec::new();
        for (mac, s) in &mut self.sessions {
            let quiet = now_ns.saturating_sub(s.last_ns);
            // A flood's forged client, quiet for the no-answer timeout:
            // done with, its memory goes at once (never a boot failure).
            if s.verdict.is_none() && s.is_flood_client() {
                if quiet >= t.no_answer_ns {
                    closed.push(*mac);
                }
                continue;
            }
            if s.verdict.is_none() {
                http::refresh(s, progress.http);
                s.verdict = judge(s, now_ns, Some(&live), infer).map(Box::new);
                if s.verdict.is_some()
                    && let Some(d) = self.decided.as_mut()
                {
                    d.push(*mac);
                }
            }
            if quiet >= t.idle_ns {
                closed.push(*mac);
            }
        }
        for mac in closed {
            self.close(mac, Closed::Idle);
        }
    }

    /// End of input: every session gets its verdict (`unfinished` where
    /// the evidence does not decide).
    pub fn finish(&mut self) -> Vec<Verdict> {
        for (mac, seq) in std::mem::take(&mut self.order) {
            if self.sessions.get(&mac).is_some_and(|s| s.seq == seq) {
                self.close(mac, Closed::End);
            }
        }
        std::mem::take(&mut self.finished)
    }

    /// Verdicts of sessions closed so far, except those already handed out
    /// by [`take_decided`](Self::take_decided).
    pub fn take_finished(&mut self) -> Vec<Verdict> {
        std::mem::take(&mut self.finished)
    }

    /// Verdicts reached since the last call, while their sessions stay open
    /// for what follows (a second stage, retries): live use reports a boot
    /// as soon as it is decided. Needs
    /// [`with_early_verdicts`](Self::with_early_verdicts).
    pub fn take_decided(&mut self) -> Vec<Verdict> {
        let Some(decided) = self.decided.as_mut() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for mac in std::mem::take(decided) {
            if let Some(s) = self.sessions.get_mut(&mac)
                && !s.reported
                && let Some(v) = &s.verdict
            {
                out.push(boot_verdict(s, finish_verdict(s, Verdict::clone(v))));
                s.reported = true;
            }
        }
        out.sort_by_key(|v| v.last_seen_ns);
        out
    }

    fn open(&mut self, mac: [u8; 6], now_ns: u64) {
        self.make_room();
        let seq = self.next_seq;
        self.next_seq += 1;
        self.order.push_back((mac, seq));
        self.started += 1;
        let flood_suspect = match self.flood.new_client(mac, now_ns) {
            flood::Seen::Calm => false,
            flood::Seen::Suspect => true,
            flood::Seen::Started(earlier) => {
                for m in earlier {
                    if let Some(s) = self.sessions.get_mut(&m) {
                        s.flood_suspect = true;
                    }
                }
                true
            }
        };
        let s = Box::new(Session {
            mac,
            seq,
            first_ns: now_ns,
            announced: self.cut_short.remove(&mac),
            flood_suspect,
            keep_timeline: self.keep_timeline,
            ..Session::default()
        });
        self.sessions.insert(mac, s);
    }

    /// Closes the oldest sessions until there is room for one more; each
    /// gets its verdict as far as its evidence goes.
    fn make_room(&mut self) {
        while self.sessions.len() >= self.max_sessions {
            let Some((mac, seq)) = self.order.pop_front() else {
                break;
            };
            if self.sessions.get(&mac).is_some_and(|s| s.seq == seq) {
                self.evicted += 1;
                self.close(mac, Closed::Evicted(self.max_sessions));
            }
        }
    }

    fn close(&mut self, mac: [u8; 6], why: Closed) {
        let infer = self.infers_boots();
        let Some(mut s) = self.sessions.remove(&mac) else {
            return;
        };
        for addr in &s.addresses {
            if self.by_ip.get(addr) == Some(&mac) {
                self.by_ip.remove(addr);
            }
        }
        if let Some(x) = s.xid6
            && self.by_xid6.get(&x) == Some(&mac)
        {
            self.by_xid6.remove(&x);
        }
        self.compact();
        if s.verdict.is_none() && s.is_flood_client() {
            self.flood_clients += 1;
            if self.flood_verdicts {
                let v = diagnosis::flood(s.mac, self.flood.max_new_per_s);
                self.finished.push(finish_verdict(&s, v));
            }
            return;
        }
        // Decided at once on evidence; what came after (more retries) only
        // sharpens the wording of the same verdict.
        let v = match s.verdict.take() {
            Some(v) => decide(&s, s.last_ns, None)
                .filter(|n| n.code == v.code && n.outcome == v.outcome)
                .unwrap_or(*v),
            None if !s.announced && !infer => tftp_only(&s),
            // The input ended or the client started over: a verdict that
            // waited for quiet (the last file arrived) stands.
            None => decide_ended(&s).unwrap_or_else(|| unfinished(&s, why)),
        };
        if !s.reported {
            self.finished.push(boot_verdict(&s, finish_verdict(&s, v)));
        }
    }

    /// Drops what closed sessions left in the eviction order and the
    /// address table once it outnumbers the open sessions (amortised: each
    /// entry is dropped once), and gives back the memory of tables far
    /// larger than what they hold (after a flood).
    fn compact(&mut self) {
        let open = self.sessions.len();
        if self.order.len() > 2 * open + tables::SLACK {
            let sessions = &self.sessions;
            self.order
                .retain(|(mac, seq)| sessions.get(mac).is_some_and(|s| s.seq == *seq));
        }
        if self.by_ip.len() > MAX_ADDRESSES * open + tables::SLACK {
            let sessions = &self.sessions;
            self.by_ip.retain(|_, mac| sessions.contains_key(mac));
        }
        if self.by_xid6.len() > 2 * open + tables::SLACK {
            let sessions = &self.sessions;
            self.by_xid6.retain(|_, mac| sessions.contains_key(mac));
        }
        // After the retains: what is shrunk is what remains.
        if self.sessions.capacity() > 4 * open + 4096 {
            self.sessions.shrink_to_fit();
            self.order.shrink_to_fit();
            self.by_ip.shrink_to_fit();
            self.by_xid6.shrink_to_fit();
        }
    }
}

/// The verdict a session's evidence supports now. A client without a PXE
/// exchange of its own gets no boot verdict unless boots are inferred from
/// TFTP: live, its transfers are reported once it has been quiet for the
/// no-answer timeout; else when its session closes.
fn judge(s: &Session, now: u64, live: Option<&Live<'_>>, infer: bool) -> Option<Verdict> {
    if s.announced || infer {
        return decide(s, now, live);
    }
    let quiet = live.is_some_and(|l| now.saturating_sub(s.last_ns) >= l.timeouts.no_answer_ns);
    quiet.then(|| tftp_only(s))
}

#[cfg(test)]
mod tests;
