//! The ring-buffer record decoder (`event::decode`, what the live agent
//! runs on every record the kernel sends) and the readers of the fields
//! it yields, on arbitrary bytes: a record decodes only at a size its kind
//! allows, the bytes a short record leaves out read as zeros, the event is
//! the record's bytes after its header, and no description of it puts a
//! wire string on a log line unescaped.
#![no_main]

use std::borrow::Cow;

use libfuzzer_sys::fuzz_target;
use monitor::event::{self, Event, Record};
use monitor_common::{
    event::{Dhcp6Record, DhcpRecord, EventHeader, HttpRecord, IcmpRecord, TftpRecord},
    wire::dhcpv6::Slot,
};

/// Nothing a terminal or log reader would act on (`event::escape` leaves
/// such text as it is).
fn clean(line: &str) -> bool {
    matches!(event::escape(line), Cow::Borrowed(_))
}

fuzz_target!(|bytes: &[u8]| {
    let Some(rec) = event::decode(bytes) else {
        return;
    };
    let full = match rec {
        Record::Dhcp(_) => size_of::<DhcpRecord>(),
        Record::Icmp(_) => size_of::<IcmpRecord>(),
        Record::Tftp(_) => size_of::<TftpRecord>(),
        Record::Http(_) => size_of::<HttpRecord>(),
        Record::Dhcp6(_) => size_of::<Dhcp6Record>(),
    };
    assert!(bytes.len() <= full, "a record longer than its kind decoded");
    let mut padded = bytes.to_vec();
    padded.resize(full, 0);
    assert_eq!(
        event::decode(&padded),
        Some(rec),
        "the bytes a short record leaves out are not zeros"
    );
    let ev = rec.event();
    assert_eq!(
        ev.kind() as u8,
        rec.header().kind,
        "the header's kind is the record's"
    );
    assert_eq!(
        ev.bytes(),
        &padded[size_of::<EventHeader>()..],
        "the event is not the bytes after the header"
    );
    let dir = rec.header().direction;
    let line = match &ev {
        Event::Dhcp(e) => {
            let file = event::text(&e.bootfile, e.bootfile_len.into());
            assert!(file.len() <= 3 * e.bootfile.len() && !file.contains('\0'));
            event::describe(dir, e)
        }
        Event::Icmp(e) => event::describe_icmp(e),
        Event::Tftp(e) => event::describe_tftp(e),
        Event::Http(e) => {
            let p = event::http_payload(e);
            assert!(p.len() <= e.payload.len());
            event::describe_http(e)
        }
        Event::Dhcp6(e) => {
            let msg = event::dhcp6_message(e);
            for slot in [
                Slot::ClientId,
                Slot::ServerId,
                Slot::IaNa,
                Slot::RelayMsg,
                Slot::UserClass,
                Slot::VendorClass,
                Slot::InterfaceId,
                Slot::BootFileUrl,
                Slot::BootFileParam,
                Slot::ClientArch,
            ] {
                if let Some(v) = event::dhcp6_option(e, slot) {
                    // An option's value lies inside the copied message.
                    let (m, v) = (msg.as_ptr_range(), v.as_ptr_range());
                    assert!(
                        m.start <= v.start && v.end <= m.end,
                        "{slot:?} outside the message"
                    );
                }
            }
            let _ = (
                event::dhcp6_client_mac(e),
                event::dhcp6_address(e),
                event::dhcp6_arch(e),
                event::dhcp6_user_class_ipxe(e),
                event::dhcp6_echoes_http_client(e),
            );
            if let Some(url) = event::dhcp6_boot_url(e) {
                assert!(url.len() <= 3 * msg.len());
            }
            event::describe_dhcp6(dir, e)
        }
    };
    assert!(
        clean(&line),
        "a wire string reached a log line raw: {line:?}"
    );
});
