//! Reading one interface's event ring buffer into the session tracker's
//! queue.

use aya::maps::{MapData, RingBuf};
use prometheus::IntCounterVec;
use tokio::io::unix::AsyncFd;
use tracing::{debug, warn};

use crate::event::{
    Record, RecordKind, Stamped, decode, describe, describe_dhcp6, describe_http, describe_icmp,
    describe_tftp, escape,
};

/// Events handed to the tracker at once (one channel message), at most.
pub const BATCH: usize = 256;

/// Reads one interface's ring buffer until the task is dropped: counts the
/// records, logs each at debug level and hands them to the session tracker
/// in batches of up to [`BATCH`] (one channel message each: a flood's
/// hundreds of thousands of events a second cost a channel operation per
/// batch, not per event).
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
    tracker: tokio::sync::mpsc::Sender<Vec<Stamped>>,
) {
    // One counter handle per kind: no label lookup per record.
    let counted =
        RecordKind::ALL.map(|k| received.with_label_values(&[interface.as_str(), k.label()]));
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
    let mut batch = Vec::with_capacity(BATCH);
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
                Some(Record::Http(rec)) => {
                    debug!(interface, "{}", escape(&describe_http(&rec.event)));
                }
                Some(Record::Dhcp6(rec)) => {
                    debug!(
                        interface,
                        "{}",
                        escape(&describe_dhcp6(rec.header.direction, &rec.event))
                    );
                }
                None => {}
            }
            counted[RecordKind::of(record.as_ref()) as usize].inc();
            if let Some(rec) = record {
                batch.push((rec.event(), rec.header().timestamp_ns));
                if batch.len() == BATCH {
                    // The tracker ends only with the agent.
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                    let _ = tracker.send(full).await;
                }
            }
        }
        if !batch.is_empty() {
            let _ = tracker
                .send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)))
                .await;
        }
        guard.clear_ready();
    }
}
