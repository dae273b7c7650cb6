//! Reading one interface's event ring buffer into the session tracker's
//! queue.

use aya::maps::{MapData, RingBuf};
use prometheus::IntCounterVec;
use tokio::io::unix::AsyncFd;
use tracing::{debug, warn};

use crate::event::{
    Record, RecordKind, Stamped, decode, describe, describe_icmp, describe_tftp, escape,
};

/// Reads one interface's ring buffer until the task is dropped: counts the
/// records, logs each at debug level and hands it to the session tracker.
///
/// The channel to the tracker is bounded: when the tracker falls behind,
/// this waits, the kernel's ring buffer fills, and what it cannot hold is
/// counted in `pxe_events_lost_total`. Memory stays bounded, losses are
/// counted in one place, and packets are never held up (the kernel side
/// only ever drops an event, never waits).
pub async fn read(
    interface: String,
    ring: RingBuf<MapData>,
    received: IntCounterVec,
    tracker: tokio::sync::mpsc::Sender<Stamped>,
) {
    // SAFETY: the RingBuf owns its map's file descriptor, which stays open
    // and the same for as long as the RingBuf lives, i.e. inside the
    // AsyncFd until it is dropped.
    let mut fd = match unsafe { AsyncFd::register(ring) } {
        Ok(fd) => fd,
        Err(e) => {
            warn!(interface, error = %e, "cannot poll the event ring buffer; events are not read");
            return;
        }
    };
    loop {
        let mut guard = match fd.readable_mut().await {
            Ok(g) => g,
            Err(e) => {
                warn!(interface, error = %e, "polling the event ring buffer");
                return;
            }
        };
        let ring = guard.get_inner_mut();
        while let Some(item) = ring.next() {
            let record = decode(&item);
            // The record is a copy: the kernel may reuse the slot.
            drop(item);
            match &record {
                Some(Record::Dhcp(rec)) => {
                    debug!(
                        interface,
                        "{}",
                        escape(&describe(rec.header.direction, &rec.event))
                    );
                }
                Some(Record::Icmp(rec)) => debug!(interface, "{}", describe_icmp(&rec.event)),
                Some(Record::Tftp(rec)) => {
                    debug!(interface, "{}", escape(&describe_tftp(&rec.event)));
                }
                None => {}
            }
            received
                .with_label_values(&[interface.as_str(), RecordKind::of(record.as_ref()).label()])
                .inc();
            if let Some(rec) = record {
                // The tracker task ends only with the agent.
                let _ = tracker.send((rec.event(), rec.header().timestamp_ns)).await;
            }
        }
        guard.clear_ready();
    }
}
