//! How verdicts are written for people and programs: the JSON schema
//! (`replay --format json` and `/api/sessions`), the text output of
//! `replay`, the log lines of the live agent, and the escaping of strings
//! from the wire wherever they are printed as text.

use std::{
    io::{self, Write},
    net::IpAddr,
    time::{Duration, UNIX_EPOCH},
};

use serde::Serialize;
use tracing::info;

pub use crate::event::escape;
use crate::{
    diagnosis::Fetcher,
    verdict::{Attempt, Outcome, TransferResult, Verdict},
};

pub fn mac_text(m: [u8; 6]) -> String {
    m.map(|b| format!("{b:02x}")).join(":")
}

fn rfc3339(ns: u64) -> String {
    humantime::format_rfc3339_micros(UNIX_EPOCH + Duration::from_nanos(ns)).to_string()
}

/// One session as `--format json` prints it and `/api/sessions` serves it
/// (a public interface: see the README). Strings are JSON-escaped.
#[derive(Serialize)]
pub struct SessionJson<'a> {
    pub client_mac: String,
    pub outcome: &'static str,
    pub code: Option<&'static str>,
    pub server: Option<String>,
    pub boot_file: Option<&'a str>,
    pub cause: Option<&'a str>,
    pub fix: Option<&'a str>,
    /// What the client's firmware prints for this failure, where known
    /// (UEFI/EDK2).
    pub console: Option<&'a str>,
    pub warnings: Vec<&'a str>,
    pub transfers: Vec<TransferJson<'a>>,
    /// `pxe_exchange`, or `tftp_only`: only the client's TFTP traffic was
    /// seen (outcome `tftp_only`, or a boot inferred from TFTP alone).
    pub basis: &'static str,
    /// The boot option of the attempt the verdict is about (`pxe_ipv4`,
    /// `pxe_ipv6`, `http_ipv4`, `http_ipv6`; `null`: no DISCOVER or
    /// Solicit of it seen).
    pub protocol: Option<&'static str>,
    /// The boot's other attempts (UEFI firmware tries its boot options in
    /// turn), in order.
    pub attempts: Vec<AttemptJson<'a>>,
    /// What the attempts before the verdict's cost: from the boot's first
    /// message to the start of the attempt the verdict is about.
    pub time_lost_seconds: f64,
    pub first_seen: String,
    pub last_seen: String,
}

/// Another attempt of the boot in [`SessionJson`].
#[derive(Serialize)]
pub struct AttemptJson<'a> {
    /// `before` or `after` the attempt the verdict is about.
    pub when: &'static str,
    pub protocol: &'static str,
    pub outcome: &'static str,
    pub code: Option<&'static str>,
    pub cause: Option<&'a str>,
    pub seconds: f64,
    pub first_seen: String,
}

impl<'a> AttemptJson<'a> {
    fn new(a: &'a Attempt, v: &Verdict) -> Self {
        AttemptJson {
            when: if is_before(a, v) { "before" } else { "after" },
            protocol: a.protocol.label(),
            outcome: a.outcome.label(),
            code: a.code.map(|c| c.label()),
            cause: a.cause.as_deref(),
            seconds: a.duration_ns() as f64 / 1e9,
            first_seen: rfc3339(a.first_seen_ns),
        }
    }
}

/// One TFTP transfer in [`SessionJson`].
#[derive(Serialize)]
pub struct TransferJson<'a> {
    pub file: &'a str,
    pub server: IpAddr,
    /// `complete`, `error`, `unanswered` or `incomplete`.
    pub result: &'static str,
    /// The TFTP error code, or the HTTP status.
    pub error_code: Option<u16>,
    pub requests: u32,
    /// `tftp` or `http` (added with the HTTP stage).
    pub protocol: &'static str,
    /// An HTTP fetch's details; absent for TFTP.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpJson<'a>>,
}

/// An HTTP fetch in `transfers`.
#[derive(Serialize)]
pub struct HttpJson<'a> {
    pub method: &'static str,
    pub url: &'a str,
    /// `None` without a response.
    pub status: Option<u16>,
    /// Body bytes seen, and the Content-Length announced.
    pub bytes: u64,
    pub content_length: Option<u64>,
    pub duration_seconds: f64,
    /// `ipxe`, `uefi_http_boot` or `other` (from the User-Agent).
    pub stage: &'static str,
    pub user_agent: Option<&'a str>,
}

impl<'a> TransferJson<'a> {
    fn new(t: &'a TransferResult) -> Self {
        TransferJson {
            file: &t.file,
            server: t.server,
            result: t.status.label(),
            error_code: t.error_code,
            requests: t.requests,
            protocol: if t.http.is_some() { "http" } else { "tftp" },
            http: t.http.as_ref().map(|h| HttpJson {
                method: h.method,
                url: &h.url,
                status: h.status,
                bytes: h.bytes,
                content_length: h.content_length,
                duration_seconds: h.duration_ns as f64 / 1e9,
                stage: Fetcher::from_user_agent(h.user_agent.as_deref(), None).label(),
                user_agent: h.user_agent.as_deref(),
            }),
        }
    }
}

