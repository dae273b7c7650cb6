//! End to end with real components, the way an on-call engineer meets the
//! Microsoft KB 259670 change:
//!
//! 1. the lab's dnsmasq serves the segment and machine A boots (real iPXE);
//! 2. the change: isc-dhcp-server with option 60 `PXEClient`, 66 and 67 and
//!    no proxyDHCP takes over, and machine B fails ("Nothing to boot");
//! 3. a real Prometheus (the Debian package, on loopback, its own temp dir)
//!    scrapes pxe-monitor every second with the shipped alert rules and
//!    routes them to a real Alertmanager (the Debian package, on loopback,
//!    behind TLS and basic auth, under a route prefix), where pxe-monitor
//!    delivers its own failure-spike alert too, over https with basic auth.
//!
//! Checked through Prometheus's HTTP API: `pxe_boot_failures_total{code=
//! "PXE-E55"}` goes from 0 to 1, PxeProxyDhcpNotAnswering fires with the
//! fix and is the only alert firing, and every dashboard panel's query
//! returns data (panels that need a scenario this test does not run are
//! listed with it). Through Alertmanager's API: PxeProxyDhcpNotAnswering
//! arrives with its KB 259670 description, and the agent's
//! PxeBootFailureSpike with the diagnosis, and nothing else.
//!
//! The rules are the shipped file with each `for:` shortened to 2 s so the
//! test does not wait a quarter of an hour; the promtool unit tests
//! (`dashboards/prometheus/tests`) hold the real `for` timings.
//!
//! Needs root, Prometheus, Alertmanager, isc-dhcp-server, openssl, curl
//! and the binary in PXE_MONITOR_BIN (`cargo xtask test` installs and sets
//! them). Without them the test says it is skipped; with CI=true it fails
//! instead.

use std::time::{Duration, Instant};

use serde_json::Value;
use xtask::{
    agent::{self, Agent},
    alertmanager::{self, Alertmanager},
    lab::{self, Lab, Servers},
    pki::Pki,
    prom::Prometheus,
    scrape,
    testing::wait_for,
};

const MAC_A: &str = "52:54:00:77:00:0a";
const MAC_B: &str = "52:54:00:77:00:0b";

/// The values of an instant query's samples.
fn values(result: &[Value]) -> Vec<f64> {
    result
        .iter()
        .filter_map(|s| s["value"][1].as_str()?.parse().ok())
        .collect()
}

