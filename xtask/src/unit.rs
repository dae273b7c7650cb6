//! A systemd service unit's settings applied without systemd (PID 1 here is
//! not systemd, so `systemctl start` cannot run a unit): the user and group,
//! capabilities, no-new-privileges, umask, the environment file and
//! ExecStart of the unit file become a util-linux `setpriv` command line.
//! What it does not apply (the sandbox: ProtectSystem=, SystemCallFilter=,
//! ...; restarts) [`Service::not_applied`] lists; the unit's system-call
//! allow list, as systemd expands it, is [`allowed_syscalls`], for checking
//! a traced run against it.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, Result, bail};

use crate::sys::run_cmd;

/// The `[Service]` settings [`Service::command`] applies.
pub const APPLIED: &[&str] = &[
    "User",
    "Group",
    "AmbientCapabilities",
    "CapabilityBoundingSet",
    "NoNewPrivileges",
    "UMask",
    "EnvironmentFile",
    "ExecStart",
];

/// A unit file: (section, key, value) in file order.
#[derive(Debug, Default)]
pub struct Unit {
    entries: Vec<(String, String, String)>,
}

impl Unit {
    /// Parses a unit file: `[Section]` headers, `Key=Value` lines, `#` and
    /// `;` comments, lines continued with a trailing backslash.
    pub fn parse(text: &str) -> Result<Unit> {
        let mut unit = Unit::default();
        let mut section = String::new();
        let mut pending = String::new();
        for (n, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if pending.is_empty() && (line.is_empty() || line.starts_with(['#', ';'])) {
                continue;
            }
            if let Some(cont) = line.strip_suffix('\\') {
                pending.push_str(cont);
                pending.push(' ');
                continue;
            }
            let line = std::mem::take(&mut pending) + line;
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                section = name.to_owned();
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                bail!("line {}: not Key=Value: {line}", n + 1);
            };
            unit.entries.push((
                section.clone(),
                key.trim().to_owned(),
                value.trim().to_owned(),
            ));
        }
        Ok(unit)
    }

    /// Every value of `key` in `section`, in order.
    pub fn values(&self, section: &str, key: &str) -> Vec<&str> {
        self.entries
            .iter()
            .filter(|(s, k, _)| s == section && k == key)
            .map(|(_, _, v)| v.as_str())
            .collect()
    }

    /// The value of `key` in `[Service]` (the last one, as systemd reads a
    /// single-valued setting).
    pub fn service(&self, key: &str) -> Option<&str> {
        self.values("Service", key).pop()
    }

    /// The keys set in `[Service]`.
    pub fn service_keys(&self) -> BTreeSet<&str> {
        self.entries
            .iter()
            .filter(|(s, _, _)| s == "Service")
            .map(|(_, k, _)| k.as_str())
            .collect()
    }
}

/// `KEY=VALUE` lines of an environment file as systemd reads them: comments,
/// blank lines, one layer of matching quotes around the value.
pub fn parse_environment_file(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with(['#', ';']))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            let v = v.trim();
            let unquoted = ['"', '\'']
                .into_iter()
                .find_map(|q| v.strip_prefix(q).and_then(|v| v.strip_suffix(q)))
                .unwrap_or(v);
            (k.trim().to_owned(), unquoted.to_owned())
        })
        .collect()
}

/// The service as the emulation runs it.
#[derive(Debug)]
pub struct Service {
    pub user: String,
    pub group: String,
    /// setpriv's names (`bpf`, `net_admin`, ...).
    pub ambient: Vec<String>,
    pub bounding: Vec<String>,
    pub no_new_privs: bool,
    pub umask: Option<u32>,
    /// ExecStart with the environment file's variables substituted.
    pub argv: Vec<String>,
    /// The environment systemd gives the process: the file's variables and
    /// PATH, USER, LOGNAME, HOME, SHELL.
    pub env: BTreeMap<String, String>,
    /// The settings of `[Service]` not applied (see [`APPLIED`]).
    pub not_applied: Vec<String>,
}

