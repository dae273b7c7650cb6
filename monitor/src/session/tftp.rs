//! The TFTP stage: read requests and their retries, OACK, ERROR, the last
//! block, ICMP port unreachable for 69, and what they decide: booted, the
//! server refused the file (PXE-E3B/E3C/E36), nothing answers (PXE-E32), or
//! the blocks stopped (PXE-E35, from the transfer table, live).

use std::net::SocketAddr;

use monitor_common::{
    event::{IcmpEvent, TftpEvent},
    flow::{FamilyKey, TftpMoment},
    wire::{tftp, udp},
};

use super::{
    Measurement,
    decide::{Live, Step},
    state::{MAX_TRANSFERS, Session, Transfer, same_file},
    timeline::{self, note},
};
use crate::{
    diagnosis::{self, Stalled},
    event::{addr, tftp_moment},
};

/// A TFTP event of one of the client's transfers.
pub fn on_tftp(s: &mut Session, e: &TftpEvent, now: u64) -> Option<Measurement> {
    let t = s.rel(now);
    let client = SocketAddr::new(addr(e.client_ip), u16::from_be_bytes(e.client_port));
    let server = addr(e.server_ip);
    let payload = &e.payload[..usize::from(e.payload_len).min(e.payload.len())];
    let moment = tftp_moment(e);
    if moment == Some(TftpMoment::Request) {
        let file = tftp::parse_request(payload).map_or_else(String::new, |r| {
            String::from_utf8_lossy(r.filename).into_owned()
        });
        s.client_ip.get_or_insert(client.ip());
        note!(s, t, format!("TFTP read request {file:?} to {server}"));
        // A retry names the same file to the same server.
        if let Some(tr) = s
            .transfers
            .iter_mut()
            .rev()
            .find(|tr| tr.file == file && tr.server == server && !tr.answered)
        {
            tr.requests += 1;
            tr.client = client;
        } else {
            // Bounded: a client that loops (or a flood) cannot grow it.
            if s.transfers.len() >= MAX_TRANSFERS {
                s.transfers.remove(1);
            }
            s.transfers.push(Transfer::new(client, server, file, now));
        }
        return None;
    }
    let keep_timeline = s.keep_timeline && s.timeline.len() < super::state::MAX_TIMELINE;
    let tr = s
        .transfers
        .iter_mut()
        .rev()
        .find(|tr| tr.client == client && tr.server == server)?;
    tr.answered |= e.from_server != 0;
    let mut measured = None;
    let line = match moment {
        Some(TftpMoment::Oack) => keep_timeline.then(|| format!("TFTP OACK for {:?}", tr.file)),
        Some(TftpMoment::LastData) => {
            // Once, though a monitor on two hooks may see it twice.
            if !tr.complete {
                measured = Some(Measurement::Transfer {
                    server,
                    duration_ns: u64::from(e.elapsed_ms) * 1_000_000,
                    bytes: e.data_bytes.into(),
                });
            }
            tr.complete = true;
            keep_timeline.then(|| {
                format!(
                    "TFTP {:?} complete: {} bytes in {} block(s)",
                    tr.file, e.data_bytes, e.data_packets
                )
            })
        }
        Some(TftpMoment::Error) if e.from_server != 0 => {
            let (code, msg) = tftp::parse_error(payload)
                .map_or((u16::from_be_bytes(e.arg), String::new()), |(c, m)| {
                    (c, String::from_utf8_lossy(m).into_owned())
                });
            let line = keep_timeline
                .then(|| format!("TFTP ERROR {code} from {server} for {:?}: {msg}", tr.file));
            tr.server_error = Some((code, msg));
            line
        }
        Some(TftpMoment::Error) => keep_timeline.then(|| {
            format!(
                "TFTP transfer of {:?} aborted by the client (code {})",
                tr.file,
                u16::from_be_bytes(e.arg)
            )
        }),
        _ => None,
    };
    if let Some(line) = line {
        s.timeline.push((t, line));
    }
    measured
}

