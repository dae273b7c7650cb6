//! The container image, run the way the DaemonSet runs it: podman with the
//! manifest's user, capabilities (all dropped, the listed ones added),
//! read-only root, no privilege escalation, seccomp, memory and CPU limits,
//! env and args (the ConfigMap and the pod's address put in, as the kubelet
//! does), in a network namespace the test makes in place of the node's
//! (hostNetwork), with a veth named as the ConfigMap names the interface.
//! It must attach, answer /healthz, count a PXE client's DISCOVERs sent
//! through the veth, run with no more than it was granted, and exit 0 on
//! SIGTERM having detached; and under a seccomp profile that refuses bpf()
//! it must fail naming seccomp, not the capabilities it has.
//!
//! RuntimeDefault is played by podman's own default profile with the rule
//! containerd's and Docker's defaults have and Podman's (containers-common
//! 0.50) lacks: bpf and perf_event_open allowed with CAP_BPF and
//! CAP_PERFMON. runc runs the containers (Debian's crun 1.8 refuses a host
//! with cgroup v1 and v2 mounted side by side, as this VM's); on a host
//! with cgroup v1 their cgroups go under the test's own memory cgroup and
//! are removed afterwards.
//!
//! Needs root, podman, runc, busybox, the image in PXE_MONITOR_IMAGE
//! (`cargo xtask test` builds it and sets it) and the manifests' validator
//! (its PyYAML reads them). Without them the test says it is skipped; with
//! CI=true it fails instead.

use std::{
    path::{Path, PathBuf},
    process::Command,
    thread,
    time::{Duration, Instant},
};

use serde_json::json;
use xtask::{
    container::{self, BpfRule},
    manifests, scrape, sys,
    testing::skip_or_fail,
};

/// The node's address in the test's namespace ($(POD_IP)).
const NODE_IP: &str = "10.251.0.1";

fn prerequisites() -> Option<String> {
    if !sys::is_root() {
        skip_or_fail("running containers with capabilities and network namespaces needs root");
        return None;
    }
    for (prog, package) in [
        ("podman", "podman"),
        ("runc", "runc"),
        ("busybox", "busybox"),
    ] {
        if let Err(e) = sys::find_program(prog, package) {
            skip_or_fail(&e.to_string());
            return None;
        }
    }
    if manifests::validator_installed().is_none() {
        skip_or_fail("the manifests' validator is not installed (run `cargo xtask setup`)");
        return None;
    }
    let image = std::env::var("PXE_MONITOR_IMAGE").ok();
    if image.is_none() {
        skip_or_fail("PXE_MONITOR_IMAGE is not set (run through `cargo xtask test`)");
    }
    image
}

/// What the test made, removed on drop (also on panic): the containers (by
/// name), the namespaces, the cgroup directories podman made, the
/// directory of the seccomp profiles.
struct Cleanup {
    containers: Vec<String>,
    namespaces: Vec<String>,
    cgroups: Vec<PathBuf>,
    dir: Option<PathBuf>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for name in &self.containers {
            let _ = Command::new("podman")
                .args(["rm", "--force", "--time", "5", name])
                .output();
        }
        for ns in &self.namespaces {
            let _ = sys::ip(None, &["netns", "del", ns]);
        }
        // Deepest first; a directory something else uses stays.
        for dir in self.cgroups.iter().rev() {
            let _ = std::fs::remove_dir(dir);
        }
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// On a host with cgroup v1 controllers, a `--cgroup-parent` under the
/// test's own memory cgroup (podman would otherwise make `libpod_parent`
/// at the top of every hierarchy, outside the test's accounting), and the
/// directories that path will add to each hierarchy, for [`Cleanup`]. With
/// cgroup v2 alone, podman's default.
fn cgroup_parent(cleanup: &mut Cleanup) -> Option<String> {
    let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let memory = own.lines().find_map(|l| {
        l.splitn(3, ':')
            .nth(2)
            .filter(|_| l.split(':').nth(1) == Some("memory"))
    })?;
    let parent = format!(
        "{}/pxe-monitor-ctr-{}",
        memory.trim_end_matches('/'),
        std::process::id()
    );
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    for line in mounts.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let Some(dash) = fields.iter().position(|f| *f == "-") else {
            continue;
        };
        if !matches!(fields.get(dash + 1), Some(&"cgroup") | Some(&"cgroup2")) {
            continue;
        }
        let mut dir = PathBuf::from(fields[4]);
        for part in parent.split('/').filter(|p| !p.is_empty()) {
            dir.push(part);
            if !dir.exists() {
                cleanup.cgroups.push(dir.clone());
            }
        }
    }
    Some(parent)
}

