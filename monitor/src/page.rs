//! The landing page at `/`, for people: what this agent is (version, the
//! interfaces it watches), links to `/metrics`, `/api/sessions` and
//! `/healthz` in the manner of Prometheus exporter-toolkit's landing page,
//! and what needs doing: the most recent failed boots with their code,
//! cause and fix, and the servers' warnings that hold now. Readable
//! without Grafana; no script. Every string is HTML-escaped, and those from
//! the wire also have their control characters shown, not sent.

use std::fmt::Write as _;

use crate::{
    diagnosis::server_condition,
    report::SessionJson,
    verdict::{Outcome, Verdict, WarningKind},
};

/// Failed boots shown (the newest).
pub const FAILED_SHOWN: usize = 20;

/// What the page says about the agent itself.
pub struct About {
    pub version: &'static str,
    pub interfaces: Vec<String>,
}

/// The page: `recent` the verdicts kept, newest first (the failed among
/// them shown, at most [`FAILED_SHOWN`]), `warnings` as
/// `ServerMetrics::active` gives them.
pub fn render(about: &About, recent: &[Verdict], warnings: &[(String, WarningKind)]) -> String {
    let mut h = String::with_capacity(8192);
    h.push_str(HEAD);
    let _ = write!(
        h,
        "<h1>pxe-monitor</h1>\n<p>Watches network-boot traffic (DHCP, proxyDHCP, TFTP, HTTP, over \
         IPv4 and IPv6) with eBPF. Version {}; interfaces: {}.</p>\n",
        html(about.version),
        html(&about.interfaces.join(", "))
    );
    h.push_str(
        "<ul class=\"links\">\n\
         <li><a href=\"metrics\">/metrics</a>: Prometheus metrics</li>\n\
         <li><a href=\"api/sessions\">/api/sessions</a>: the recent boots' verdicts (JSON; \
         <a href=\"api/sessions?outcome=failed\">failed only</a>)</li>\n\
         <li><a href=\"healthz\">/healthz</a>: health</li>\n</ul>\n",
    );

    h.push_str("<h2>Server warnings</h2>\n");
    if warnings.is_empty() {
        h.push_str("<p class=\"none\">None: no DHCP server shows a condition that breaks or risks PXE boots.</p>\n");
    } else {
        h.push_str(
            "<table class=\"warnings\">\n<tr><th>server</th><th>condition</th><th>fix</th></tr>\n",
        );
        for (server, kind) in warnings {
            let (what, fix) = server_condition(*kind);
            let _ = writeln!(
                h,
                "<tr><td class=\"server\">{}</td><td>{} <span class=\"kind\">({})</span></td><td>{}</td></tr>",
                wire(server),
                html(what),
                kind.label(),
                html(fix)
            );
        }
        h.push_str("</table>\n");
    }

    let counts: Vec<String> = Outcome::ALL
        .iter()
        .map(|o| (o, recent.iter().filter(|v| v.outcome == *o).count()))
        .filter(|(_, n)| *n > 0)
        .map(|(o, n)| format!("{n} {}", o.label()))
        .collect();
    let failed: Vec<&Verdict> = recent
        .iter()
        .filter(|v| v.outcome == Outcome::Failed)
        .collect();
    let _ = write!(
        h,
        "<h2>Recent failed boots</h2>\n<p class=\"note\">Of the {} recent verdicts kept{}{}; \
         newest first, at most {FAILED_SHOWN}. All are at <a href=\"api/sessions\">/api/sessions</a>.</p>\n",
        recent.len(),
        if counts.is_empty() { "" } else { ": " },
        counts.join(", ")
    );
    if failed.is_empty() {
        h.push_str("<p class=\"none\">None of the recent boots failed.</p>\n");
    }
    for v in failed.into_iter().take(FAILED_SHOWN) {
        failure(&mut h, &SessionJson::new(v));
    }
    h.push_str("</body>\n</html>\n");
    h
}

/// One failed boot: what the firmware said, what went wrong, what to do.
fn failure(h: &mut String, s: &SessionJson<'_>) {
    let code = s.code.unwrap_or("failed");
    let _ = write!(
        h,
        "<div class=\"failure\">\n<h3><span class=\"code\">{}</span> client {} <span class=\"when\">{}</span></h3>\n<dl>\n",
        html(code),
        html(&s.client_mac),
        html(&s.last_seen)
    );
    let mut row = |name: &str, value: &str| {
        let _ = writeln!(h, "<dt>{name}</dt><dd>{value}</dd>");
    };
    if let Some(c) = s.console {
        row("console", &format!("<code>{}</code>", html(c)));
    }
    if let Some(c) = s.cause {
        row("cause", &wire(c));
    }
    if let Some(f) = s.fix {
        row("fix", &wire(f));
    }
    if let Some(server) = &s.server {
        row("server", &html(server));
    }
    if let Some(file) = s.boot_file {
        row("boot file", &format!("<code>{}</code>", wire(file)));
    }
    if let Some(p) = s.protocol {
        row("boot option", p);
    }
    for a in &s.attempts {
        let how = a.code.unwrap_or(a.outcome);
        row(
            "other attempt",
            &format!(
                "{} {} {} ({:.0} s){}",
                a.when,
                a.protocol,
                html(how),
                a.seconds,
                a.cause.map_or(String::new(), |c| format!(": {}", wire(c)))
            ),
        );
    }
    for w in &s.warnings {
        row("warning", &wire(w));
    }
    h.push_str("</dl>\n</div>\n");
}

