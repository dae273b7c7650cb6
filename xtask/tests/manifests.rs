//! The Kubernetes manifests (deploy/kubernetes/): they pass the Kubernetes
//! schemas, strictly (unknown fields are errors), for the oldest and the
//! newest version the validator ships; and they agree with each other, with
//! the Containerfile and with the real pxe-monitor: the image is the one
//! `cargo xtask container` tags, the args (with the ConfigMap and the pod's
//! address put in, as the kubelet does) parse as `pxe-monitor` parses them,
//! the ports, probes, selectors and Prometheus discovery point at the same
//! place. The ServiceMonitor's CRD schema is not in the validator: its
//! agreement with the Service is checked here instead.
//!
//! Needs the validator `cargo xtask setup` installs and, for the flags, the
//! binary in PXE_MONITOR_BIN (`cargo xtask test` sets it). Without them the
//! tests say they are skipped; with CI=true they fail instead.

use std::{collections::BTreeMap, path::PathBuf, process::Command};

use serde_json::Value;
use xtask::{container, manifests, testing::skip_or_fail};

fn validator_ready() -> bool {
    if manifests::validator_installed().is_none() {
        skip_or_fail(&format!(
            "kubernetes-validate {} is not installed in {} (run `cargo xtask setup`)",
            manifests::VALIDATOR_VERSION,
            manifests::validator().display()
        ));
        return false;
    }
    true
}

fn daemonset_file() -> PathBuf {
    manifests::dir().join("pxe-monitor.yaml")
}

fn output_text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn manifests_pass_the_kubernetes_schemas() {
    if !validator_ready() {
        return;
    }
    for version in manifests::KUBERNETES_VERSIONS {
        let out = manifests::validate(&daemonset_file(), version).unwrap();
        let text = output_text(&out);
        assert!(out.status.success(), "Kubernetes {version}:\n{text}");
        for resource in [
            "namespace/pxe-monitor",
            "configmap/pxe-monitor",
            "daemonset/pxe-monitor",
            "service/pxe-monitor",
        ] {
            assert!(
                text.contains(&format!("passed for resource {resource}")),
                "{resource} not validated against {version}:\n{text}"
            );
        }
    }
    // Strict: a misspelt field is an error, not silently dropped (as the
    // API server would drop it with a warning, and the pod would run
    // without the host network).
    let good = std::fs::read_to_string(daemonset_file()).unwrap();
    let bad = good.replacen("hostNetwork: true", "hostNetwrk: true", 1);
    assert_ne!(good, bad);
    let bad_file =
        std::env::temp_dir().join(format!("pxe-monitor-bad-{}.yaml", std::process::id()));
    std::fs::write(&bad_file, bad).unwrap();
    let out = manifests::validate(&bad_file, "1.37.0").unwrap();
    std::fs::remove_file(&bad_file).ok();
    let text = output_text(&out);
    assert!(
        !out.status.success() && text.contains("'hostNetwrk' was unexpected"),
        "{text}"
    );
    // The ServiceMonitor is a CRD the validator has no schema for: it says
    // so and checks nothing (its agreement with the Service is checked in
    // the next test). Should a version ship the schema, this fails, and
    // the file belongs in the loop above.
    let out = manifests::validate(&manifests::dir().join("servicemonitor.yaml"), "1.37.0").unwrap();
    let text = output_text(&out);
    assert!(
        text.contains("Couldn't find schema for kind ServiceMonitor"),
        "{text}"
    );
}

/// `labels` holds every pair of `selector`.
fn selects(selector: &Value, labels: &Value) -> bool {
    let sel = selector.as_object().expect("a selector object");
    !sel.is_empty() && sel.iter().all(|(k, v)| labels[k] == *v)
}