/// What a panel should show after this scenario.
enum Expect {
    /// At least one finite, non-zero value.
    Data,
    /// Series, all at zero here: the reason (the scenario that fills it).
    ZeroHere(&'static str),
}

fn expectation(title: &str) -> Expect {
    use Expect::*;
    match title {
        "Events lost" => ZeroHere("nothing is lost at lab rates; the boot storm fills it"),
        "TFTP errors by code and sender" => {
            ZeroHere("needs the boot-file-missing scenario (TFTP ERROR 1, PXE-E3B)")
        }
        "Session warnings by kind" => ZeroHere(
            "needs a boot that succeeds despite a warning (two DHCP servers, option 60 with next-server)",
        ),
        "DHCPv6 messages by type and direction" => {
            ZeroHere("the boots here are over IPv4; a PXE boot over IPv6 fills it")
        }
        "Time lost in failed attempts before booting" => ZeroHere(
            "the boots here booted at their first attempt; OVMF's fallback chain (e2e fallback-chain) fills it",
        ),
        "Parse errors" => {
            ZeroHere("the lab's frames are well-formed; the differential tests feed malformed ones")
        }
        "Boot success ratio"
        | "Sessions decided"
        | "Active sessions"
        | "Boot failures by firmware code"
        | "Boot duration (DISCOVER to last block)"
        | "DHCP messages by type and direction"
        | "DHCP offer latency"
        | "Offers by DHCP server"
        | "Server warnings (by server)"
        | "TFTP throughput"
        | "TFTP transfer time"
        | "TFTP packets by opcode"
        | "ICMP port unreachable about PXE ports"
        | "Traffic by class"
        | "Programs attached"
        | "HTTP fetches by stage and status"
        | "HTTP throughput"
        | "HTTP transfer time"
        | "HTTP segments by kind"
        | "Boot attempts by protocol and outcome" => Data,
        other => panic!("dashboard panel {other:?} has no expectation in this test: add one"),
    }
}

/// Escapes the regex metacharacters of an `ADDR:PORT` (its dots), as Grafana
/// does for a variable in a `=~` matcher, in PromQL string syntax.
fn regex_escape(s: &str) -> String {
    s.replace('.', r"\\.")
}

#[test]
fn kb259670_change_pages_once_with_the_fix_and_every_panel_has_data() {
    let Some(bin) = xtask::testing::lab_prerequisites() else {
        return;
    };
    for (prog, package) in [
        ("prometheus", "prometheus"),
        (alertmanager::BINARY, "prometheus-alertmanager"),
        ("dhcpd", "isc-dhcp-server"),
        ("openssl", "openssl"),
        ("curl", "curl"),
    ] {
        let found = ["/usr/bin", "/usr/sbin", "/bin", "/sbin"]
            .iter()
            .any(|d| std::path::Path::new(d).join(prog).exists());
        if !found {
            return xtask::testing::skip_or_fail(&format!(
                "{prog} is not installed (package {package}; cargo xtask setup installs it)"
            ));
        }
    }
    let state = std::env::temp_dir().join(format!("pxe-monitor-e2e-prom-{}", std::process::id()));
    // Dropped in reverse order on panic: Prometheus, agent, Alertmanager,
    // lab. dnsmasq hands machine A an iPXE script over TFTP that chains a
    // file over HTTP: the TFTP and the HTTP panels both get data.
    let mut lab = Lab::up_with(&state.join("lab"), 0, Servers::HttpChain).expect("lab up");

    // Alertmanager behind TLS (the test CA's certificate) and basic auth,
    // a user for Prometheus and one for the agent, under a route prefix.
    let setup = Instant::now();
    let pki = Pki::create(&state.join("pki")).expect("test PKI");
    let secrets = state.join("secrets");
    std::fs::create_dir_all(&secrets).unwrap();
    let (prom_password, agent_password) = ("prometheus-secret", "pxe-monitor-secret");
    std::fs::write(secrets.join("prometheus"), prom_password).unwrap();
    std::fs::write(secrets.join("pxe-monitor"), format!("{agent_password}\n")).unwrap();
    let am = Alertmanager::start(
        &state.join("alertmanager"),
        alertmanager::Options {
            tls: Some(pki.clone()),
            verify_client_certs: false,
            users: vec![
                ("prometheus".into(), prom_password.into()),
                ("pxe-monitor".into(), agent_password.into()),
            ],
            route_prefix: Some("/alertmanager".into()),
        },
    )
    .expect("alertmanager");
    println!(
        "Alertmanager: test PKI, web config and start-up took {:?} (ready {:?} after its start)",
        setup.elapsed(),
        am.startup
    );
    // The agent's file, as an operator writes it.
    let agent_config = state.join("agent-alertmanager.yml");
    std::fs::write(
        &agent_config,
        format!(
            "basic_auth:\n  username: pxe-monitor\n  password_file: {}\n\
             tls_config:\n  ca_file: {}\n",
            secrets.join("pxe-monitor").display(),
            pki.ca_cert.display()
        ),
    )
    .unwrap();
    let listen = agent::free_port().unwrap();
    let agent_log = state.join("pxe-monitor.log");
    let mut agent = Agent::start_logged(
        &bin,
        lab::SERVER_NS,
        lab::SERVER_IF,
        listen,
        &[
            "--alertmanager-url",
            &am.url(),
            "--alertmanager-config",
            &agent_config.display().to_string(),
            // Two boots decide here, one of them failed: a spike.
            "--alert-min-sessions",
            "2",
            "--alert-failure-ratio",
            "0.5",
        ],
        &agent_log,
    )
    .expect("pxe-monitor");

    let prom_dir = state.join("prometheus");
    std::fs::create_dir_all(&prom_dir).unwrap();
    let rules =
        std::fs::read_to_string(agent::workspace_root().join("dashboards/prometheus/alerts.yml"))
            .unwrap();
    let mut shortened = 0;
    let rules: String = rules
        .lines()
        .map(|l| match l.trim_start().strip_prefix("for: ") {
            Some(_) => {
                shortened += 1;
                format!("{}for: 2s\n", &l[..l.len() - l.trim_start().len()])
            }
            None => format!("{l}\n"),
        })
        .collect();
    assert!(shortened >= 8, "every rule has a `for`");
    std::fs::write(prom_dir.join("alerts.yml"), rules).unwrap();
    // The shipped rules routed to Alertmanager, as the README says:
    // https, its CA, Prometheus's own user, the route prefix.
    let config = format!(
        "global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - alerts.yml
alerting:
  alertmanagers:
    - scheme: https
      path_prefix: /alertmanager
      basic_auth:
        username: prometheus
        password_file: {password}
      tls_config:
        ca_file: {ca}
      static_configs:
        - targets: ['{am}']
scrape_configs:
  - job_name: pxe-monitor
    static_configs:
      - targets: ['{listen}']
",
        password = secrets.join("prometheus").display(),
        ca = pki.ca_cert.display(),
        am = am.addr,
    );
    let mut prom = Prometheus::start(&prom_dir, &config).expect("prometheus");
    let e55 = r#"pxe_boot_failures_total{job="pxe-monitor", code="PXE-E55"}"#;
    // From the first scrape the series exists, at 0: rate() and the alert
    // work from the first failure on.
    let before = wait_for(Duration::from_secs(20), "the first scrape", || {
        let v = values(&prom.query(e55).map_err(|e| e.to_string())?);
        if v.is_empty() {
            Err("no sample yet".into())
        } else {
            Ok(v)
        }
    });
    assert_eq!(before, [0.0], "{e55} before any boot");

    // 1. Machine A boots while dnsmasq serves the segment (TFTP, then HTTP).
    lab.boot_client_as(MAC_A).expect("boot machine A");
    let booted = lab.wait_client(Duration::from_secs(90)).unwrap();
    assert!(
        booted,
        "machine A did not boot: {}",
        lab.serial_log().display()
    );
    lab.stop_client().unwrap();

    // 2. The KB 259670 change, then machine B.
    lab.switch_servers(Servers::IscKb259670)
        .expect("isc-dhcp-server with option 60");
    lab.boot_client_as(MAC_B).expect("boot machine B");
    let booted = lab.wait_client(Duration::from_secs(90)).unwrap();
    let console = std::fs::read_to_string(lab.serial_log()).unwrap_or_default();
    assert!(!booted, "machine B booted despite option 60: {console}");
    assert!(
        console.contains("Nothing to boot"),
        "iPXE's console should say it found nothing to boot: {console}"
    );
    lab.stop_client().unwrap();

    // 3. Prometheus: the failure counted, the alert firing with the fix.
    wait_for(
        Duration::from_secs(30),
        "PXE-E55 counted in Prometheus",
        || {
            let v = values(&prom.query(e55).map_err(|e| e.to_string())?);
            if v == [1.0] {
                Ok(())
            } else {
                Err(format!("{v:?}"))
            }
        },
    );
    let rising = prom
        .query(&format!("increase({e55}[5m]) > 0"))
        .expect("increase query");
    assert_eq!(rising.len(), 1, "increase(PXE-E55) > 0: {rising:?}");
    let firing = wait_for(
        Duration::from_secs(30),
        "PxeProxyDhcpNotAnswering firing",
        || {
            let alerts = prom.alerts().map_err(|e| e.to_string())?;
            let firing: Vec<Value> = alerts
                .iter()
                .filter(|a| a["state"] == "firing")
                .cloned()
                .collect();
            if firing
                .iter()
                .any(|a| a["labels"]["alertname"] == "PxeProxyDhcpNotAnswering")
            {
                Ok(firing)
            } else {
                Err(format!("{alerts:?}"))
            }
        },
    );
    // One page for one change: nothing else fires (PxeDhcpServerSendsOption60
    // stands back while PXE-E55 pages with the same fix).
    let names: Vec<&str> = firing
        .iter()
        .map(|a| a["labels"]["alertname"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["PxeProxyDhcpNotAnswering"], "{firing:?}");
    let alert = &firing[0];
    assert_eq!(alert["labels"]["severity"], "critical");
    assert_eq!(alert["labels"]["code"], "PXE-E55");
    let description = alert["annotations"]["description"].as_str().unwrap();
    assert!(
        description.contains("KB 259670") && description.contains("remove options 60, 66 and 67"),
        "{description}"
    );

    // 4. In Alertmanager: Prometheus's page with the fix, and the agent's
    // own alert with the diagnosis of the failed boot, delivered over https
    // with basic auth; nothing else.
    let waited = Instant::now();
    let in_am = wait_for(
        Duration::from_secs(30),
        "both alerts in Alertmanager",
        || {
            let alerts = am.alerts().map_err(|e| format!("{e:#}"))?;
            let has = |name: &str| alerts.iter().any(|a| a["labels"]["alertname"] == name);
            if has("PxeProxyDhcpNotAnswering") && has("PxeBootFailureSpike") {
                Ok(alerts)
            } else {
                Err(format!("{alerts:?}"))
            }
        },
    );
    println!(
        "both alerts in Alertmanager {:?} after PxeProxyDhcpNotAnswering fired in Prometheus \
         (the agent's fires once both boots are decided)",
        waited.elapsed()
    );
    let mut names: Vec<&str> = in_am
        .iter()
        .filter_map(|a| a["labels"]["alertname"].as_str())
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        ["PxeBootFailureSpike", "PxeProxyDhcpNotAnswering"],
        "{in_am:?}"
    );
    let named = |name: &str| {
        in_am
            .iter()
            .find(|a| a["labels"]["alertname"] == name)
            .unwrap()
    };
    let page = named("PxeProxyDhcpNotAnswering");
    assert_eq!(page["status"]["state"], "active", "{page}");
    assert_eq!(page["labels"]["code"], "PXE-E55");
    let d = page["annotations"]["description"].as_str().unwrap();
    assert!(
        d.contains("KB 259670") && d.contains("remove options 60, 66 and 67"),
        "{d}"
    );
    let spike = named("PxeBootFailureSpike");
    assert_eq!(spike["status"]["state"], "active", "{spike}");
    assert_eq!(spike["labels"]["code"], "PXE-E55");
    assert_eq!(spike["labels"]["server"], lab::SERVER_IP);
    assert_eq!(spike["labels"]["interface"], lab::SERVER_IF);
    let d = spike["annotations"]["description"].as_str().unwrap();
    assert!(d.contains("KB 259670") && d.contains("4011"), "{d}");
    // Prometheus got through on every try; the agent said it delivered,
    // and never wrote its password.
    let notifier = scrape::parse(&scrape::get(prom.addr, "/metrics").unwrap());
    assert!(scrape::sum(&notifier, "prometheus_notifications_sent_total", &[]) >= 1);
    assert_eq!(
        scrape::sum(&notifier, "prometheus_notifications_errors_total", &[]),
        0
    );
    let log = std::fs::read_to_string(&agent_log).unwrap();
    assert!(log.contains("alert delivered to Alertmanager"), "{log}");
    assert!(!log.contains("not delivered"), "{log}");
    assert!(!log.contains(agent_password), "{log}");
    let m = agent.metrics().expect("scrape /metrics");
    assert!(scrape::sum(&m, "pxe_alert_notifications_sent_total", &[]) >= 1);
    assert_eq!(
        scrape::sum(&m, "pxe_alert_notifications_errors_total", &[]),
        0
    );

    // 5. Every dashboard panel's query, as Grafana would send it, once
    // Prometheus has scraped both boots' verdicts (machine A's may be
    // decided after machine B's, when its session times out).
    let decided = r#"sum(pxe_sessions_total{job="pxe-monitor", outcome=~"booted|failed"})"#;
    wait_for(
        Duration::from_secs(30),
        "both verdicts in Prometheus",
        || {
            let v = values(&prom.query(decided).map_err(|e| e.to_string())?);
            if v == [2.0] {
                Ok(())
            } else {
                Err(format!("{v:?}"))
            }
        },
    );
    let mut report = Vec::new();
    // As Grafana sends them for this agent.
    let instance = regex_escape(&listen.to_string());
    let queries = xtask::testing::panel_queries(&[
        ("$job", "pxe-monitor"),
        ("$instance", &instance),
        ("$__rate_interval", "5m"),
        ("$__range", "10m"),
        ("$__interval", "15s"),
    ]);
    for (title, expr) in queries {
        let result = prom
            .query(&expr)
            .unwrap_or_else(|e| panic!("{title}: {expr}: {e:#}"));
        let v = values(&result);
        match expectation(&title) {
            Expect::Data => {
                assert!(
                    v.iter().any(|x| x.is_finite() && *x != 0.0),
                    "panel {title:?} shows no data: {expr} -> {result:?}"
                );
                report.push(format!("  data   {title}: {v:?}"));
            }
            Expect::ZeroHere(why) => {
                assert!(
                    !result.is_empty() && v.iter().all(|x| *x == 0.0),
                    "panel {title:?}: {expr} -> {result:?}"
                );
                report.push(format!("  zero   {title} ({why})"));
            }
        }
    }
    println!(
        "dashboard panels after the scenario:\n{}",
        report.join("\n")
    );

    // The sessions behind it all.
    let sessions: Value =
        serde_json::from_str(&scrape::get(listen, "/api/sessions").unwrap()).unwrap();
    let outcome = |mac: &str| {
        sessions
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["client_mac"] == mac)
            .map(|s| (s["outcome"].clone(), s["code"].clone()))
    };
    assert_eq!(
        outcome(MAC_A),
        Some((Value::from("booted"), Value::Null)),
        "{sessions}"
    );
    assert_eq!(
        outcome(MAC_B),
        Some((Value::from("failed"), Value::from("PXE-E55"))),
        "{sessions}"
    );
    // Machine A's chain over HTTP: the script, the kernel and the initrd,
    // each whole, in the HTTP histograms; its session lists them.
    let www = state.join("lab").join(lab::WEB_ROOT);
    let http_bytes: u64 = [lab::HTTP_STAGE2, lab::HTTP_KERNEL, lab::HTTP_INITRD]
        .iter()
        .map(|f| {
            std::fs::metadata(www.join(f))
                .expect("a file of the chain")
                .len()
        })
        .sum();
    let m = agent.metrics().expect("scrape /metrics");
    assert_eq!(
        scrape::sum(&m, "pxe_http_transfer_bytes_sum", &[]),
        http_bytes,
        "HTTP bytes of the chain's files"
    );
    assert_eq!(scrape::sum(&m, "pxe_http_transfer_bytes_count", &[]), 3);
    // The web server's segments reach TC egress as the veth's TSO hands
    // them over (up to 64 KB each): far fewer than one per 1448-byte MSS,
    // and their payload counted whole.
    let egress = [("interface", lab::SERVER_IF), ("direction", "egress")];
    let data_segments = scrape::sum(
        &m,
        "pxe_http_segments_total",
        &[egress[0], egress[1], ("kind", "data")],
    );
    assert!(
        data_segments > 0 && data_segments * 1448 < http_bytes,
        "{data_segments} data segments for {http_bytes} bytes: no super-packets seen"
    );
    assert!(scrape::sum(&m, "pxe_http_payload_bytes_total", &egress) >= http_bytes);
    assert_eq!(
        scrape::sum(
            &m,
            "pxe_http_fetches_total",
            &[("stage", "ipxe"), ("status", "2xx")]
        ),
        3
    );
    let a = sessions
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["client_mac"] == MAC_A)
        .unwrap();
    let urls: Vec<&str> = a["transfers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["protocol"] == "http")
        .filter_map(|t| t["file"].as_str())
        .collect();
    assert_eq!(
        urls,
        [lab::HTTP_STAGE2, lab::HTTP_KERNEL, lab::HTTP_INITRD]
            .map(|f| format!("http://{}/{f}", lab::SERVER_IP)),
        "{a}"
    );

    // Everything stops and nothing is left behind.
    let prom_pid = prom.pid().unwrap();
    let am_pid = am.pid().unwrap();
    prom.stop();
    drop(am);
    assert!(agent.stop().unwrap().success());
    let pids = lab.pids();
    assert!(pids.iter().any(|(role, _)| *role == "dhcpd"), "{pids:?}");
    lab.down().expect("lab down");
    for (role, pid) in pids
        .into_iter()
        .chain([("prometheus", prom_pid), ("alertmanager", am_pid)])
    {
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "{role} (pid {pid}) left behind"
        );
    }
    let left = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .unwrap();
    let left = String::from_utf8_lossy(&left.stdout);
    assert!(!left.contains("pxe-"), "namespaces left behind: {left}");
    let _ = std::fs::remove_dir_all(&state);
}
