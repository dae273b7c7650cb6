//! The web configuration file (`--web.config.file`), in the format of
//! Prometheus's exporter-toolkit (`tls_server_config`, `http_server_config`,
//! `basic_auth_users`), so that a file written for node_exporter works here.
//!
//! Parsing is strict, as exporter-toolkit's: an unknown key is an error
//! naming it. Keys of the format that pxe-monitor does not implement are
//! refused by name, with the reason ([`Error::Unsupported`]), never ignored.
//! This module checks the file's own content; reading the certificates and
//! keys it names is [`super::tls`]'s.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use axum::http::{HeaderName, HeaderValue};
use serde::Deserialize;

/// What is wrong with a web configuration file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read the web config file {}: {error}", path.display())]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    /// YAML syntax, a value of the wrong type, or an unknown key (the
    /// message names it and its line).
    #[error("web config file {}: {message}", path.display())]
    Syntax { path: PathBuf, message: String },
    #[error("web config file {}: {key} is not supported by pxe-monitor: {why}", path.display())]
    Unsupported {
        path: PathBuf,
        key: &'static str,
        why: &'static str,
    },
    #[error("web config file {}: {field}: {message}", path.display())]
    Invalid {
        path: PathBuf,
        /// The key, as a dotted path (`tls_server_config.cert_file`).
        field: String,
        message: String,
    },
}

/// `client_auth_type`: Go's `tls.ClientAuthType` names.
#[derive(Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ClientAuth {
    /// No client certificate asked for.
    #[default]
    NoClientCert,
    /// Asked for, not required, not verified.
    RequestClientCert,
    /// Required, not verified (any certificate whose key the client holds).
    #[serde(alias = "RequireClientCert")]
    RequireAnyClientCert,
    /// Not required; verified against `client_ca_file` when given.
    VerifyClientCertIfGiven,
    /// Required and verified against `client_ca_file`: the one that
    /// authenticates clients.
    RequireAndVerifyClientCert,
}

impl ClientAuth {
    /// Whether the client's certificate is checked against the client CA.
    pub fn verifies(self) -> bool {
        matches!(
            self,
            ClientAuth::VerifyClientCertIfGiven | ClientAuth::RequireAndVerifyClientCert
        )
    }
}

/// `min_version`, `max_version`.
#[derive(Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    TLS10,
    TLS11,
    TLS12,
    TLS13,
}

/// A PEM document: a file (relative paths are relative to the web config
/// file's directory, as in exporter-toolkit) or the text itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pem {
    File(PathBuf),
    Inline(String),
}

/// `tls_server_config`, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsSettings {
    pub cert: Pem,
    pub key: Pem,
    pub client_ca: Option<Pem>,
    pub client_auth: ClientAuth,
    pub min_version: TlsVersion,
    pub max_version: TlsVersion,
    /// The server's order of cipher suites wins (Go's default: true).
    pub prefer_server_cipher_suites: bool,
}

impl TlsSettings {
    /// The files this configuration reads (for reloading when they change).
    pub fn files(&self) -> impl Iterator<Item = &Path> {
        [Some(&self.cert), Some(&self.key), self.client_ca.as_ref()]
            .into_iter()
            .flatten()
            .filter_map(|p| match p {
                Pem::File(f) => Some(f.as_path()),
                Pem::Inline(_) => None,
            })
    }
}

/// A web configuration file, checked.
#[derive(Clone, Debug)]
pub struct WebConfig {
    /// The file it was read from.
    pub path: PathBuf,
    /// `None`: plain HTTP.
    pub tls: Option<TlsSettings>,
    /// Offer HTTP/2 (ALPN `h2`) over TLS.
    pub http2: bool,
    /// Headers added to every response.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// User name to bcrypt hash; empty: no authentication.
    pub users: BTreeMap<String, String>,
}

/// The bcrypt costs accepted (Go's bcrypt: 4 to 31).
const BCRYPT_COSTS: std::ops::RangeInclusive<u32> = 4..=31;