/// A string from the wire (file names, causes that quote them): control
/// and direction characters shown as `\u{..}`, then HTML-escaped.
fn wire(s: &str) -> String {
    html(&crate::event::escape(s))
}

/// HTML-escaped, for text and quoted attribute values.
fn html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const HEAD: &str = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
<title>pxe-monitor</title>\n<style>\n\
body { font-family: sans-serif; margin: 2em auto; max-width: 60em; padding: 0 1em; color: #222; }\n\
h1 { margin-bottom: 0.2em; }\n\
table { border-collapse: collapse; width: 100%; }\n\
th, td { border: 1px solid #ccc; padding: 0.3em 0.5em; text-align: left; vertical-align: top; }\n\
.failure { border-left: 4px solid #c0392b; padding: 0.2em 1em; margin: 1em 0; background: #fdf3f2; }\n\
.failure h3 { margin: 0.4em 0; font-size: 1.05em; }\n\
.code { color: #c0392b; font-family: monospace; }\n\
.when, .kind, .note { color: #666; font-weight: normal; font-size: 0.9em; }\n\
dl { display: grid; grid-template-columns: 9em 1fr; gap: 0.2em 1em; margin: 0.5em 0; }\n\
dt { color: #555; }\n\
dd { margin: 0; }\n\
.none { color: #27ae60; }\n\
</style>\n</head>\n<body>\n";

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::verdict::FailureCode;

    fn e55() -> Verdict {
        let mut v = Verdict::new(
            [0x52, 0x54, 0, 0x77, 0, 0x0b],
            Outcome::Failed,
            Some(FailureCode::E55),
            Some(Ipv4Addr::new(10, 77, 10, 1).into()),
        );
        v.cause = Some("nothing answers on 10.77.10.1:4011 (Microsoft KB 259670)".into());
        v.fix = Some("remove options 60, 66 and 67".into());
        v.console = Some("PXE-E16: No valid offer received.");
        v.boot_file = Some("<script>alert(1)</script>\u{1b}[2J.efi".into());
        v
    }

    #[test]
    fn a_failure_shows_code_cause_fix_and_console_with_wire_strings_escaped() {
        let about = About {
            version: "0.1.0",
            interfaces: vec!["eth1".into()],
        };
        let page = render(
            &about,
            &[e55()],
            &[("10.77.10.1".into(), WarningKind::Option60OnDhcpServer)],
        );
        for want in [
            "PXE-E55",
            "client 52:54:00:77:00:0b",
            "Microsoft KB 259670",
            "remove options 60, 66 and 67",
            "PXE-E16: No valid offer received.",
            "<td class=\"server\">10.77.10.1</td>",
            "option60_on_dhcp_server",
            "interfaces: eth1",
            "href=\"metrics\"",
        ] {
            assert!(page.contains(want), "{want:?} missing:\n{page}");
        }
        assert!(!page.contains("<script>"), "{page}");
        assert!(
            page.contains("&lt;script&gt;alert(1)&lt;/script&gt;\\u{1b}[2J.efi"),
            "{page}"
        );
        assert!(!page.contains('\u{1b}'));
    }

    #[test]
    fn nothing_to_do_says_so_and_the_list_is_bounded() {
        let about = About {
            version: "0.1.0",
            interfaces: vec!["eth1".into()],
        };
        let page = render(&about, &[], &[]);
        assert!(page.contains("None of the recent boots failed."));
        let booted = Verdict::new([0; 6], Outcome::Booted, None, None);
        let page = render(&about, &[booted.clone(), e55(), booted], &[]);
        assert!(
            page.contains("Of the 3 recent verdicts kept: 2 booted, 1 failed"),
            "{page}"
        );
        assert!(page.contains("no DHCP server shows a condition"));
        let many = vec![e55(); FAILED_SHOWN + 5];
        let page = render(&about, &many, &[]);
        assert_eq!(page.matches("class=\"failure\"").count(), FAILED_SHOWN);
    }
}