/// [`container::CONTAINERS_SECCOMP`] with `rule` for bpf, written to `dir`.
fn seccomp_profile(dir: &Path, rule: BpfRule) -> PathBuf {
    let default = std::fs::read_to_string(container::CONTAINERS_SECCOMP)
        .expect("podman's default seccomp profile");
    let path = dir.join(format!("seccomp-{rule:?}.json"));
    std::fs::write(&path, container::seccomp_with_bpf(&default, rule).unwrap()).unwrap();
    path
}

/// "256Mi" as podman writes it.
fn podman_quantity(q: &str) -> String {
    for (suffix, unit) in [("Ki", "k"), ("Mi", "m"), ("Gi", "g")] {
        if let Some(n) = q.strip_suffix(suffix) {
            return format!("{n}{unit}");
        }
    }
    q.to_owned()
}

fn bytes(q: &str) -> u64 {
    for (suffix, mul) in [("Ki", 1 << 10), ("Mi", 1 << 20), ("Gi", 1 << 30)] {
        if let Some(n) = q.strip_suffix(suffix) {
            return n.parse::<u64>().unwrap() * mul;
        }
    }
    q.parse().unwrap()
}

const CAP_NUMBERS: &[(&str, u32)] = &[
    ("SETGID", 6),
    ("SETUID", 7),
    ("NET_ADMIN", 12),
    ("PERFMON", 38),
    ("BPF", 39),
];

/// The DaemonSet's container as `podman run` options, its env and args
/// resolved as the kubelet resolves them; and the capability mask granted.
struct Translated {
    options: Vec<String>,
    args: Vec<String>,
    granted: u64,
    memory_limit: u64,
    image: String,
    interface: String,
}

fn translate(node_ns: &str, seccomp: &Path) -> Translated {
    let docs = manifests::documents(&manifests::dir().join("pxe-monitor.yaml")).unwrap();
    let cm = manifests::one(&docs, "ConfigMap").unwrap();
    let ds = manifests::one(&docs, "DaemonSet").unwrap();
    let spec = &ds["spec"]["template"]["spec"];
    let c = &spec["containers"][0];
    let sc = &c["securityContext"];
    assert_eq!(spec["hostNetwork"], true);
    assert_eq!(sc["privileged"], false);
    assert_eq!(sc["seccompProfile"]["type"], "RuntimeDefault");
    let mut o: Vec<String> = vec![
        format!("--network=ns:{}", sys::netns_path(node_ns).display()),
        format!(
            "--user={}:{}",
            sc["runAsUser"].as_u64().unwrap(),
            sc["runAsGroup"].as_u64().unwrap()
        ),
        format!("--security-opt=seccomp={}", seccomp.display()),
    ];
    assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]));
    o.push("--cap-drop=all".into());
    let mut granted = 0u64;
    for cap in sc["capabilities"]["add"].as_array().unwrap() {
        let cap = cap.as_str().unwrap();
        let (_, n) = CAP_NUMBERS
            .iter()
            .find(|(name, _)| *name == cap)
            .unwrap_or_else(|| panic!("capability {cap} unknown to this test"));
        granted |= 1 << n;
        o.push(format!("--cap-add={cap}"));
    }
    if sc["readOnlyRootFilesystem"] == true {
        // As in Kubernetes: no tmpfs on /tmp, /run, /var/tmp either.
        o.extend(["--read-only".into(), "--read-only-tmpfs=false".into()]);
    }
    if sc["allowPrivilegeEscalation"] == false {
        o.push("--security-opt=no-new-privileges".into());
    }
    let limits = &c["resources"]["limits"];
    let memory = limits["memory"].as_str().unwrap();
    o.push(format!("--memory={}", podman_quantity(memory)));
    o.push(format!("--cpus={}", limits["cpu"].as_str().unwrap()));
    let mut env = Vec::new();
    for e in c["env"].as_array().unwrap() {
        let from = &e["valueFrom"];
        let value = if let Some(key) = from["configMapKeyRef"]["key"].as_str() {
            cm["data"][key].as_str().map(str::to_owned)
        } else if from["fieldRef"]["fieldPath"] == "status.podIP" {
            Some(NODE_IP.to_owned())
        } else {
            e["value"].as_str().map(str::to_owned)
        };
        if let Some(v) = value {
            let name = e["name"].as_str().unwrap().to_owned();
            o.push(format!("--env={name}={v}"));
            env.push((name, v));
        }
    }
    let args = c["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            env.iter()
                .fold(a.as_str().unwrap().to_owned(), |a, (k, v)| {
                    a.replace(&format!("$({k})"), v)
                })
        })
        .collect();
    Translated {
        options: o,
        args,
        granted,
        memory_limit: bytes(memory),
        image: c["image"].as_str().unwrap().to_owned(),
        interface: cm["data"]["interface"].as_str().unwrap().to_owned(),
    }
}

