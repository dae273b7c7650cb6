//! `pxe-monitor replay` on arbitrary bytes as a capture file: the reader,
//! the host replica of the kernel programs and the tracker, frame by frame
//! with the capture's timestamps as the clock (the path a crafted capture
//! a user is asked to replay takes). It never panics, the tracker stays
//! within its bounds after every frame, and every session started ends
//! with a verdict. (That the same input gives the same verdicts is the
//! tracker target's check; here it would halve the runs.) Seeded from the
//! captures in `../shared/fixtures` (`cargo xtask fuzz`).
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use monitor::{
    capture,
    replay::{Options, Replayer},
    session::TftpOnlyClients,
};

fuzz_target!(|input: &[u8]| {
    let opts = Options {
        max_sessions: Some(16),
        timeline: false,
        tftp_only: TftpOnlyClients::default(),
        flood_clients: 50,
        web_ports: Default::default(),
    };
    let mut r = Replayer::new(opts);
    let _ = capture::for_each_in(input, Path::new("fuzz"), 4096, |p| {
        r.frame(&p);
        let tables = r.tables();
        if let Some((table, n, bound)) = tables.over_bound(16) {
            panic!("table {table} holds {n} entries, over its bound {bound}: {tables:?}");
        }
    });
    let started = r.started();
    let out = r.finish();
    assert_eq!(
        started,
        out.verdicts.len() as u64,
        "a session ended without a verdict"
    );
});
