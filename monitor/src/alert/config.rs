//! Where and how the agent's alerts are delivered: `--alertmanager-url`
//! and the `--alertmanager-config` file, the part of Prometheus's HTTP
//! client configuration that an `alertmanagers:` entry uses
//! (`basic_auth`, `tls_config`, `timeout`). Read and checked whole at
//! start-up: every file named in it read, every certificate and key
//! parsed, so that a mistake stops the agent before anything is attached.

use std::{
    fmt, io,
    path::{Path, PathBuf},
    time::Duration,
};

use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, pem::PemObject as _};
use serde::Deserialize;
use url::Url;

/// Alertmanager's default: Prometheus waits as long for it.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// A mistake in the URL or the file, named with where it is.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("--alertmanager-url {url:?}: {reason}")]
    Url { url: String, reason: String },
    #[error("--alertmanager-config {}: {source}", file.display())]
    Read { file: PathBuf, source: io::Error },
    #[error("--alertmanager-config {}: {message}", file.display())]
    Parse { file: PathBuf, message: String },
    #[error("--alertmanager-config {}: {key}: {reason}", file.display())]
    Invalid {
        file: PathBuf,
        key: &'static str,
        reason: String,
    },
    #[error("--alertmanager-config {}: {key}: {}: {reason}", file.display(), path.display())]
    File {
        file: PathBuf,
        key: &'static str,
        path: PathBuf,
        reason: String,
    },
}

/// A password: never printed (`Debug` shows `<secret>`).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<secret>")
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BasicAuth {
    pub username: String,
    pub password: Secret,
}

/// A client certificate with its key.
#[derive(Debug)]
pub struct Identity {
    pub certs: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

/// `tls_config`, its files read.
#[derive(Debug, Default)]
pub struct Tls {
    /// The CAs to trust instead of the system's (`ca_file`).
    pub ca: Option<Vec<CertificateDer<'static>>>,
    /// `cert_file` and `key_file`.
    pub identity: Option<Identity>,
    /// The name the server's certificate must carry, when not the URL's
    /// host (`server_name`).
    pub server_name: Option<ServerName<'static>>,
    /// `insecure_skip_verify`: any certificate is accepted.
    pub insecure_skip_verify: bool,
}

/// Everything delivery needs, checked.
#[derive(Debug)]
pub struct Settings {
    /// The v2 alerts API: the URL given, its path prefix kept, then
    /// `api/v2/alerts`.
    pub url: Url,
    pub basic_auth: Option<BasicAuth>,
    pub tls: Tls,
    pub timeout: Duration,
    /// The `--alertmanager-config` file, if one was given.
    pub file: Option<PathBuf>,
}

impl Settings {
    /// Reads `--alertmanager-url` and, if given, the file.
    pub fn load(url: &str, file: Option<&Path>) -> Result<Settings, ConfigError> {
        let url = api_url(url)?;
        let mut s = Settings {
            url,
            basic_auth: None,
            tls: Tls::default(),
            timeout: DEFAULT_TIMEOUT,
            file: file.map(Path::to_owned),
        };
        if let Some(file) = file {
            let text = std::fs::read_to_string(file).map_err(|source| ConfigError::Read {
                file: file.to_owned(),
                source,
            })?;
            s.apply(&text, file)?;
        }
        Ok(s)
    }