impl<'a> SessionJson<'a> {
    pub fn new(v: &'a Verdict) -> Self {
        SessionJson {
            client_mac: mac_text(v.client_mac),
            outcome: v.outcome.label(),
            code: v.code.map(|c| c.label()),
            server: v.server.map(|s| s.to_string()),
            boot_file: v.boot_file.as_deref(),
            cause: v.cause.as_deref(),
            fix: v.fix.as_deref(),
            console: v.console,
            warnings: v.warnings.iter().map(|w| w.text.as_str()).collect(),
            transfers: v.transfers.iter().map(TransferJson::new).collect(),
            basis: v.basis.label(),
            protocol: v.protocol.map(|p| p.label()),
            attempts: v.attempts.iter().map(|a| AttemptJson::new(a, v)).collect(),
            time_lost_seconds: v.time_lost_ns() as f64 / 1e9,
            first_seen: rfc3339(v.first_seen_ns),
            last_seen: rfc3339(v.last_seen_ns),
        }
    }
}

/// Writes one JSON object per verdict and line.
pub fn write_json(out: &mut impl Write, verdicts: &[Verdict]) -> io::Result<()> {
    for v in verdicts {
        serde_json::to_writer(&mut *out, &SessionJson::new(v))?;
        writeln!(out)?;
    }
    Ok(())
}

/// Human-readable: per client a timeline and the verdict, every string
/// from the wire escaped.
pub fn write_text(out: &mut impl Write, verdicts: &[Verdict]) -> io::Result<()> {
    if verdicts.is_empty() {
        writeln!(out, "no PXE client in the input")?;
    }
    for v in verdicts {
        let outcome = match v.outcome {
            Outcome::Booted => "BOOTED".to_owned(),
            Outcome::Failed => format!("FAILED {}", v.code.map_or("", |c| c.label())),
            Outcome::Unfinished => "UNFINISHED".to_owned(),
            Outcome::Unknown => "UNKNOWN".to_owned(),
            Outcome::TftpOnly => "TFTP ONLY (not a PXE boot)".to_owned(),
            Outcome::Flood => "FLOOD (one DISCOVER during a DHCP flood)".to_owned(),
        };
        let file = v
            .boot_file
            .as_deref()
            .map_or(String::new(), |f| format!("  boot file {f:?}"));
        let server = v.server.map_or(String::new(), |s| format!("  server {s}"));
        let line = format!("{}  {outcome}{server}{file}", mac_text(v.client_mac));
        writeln!(out, "{}", escape(&line))?;
        writeln!(
            out,
            "  first seen {}, last seen {}",
            rfc3339(v.first_seen_ns),
            rfc3339(v.last_seen_ns)
        )?;
        if v.basis == crate::verdict::Basis::TftpAlone && v.outcome != Outcome::TftpOnly {
            writeln!(
                out,
                "  inferred from TFTP alone: no DHCP exchange of this client was seen here"
            )?;
        }
        for (t, what) in &v.timeline {
            writeln!(out, "  {:>8.3}s  {}", *t as f64 / 1e9, escape(what))?;
        }
        if v.outcome == Outcome::TftpOnly {
            for t in &v.transfers {
                let code = t.error_code.map_or(String::new(), |c| format!(" {c}"));
                let line = format!(
                    "  transfer {:?} from {}: {}{code}",
                    t.file,
                    t.server,
                    t.status.label()
                );
                writeln!(out, "{}", escape(&line))?;
            }
        }
        if let Some(c) = &v.cause {
            writeln!(out, "  cause: {}", escape(c))?;
        }
        for a in &v.attempts {
            writeln!(out, "  {}", escape(&attempt_text(a, v)))?;
        }
        if let Some(f) = &v.fix {
            writeln!(out, "  fix:   {}", escape(f))?;
        }
        if let Some(c) = v.console {
            writeln!(out, "  the client's UEFI firmware shows: {c}")?;
        }
        for w in &v.warnings {
            writeln!(out, "  warning: {}", escape(&w.text))?;
        }
        writeln!(out)?;
    }
    Ok(())
}

fn is_before(a: &Attempt, v: &Verdict) -> bool {
    a.first_seen_ns < v.attempt_started_ns
}

