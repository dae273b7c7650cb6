//! The per-client timeline: the [`note!`] macro that adds a line only when
//! the timeline is kept (text output; formatting each step is most of the
//! tracker's work), bounded by `MAX_TIMELINE`, and how an offer reads in it.

use monitor_common::event::IcmpEvent;

use super::state::{Offer, ip};
use crate::event::addr;

/// Adds a timeline line at session time `$t`; the line is formatted only
/// when the session keeps a timeline and has room for it.
macro_rules! note {
    ($s:expr, $t:expr, $line:expr $(,)?) => {
        if $s.keep_timeline && $s.timeline.len() < $crate::session::state::MAX_TIMELINE {
            $s.timeline.push(($t, $line));
        }
    };
}
pub(crate) use note;

/// An offer or ACK in a few words: address, next-server, option 66, boot
/// file, option 60 and 43.
pub fn describe(o: &Offer) -> String {
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

/// An ICMP port unreachable about a request to `port`.
pub fn unreachable(e: &IcmpEvent, port: u16) -> String {
    let to = std::net::SocketAddr::new(addr(e.quoted_dst), port);
    format!(
        "ICMP port unreachable from {}: nothing listens on {to}",
        addr(e.reporter)
    )
}