#[test]
fn manifests_agree_with_the_image_the_flags_and_each_other() {
    if !validator_ready() {
        return;
    }
    let docs = manifests::documents(&daemonset_file()).unwrap();
    let ns = manifests::one(&docs, "Namespace").unwrap();
    let cm = manifests::one(&docs, "ConfigMap").unwrap();
    let ds = manifests::one(&docs, "DaemonSet").unwrap();
    let svc = manifests::one(&docs, "Service").unwrap();
    let namespace = &ns["metadata"]["name"];
    for d in [cm, ds, svc] {
        assert_eq!(d["metadata"]["namespace"], *namespace, "{}", d["kind"]);
    }
    let pod = &ds["spec"]["template"];
    let spec = &pod["spec"];
    let labels = &pod["metadata"]["labels"];
    assert!(selects(&ds["spec"]["selector"]["matchLabels"], labels));
    let containers = spec["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 1);
    let c = &containers[0];

    // The image `cargo xtask container` builds, started at its ENTRYPOINT.
    assert_eq!(c["image"], container::image_tag());
    assert!(c["command"].is_null(), "the image's ENTRYPOINT runs");
    let containerfile =
        std::fs::read_to_string(container::source_dir().join("Containerfile")).unwrap();
    assert!(
        containerfile
            .lines()
            .any(|l| l == format!("ENTRYPOINT [\"{}\"]", container::IMAGE_BINARY)),
        "Containerfile's ENTRYPOINT is not {}",
        container::IMAGE_BINARY
    );
    assert!(containerfile.contains(&format!("COPY pxe-monitor {}", container::IMAGE_BINARY)));

    // Each variable of the args is set, as the kubelet would set it: the
    // ConfigMap's values, the pod's (the node's) address.
    let pod_ip = "192.0.2.10";
    let mut env = BTreeMap::new();
    for e in c["env"].as_array().unwrap() {
        let name = e["name"].as_str().unwrap().to_owned();
        let from = &e["valueFrom"];
        let value = if let Some(key) = from["configMapKeyRef"]["key"].as_str() {
            assert_eq!(from["configMapKeyRef"]["name"], cm["metadata"]["name"]);
            let v = &cm["data"][key];
            assert!(
                v.is_string() || from["configMapKeyRef"]["optional"] == true,
                "env {name}: no key {key} in the ConfigMap"
            );
            v.as_str().unwrap_or_default().to_owned()
        } else if from["fieldRef"]["fieldPath"] == "status.podIP" {
            pod_ip.to_owned()
        } else {
            e["value"].as_str().expect("a value").to_owned()
        };
        env.insert(name, value);
    }
    let args: Vec<String> = c["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let mut a = a.as_str().unwrap().to_owned();
            while let Some(start) = a.find("$(") {
                let end = start + a[start..].find(')').expect("closing )");
                let var = &a[start + 2..end];
                let value = env
                    .get(var)
                    .unwrap_or_else(|| panic!("$({var}) is not set in env"));
                a.replace_range(start..=end, value);
            }
            a
        })
        .collect();
    assert_eq!(args[0], "run");
    let interface = cm["data"]["interface"].as_str().unwrap();
    assert!(
        args.contains(&format!("--interface={interface}")),
        "{args:?}"
    );
    let port = c["ports"][0]["containerPort"].as_u64().unwrap();
    assert_eq!(c["ports"][0]["name"], "metrics");
    assert!(
        args.contains(&format!("--listen={pod_ip}:{port}")),
        "listen on the pod's address and the container port: {args:?}"
    );

    // The real pxe-monitor parses them (flags and values; --help stops it
    // before anything is attached).
    match std::env::var_os("PXE_MONITOR_BIN") {
        None => skip_or_fail("PXE_MONITOR_BIN is not set (run through `cargo xtask test`)"),
        Some(bin) => {
            let out = Command::new(bin)
                .args(&args)
                .arg("--help")
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "pxe-monitor {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    // Probes at /healthz on that port; the node's network, least privilege.
    for probe in ["startupProbe", "readinessProbe", "livenessProbe"] {
        assert_eq!(c[probe]["httpGet"]["path"], "/healthz", "{probe}");
        assert_eq!(c[probe]["httpGet"]["port"], "metrics", "{probe}");
    }
    assert_eq!(spec["hostNetwork"], true);
    assert_eq!(spec["dnsPolicy"], "ClusterFirstWithHostNet");
    assert_eq!(spec["automountServiceAccountToken"], false);
    assert!(spec["volumes"].is_null(), "no host paths are mounted");
    let sc = &c["securityContext"];
    assert_eq!(sc["privileged"], false);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["seccompProfile"]["type"], "RuntimeDefault");
    assert_eq!(sc["capabilities"]["drop"], serde_json::json!(["ALL"]));
    let mut added: Vec<&str> = sc["capabilities"]["add"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    added.sort_unstable();
    assert_eq!(added, ["BPF", "NET_ADMIN", "PERFMON", "SETGID", "SETUID"]);
    assert!(c["resources"]["limits"]["memory"].is_string());
    assert!(c["resources"]["requests"]["memory"].is_string());

    // The headless Service selects the pods, and its annotations send
    // Prometheus to the same port and path.
    assert_eq!(svc["spec"]["clusterIP"], "None");
    assert!(selects(&svc["spec"]["selector"], labels));
    let svc_port = &svc["spec"]["ports"][0];
    assert_eq!(svc_port["port"].as_u64(), Some(port));
    assert_eq!(svc_port["targetPort"], "metrics");
    let annotations = &svc["metadata"]["annotations"];
    assert_eq!(annotations["prometheus.io/scrape"], "true");
    assert_eq!(annotations["prometheus.io/port"], port.to_string());
    assert_eq!(annotations["prometheus.io/path"], "/metrics");

    // The ServiceMonitor selects that Service, in its namespace, by its
    // port's name, at the same path.
    let sm_docs = manifests::documents(&manifests::dir().join("servicemonitor.yaml")).unwrap();
    let sm = manifests::one(&sm_docs, "ServiceMonitor").unwrap();
    assert_eq!(sm["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(sm["metadata"]["namespace"], *namespace);
    assert!(selects(
        &sm["spec"]["selector"]["matchLabels"],
        &svc["metadata"]["labels"]
    ));
    assert!(
        sm["spec"]["namespaceSelector"]["matchNames"]
            .as_array()
            .unwrap()
            .contains(namespace)
    );
    let endpoint = &sm["spec"]["endpoints"][0];
    assert_eq!(endpoint["port"], svc_port["name"]);
    assert_eq!(endpoint["path"], annotations["prometheus.io/path"]);
}
