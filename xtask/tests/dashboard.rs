//! The Grafana dashboard is importable and provisionable: valid JSON, a fixed
//! uid, a datasource input and variable, `job` and `instance` variables,
//! every panel querying through them, and every query valid PromQL (parsed
//! by promtool). (That every metric it names is exported, and that the
//! queries return data, is checked against a live agent and a real
//! Prometheus in the end-to-end tests.)

use serde_json::Value;

fn dashboard() -> Value {
    let path = xtask::agent::workspace_root().join("dashboards/grafana/pxe-monitor.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).expect("valid JSON")
}

#[test]
fn importable_and_provisionable() {
    let d = dashboard();
    assert_eq!(
        d["uid"], "pxe-monitor",
        "a fixed uid, so links and provisioning stay stable"
    );
    assert_eq!(d["__inputs"][0]["pluginId"], "prometheus");
    let vars: Vec<&str> = d["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(vars, ["datasource", "job", "instance"]);
}

#[test]
fn every_panel_queries_through_the_variables() {
    let d = dashboard();
    let panels = d["panels"].as_array().unwrap();
    assert!(panels.len() >= 10);
    let titles: Vec<&str> = panels
        .iter()
        .map(|p| p["title"].as_str().unwrap())
        .collect();
    for wanted in [
        "Boot success ratio",
        "Boot failures by firmware code",
        "DHCP messages by type and direction",
        "Active sessions",
        "Events lost",
        "DHCP offer latency",
        "TFTP throughput",
        "TFTP transfer time",
        "Offers by DHCP server",
        "Server warnings (by server)",
    ] {
        assert!(
            titles.contains(&wanted),
            "panel {wanted:?} missing: {titles:?}"
        );
    }
    for p in panels {
        assert_eq!(p["datasource"]["uid"], "${datasource}", "{}", p["title"]);
        let targets = p["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{}", p["title"]);
        for t in targets {
            let expr = t["expr"].as_str().unwrap();
            assert!(expr.contains("pxe_"), "{}: {expr}", p["title"]);
            assert!(
                expr.contains(r#"job=~"$job""#) && expr.contains(r#"instance=~"$instance""#),
                "{}: {expr}",
                p["title"]
            );
            // Balanced brackets: a cheap guard against a broken expression.
            for (open, close) in [('(', ')'), ('{', '}'), ('[', ']')] {
                assert_eq!(
                    expr.matches(open).count(),
                    expr.matches(close).count(),
                    "{}: {expr}",
                    p["title"]
                );
            }
        }
    }
}

#[test]
fn every_panel_query_is_valid_promql() {
    // promtool parses the expressions of recording rules offline: one rule
    // per panel query.
    let Ok(out) = std::process::Command::new("promtool")
        .arg("--version")
        .output()
    else {
        return xtask::testing::skip_or_fail(
            "promtool is not installed (cargo xtask setup installs it)",
        );
    };
    assert!(out.status.success());
    // Grafana's interval variables replaced by a duration (`$job` and
    // `$instance` sit inside regex matchers and stay as they are).
    let queries = xtask::testing::panel_queries(&[
        ("$__rate_interval", "5m"),
        ("$__range", "1h"),
        ("$__interval", "1m"),
    ]);
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, (_, expr)) in queries.iter().enumerate() {
        rules.push_str(&format!(
            "      - record: dashboard:query_{i}\n        expr: {}\n",
            serde_json::to_string(expr).unwrap()
        ));
    }
    let dir = std::env::temp_dir().join(format!("pxe-dashboard-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("queries.yml");
    std::fs::write(&file, rules).unwrap();
    let out = std::process::Command::new("promtool")
        .args(["check", "rules"])
        .arg(&file)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "promtool rejects a panel query: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(queries.len() >= 20, "{} queries", queries.len());
}

#[test]
fn every_alert_rule_has_a_firing_and_a_quiet_unit_test() {
    let dir = xtask::agent::workspace_root().join("dashboards/prometheus");
    let rules = std::fs::read_to_string(dir.join("alerts.yml")).unwrap();
    let tests = std::fs::read_to_string(dir.join("tests/alerts_test.yml")).unwrap();
    let names: Vec<&str> = rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert: "))
        .collect();
    assert!(names.len() >= 8, "{names:?}");
    let lines: Vec<&str> = tests.lines().map(str::trim).collect();
    for name in names {
        let cases: Vec<&str> = lines
            .windows(2)
            .filter(|w| w[0] == format!("alertname: {name}"))
            .map(|w| w[1])
            .collect();
        assert!(
            cases.contains(&"exp_alerts: []"),
            "{name}: no promtool test where it stays quiet"
        );
        assert!(
            cases.contains(&"exp_alerts:"),
            "{name}: no promtool test where it fires"
        );
    }
}
