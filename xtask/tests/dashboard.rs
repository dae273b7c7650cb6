//! The Grafana dashboard is importable and provisionable: valid JSON, a fixed
//! uid, a datasource input and variable, `job` and `instance` variables,
//! and every panel querying through them. (That every metric it names is
//! exported is checked against a live /metrics in the end-to-end test.)

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