/// `podman --runtime runc run` with the options every run here shares.
fn podman_run(cgroup_parent: Option<&str>) -> Command {
    let mut cmd = Command::new("podman");
    cmd.args(["--runtime", "runc", "run", "--cgroups=no-conmon"]);
    if let Some(parent) = cgroup_parent {
        cmd.arg(format!("--cgroup-parent={parent}"));
    }
    // Podman raises RLIMIT_NOFILE and RLIMIT_NPROC by default, which needs
    // CAP_SYS_RESOURCE (this VM's root lacks it): ask for limits no higher
    // than the test's own (for NPROC, even the same hard limit is refused).
    let (soft, hard) = nofile();
    cmd.arg(format!("--ulimit=nofile={soft}:{hard}"))
        .arg("--ulimit=nproc=4096:4096");
    cmd
}

fn nofile() -> (u64, u64) {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the struct we pass and nothing else.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) };
    assert_eq!(rc, 0);
    (r.rlim_cur.min(1 << 20), r.rlim_max.min(1 << 20))
}

fn podman(args: &[&str]) -> String {
    sys::run_cmd(Command::new("podman").args(args)).unwrap()
}

/// A field of /proc/PID/status.
fn status_field(pid: &str, name: &str) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .map(|v| v.trim().to_owned())
        .unwrap_or_else(|| panic!("no {name} in /proc/{pid}/status"))
}

fn hex(v: &str) -> u64 {
    u64::from_str_radix(v, 16).unwrap()
}

/// The memory cgroup's usage now and at its peak for process `pid`
/// (cgroup v1 or v2).
fn cgroup_memory(pid: &str) -> Option<(u64, u64)> {
    let read = |file: String| {
        std::fs::read_to_string(file)
            .ok()?
            .trim()
            .parse::<u64>()
            .ok()
    };
    let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    cgroups.lines().find_map(|l| {
        let mut f = l.splitn(3, ':');
        let (_, controllers, path) = (f.next()?, f.next()?, f.next()?);
        match controllers {
            "memory" => {
                let dir = format!("/sys/fs/cgroup/memory{path}");
                Some((
                    read(format!("{dir}/memory.usage_in_bytes"))?,
                    read(format!("{dir}/memory.max_usage_in_bytes"))?,
                ))
            }
            "" => {
                let dir = format!("/sys/fs/cgroup{path}");
                Some((
                    read(format!("{dir}/memory.current"))?,
                    read(format!("{dir}/memory.peak"))?,
                ))
            }
            _ => None,
        }
    })
}

