//! Deciding a session: the stages asked in order (the later a stage, the
//! more it knows: HTTP, TFTP, then the boot server on 4011, then DHCPv6 or
//! DHCP), how an attempt the firmware left for its next boot option ended,
//! what a session ends with when nothing decided it, and what every
//! verdict carries (times, timeline, transfers, attempts, warnings,
//! servers, console text).

use super::{
    Progress, Timeouts, dhcp, dhcp6, http, proxy,
    state::{EndedAttempt, Session, ip},
    tftp,
};
use crate::{
    diagnosis,
    verdict::{Attempt, Basis, DhcpServerSeen, Outcome, TransferResult, TransferStatus, Verdict},
};

/// What live use adds to a decision: silence counts as evidence
/// (timeouts), and the transfer table says where each transfer stands.
pub struct Live<'a> {
    pub timeouts: &'a Timeouts,
    pub progress: &'a Progress<'a>,
}

/// A stage's answer.
#[expect(
    clippy::large_enum_variant,
    reason = "returned once per stage and moved straight into the session; a box would allocate for every verdict"
)]
pub enum Step {
    /// The evidence decides.
    Decided(Verdict),
    /// This stage is under way: wait for more.
    Wait,
    /// Nothing of this stage was seen: ask the one before it.
    Pass,
}

/// What one stage decides from a session at a time.
type Stage = fn(&Session, u64, Option<&Live<'_>>) -> Step;

/// The stages, the latest of a boot first. An attempt is over IPv4 or
/// IPv6 (the firmware's next boot option is a new attempt): `dhcp6`
/// passes when it saw nothing, and `dhcp` has the last word.
const STAGES: [Stage; 5] = [
    http::decide,
    tftp::decide,
    proxy::decide,
    dhcp6::decide,
    dhcp::decide,
];

/// The verdict the evidence supports now, or `None` to wait. With `live`,
/// silence counts too.
///
/// A boot file that arrived, and a failed HTTP fetch, decide only once the
/// client has been quiet for the settle time (live) or the input ended: a
/// chain goes on with its next file (iPXE's script, kernel, initrd), and
/// `chain a || chain b` tries the next URL. So does a failure of UEFI
/// firmware (not iPXE): it goes on to its next boot option (PXE over IPv4,
/// then IPv6, then HTTP Boot), and the boot is decided by the last. The
/// other failures decide at once, as the firmware gives up at once.
pub fn decide(s: &Session, now: u64, live: Option<&Live<'_>>) -> Option<Verdict> {
    decide_with(s, now, live, false)
}

/// [`decide`] at the end of the input, or when the client started over:
/// nothing more of this boot will come, so nothing waits for quiet.
pub fn decide_ended(s: &Session) -> Option<Verdict> {
    decide_with(s, s.last_ns, None, true)
}

fn decide_with(s: &Session, now: u64, live: Option<&Live<'_>>, ended: bool) -> Option<Verdict> {
    for (i, stage) in STAGES.into_iter().enumerate() {
        match stage(s, now, live) {
            Step::Decided(v) => {
                let falls_back = v.outcome == Outcome::Failed && s.falls_back();
                let waits = v.outcome == Outcome::Booted || i == 0 || falls_back;
                let settled = ended
                    || live.is_some_and(|l| {
                        let then = now.saturating_sub(l.timeouts.settle_ns);
                        // A failure the firmware moves on from: decided the
                        // settle time ago already (a timeout that expired
                        // just now is when the firmware gives up and starts
                        // its next boot option), and nothing since.
                        s.last_ns <= then
                            && (!falls_back
                                || matches!(stage(s, then, live),
                                    Step::Decided(w) if w.code == v.code))
                    });
                return (!waits || settled).then_some(v);
            }
            Step::Wait => return None,
            Step::Pass => {}
        }
    }
    None
}

/// How the current attempt ended, now that the firmware went on to its
/// next boot option: what its evidence decides, silence included (the
/// client will say no more in it); `None` when it booted (a loader's DHCP
/// of another kind is the chain going on, not a new attempt).
pub fn attempt_ended(s: &Session, timeouts: &Timeouts, now: u64) -> Option<EndedAttempt> {
    let protocol = s.protocol?;
    let v = match &s.verdict {
        Some(v) => Verdict::clone(v),
        None => {
            let live = Live {
                timeouts,
                progress: &Progress::NONE,
            };
            decide_with(s, u64::MAX, Some(&live), true).unwrap_or_else(|| {
                let (file, server) = s.boot_target();
                diagnosis::unfinished(s.mac, file, server)
            })
        }
    };
    if v.outcome == Outcome::Booted {
        return None;
    }
    let summary = Attempt {
        protocol,
        outcome: v.outcome,
        code: v.code,
        cause: v.cause.clone(),
        first_seen_ns: s.attempt_first_ns,
        last_seen_ns: now,
    };
    Some(EndedAttempt {
        summary,
        verdict: Box::new(finish_verdict(s, v)),
    })
}

/// The boot's verdict from its current attempt's `v` (finished) and the
/// attempts before it: the current one's if it booted; an attempt's that
/// cannot be judged from here (unknown: its boot file went by a path not
/// seen, it may have been the one that mattered), never a failure of
/// another; else, of the failed attempts, the one that got furthest (the
/// first of those: the firmware's preferred boot option): the others
/// failed because nothing serves their boot option, and a last attempt
/// whose evidence ran out (unfinished) does not hide the failure before
/// it. Every verdict lists the other attempts.
pub fn boot_verdict(s: &Session, v: Verdict) -> Verdict {
    if s.attempts.is_empty() {
        return v;
    }
    let current = s.protocol.map(|protocol| Attempt {
        protocol,
        outcome: v.outcome,
        code: v.code,
        cause: v.cause.clone(),
        first_seen_ns: s.attempt_first_ns,
        last_seen_ns: s.last_ns,
    });
    let judged_by_current = matches!(v.outcome, Outcome::Booted | Outcome::Unknown);
    let reach = |code: Option<crate::verdict::FailureCode>| code.map(|c| c.reach());
    let unknown = s
        .attempts
        .iter()
        .rposition(|a| a.verdict.outcome == Outcome::Unknown);
    let furthest = s
        .attempts
        .iter()
        .enumerate()
        .filter(|(_, a)| a.verdict.outcome == Outcome::Failed)
        .max_by_key(|(i, a)| (reach(a.verdict.code), std::cmp::Reverse(*i)))
        .filter(|(_, a)| v.outcome != Outcome::Failed || reach(a.verdict.code) >= reach(v.code))
        .map(|(i, _)| i);
    let furthest = unknown.or(furthest);
    let (mut out, chosen) = match furthest {
        Some(i) if !judged_by_current => (Verdict::clone(&s.attempts[i].verdict), Some(i)),
        _ => (v, None),
    };
    out.attempts = s
        .attempts
        .iter()
        .enumerate()
        .filter(|(i, _)| Some(*i) != chosen)
        .map(|(_, a)| a.summary.clone())
        .chain(current.filter(|_| chosen.is_some()))
        .collect();
    out.first_seen_ns = s.first_ns;
    out.last_seen_ns = s.last_ns;
    out.timeline = s.timeline.clone();
    out
}

/// Why a session was closed without a verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Closed {
    /// The input ended (a capture), or the client started over.
    End,
    /// Nothing came for the idle timeout (live use).
    Idle,
    /// The session table was full (at most this many sessions).
    Evicted(usize),
}

