//! The input format of the tracker's fuzz target, in one place for the
//! target that reads it and `examples/fuzz_seeds.rs` that writes the
//! fixture captures' events in it: steps of `[op] [time step: 2 bytes,
//! signed, little-endian] ...`.
//!
//! `op & 3`: 0 and 1 an event of kind `(op >> 2) % 5` ([`KINDS`]) whose
//! bytes follow (a length byte, then that many bytes of the event, the
//! rest zero); 2 a tick; 3 a client's DHCP seen cut short (the client
//! numbered by the time step's first byte). `op & 0x40`: the time step
//! counts seconds, not milliseconds. `op & 0x80`: the event's client MAC
//! and addresses are replaced by one of a few clients' (numbered by the
//! event's first byte), so that sessions meet again.

use crate::event::Event;

/// The event kinds in the order `op` numbers them.
pub const KINDS: [monitor_common::event::EventKind; 5] = {
    use monitor_common::event::EventKind;
    [
        EventKind::Dhcp,
        EventKind::IcmpUnreachable,
        EventKind::Tftp,
        EventKind::Http,
        EventKind::Dhcp6,
    ]
};

/// One step of the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step<'a> {
    Event {
        kind: monitor_common::event::EventKind,
        body: &'a [u8],
        normalize: bool,
    },
    Tick,
    CutShort(u8),
}

/// The steps of `input`, each with the time it moves the clock by (ns,
/// signed); a step cut short ends them.
pub fn steps(mut input: &[u8]) -> impl Iterator<Item = (i64, Step<'_>)> {
    std::iter::from_fn(move || {
        let [op, t0, t1, rest @ ..] = input else {
            return None;
        };
        input = rest;
        let unit = if op & 0x40 != 0 {
            1_000_000_000
        } else {
            1_000_000
        };
        let step = i64::from(i16::from_le_bytes([*t0, *t1])) * unit;
        let s = match op & 3 {
            0 | 1 => {
                let (len, rest) = input.split_first()?;
                let (body, rest) = rest.split_at(usize::from(*len).min(rest.len()));
                input = rest;
                Step::Event {
                    kind: KINDS[usize::from(op >> 2) % KINDS.len()],
                    body,
                    normalize: op & 0x80 != 0,
                }
            }
            2 => Step::Tick,
            _ => Step::CutShort(*t0),
        };
        Some((step, s))
    })
}

/// Appends `ev`, `dt_ns` after the step before, as steps: the event's
/// bytes without their trailing zeros (at most 255), after as many
/// time-only ticks as a long gap needs.
pub fn push_event(out: &mut Vec<u8>, mut dt_ns: u64, ev: &Event) {
    const MS: u64 = 1_000_000;
    const S: u64 = 1_000_000_000;
    let max = i16::MAX as u64;
    // Gaps past what one step holds go in ticks of whole seconds.
    while dt_ns > max * MS {
        let secs = (dt_ns / S).min(max);
        out.extend_from_slice(&[2 | 0x40]);
        out.extend_from_slice(&(secs as i16).to_le_bytes());
        dt_ns -= secs * S;
        if secs == 0 {
            break;
        }
    }
    let kind = KINDS.iter().position(|k| *k == ev.kind()).unwrap_or(0) as u8;
    let bytes = ev.bytes();
    let end = bytes
        .iter()
        .rposition(|b| *b != 0)
        .map_or(0, |i| i + 1)
        .min(255);
    out.push(kind << 2);
    out.extend_from_slice(&((dt_ns / MS).min(max) as i16).to_le_bytes());
    out.push(end as u8);
    out.extend_from_slice(&bytes[..end]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use monitor_common::event::TftpEvent;

    #[test]
    fn written_steps_read_back() {
        let mut ev = TftpEvent::zeroed();
        ev.moment = 1;
        ev.client_mac = [2, 0, 0, 0, 0, 7];
        let ev = Event::Tftp(ev);
        let mut out = Vec::new();
        push_event(&mut out, 5_000_000, &ev);
        push_event(&mut out, 100_000 * 1_000_000_000, &ev);
        let read: Vec<(i64, Step<'_>)> = steps(&out).collect();
        let body = |s: &Step<'_>| match s {
            Step::Event { kind, body, .. } => {
                assert_eq!(*kind, ev.kind());
                body.to_vec()
            }
            other => panic!("{other:?}"),
        };
        assert_eq!(read[0].0, 5_000_000);
        assert!(ev.bytes().starts_with(&body(&read[0].1)));
        // 100,000 s: ticks of at most 32,767 s, then the event.
        let ticks: i64 = read[1..read.len() - 1].iter().map(|(t, _)| *t).sum();
        assert_eq!(ticks + read.last().unwrap().0, 100_000 * 1_000_000_000);
        assert_eq!(body(&read.last().unwrap().1), body(&read[0].1));
    }
}