/// GET through curl inside the node's namespace (the agent listens on the
/// node's address, as in the pod).
fn get(ns: &str, path: &str) -> Option<String> {
    let out = sys::netns_command(ns, "curl")
        .args(["--silent", "--fail", "--max-time", "2"])
        .arg(format!("http://{NODE_IP}:9567{path}"))
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn image_runs_with_what_the_daemonset_grants() {
    let Some(image) = prerequisites() else {
        return;
    };
    let started = Instant::now();
    let tag = format!("pxmctr{}", std::process::id());
    let (node, client) = (format!("{tag}-node"), format!("{tag}-cli"));
    let mut cleanup = Cleanup {
        containers: Vec::new(),
        namespaces: Vec::new(),
        cgroups: Vec::new(),
        dir: None,
    };
    let parent = cgroup_parent(&mut cleanup);
    let dir = std::env::temp_dir().join(&tag);
    std::fs::create_dir_all(&dir).unwrap();
    cleanup.dir = Some(dir.clone());
    let allow = seccomp_profile(&dir, BpfRule::AllowWithCaps);
    let refuse = seccomp_profile(&dir, BpfRule::Refuse);

    // The DaemonSet names the image `cargo xtask container` tags (the one
    // run here is the same build of a debug binary, tagged apart); its
    // binary runs.
    let t = translate(&node, &allow);
    assert_eq!(t.image, container::image_tag());
    let out = podman_run(parent.as_deref())
        .args(["--rm", "--network=none", &image, "--version"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("pxe-monitor {}", env!("CARGO_PKG_VERSION"))
    );

    // The node's namespace, its boot-network interface named as the
    // ConfigMap names it, and a client on the other end of the veth.
    for ns in [&node, &client] {
        sys::ip(None, &["netns", "add", ns]).unwrap();
        cleanup.namespaces.push(ns.clone());
    }
    let iface = t.interface.as_str();
    sys::ip(
        Some(&node),
        &[
            "link", "add", iface, "type", "veth", "peer", "name", "c0", "netns", &client,
        ],
    )
    .unwrap();
    sys::ip(
        Some(&node),
        &["addr", "add", &format!("{NODE_IP}/24"), "dev", iface],
    )
    .unwrap();
    for (ns, dev) in [(&node, iface), (&node, "lo"), (&client, "c0")] {
        sys::ip(Some(ns), &["link", "set", dev, "up"]).unwrap();
    }

    let name = format!("{tag}-agent");
    cleanup.containers.push(name.clone());
    sys::run_cmd(
        podman_run(parent.as_deref())
            .args(["--detach", "--name", &name])
            .args(&t.options)
            .arg(&image)
            .args(&t.args),
    )
    .unwrap();
    // The agent logs to stderr, which `podman logs` gives back on stderr.
    let logs = || {
        let out = Command::new("podman")
            .args(["logs", &name])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout)
    };
    // The startup probe: /healthz answers once every program is attached.
    let deadline = Instant::now() + Duration::from_secs(15);
    while get(&node, "/healthz").is_none() {
        let state = podman(&["inspect", "--format", "{{.State.Status}}", &name]);
        assert!(
            state.trim() == "running" && Instant::now() < deadline,
            "no /healthz (container {}); its log:\n{}",
            state.trim(),
            logs()
        );
        thread::sleep(Duration::from_millis(200));
    }
    let attached = started.elapsed();

    // No more than granted: the bounding set is the manifest's list, no
    // new privileges, a seccomp filter, a read-only root. Then either the
    // agent switched to the image's unprivileged user and kept no
    // capability (a pxe-monitor with --user), or it runs as uid 0 with
    // exactly the granted ones.
    let pid = podman(&["inspect", "--format", "{{.State.Pid}}", &name])
        .trim()
        .to_owned();
    assert_eq!(hex(&status_field(&pid, "CapBnd:")), t.granted);
    assert_eq!(status_field(&pid, "NoNewPrivs:"), "1");
    assert_eq!(status_field(&pid, "Seccomp:"), "2");
    let mountinfo = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
    let root = mountinfo
        .lines()
        .find(|l| l.split_whitespace().nth(4) == Some("/"))
        .expect("the container's root mount");
    assert!(
        root.split_whitespace()
            .nth(5)
            .is_some_and(|o| o.split(',').any(|x| x == "ro")),
        "{root}"
    );
    let help = sys::run_cmd(podman_run(parent.as_deref()).args([
        "--rm",
        "--network=none",
        &image,
        "run",
        "--help",
    ]))
    .unwrap();
    if help.contains("--user") {
        let deadline = Instant::now() + Duration::from_secs(5);
        while status_field(&pid, "Uid:").split_whitespace().next() != Some("65532") {
            assert!(
                Instant::now() < deadline,
                "still {} after attaching; log:\n{}",
                status_field(&pid, "Uid:"),
                logs()
            );
            thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(status_field(&pid, "Uid:"), "65532\t65532\t65532\t65532");
        assert_eq!(hex(&status_field(&pid, "CapEff:")), 0);
        assert_eq!(hex(&status_field(&pid, "CapPrm:")), 0);
        eprintln!("attached, then switched to uid 65532 with no capability");
    } else {
        assert_eq!(status_field(&pid, "Uid:"), "0\t0\t0\t0");
        assert_eq!(hex(&status_field(&pid, "CapEff:")), t.granted);
        eprintln!("attached, runs as uid 0 with the granted capabilities (no --user here)");
    }

    // A PXE client's DISCOVERs through the veth are counted.
    let out = sys::netns_command(&client, "busybox")
        .args([
            "udhcpc",
            "-i",
            "c0",
            "-V",
            "PXEClient:Arch:00000:UNDI:002001",
        ])
        .args(["-t", "2", "-T", "1", "-n", "-q", "-s", "/bin/true"])
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let sent = said.matches("broadcasting discover").count() as u64;
    assert!(sent >= 1, "udhcpc: {said}");
    let deadline = Instant::now() + Duration::from_secs(5);
    let discovers = loop {
        let metrics = scrape::parse(&get(&node, "/metrics").expect("/metrics"));
        let n = scrape::sum(
            &metrics,
            "pxe_dhcp_messages_total",
            &[
                ("interface", iface),
                ("direction", "ingress"),
                ("type", "discover"),
                ("pxe", "true"),
            ],
        );
        if n >= sent || Instant::now() > deadline {
            assert_eq!(
                scrape::sum(&metrics, "pxe_program_attached", &[("interface", iface)]),
                2,
                "TC ingress and egress attached"
            );
            break n;
        }
        thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(discovers, sent, "DISCOVERs counted / sent");

    // Memory: the cgroup's peak (programs, maps and the agent) under the
    // manifest's limit.
    if let Some((now, peak)) = cgroup_memory(&pid) {
        let mib = |b: u64| b as f64 / (1 << 20) as f64;
        eprintln!(
            "container memory: {:.1} MiB now, {:.1} MiB at the peak, limit {:.0} MiB",
            mib(now),
            mib(peak),
            mib(t.memory_limit)
        );
        assert!(peak < t.memory_limit);
    }

    // SIGTERM (what the kubelet sends): detached, exit 0.
    podman(&["stop", "--time", "10", &name]);
    let code = podman(&["wait", &name]);
    let log = logs();
    assert_eq!(code.trim(), "0", "exit code; log:\n{log}");
    assert!(log.contains("detached"), "{log}");
    let stopped = started.elapsed();

    // A runtime profile that refuses bpf(): the agent says seccomp.
    let t = translate(&node, &refuse);
    let out = podman_run(parent.as_deref())
        .args(["--rm"])
        .args(&t.options)
        .arg(&image)
        .args(&t.args)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("seccomp") && err.contains("perf_event_open") && !err.contains("setcap"),
        "{err}"
    );
    eprintln!(
        "attached and healthy after {:.1} s, stopped after {:.1} s, all in {:.1} s",
        attached.as_secs_f64(),
        stopped.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}
