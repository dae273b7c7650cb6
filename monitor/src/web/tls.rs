//! The TLS side of the web configuration: reads the certificate, its key
//! and the client CA that [`TlsSettings`] names and makes a rustls server
//! configuration of them (the ring provider), with the client-certificate
//! policy of `client_auth_type`.

use std::{path::Path, sync::Arc};

use rustls::{
    DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig, SignatureScheme,
    SupportedProtocolVersion,
    client::danger::HandshakeSignatureValid,
    crypto::{CryptoProvider, WebPkiSupportedAlgorithms},
    pki_types::{CertificateDer, PrivateKeyDer, UnixTime, pem::PemObject},
    server::{
        WebPkiClientVerifier,
        danger::{ClientCertVerified, ClientCertVerifier},
    },
    sign::CertifiedKey,
};

use super::config::{ClientAuth, Pem, TlsSettings, TlsVersion};

/// What is wrong with the certificates or keys a web config file names.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("web config file {}: tls_server_config.{field}: cannot read {}: {error}", config.display(), file.display())]
    Read {
        config: std::path::PathBuf,
        field: &'static str,
        file: std::path::PathBuf,
        error: std::io::Error,
    },
    #[error("web config file {}: tls_server_config.{field}: {what}", config.display())]
    Pem {
        config: std::path::PathBuf,
        field: &'static str,
        what: String,
    },
    #[error("web config file {}: tls_server_config: the private key ({key}) does not match the certificate ({cert})", config.display())]
    KeyMismatch {
        config: std::path::PathBuf,
        cert: String,
        key: String,
    },
    #[error("web config file {}: tls_server_config: {what}: {error}", config.display())]
    Rustls {
        config: std::path::PathBuf,
        what: &'static str,
        error: rustls::Error,
    },
}

/// The provider every TLS object here uses: rustls's ring one (aws-lc-rs,
/// rustls's default, needs cmake and a C toolchain to build; ring offers no
/// post-quantum key exchange, which is why rustls 0.23.48 marks it
/// deprecated: X25519, P-256 and P-384 are offered).
pub fn provider() -> Arc<CryptoProvider> {
    #[allow(deprecated)]
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A rustls server configuration for `tls` (`config`: the web config file,
/// for messages), offering HTTP/2 by ALPN when `http2`.
pub fn server_config(
    tls: &TlsSettings,
    config: &Path,
    http2: bool,
) -> Result<Arc<ServerConfig>, Error> {
    let provider = provider();
    let read = |pem: &Pem, field: &'static str| -> Result<(Vec<u8>, String), Error> {
        match pem {
            Pem::Inline(text) => Ok((text.as_bytes().to_vec(), format!("inline {field}"))),
            Pem::File(f) => std::fs::read(f)
                .map(|b| (b, f.display().to_string()))
                .map_err(|error| Error::Read {
                    config: config.to_owned(),
                    field: file_field(field),
                    file: f.clone(),
                    error,
                }),
        }
    };
    let pem_error = |field: &'static str, what: String| Error::Pem {
        config: config.to_owned(),
        field: file_field(field),
        what,
    };
    let (cert_pem, cert_name) = read(&tls.cert, "cert")?;
    let chain =
        certificates(&cert_pem).map_err(|e| pem_error("cert", format!("{cert_name}: {e}")))?;
    if chain.is_empty() {
        return Err(pem_error("cert", format!("no CERTIFICATE in {cert_name}")));
    }
    let (key_pem, key_name) = read(&tls.key, "key")?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
        pem_error(
            "key",
            format!("no usable private key in {key_name} ({e}); PKCS#8, PKCS#1 (RSA) and SEC1 (EC) PEM are read"),
        )
    })?;
    let signing = provider
        .key_provider
        .load_private_key(key)
        .map_err(|error| Error::Rustls {
            config: config.to_owned(),
            what: "the private key is of a kind rustls cannot sign with",
            error,
        })?;
    let certified = CertifiedKey::new(chain, signing);
    match certified.keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            return Err(Error::KeyMismatch {
                config: config.to_owned(),
                cert: cert_name,
                key: key_name,
            });
        }
        Err(error) => {
            return Err(Error::Rustls {
                config: config.to_owned(),
                what: "the certificate cannot be parsed",
                error,
            });
        }
    }
    let roots = match &tls.client_ca {
        None => None,
        Some(pem) => {
            let (ca_pem, ca_name) = read(pem, "client_ca")?;
            let cas = certificates(&ca_pem)
                .map_err(|e| pem_error("client_ca", format!("{ca_name}: {e}")))?;
            let mut roots = RootCertStore::empty();
            let (added, _) = roots.add_parsable_certificates(cas);
            if added == 0 {
                return Err(pem_error(
                    "client_ca",
                    format!("no usable CA CERTIFICATE in {ca_name}"),
                ));
            }
            Some(Arc::new(roots))
        }
    };
    let verifier = client_verifier(tls.client_auth, roots, &provider).map_err(|e| {
        pem_error(
            "client_ca",
            format!("cannot verify client certificates with it: {e}"),
        )
    })?;
    let versions: Vec<&'static SupportedProtocolVersion> = [
        (TlsVersion::TLS12, &rustls::version::TLS12),
        (TlsVersion::TLS13, &rustls::version::TLS13),
    ]
    .into_iter()
    .filter(|(v, _)| (tls.min_version..=tls.max_version).contains(v))
    .map(|(_, p)| p)
    .collect();
    let mut sc = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions)
        .map_err(|error| Error::Rustls {
            config: config.to_owned(),
            what: "min_version/max_version",
            error,
        })?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(certified)));
    sc.ignore_client_order = tls.prefer_server_cipher_suites;
    sc.alpn_protocols = if http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Ok(Arc::new(sc))
}