/// The response headers exporter-toolkit lets a file set, with the values
/// each accepts (`None`: any).
const HEADERS: &[(&str, Option<&[&str]>)] = &[
    ("Strict-Transport-Security", None),
    ("X-Content-Type-Options", Some(&["nosniff"])),
    ("X-Frame-Options", Some(&["deny", "sameorigin"])),
    ("X-XSS-Protection", None),
    ("Content-Security-Policy", None),
];

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileFormat {
    tls_server_config: Option<TlsFormat>,
    http_server_config: Option<HttpFormat>,
    basic_auth_users: Option<BTreeMap<String, String>>,
    rate_limit: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct TlsFormat {
    cert: Option<String>,
    key: Option<String>,
    client_ca: Option<String>,
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    client_ca_file: Option<PathBuf>,
    client_auth_type: Option<ClientAuth>,
    min_version: Option<TlsVersion>,
    max_version: Option<TlsVersion>,
    prefer_server_cipher_suites: Option<bool>,
    cipher_suites: Option<serde::de::IgnoredAny>,
    curve_preferences: Option<serde::de::IgnoredAny>,
    client_allowed_sans: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct HttpFormat {
    http2: Option<bool>,
    headers: Option<BTreeMap<String, String>>,
}

impl WebConfig {
    /// Reads and checks `path`.
    pub fn load(path: &Path) -> Result<WebConfig, Error> {
        let text = std::fs::read_to_string(path).map_err(|error| Error::Read {
            path: path.to_owned(),
            error,
        })?;
        Self::parse(path, &text)
    }

    /// Checks `text`, the content of `path` (relative file names in it are
    /// taken from `path`'s directory).
    pub fn parse(path: &Path, text: &str) -> Result<WebConfig, Error> {
        let file: FileFormat = if text.trim().is_empty() {
            FileFormat::default()
        } else {
            serde_saphyr::from_str::<Option<FileFormat>>(text)
                .map_err(|e| Error::Syntax {
                    path: path.to_owned(),
                    message: e.to_string(),
                })?
                .unwrap_or_default()
        };
        let unsupported = |key, why| Error::Unsupported {
            path: path.to_owned(),
            key,
            why,
        };
        let invalid = |field: &str, message: String| Error::Invalid {
            path: path.to_owned(),
            field: field.to_owned(),
            message,
        };
        if file.rate_limit.is_some() {
            return Err(unsupported(
                "rate_limit",
                "requests are not rate-limited; remove the key (a reverse proxy can limit them)",
            ));
        }
        let dir = path.parent().unwrap_or(Path::new("."));
        let tls = file
            .tls_server_config
            .map(|t| tls_settings(t, dir, &unsupported, &invalid))
            .transpose()?
            .flatten();
        let http = file.http_server_config.unwrap_or_default();
        let mut headers = Vec::new();
        for (name, value) in http.headers.unwrap_or_default() {
            let field = format!("http_server_config.headers.{name}");
            let Some((_, allowed)) = HEADERS.iter().find(|(h, _)| *h == name) else {
                let names: Vec<&str> = HEADERS.iter().map(|(h, _)| *h).collect();
                return Err(invalid(
                    &field,
                    format!("this header cannot be set; one of {}", names.join(", ")),
                ));
            };
            if let Some(allowed) = allowed
                && !allowed.contains(&value.as_str())
            {
                return Err(invalid(
                    &field,
                    format!("{value:?} is not one of {}", allowed.join(", ")),
                ));
            }
            let value = HeaderValue::from_str(&value)
                .map_err(|e| invalid(&field, format!("{value:?}: {e}")))?;
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| invalid(&field, e.to_string()))?;
            headers.push((name, value));
        }
        let users = file.basic_auth_users.unwrap_or_default();
        for (user, hash) in &users {
            let field = format!("basic_auth_users.{user}");
            if user.contains(':') {
                return Err(invalid(
                    &field,
                    "a user name cannot contain ':' (HTTP basic auth ends the name at the first one)"
                        .into(),
                ));
            }
            check_bcrypt(hash).map_err(|why| {
                invalid(
                    &field,
                    format!(
                        "not a bcrypt hash ({why}); make one with `htpasswd -nBC 10 {user}` (package apache2-utils)"
                    ),
                )
            })?;
        }
        Ok(WebConfig {
            path: path.to_owned(),
            tls,
            http2: http.http2.unwrap_or(true),
            headers,
            users,
        })
    }
}

/// `tls_server_config`: `None` when it sets nothing (plain HTTP, as
/// exporter-toolkit).
fn tls_settings(
    t: TlsFormat,
    dir: &Path,
    unsupported: &impl Fn(&'static str, &'static str) -> Error,
    invalid: &impl Fn(&str, String) -> Error,
) -> Result<Option<TlsSettings>, Error> {
    for (key, given, why) in [
        (
            "tls_server_config.cipher_suites",
            t.cipher_suites.is_some(),
            "rustls offers only AEAD suites with forward secrecy (TLS 1.3; TLS 1.2 ECDHE with AES-GCM or ChaCha20-Poly1305); remove the key",
        ),
        (
            "tls_server_config.curve_preferences",
            t.curve_preferences.is_some(),
            "the key exchange groups are rustls's (X25519, P-256, P-384); remove the key",
        ),
        (
            "tls_server_config.client_allowed_sans",
            t.client_allowed_sans.is_some(),
            "client certificates are not matched by SAN; give them a CA of their own in client_ca_file with RequireAndVerifyClientCert",
        ),
    ] {
        if given {
            return Err(unsupported(key, why));
        }
    }
    let pem = |inline: Option<String>, file: Option<PathBuf>, name: &str| match (inline, file) {
        (Some(_), Some(_)) => Err(invalid(
            &format!("tls_server_config.{name}"),
            format!("give {name} or {name}_file, not both"),
        )),
        (Some(text), None) => Ok(Some(Pem::Inline(text))),
        (None, Some(f)) if f.as_os_str().is_empty() => Ok(None),
        (None, Some(f)) => Ok(Some(Pem::File(dir.join(f)))),
        (None, None) => Ok(None),
    };
    let cert = pem(t.cert, t.cert_file, "cert")?;
    let key = pem(t.key, t.key_file, "key")?;
    let client_ca = pem(t.client_ca, t.client_ca_file, "client_ca")?;
    let client_auth = t.client_auth_type.unwrap_or_default();
    let min_version = t.min_version.unwrap_or(TlsVersion::TLS12);
    let max_version = t.max_version.unwrap_or(TlsVersion::TLS13);
    let anything = cert.is_some()
        || key.is_some()
        || client_ca.is_some()
        || t.client_auth_type.is_some()
        || t.min_version.is_some()
        || t.max_version.is_some()
        || t.prefer_server_cipher_suites.is_some();
    if !anything {
        return Ok(None);
    }
    let Some(cert) = cert else {
        return Err(invalid(
            "tls_server_config.cert_file",
            "missing: TLS needs the server's certificate (cert_file, or cert)".into(),
        ));
    };
    let Some(key) = key else {
        return Err(invalid(
            "tls_server_config.key_file",
            "missing: TLS needs the certificate's private key (key_file, or key)".into(),
        ));
    };
    for (field, v) in [
        ("tls_server_config.min_version", min_version),
        ("tls_server_config.max_version", max_version),
    ] {
        if v < TlsVersion::TLS12 {
            return Err(invalid(
                field,
                format!("{v:?} is not offered: rustls speaks TLS12 and TLS13"),
            ));
        }
    }
    if min_version > max_version {
        return Err(invalid(
            "tls_server_config.min_version",
            format!("{min_version:?} is above max_version {max_version:?}"),
        ));
    }
    match (&client_ca, client_auth) {
        (Some(_), ClientAuth::NoClientCert) => {
            return Err(invalid(
                "tls_server_config.client_ca_file",
                "a client CA is given but client_auth_type is NoClientCert: set client_auth_type: RequireAndVerifyClientCert".into(),
            ));
        }
        (None, a) if a.verifies() => {
            return Err(invalid(
                "tls_server_config.client_ca_file",
                format!("missing: client_auth_type {a:?} verifies client certificates against it"),
            ));
        }
        _ => {}
    }
    Ok(Some(TlsSettings {
        cert,
        key,
        client_ca,
        client_auth,
        min_version,
        max_version,
        prefer_server_cipher_suites: t.prefer_server_cipher_suites.unwrap_or(true),
    }))
}

/// Whether `hash` is a bcrypt hash of an accepted cost; why not.
fn check_bcrypt(hash: &str) -> Result<(), String> {
    let parts: bcrypt::HashParts = hash
        .parse()
        .map_err(|e: bcrypt::BcryptError| e.to_string())?;
    let cost = parts.get_cost();
    if !BCRYPT_COSTS.contains(&cost) {
        return Err(format!(
            "cost {cost} is outside {}..={}",
            BCRYPT_COSTS.start(),
            BCRYPT_COSTS.end()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<WebConfig, Error> {
        WebConfig::parse(Path::new("/etc/pxe-monitor/web.yml"), text)
    }

    fn error(text: &str) -> String {
        match parse(text) {
            Ok(c) => panic!("accepted: {c:?}\n{text}"),
            Err(e) => e.to_string(),
        }
    }

    fn hash() -> String {
        bcrypt::hash("s3cret", 4).unwrap()
    }

    #[test]
    fn an_empty_file_is_plain_http_without_users() {
        for text in ["", "\n", "# nothing\n", "---\n"] {
            let c = parse(text).unwrap();
            assert!(c.tls.is_none() && c.users.is_empty() && c.headers.is_empty());
            assert!(c.http2);
        }
    }

    #[test]
    fn a_node_exporter_file_parses_with_its_defaults() {
        let text = format!(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: /abs/server.key\n\
             basic_auth_users:\n  prometheus: '{}'\n",
            hash()
        );
        let c = parse(&text).unwrap();
        let tls = c.tls.as_ref().unwrap();
        // Relative to the file's directory, as exporter-toolkit.
        assert_eq!(tls.cert, Pem::File("/etc/pxe-monitor/server.crt".into()));
        assert_eq!(tls.key, Pem::File("/abs/server.key".into()));
        assert_eq!(tls.client_auth, ClientAuth::NoClientCert);
        assert_eq!(
            (tls.min_version, tls.max_version),
            (TlsVersion::TLS12, TlsVersion::TLS13)
        );
        assert!(tls.prefer_server_cipher_suites && c.http2);
        assert_eq!(c.users.keys().collect::<Vec<_>>(), ["prometheus"]);
    }

    #[test]
    fn every_client_auth_type_parses() {
        for (name, want) in [
            ("NoClientCert", ClientAuth::NoClientCert),
            ("RequestClientCert", ClientAuth::RequestClientCert),
            ("RequireAnyClientCert", ClientAuth::RequireAnyClientCert),
            ("RequireClientCert", ClientAuth::RequireAnyClientCert),
            (
                "VerifyClientCertIfGiven",
                ClientAuth::VerifyClientCertIfGiven,
            ),
            (
                "RequireAndVerifyClientCert",
                ClientAuth::RequireAndVerifyClientCert,
            ),
        ] {
            let ca = if want == ClientAuth::NoClientCert {
                ""
            } else {
                "  client_ca_file: ca.crt\n"
            };
            let c = parse(&format!(
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: {name}\n{ca}"
            ))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(c.tls.unwrap().client_auth, want, "{name}");
        }
        let e = error(
            "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: Mandatory\n",
        );
        assert!(
            e.contains("/etc/pxe-monitor/web.yml")
                && e.contains("Mandatory")
                && e.contains("RequireAndVerifyClientCert"),
            "{e}"
        );
    }

    #[test]
    fn unknown_keys_are_named_with_the_file() {
        let e = error("tls_config:\n  cert_file: a\n");
        assert!(
            e.contains("/etc/pxe-monitor/web.yml") && e.contains("tls_config"),
            "{e}"
        );
        let e = error("tls_server_config:\n  cert_file: a\n  key_file: b\n  certfile: c\n");
        assert!(e.contains("certfile") && e.contains("line 4"), "{e}");
        let e = error("http_server_config:\n  http3: true\n");
        assert!(e.contains("http3"), "{e}");
        let e = error("basic_auth_users: [alice]\n");
        assert!(e.contains("basic_auth_users"), "{e}");
    }

    #[test]
    fn keys_not_implemented_are_refused_by_name_never_ignored() {
        for (text, key) in [
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  cipher_suites: [TLS_AES_128_GCM_SHA256]\n",
                "tls_server_config.cipher_suites",
            ),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  curve_preferences: [X25519]\n",
                "tls_server_config.curve_preferences",
            ),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: c\n  client_allowed_sans: [prometheus]\n",
                "tls_server_config.client_allowed_sans",
            ),
            ("rate_limit:\n  interval: 1s\n  burst: 5\n", "rate_limit"),
        ] {
            let e = parse(text).unwrap_err();
            assert!(
                matches!(&e, Error::Unsupported { key: k, .. } if *k == key),
                "{e:?}"
            );
            assert!(e.to_string().contains("not supported"), "{e}");
        }
    }

    #[test]
    fn tls_settings_that_cannot_work_are_refused() {
        let base = "tls_server_config:\n  cert_file: a\n  key_file: b\n";
        for (extra, field, says) in [
            ("  min_version: TLS11\n", "min_version", "TLS11"),
            ("  max_version: TLS10\n", "max_version", "TLS10"),
            (
                "  min_version: TLS13\n  max_version: TLS12\n",
                "min_version",
                "above",
            ),
            (
                "  client_ca_file: ca.crt\n",
                "client_ca_file",
                "NoClientCert",
            ),
            (
                "  client_auth_type: RequireAndVerifyClientCert\n",
                "client_ca_file",
                "missing",
            ),
            (
                "  client_auth_type: VerifyClientCertIfGiven\n",
                "client_ca_file",
                "missing",
            ),
            ("  cert: inline\n", "cert", "not both"),
        ] {
            let e = error(&format!("{base}{extra}"));
            assert!(
                e.contains(&format!("tls_server_config.{field}")) && e.contains(says),
                "{extra}: {e}"
            );
        }
        let e = error("tls_server_config:\n  cert_file: a\n");
        assert!(e.contains("tls_server_config.key_file: missing"), "{e}");
        // Settings without a certificate do not silently mean plain HTTP.
        let e = error("tls_server_config:\n  min_version: TLS13\n");
        assert!(e.contains("tls_server_config.cert_file: missing"), "{e}");
        // Inline PEM is taken as it is.
        let c = parse("tls_server_config:\n  cert: |\n    PEM\n  key_file: b\n").unwrap();
        assert_eq!(c.tls.unwrap().cert, Pem::Inline("PEM\n".into()));
    }

    #[test]
    fn a_bad_bcrypt_hash_names_the_user_and_how_to_make_one() {
        let e = error("basic_auth_users:\n  alice: s3cret\n");
        assert!(
            e.contains("basic_auth_users.alice") && e.contains("htpasswd -nBC 10 alice"),
            "{e}"
        );
        // Cost 3 is below bcrypt's minimum.
        let low = hash().replacen("$04$", "$03$", 1);
        let e = error(&format!("basic_auth_users:\n  alice: '{low}'\n"));
        assert!(e.contains("cost 3"), "{e}");
        let e = error(&format!("basic_auth_users:\n  'a:b': '{}'\n", hash()));
        assert!(e.contains("cannot contain ':'"), "{e}");
        // htpasswd's $2y$ hashes are read.
        let y = hash().replacen("$2b$", "$2y$", 1);
        parse(&format!("basic_auth_users:\n  alice: '{y}'\n")).unwrap();
    }

    #[test]
    fn headers_are_those_exporter_toolkit_allows() {
        let c = parse(
            "http_server_config:\n  http2: false\n  headers:\n    X-Frame-Options: deny\n    Strict-Transport-Security: max-age=31536000\n",
        )
        .unwrap();
        assert!(!c.http2);
        let names: Vec<&str> = c.headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["strict-transport-security", "x-frame-options"]);
        let e = error("http_server_config:\n  headers:\n    X-Frame-Options: allow\n");
        assert!(
            e.contains("http_server_config.headers.X-Frame-Options") && e.contains("sameorigin"),
            "{e}"
        );
        let e = error("http_server_config:\n  headers:\n    Server: pxe\n");
        assert!(
            e.contains("headers.Server") && e.contains("cannot be set"),
            "{e}"
        );
    }

    #[test]
    fn an_unreadable_file_is_named() {
        let e = WebConfig::load(Path::new("/nonexistent/web.yml")).unwrap_err();
        assert!(
            e.to_string().contains("/nonexistent/web.yml") && matches!(e, Error::Read { .. }),
            "{e}"
        );
    }
}