/// Another attempt in a few words: "61.0 s lost in PXE over IPv6
/// (PXE-E51): no DHCPv6 server answered ..." before the verdict's, "then
/// HTTP Boot over IPv4 (unfinished, 0.3 s): ..." after it.
pub fn attempt_text(a: &Attempt, v: &Verdict) -> String {
    let how = a.code.map_or(a.outcome.label(), |c| c.label());
    let cause = a
        .cause
        .as_deref()
        .map_or(String::new(), |c| format!(": {c}"));
    let secs = a.duration_ns() as f64 / 1e9;
    if is_before(a, v) {
        format!("{secs:.1} s lost in {} ({how}){cause}", a.protocol.text())
    } else {
        format!("then {} ({how}, {secs:.1} s){cause}", a.protocol.text())
    }
}

/// One structured log line per session (strings from the wire escaped).
pub fn log_verdict(v: &Verdict) {
    let warnings: Vec<&str> = v.warnings.iter().map(|w| w.text.as_str()).collect();
    let attempts: Vec<String> = v.attempts.iter().map(|a| attempt_text(a, v)).collect();
    info!(
        client_mac = mac_text(v.client_mac),
        outcome = v.outcome.label(),
        code = v.code.map_or("", |c| c.label()),
        server = v.server.map(|s| s.to_string()).unwrap_or_default(),
        boot_file = %escape(v.boot_file.as_deref().unwrap_or("")),
        cause = %escape(v.cause.as_deref().unwrap_or("")),
        fix = %escape(v.fix.as_deref().unwrap_or("")),
        warnings = %escape(&warnings.join("; ")),
        basis = v.basis.label(),
        protocol = v.protocol.map_or("", |p| p.label()),
        other_attempts = %escape(&attempts.join("; ")),
        "PXE session"
    );
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::verdict::{FailureCode, Outcome};

    /// What the log lines say, in both formats.
    fn logged(json: bool, f: impl FnOnce()) -> String {
        #[derive(Clone, Default)]
        struct Buf(Arc<Mutex<Vec<u8>>>);
        impl io::Write for Buf {
            fn write(&mut self, b: &[u8]) -> io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let buf = Buf::default();
        let writer = {
            let buf = buf.clone();
            move || buf.clone()
        };
        let builder = tracing_subscriber::fmt()
            .with_writer(writer)
            .with_ansi(false);
        if json {
            tracing::subscriber::with_default(builder.json().finish(), f);
        } else {
            tracing::subscriber::with_default(builder.finish(), f);
        }
        String::from_utf8(buf.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn log_lines_escape_strings_from_the_wire() {
        let mut v = Verdict::new(
            [2, 0, 0, 0, 0, 1],
            Outcome::Failed,
            Some(FailureCode::E3B),
            None,
        );
        v.boot_file = Some("\u{1b}[2Jboot\nFAKE LINE".into());
        v.cause = Some("TFTP server said \"\u{1b}]0;title\u{7}\"".into());
        for json in [false, true] {
            let out = logged(json, || log_verdict(&v));
            assert!(!out.contains('\u{1b}') && !out.contains('\u{7}'), "{out}");
            assert_eq!(out.lines().count(), 1, "one line: {out}");
            assert!(out.contains("PXE-E3B"), "{out}");
        }
    }

    #[test]
    fn json_lists_http_fetches_beside_tftp_transfers_with_their_details() {
        use crate::verdict::{HttpTransfer, TransferStatus};
        let mut v = Verdict::new([2, 0, 0, 0, 0, 1], Outcome::Booted, None, None);
        let tftp = TransferResult {
            file: "ipxe.efi".into(),
            server: [10, 0, 0, 1].into(),
            status: TransferStatus::Complete,
            error_code: None,
            requests: 1,
            http: None,
        };
        let http = TransferResult {
            file: "http://10.0.0.1/boot.ipxe".into(),
            error_code: Some(200),
            http: Some(HttpTransfer {
                method: "GET",
                url: "http://10.0.0.1/boot.ipxe".into(),
                status: Some(200),
                bytes: 64,
                content_length: Some(64),
                duration_ns: 250_000_000,
                user_agent: Some("iPXE/1.21.1+".into()),
            }),
            ..tftp.clone()
        };
        v.transfers = vec![tftp, http];
        let mut out = Vec::new();
        write_json(&mut out, &[v]).unwrap();
        // One object per line.
        let j: serde_json::Value = serde_json::from_slice(&out).unwrap();
        let t = &j["transfers"];
        assert_eq!(t[0]["protocol"], "tftp");
        assert!(t[0].get("http").is_none(), "{t}");
        assert_eq!(t[1]["protocol"], "http");
        assert_eq!(t[1]["error_code"], 200);
        let h = &t[1]["http"];
        assert_eq!(
            (
                &h["method"],
                &h["status"],
                &h["bytes"],
                &h["content_length"],
                &h["stage"]
            ),
            (
                &"GET".into(),
                &200.into(),
                &64.into(),
                &64.into(),
                &"ipxe".into()
            ),
            "{h}"
        );
        assert_eq!(h["duration_seconds"], 0.25);
    }
}
