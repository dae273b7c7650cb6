//! DHCPv6 (`pxe_dhcp6_xdp`/`_tc`): the message header, the relays around
//! the client's or server's message and its options (`classify_dhcp6`),
//! then whether it is part of a PXE exchange (a boot client's vendor
//! class, port 4011, or a transaction a boot client started:
//! `PXE6_XIDS`), counted by type.

use monitor_common::{
    classify::classify_dhcp6,
    counters::{
        Direction,
        maps::{NEW_XID6, dhcp6_index, parse_error_index},
    },
    stage::Dhcp6At,
};
use monitor_ebpf::PacketFrame;

use aya_log_ebpf::{error, warn};

use super::Ctx;
use crate::maps::{DHCP6_TYPES, PARSE_ERRORS, PXE6_XIDS, TABLE_NEW, bump};

stage!(
    /// Stage two for a DHCPv6 message.
    pxe_dhcp6_xdp,
    pxe_dhcp6_tc,
    pxe_dhcp6_tc_in,
    dhcp6
);

#[inline(always)]
fn dhcp6(frame: &PacketFrame, meta: u64, dir: Direction, _ifindex: u32, _ctx: Ctx) {
    let Some((at, class)) = Dhcp6At::unpack(meta) else {
        error!(&(), "DHCPv6 stage handed an impossible argument {:x}", meta);
        return;
    };
    let c = classify_dhcp6(frame, class, at);
    if let Some(e) = c.error {
        bump(&PARSE_ERRORS, parse_error_index(dir, e));
    }
    let Some(ty) = c.dhcp6_type else {
        return;
    };
    let Some(loc) = &c.dhcp6 else {
        // A relay whose message could not be reached: counted by its type,
        // not PXE as far as can be told.
        bump(&DHCP6_TYPES, dhcp6_index(dir, false, ty));
        return;
    };
    // SAFETY: the value is only tested for presence, never read.
    let known = unsafe { PXE6_XIDS.get(loc.xid) }.is_some();
    bump(&DHCP6_TYPES, dhcp6_index(dir, loc.is_pxe(class, known), ty));
    if !known && loc.starts_pxe_transaction() {
        // A full LRU map evicts its oldest entry; an error is something
        // else (no memory).
        match PXE6_XIDS.insert(loc.xid, 0, 0) {
            Ok(()) => bump(&TABLE_NEW, NEW_XID6),
            Err(e) => warn!(&(), "DHCPv6 transaction table insert failed: {}", e),
        }
    }
}