/// No verdict when the session ends. Live, a client that got its boot
/// information and then long silence from here probably fetched its file
/// by a path this monitor does not see: unknown, never a failure.
pub fn unfinished(s: &Session, why: Closed) -> Verdict {
    let (file, server) = s.boot_target();
    match why {
        Closed::Idle
            if (s.ack.is_some() || s.proxy_ack.is_some() || s.reply6.is_some())
                && s.transfers.is_empty() =>
        {
            diagnosis::unseen_transfer(s.mac, file, server)
        }
        Closed::Evicted(max) => diagnosis::evicted(s.mac, file, server, max),
        _ => diagnosis::unfinished(s.mac, file, server),
    }
}

/// A client seen only through TFTP: its transfers, no boot verdict.
pub fn tftp_only(s: &Session) -> Verdict {
    let server = s.transfers.last().map(|t| t.server);
    diagnosis::tftp_only(s.mac, server)
}

/// Adds what every verdict carries: times, timeline, transfers, warnings,
/// servers, the console text.
pub fn finish_verdict(s: &Session, mut v: Verdict) -> Verdict {
    v.first_seen_ns = s.first_ns;
    v.last_seen_ns = s.last_ns;
    v.timeline = s.timeline.clone();
    v.protocol = s.protocol;
    v.attempt_started_ns = s.attempt_first_ns;
    v.basis = if s.announced {
        Basis::PxeExchange
    } else {
        Basis::TftpAlone
    };
    v.transfers = s
        .transfers
        .iter()
        .map(|t| TransferResult {
            file: t.file.clone(),
            server: t.server,
            status: if t.complete {
                TransferStatus::Complete
            } else if t.server_error.is_some() {
                TransferStatus::Error
            } else if !t.answered {
                TransferStatus::Unanswered
            } else {
                TransferStatus::Incomplete
            },
            error_code: t.server_error.as_ref().map(|(c, _)| *c),
            requests: t.requests,
            http: None,
        })
        .chain(s.fetches.iter().map(|f| http::result(s, f)))
        .collect();
    if matches!(v.outcome, Outcome::TftpOnly | Outcome::Flood) {
        return v;
    }
    if v.boot_file.is_none() {
        v.boot_file = s.boot_target().0;
    }
    v.warnings = diagnosis::warnings(
        s.offers
            .iter()
            .chain(s.ack.iter())
            .map(|o| (o.server, o.yiaddr, s.option60_unanswered(o))),
        s.arch,
        v.boot_file.as_deref(),
        v.outcome == Outcome::Booted,
    );
    v.dhcp_servers = dhcp_servers(s);
    v.console = v.console.or_else(|| {
        v.code
            .and_then(|code| diagnosis::console_message(s.arch, code, s.is_ipv6()))
    });
    v
}

/// The servers that offered the client an address (not proxies), in the
/// order they first did.
fn dhcp_servers(s: &Session) -> Vec<DhcpServerSeen> {
    let mut seen: Vec<DhcpServerSeen> = Vec::new();
    for o in s.offers.iter().chain(s.ack.iter()) {
        if o.yiaddr == [0; 4] {
            continue;
        }
        let option60 = s.option60_unanswered(o);
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
