//! The sizes of the tracker's tables and the most each may hold: what the
//! fuzz target and the bounds tests check after every step, so that no
//! sequence of events, however crafted, grows the tracker without bound.

use super::{CUT_SHORT_MAX, state::MAX_ADDRESSES};

/// How many entries each table of a [`Tracker`](super::Tracker) holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tables {
    pub sessions: usize,
    /// Client addresses to MACs.
    pub by_ip: usize,
    /// DHCPv6 transactions to MACs.
    pub by_xid6: usize,
    /// The eviction order (closed sessions' entries linger until
    /// compacted).
    pub order: usize,
    /// Clients seen with their DHCP cut short, before their session.
    pub cut_short: usize,
}

/// Entries of closed sessions a table keeps before it is compacted.
pub(super) const SLACK: usize = 1024;

impl Tables {
    /// The first table over its bound, as (name, entries, bound), for a
    /// tracker of at most `max_sessions` sessions: at most `max_sessions`
    /// sessions, [`MAX_ADDRESSES`] addresses and one DHCPv6 transaction
    /// for each open one (an entry leaves with its session or when its
    /// session moves on), twice the open sessions in the eviction order
    /// (plus [`SLACK`] awaiting compaction), and `CUT_SHORT_MAX` clients
    /// cut short.
    pub fn over_bound(&self, max_sessions: usize) -> Option<(&'static str, usize, usize)> {
        let open = self.sessions;
        [
            ("sessions", self.sessions, max_sessions),
            ("by_ip", self.by_ip, MAX_ADDRESSES * open),
            ("by_xid6", self.by_xid6, open),
            ("order", self.order, 2 * open + SLACK + 1),
            ("cut_short", self.cut_short, CUT_SHORT_MAX),
        ]
        .into_iter()
        .find(|(_, n, bound)| n > bound)
    }
}
