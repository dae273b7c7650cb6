//! Deciding a session: the stages asked in order (the later a stage, the
//! more it knows: TFTP, then the boot server on 4011, then DHCP), what a
//! session ends with when nothing decided it, and what every verdict
//! carries (times, timeline, transfers, warnings, servers, console text).

use super::{
    Progress, Timeouts, dhcp, http, proxy,
    state::{Session, ip},
    tftp,
};
use crate::{
    diagnosis,
    verdict::{Basis, DhcpServerSeen, Outcome, TransferResult, TransferStatus, Verdict},
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

/// The stages, the latest of a boot first.
const STAGES: [Stage; 4] = [http::decide, tftp::decide, proxy::decide, dhcp::decide];

/// The verdict the evidence supports now, or `None` to wait. With `live`,
/// silence counts too.
///
/// A boot file that arrived, and a failed HTTP fetch, decide only once the
/// client has been quiet for the settle time (live) or the input ended: a
/// chain goes on with its next file (iPXE's script, kernel, initrd), and
/// `chain a || chain b` tries the next URL. The other failures decide at
/// once, as the firmware gives up at once.
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
                let waits = v.outcome == Outcome::Booted || i == 0;
                let settled = ended
                    || live.is_some_and(|l| now.saturating_sub(s.last_ns) >= l.timeouts.settle_ns);
                return (!waits || settled).then_some(v);
            }
            Step::Wait => return None,
            Step::Pass => {}
        }
    }
    None
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
        Closed::Idle if (s.ack.is_some() || s.proxy_ack.is_some()) && s.transfers.is_empty() => {
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
            .and_then(|code| diagnosis::console_message(s.arch, code))
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