    fn apply(&mut self, text: &str, file: &Path) -> Result<(), ConfigError> {
        let raw = parse(text, file)?;
        let invalid = |key, reason: &str| ConfigError::Invalid {
            file: file.to_owned(),
            key,
            reason: reason.to_owned(),
        };
        // Relative paths are relative to the file, as in Prometheus.
        let dir = file.parent().unwrap_or(Path::new("."));
        let https = self.url.scheme() == "https";
        if let Some(t) = raw.timeout {
            self.timeout = humantime::parse_duration(&t)
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(|| {
                    invalid(
                        "timeout",
                        &format!("{t:?} is not a duration above zero such as 10s or 1m30s"),
                    )
                })?;
        }
        if let Some(b) = raw.basic_auth {
            if b.username.is_empty() {
                return Err(invalid("basic_auth.username", "empty"));
            }
            let password = match (b.password, b.password_file) {
                (Some(p), None) => p,
                (None, Some(f)) => {
                    let path = dir.join(f);
                    let p = std::fs::read_to_string(&path).map_err(|e| ConfigError::File {
                        file: file.to_owned(),
                        key: "basic_auth.password_file",
                        path: path.clone(),
                        reason: e.to_string(),
                    })?;
                    // As Prometheus: surrounding white space (the final
                    // newline) is not part of it.
                    p.trim().to_owned()
                }
                (Some(_), Some(_)) => {
                    return Err(invalid(
                        "basic_auth",
                        "give password or password_file, not both",
                    ));
                }
                (None, None) => {
                    return Err(invalid(
                        "basic_auth",
                        "needs password or password_file (a file readable by pxe-monitor alone)",
                    ));
                }
            };
            if password.is_empty() {
                return Err(invalid("basic_auth", "the password is empty"));
            }
            self.basic_auth = Some(BasicAuth {
                username: b.username,
                password: Secret(password),
            });
        }
        if let Some(t) = raw.tls_config {
            if !https {
                return Err(invalid(
                    "tls_config",
                    &format!(
                        "set, but --alertmanager-url {} is not https://",
                        self.url.origin().ascii_serialization()
                    ),
                ));
            }
            let read = |key: &'static str, f: PathBuf| {
                let path = dir.join(f);
                std::fs::read(&path)
                    .map(|bytes| (path.clone(), bytes))
                    .map_err(|e| ConfigError::File {
                        file: file.to_owned(),
                        key,
                        path,
                        reason: e.to_string(),
                    })
            };
            let bad = |key, path: &Path, reason: String| ConfigError::File {
                file: file.to_owned(),
                key,
                path: path.to_owned(),
                reason,
            };
            if let Some(f) = t.ca_file {
                let (path, pem) = read("tls_config.ca_file", f)?;
                let certs = certificates(&pem)
                    .map_err(|r| bad("tls_config.ca_file", &path, r.to_owned()))?;
                self.tls.ca = Some(certs);
            }
            self.tls.identity = match (t.cert_file, t.key_file) {
                (Some(c), Some(k)) => {
                    let (cpath, pem) = read("tls_config.cert_file", c)?;
                    let certs = certificates(&pem)
                        .map_err(|r| bad("tls_config.cert_file", &cpath, r.to_owned()))?;
                    let (kpath, pem) = read("tls_config.key_file", k)?;
                    let key = PrivateKeyDer::from_pem_slice(&pem).map_err(|e| {
                        bad(
                            "tls_config.key_file",
                            &kpath,
                            format!("no PEM private key (PKCS#8, PKCS#1 or SEC1): {e}"),
                        )
                    })?;
                    Some(Identity { certs, key })
                }
                (None, None) => None,
                _ => {
                    return Err(invalid(
                        "tls_config",
                        "cert_file and key_file go together (the client certificate and its key)",
                    ));
                }
            };
            if let Some(name) = t.server_name {
                let parsed = ServerName::try_from(name.as_str()).map_err(|_| {
                    invalid(
                        "tls_config.server_name",
                        &format!("{name:?} is not a DNS name or an IP address"),
                    )
                })?;
                self.tls.server_name = Some(parsed.to_owned());
            }
            self.tls.insecure_skip_verify = t.insecure_skip_verify;
        }
        Ok(())
    }

    /// Where alerts go, for the log: the API URL (it holds no credentials).
    pub fn target(&self) -> &str {
        self.url.as_str()
    }
}

/// The file's keys: Prometheus's names; anything else is refused, named.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    basic_auth: Option<RawBasicAuth>,
    tls_config: Option<RawTls>,
    timeout: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBasicAuth {
    username: String,
    password: Option<String>,
    password_file: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    ca_file: Option<PathBuf>,
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    server_name: Option<String>,
    #[serde(default)]
    insecure_skip_verify: bool,
}

fn parse(text: &str, file: &Path) -> Result<RawConfig, ConfigError> {
    // An empty file (or comments only) configures nothing.
    let blank = text
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'));
    if blank {
        return Ok(RawConfig::default());
    }
    // No snippet of the file in the message: it may quote a password.
    let options = serde_saphyr::options! { with_snippet: false };
    serde_saphyr::from_str_with_options::<RawConfig>(text, options).map_err(|e| {
        ConfigError::Parse {
            file: file.to_owned(),
            message: parse_message(&e.to_string()),
        }
    })
}

