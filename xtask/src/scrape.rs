//! A tiny HTTP client and Prometheus text parser, enough to read
//! pxe-monitor's /metrics from the demo and the end-to-end test.

use std::{
    collections::BTreeMap,
    io::{Read as _, Write as _},
    net::{SocketAddr, TcpStream},
    time::Duration,
};

use anyhow::{Context as _, Result, bail};

/// GET `path` from `addr`; the body on status 200.
pub fn get(addr: SocketAddr, path: &str) -> Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .with_context(|| format!("connecting to {addr}"))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut resp = String::new();
    s.read_to_string(&mut resp)?;
    let (head, body) = resp
        .split_once("\r\n\r\n")
        .context("malformed HTTP response")?;
    let status = head.lines().next().unwrap_or_default();
    if !status.contains(" 200 ") {
        let body: String = body.chars().take(300).collect();
        bail!("GET {path}: {status} {body}");
    }
    Ok(body.to_owned())
}

/// One sample of the text exposition format.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

pub fn parse(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let value: f64 = value.parse().ok()?;
            let (name, labels) = match series.split_once('{') {
                Some((n, rest)) => (n, parse_labels(rest.strip_suffix('}')?)),
                None => (series, BTreeMap::new()),
            };
            Some(Sample {
                name: name.to_owned(),
                labels,
                value,
            })
        })
        .collect()
}

fn parse_labels(s: &str) -> BTreeMap<String, String> {
    // Label values here never contain '",' sequences.
    s.split("\",")
        .filter_map(|kv| {
            let (k, v) = kv.split_once("=\"")?;
            Some((k.to_owned(), v.trim_end_matches('"').to_owned()))
        })
        .collect()
}

/// Sum of `name` over samples whose labels include every pair in `want`.
pub fn sum(samples: &[Sample], name: &str, want: &[(&str, &str)]) -> u64 {
    samples
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| {
            want.iter()
                .all(|(k, v)| s.labels.get(*k).is_some_and(|x| x == v))
        })
        .map(|s| s.value as u64)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_sums() {
        let text = "# HELP x y\n# TYPE x counter\n\
            pxe_dhcp_messages_total{interface=\"srv0\",direction=\"ingress\",type=\"discover\"} 2\n\
            pxe_dhcp_messages_total{interface=\"srv0\",direction=\"egress\",type=\"discover\"} 0\n\
            pxe_dhcp_messages_total{interface=\"eth1\",direction=\"ingress\",type=\"discover\"} 3\n\
            pxe_monitor_build_info{version=\"0.1.0\"} 1\n";
        let s = parse(text);
        assert_eq!(s.len(), 4);
        assert_eq!(
            sum(&s, "pxe_dhcp_messages_total", &[("type", "discover")]),
            5
        );
        assert_eq!(
            sum(
                &s,
                "pxe_dhcp_messages_total",
                &[("interface", "srv0"), ("direction", "ingress")]
            ),
            2
        );
        assert_eq!(s[3].labels["version"], "0.1.0");
    }
}