/// Read requests OVMF sends over IPv6 before it gives up (measured).
const EDK2_TFTP_REQUESTS: u32 = 6;

/// ICMP destination unreachable quoting a request to port 69: counted on
/// the latest transfer to that server.
pub fn on_unreachable(s: &mut Session, e: &IcmpEvent, now: u64) {
    if let Some(tr) = s
        .transfers
        .iter_mut()
        .rev()
        .find(|tr| tr.server == addr(e.quoted_dst))
    {
        tr.unreachable += 1;
    }
    let t = s.rel(now);
    note!(s, t, timeline::unreachable(e, udp::PORT_TFTP));
}

/// Whether an ICMP unreachable is about port 69.
pub fn is_about(e: &IcmpEvent) -> bool {
    u16::from_be_bytes(e.quoted_dst_port) == udp::PORT_TFTP
}

/// What the transfers decide: a boot file arrived, or its server refused
/// it; `Pass` when the client asked for no file.
pub fn decide(s: &Session, now: u64, live: Option<&Live<'_>>) -> Step {
    if s.transfers.is_empty() {
        return Step::Pass;
    }
    let (named, _) = s.boot_target();
    let boot_transfer = |tr: &Transfer| named.as_deref().is_none_or(|n| same_file(&tr.file, n));
    if let Some(tr) = s
        .transfers
        .iter()
        .find(|tr| tr.complete && boot_transfer(tr))
        // A file other than the named one arrived (a loader's own files):
        // the boot file itself came earlier or by another path.
        .or_else(|| s.transfers.iter().find(|tr| tr.complete))
    {
        return Step::Decided(diagnosis::booted(s.mac, &tr.file, tr.server));
    }
    let Some(tr) = s.transfers.iter().find(|tr| boot_transfer(tr)) else {
        return Step::Wait;
    };
    if let Some((code, msg)) = &tr.server_error {
        let mut v = diagnosis::tftp_error(s.mac, &tr.file, tr.server, *code, msg);
        // OVMF over IPv6 may miss the error and resend, 5 s apart, at most
        // 6 requests (measured): it takes one of the first five (PXE-E23,
        // measured after 1 and after 5), or after the sixth says it timed
        // out (measured).
        let requests: u32 = s
            .transfers
            .iter()
            .filter(|t| t.server == tr.server && same_file(&t.file, &tr.file))
            .map(|t| t.requests)
            .sum();
        if requests >= EDK2_TFTP_REQUESTS && s.is_ipv6() && s.falls_back() {
            v.console = Some(diagnosis::EDK2_TIMEOUT);
        }
        return Step::Decided(v);
    }
    if !tr.answered && tr.unreachable > 0 {
        return Step::Decided(diagnosis::tftp_no_server(
            s.mac,
            &tr.file,
            tr.server,
            tr.requests,
            true,
        ));
    }
    let Some(live) = live else {
        return Step::Wait;
    };
    if !tr.answered && now.saturating_sub(tr.first_ns) >= live.timeouts.no_answer_ns {
        return Step::Decided(diagnosis::tftp_no_server(
            s.mac,
            &tr.file,
            tr.server,
            tr.requests,
            false,
        ));
    }
    // Started, then the blocks stopped: PXE-E35.
    if tr.answered
        && let Some(key) = FamilyKey::new(tr.client, tr.server)
        && let Some(flow) = (live.progress.tftp)(&key)
        && flow.data_packets > 0
        && now.saturating_sub(flow.last_ns) >= live.timeouts.stall_ns
    {
        let progress = Stalled {
            blocks: flow.data_packets,
            bytes: flow.data_bytes,
            highest_block: flow.highest_block,
        };
        return Step::Decided(diagnosis::tftp_stalled(
            s.mac, &tr.file, tr.server, progress,
        ));
    }
    Step::Wait
}