impl Service {
    /// Reads the unit's settings; its `EnvironmentFile=` is read from
    /// `env_file` instead when given (a test's copy).
    pub fn from_unit(unit: &Unit, env_file: Option<&Path>) -> Result<Service> {
        let user = unit.service("User").context("no User=")?.to_owned();
        let group = unit.service("Group").context("no Group=")?.to_owned();
        let caps = |key| -> Result<Vec<String>> {
            let mut all = Vec::new();
            for v in unit.values("Service", key) {
                if v.starts_with('~') {
                    bail!("{key}={v}: inverted sets are not emulated");
                }
                for cap in v.split_whitespace() {
                    let name = cap.strip_prefix("CAP_").context("not a capability")?;
                    all.push(name.to_ascii_lowercase());
                }
            }
            Ok(all)
        };
        let ambient = caps("AmbientCapabilities")?;
        let bounding = caps("CapabilityBoundingSet")?;
        let no_new_privs = unit
            .service("NoNewPrivileges")
            .is_some_and(|v| matches!(v, "yes" | "true" | "on" | "1"));
        let umask = unit
            .service("UMask")
            .map(|m| u32::from_str_radix(m, 8).with_context(|| format!("UMask={m}")))
            .transpose()?;

        let mut env = BTreeMap::new();
        for file in unit.values("Service", "EnvironmentFile") {
            let (optional, path) = match file.strip_prefix('-') {
                Some(p) => (true, PathBuf::from(p)),
                None => (false, PathBuf::from(file)),
            };
            let path = env_file.map_or(path, Path::to_path_buf);
            match std::fs::read_to_string(&path) {
                Ok(text) => env.extend(parse_environment_file(&text)),
                Err(_) if optional => {}
                Err(e) => bail!("EnvironmentFile {}: {e}", path.display()),
            }
        }
        let exec = unit.service("ExecStart").context("no ExecStart=")?;
        let argv = expand_exec(exec, &env)?;
        let (home, shell) = passwd_home_shell(&user)?;
        env.insert(
            "PATH".into(),
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin".into(),
        );
        env.insert("USER".into(), user.clone());
        env.insert("LOGNAME".into(), user.clone());
        env.insert("HOME".into(), home);
        env.insert("SHELL".into(), shell);
        let not_applied = unit
            .service_keys()
            .into_iter()
            .filter(|k| !APPLIED.contains(k))
            .map(str::to_owned)
            .collect();
        Ok(Service {
            user,
            group,
            ambient,
            bounding,
            no_new_privs,
            umask,
            argv,
            env,
            not_applied,
        })
    }

    /// `outer... setpriv SETTINGS -- inner... ARGV`: `outer` places it
    /// (e.g. `ip netns exec NS`), `inner` runs between the privilege change
    /// and the program (e.g. a tracer, which then runs as the service's
    /// user). The environment is the service's only; the umask is set
    /// before the first exec.
    pub fn command(&self, outer: &[&str], inner: &[&str]) -> Command {
        let caps = |set: &[String]| {
            std::iter::once("-all".to_owned())
                .chain(set.iter().map(|c| format!("+{c}")))
                .collect::<Vec<_>>()
                .join(",")
        };
        let (prog, rest) = match outer.split_first() {
            Some((p, rest)) => (*p, rest.iter().copied().chain(["setpriv"]).collect()),
            None => ("setpriv", Vec::new()),
        };
        let mut cmd = Command::new(prog);
        cmd.args(rest)
            .arg(format!("--reuid={}", self.user))
            .arg(format!("--regid={}", self.group))
            .arg("--init-groups")
            .arg(format!("--inh-caps={}", caps(&self.ambient)))
            .arg(format!("--ambient-caps={}", caps(&self.ambient)))
            .arg(format!("--bounding-set={}", caps(&self.bounding)));
        if self.no_new_privs {
            cmd.arg("--no-new-privs");
        }
        cmd.arg("--").args(inner).args(&self.argv);
        cmd.env_clear().envs(&self.env);
        if let Some(mask) = self.umask {
            use std::os::unix::process::CommandExt as _;
            // SAFETY: umask(2) is async-signal-safe and touches only this
            // (forked) process.
            unsafe {
                cmd.pre_exec(move || {
                    libc::umask(mask as libc::mode_t);
                    Ok(())
                });
            }
        }
        cmd
    }
}

/// ExecStart's words, with `$VAR` (split at whitespace, as systemd does)
/// and `${VAR}` (one word) substituted; quoting and prefixes (`-`, `+`, ...)
/// are refused, not guessed at.
pub fn expand_exec(exec: &str, env: &BTreeMap<String, String>) -> Result<Vec<String>> {
    if exec.contains(['"', '\'']) || exec.starts_with(['-', '@', ':', '+', '!']) {
        bail!("ExecStart={exec}: quoting and prefixes are not emulated");
    }
    let mut argv = Vec::new();
    for word in exec.split_whitespace() {
        if let Some(name) = word.strip_prefix("${").and_then(|w| w.strip_suffix('}')) {
            argv.push(env.get(name).cloned().unwrap_or_default());
        } else if let Some(name) = word.strip_prefix('$') {
            argv.extend(
                env.get(name)
                    .map(String::as_str)
                    .unwrap_or_default()
                    .split_whitespace()
                    .map(str::to_owned),
            );
        } else if word.contains('$') {
            bail!("ExecStart word {word}: a variable inside a word is not emulated");
        } else {
            argv.push(word.to_owned());
        }
    }
    Ok(argv)
}

fn passwd_home_shell(user: &str) -> Result<(String, String)> {
    let line = run_cmd(Command::new("getent").args(["passwd", user]))
        .with_context(|| format!("no user {user}"))?;
    let f: Vec<&str> = line.trim().split(':').collect();
    match f.as_slice() {
        [_, _, _, _, _, home, shell] => Ok(((*home).to_owned(), (*shell).to_owned())),
        _ => bail!("unexpected passwd entry: {line}"),
    }
}

