//! Live sessions: kernel events into the tracker, verdicts into the log and
//! the `/api/sessions` list.

use std::{
    collections::VecDeque,
    sync::Mutex,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use monitor_common::Direction;
use tokio::sync::mpsc;
use tracing::{info, warn};

use crate::{
    counters::Event,
    replay::mac_text,
    tracker::{Outcome, Timeouts, Tracker, Verdict},
};

/// An event from one interface's ring buffer, stamped with the kernel's
/// monotonic clock.
pub type Stamped = (Direction, Event, u64);

/// CLOCK_MONOTONIC, the clock of `bpf_ktime_get_ns`.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec we pass and nothing else.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// The most recent verdicts, newest first, bounded.
pub struct Recent {
    list: Mutex<VecDeque<Verdict>>,
    cap: usize,
}

impl Recent {
    pub fn new(cap: usize) -> Self {
        Recent {
            list: Mutex::new(VecDeque::new()),
            cap: cap.max(1),
        }
    }

    fn push(&self, v: Verdict) {
        let mut l = self.list.lock().unwrap_or_else(|p| p.into_inner());
        l.push_front(v);
        l.truncate(self.cap);
    }

    /// Newest first, optionally only one outcome.
    pub fn snapshot(&self, outcome: Option<Outcome>) -> Vec<Verdict> {
        let l = self.list.lock().unwrap_or_else(|p| p.into_inner());
        l.iter()
            .filter(|v| outcome.is_none_or(|o| v.outcome == o))
            .cloned()
            .collect()
    }
}

/// Runs the tracker on the events until the channel closes: a tick a
/// second for timeouts; every verdict is logged once and kept in `recent`.
pub async fn track(
    mut rx: mpsc::UnboundedReceiver<Stamped>,
    recent: &Recent,
    max_sessions: usize,
    kernel: &crate::metrics::KernelCollector,
) {
    let mut tracker = Tracker::new(max_sessions, Timeouts::default()).without_timeline();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    // Kernel time is monotonic; verdicts carry wall-clock times.
    let wall_now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let offset = wall_now.saturating_sub(monotonic_ns());
    let mut evicted = 0;
    loop {
        tokio::select! {
            ev = rx.recv() => match ev {
                Some((dir, ev, ns)) => tracker.on_event(dir, &ev, ns, None),
                None => break,
            },
            // The kernel's transfer table says where each transfer stands.
            _ = tick.tick() => tracker.on_tick_with(monotonic_ns(), &|k| kernel.tftp_flow(k)),
        }
        let done = tracker
            .take_decided()
            .into_iter()
            .chain(tracker.take_finished());
        for mut v in done {
            v.first_seen_ns += offset;
            v.last_seen_ns += offset;
            report(&v);
            recent.push(v);
        }
        if tracker.evicted != evicted {
            warn!(
                evicted = tracker.evicted - evicted,
                "session table full: oldest sessions dropped"
            );
            evicted = tracker.evicted;
        }
    }
}

/// One structured log line per session.
fn report(v: &Verdict) {
    let outcome = match v.outcome {
        Outcome::Booted => "booted",
        Outcome::Failed => "failed",
        Outcome::Unfinished => "unfinished",
        Outcome::Unknown => "unknown",
    };
    info!(
        client_mac = mac_text(v.client_mac),
        outcome,
        code = v.code.unwrap_or(""),
        server = v.server.map(|s| s.to_string()).unwrap_or_default(),
        boot_file = v.boot_file.as_deref().unwrap_or(""),
        cause = v.cause.as_deref().unwrap_or(""),
        fix = v.fix.as_deref().unwrap_or(""),
        warnings = v.warnings.join("; "),
        "PXE session"
    );
}