/// `cert` names the field `cert_file` in messages about files.
fn file_field(field: &'static str) -> &'static str {
    match field {
        "cert" => "cert_file",
        "key" => "key_file",
        _ => "client_ca_file",
    }
}

/// Every CERTIFICATE of a PEM document (other sections are skipped).
fn certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("not PEM: {e}"))
}

fn client_verifier(
    auth: ClientAuth,
    roots: Option<Arc<RootCertStore>>,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ClientCertVerifier>, rustls::server::VerifierBuilderError> {
    let webpki = |roots: Option<Arc<RootCertStore>>| {
        // config.rs refuses the verifying policies without a client CA.
        WebPkiClientVerifier::builder_with_provider(
            roots.unwrap_or_else(|| Arc::new(RootCertStore::empty())),
            provider.clone(),
        )
    };
    let hints = |roots: &Option<Arc<RootCertStore>>| {
        roots.as_ref().map(|r| r.subjects()).unwrap_or_default()
    };
    Ok(match auth {
        ClientAuth::NoClientCert => WebPkiClientVerifier::no_client_auth(),
        ClientAuth::RequestClientCert | ClientAuth::RequireAnyClientCert => {
            Arc::new(AnyClientCert {
                mandatory: auth == ClientAuth::RequireAnyClientCert,
                hints: hints(&roots),
                algorithms: provider.signature_verification_algorithms,
            })
        }
        ClientAuth::VerifyClientCertIfGiven => webpki(roots).allow_unauthenticated().build()?,
        ClientAuth::RequireAndVerifyClientCert => webpki(roots).build()?,
    })
}

/// Go's `RequestClientCert` and `RequireAnyClientCert`: a client
/// certificate is asked for and its chain is not verified; the client must
/// still prove it holds the certificate's key (the handshake signature is
/// checked).
#[derive(Debug)]
struct AnyClientCert {
    mandatory: bool,
    hints: Vec<DistinguishedName>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for AnyClientCert {
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.hints
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