/// The system calls the unit's `SystemCallFilter=` lines allow, as systemd
/// combines them (the first line an allow list, later `~` lines taking
/// away, later plain lines adding), with the groups expanded from
/// `systemd-analyze syscall-filter`.
pub fn allowed_syscalls(unit: &Unit) -> Result<BTreeSet<String>> {
    let groups = parse_syscall_groups(&run_cmd(
        Command::new("systemd-analyze").args(["syscall-filter", "--no-pager"]),
    )?);
    filter_allows(unit, &groups)
}

fn filter_allows(unit: &Unit, groups: &BTreeMap<String, Vec<String>>) -> Result<BTreeSet<String>> {
    let lines = unit.values("Service", "SystemCallFilter");
    let Some(first) = lines.first() else {
        bail!("no SystemCallFilter=");
    };
    if first.starts_with('~') {
        bail!("SystemCallFilter={first}: a deny list first is not checked here");
    }
    let mut allowed = BTreeSet::new();
    for line in lines {
        let (deny, items) = match line.strip_prefix('~') {
            Some(rest) => (true, rest),
            None => (false, line),
        };
        for item in items.split_whitespace() {
            let set = expand(item, groups)?;
            if deny {
                allowed.retain(|s| !set.contains(s));
            } else {
                allowed.extend(set);
            }
        }
    }
    Ok(allowed)
}

/// `systemd-analyze syscall-filter`: `@group` headers, then indented
/// members (system calls or other groups) and `#` comments.
pub fn parse_syscall_groups(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut current = None;
    for line in text.lines() {
        if line.starts_with('@') {
            current = Some(line.trim().to_owned());
            groups.entry(line.trim().to_owned()).or_default();
        } else if let (Some(g), item) = (&current, line.trim())
            && !item.is_empty()
            && !item.starts_with('#')
            && line.starts_with(' ')
        {
            groups.entry(g.clone()).or_default().push(item.to_owned());
        }
    }
    groups
}

fn expand(item: &str, groups: &BTreeMap<String, Vec<String>>) -> Result<BTreeSet<String>> {
    if !item.starts_with('@') {
        return Ok(BTreeSet::from([item.to_owned()]));
    }
    let members = groups
        .get(item)
        .with_context(|| format!("systemd-analyze knows no group {item}"))?;
    let mut out = BTreeSet::new();
    for m in members {
        out.extend(expand(m, groups)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const UNIT: &str = "[Unit]\nDescription=x\n\n[Service]\n# comment\nUser=u\nGroup=g\n\
        EnvironmentFile=-/nonexistent/defaults\nExecStart=/usr/bin/prog run $ARGS ${ONE} \\\n  --last\n\
        AmbientCapabilities=CAP_BPF CAP_NET_ADMIN\nProtectSystem=strict\n\
        SystemCallFilter=@a bpf\nSystemCallFilter=~@b\n";

    #[test]
    fn reads_settings_continuations_and_the_environment_file() {
        let unit = Unit::parse(UNIT).unwrap();
        assert_eq!(unit.service("User"), Some("u"));
        assert_eq!(
            unit.service("ExecStart"),
            // The backslash becomes a space, as systemd reads it.
            Some("/usr/bin/prog run $ARGS ${ONE}  --last")
        );
        let env = parse_environment_file(
            "# c\nARGS=\"--interface eth0  --listen 0.0.0.0:9567\"\nONE='a b'\nEMPTY=\n",
        );
        assert_eq!(
            expand_exec(unit.service("ExecStart").unwrap(), &env).unwrap(),
            [
                "/usr/bin/prog",
                "run",
                "--interface",
                "eth0",
                "--listen",
                "0.0.0.0:9567",
                "a b",
                "--last"
            ]
        );
        // Unset or empty: no word at all.
        let none = BTreeMap::new();
        assert_eq!(expand_exec("/p run $ARGS", &none).unwrap(), ["/p", "run"]);
        assert!(expand_exec("-/p \"quoted arg\"", &none).is_err());
    }

    #[test]
    fn a_filter_is_the_first_list_less_the_denied_groups() {
        let groups = parse_syscall_groups(
            "@a\n    # about a\n    read\n    @b\n    write\n\n@b\n    setrlimit\n",
        );
        assert_eq!(groups["@a"], ["read", "@b", "write"]);
        let set = expand("@a", &groups).unwrap();
        assert_eq!(
            set,
            BTreeSet::from(["read", "setrlimit", "write"].map(String::from))
        );
        assert!(expand("@nope", &groups).is_err());
        let unit = Unit::parse(UNIT).unwrap();
        assert_eq!(
            filter_allows(&unit, &groups).unwrap(),
            BTreeSet::from(["bpf", "read", "write"].map(String::from))
        );
    }
}