/// The parser's message on one line, with a hint where Prometheus's other
/// keys of an `alertmanagers:` entry belong.
fn parse_message(message: &str) -> String {
    let one_line = message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
        // Advice to the programmer, not to the operator.
        .replace(", set DuplicateKeyPolicy in Options if acceptable", "");
    let elsewhere = ["scheme", "path_prefix", "static_configs", "api_version"];
    if elsewhere
        .iter()
        .any(|k| one_line.contains(&format!("unknown field `{k}`")))
    {
        format!(
            "{one_line} (the scheme, host, port and path prefix go in --alertmanager-url; the agent speaks API v2)"
        )
    } else {
        one_line
    }
}

/// The certificates of a PEM file (at least one).
fn certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, &'static str> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| "not a PEM certificate file")?;
    if certs.is_empty() {
        return Err("no PEM certificate (-----BEGIN CERTIFICATE-----) in it");
    }
    Ok(certs)
}

/// `http[s]://host[:port][/prefix]` → `…/prefix/api/v2/alerts`.
fn api_url(url: &str) -> Result<Url, ConfigError> {
    let err = |reason: &str| ConfigError::Url {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    const SCHEME: &str = "not an http:// or https:// URL (scheme, host, port and path prefix, e.g. https://am.example:9093/alertmanager)";
    let mut u = Url::parse(url).map_err(|e| match e {
        url::ParseError::RelativeUrlWithoutBase => err(SCHEME),
        e => err(&e.to_string()),
    })?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(err(SCHEME));
    }
    if u.host_str().is_none_or(str::is_empty) {
        return Err(err("no host"));
    }
    if !u.username().is_empty() || u.password().is_some() {
        // Redacted from the message: it may hold the password.
        return Err(ConfigError::Url {
            url: {
                let mut r = u.clone();
                let _ = r.set_username("");
                let _ = r.set_password(None);
                r.to_string()
            },
            reason: "credentials do not go on the command line: put them in --alertmanager-config (basic_auth with password_file)".to_owned(),
        });
    }
    if u.query().is_some() || u.fragment().is_some() {
        return Err(err(
            "no query or fragment: scheme, host, port and path prefix only",
        ));
    }
    let prefix = u.path().trim_end_matches('/').to_owned();
    u.set_path(&format!("{prefix}/api/v2/alerts"));
    Ok(u)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "pxe-monitor-amconfig-{name}-{}",
            std::process::id()
        ));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn load(url: &str, text: &str, d: &Path) -> Result<Settings, ConfigError> {
        let file = d.join("alertmanager.yml");
        std::fs::write(&file, text).unwrap();
        Settings::load(url, Some(&file))
    }

    #[test]
    fn urls_keep_their_prefix_and_refuse_credentials() {
        let api = |u: &str| Settings::load(u, None).map(|s| s.url.to_string());
        assert_eq!(
            api("http://127.0.0.1:9093").unwrap(),
            "http://127.0.0.1:9093/api/v2/alerts"
        );
        assert_eq!(
            api("https://am.example/alertmanager/").unwrap(),
            "https://am.example/alertmanager/api/v2/alerts"
        );
        assert_eq!(
            api("http://[::1]:9093/a/b").unwrap(),
            "http://[::1]:9093/a/b/api/v2/alerts"
        );
        for (bad, says) in [
            ("ftp://am:9093", "not an http:// or https:// URL"),
            ("127.0.0.1:9093", "not an http:// or https:// URL"),
            ("am.example:9093", "not an http:// or https:// URL"),
            ("http://am:9093/?x=1", "no query"),
            ("http://am:99999", "invalid port"),
        ] {
            let e = api(bad).unwrap_err().to_string();
            assert!(
                e.contains("--alertmanager-url") && e.contains(says),
                "{bad}: {e}"
            );
        }
        let e = api("https://admin:hunter2@am:9093")
            .unwrap_err()
            .to_string();
        assert!(e.contains("--alertmanager-config"), "{e}");
        assert!(!e.contains("hunter2"), "the password is not repeated: {e}");
    }

    #[test]
    fn the_prometheus_subset_is_read_relative_to_the_file() {
        let d = dir("ok");
        std::fs::write(d.join("pw"), "s3cret\n").unwrap();
        let s = load(
            "https://am.example:9093",
            "# as under alertmanagers: in prometheus.yml\n\
             timeout: 1m30s\n\
             basic_auth:\n  username: pxe\n  password_file: pw\n\
             tls_config:\n  server_name: am.internal\n  insecure_skip_verify: false\n",
            &d,
        )
        .unwrap();
        assert_eq!(s.timeout, Duration::from_secs(90));
        let auth = s.basic_auth.as_ref().unwrap();
        assert_eq!(
            (auth.username.as_str(), auth.password.expose()),
            ("pxe", "s3cret")
        );
        assert_eq!(
            s.tls.server_name,
            Some(ServerName::try_from("am.internal").unwrap())
        );
        assert!(
            !format!("{s:?}").contains("s3cret"),
            "the password never reaches a log"
        );
        // Empty, or comments only: the defaults.
        let s = load("http://am:9093", "# nothing yet\n", &d).unwrap();
        assert!(s.basic_auth.is_none() && s.timeout == DEFAULT_TIMEOUT);
        std::fs::remove_dir_all(&d).unwrap();
    }

    /// The README's example file holds only keys the agent takes.
    #[test]
    fn the_readme_example_parses() {
        let readme =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
        let start = readme
            .find("# /etc/pxe-monitor/alertmanager.yml (--alertmanager-config)")
            .expect("the example in README.md");
        let example = &readme[start..start + readme[start..].find("```").unwrap()];
        let raw = parse(example, Path::new("README.md")).unwrap();
        let (auth, tls) = (raw.basic_auth.unwrap(), raw.tls_config.unwrap());
        assert_eq!(auth.username, "pxe-monitor");
        assert!(auth.password_file.is_some() && tls.ca_file.is_some());
        assert_eq!(raw.timeout.as_deref(), Some("10s"));
    }

    #[test]
    fn mistakes_name_the_key_and_the_file() {
        let d = dir("bad");
        let file = d.join("alertmanager.yml").display().to_string();
        let cases: &[(&str, &str, &[&str])] = &[
            (
                "https://am",
                "basic_auth:\n  username: a\n  pasword: x\n",
                &["pasword"],
            ),
            (
                "https://am",
                "scheme: https\n",
                &["scheme", "--alertmanager-url"],
            ),
            ("https://am", "tls_config:\n  ca: x\n", &["`ca`"]),
            ("https://am", "timeout: soon\n", &["timeout", "soon"]),
            (
                "https://am",
                "basic_auth:\n  username: a\n",
                &["basic_auth", "password_file"],
            ),
            (
                "https://am",
                "basic_auth:\n  username: a\n  password: x\n  password_file: y\n",
                &["not both"],
            ),
            (
                "https://am",
                "basic_auth:\n  username: a\n  password_file: missing\n",
                &["basic_auth.password_file", "missing", "No such file"],
            ),
            (
                "http://am",
                "tls_config:\n  insecure_skip_verify: true\n",
                &["tls_config", "not https://"],
            ),
            (
                "https://am",
                "tls_config:\n  cert_file: c.pem\n",
                &["cert_file and key_file"],
            ),
            (
                "https://am",
                "tls_config:\n  ca_file: alertmanager.yml\n",
                &["tls_config.ca_file", "no PEM certificate"],
            ),
            (
                "https://am",
                "tls_config:\n  server_name: 'a b'\n",
                &["server_name", "not a DNS name"],
            ),
            ("https://am", "basic_auth: [\n", &[]),
            (
                "https://am",
                "basic_auth:\n  username: a\n  username: b\n",
                &["duplicate mapping key: username at line 3"],
            ),
        ];
        for (url, text, says) in cases {
            let e = load(url, text, &d).unwrap_err().to_string();
            assert!(e.contains(&file), "{text}: the file is named: {e}");
            assert!(!e.contains('\n'), "one line: {e}");
            for s in *says {
                assert!(e.contains(s), "{text}: {s:?} not in: {e}");
            }
        }
        let e = Settings::load("https://am", Some(&d.join("absent.yml")))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("absent.yml") && e.contains("No such file"),
            "{e}"
        );
        std::fs::remove_dir_all(&d).unwrap();
    }
}
