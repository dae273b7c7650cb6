//! The rustls client configuration of the Alertmanager delivery, from
//! `tls_config`: the system's CAs or `ca_file`'s, a client certificate,
//! `server_name` and `insecure_skip_verify`, on the ring provider.

use std::sync::Arc;

use rustls::{
    ClientConfig, DigitallySignedStruct, Error, RootCertStore, SignatureScheme,
    client::{
        WebPkiServerVerifier,
        danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    },
    crypto::{CryptoProvider, ring},
    pki_types::{CertificateDer, ServerName, UnixTime},
};

use super::config::Tls;

/// What rustls refused in `tls_config`.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("tls_config.key_file is not the key of tls_config.cert_file's certificate")]
    KeyMismatch,
    #[error(
        "the system's CAs could not be loaded ({0}): install ca-certificates, or set tls_config.ca_file"
    )]
    SystemRoots(Error),
    #[error(transparent)]
    Rustls(#[from] Error),
}

/// The configuration for `tls`. `https`: whether it will be used at all
/// (for an http:// URL the system's CAs are not even loaded).
pub fn client_config(tls: &Tls, https: bool) -> Result<ClientConfig, TlsError> {
    // ring, not aws-lc-rs (which needs cmake to build): rustls 0.23.48
    // deprecates it for lacking the post-quantum key exchange; the classic
    // ones (X25519, P-256, P-384) are what every Alertmanager accepts.
    #[allow(deprecated)]
    let provider = Arc::new(ring::default_provider());
    let verifier: Arc<dyn ServerCertVerifier> = if tls.insecure_skip_verify {
        Arc::new(Unverified {
            provider: provider.clone(),
            accept: true,
        })
    } else if let Some(ca) = &tls.ca {
        let mut roots = RootCertStore::empty();
        for c in ca {
            roots.add(c.clone())?;
        }
        WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .map_err(|e| TlsError::Rustls(Error::General(e.to_string())))?
    } else if https {
        Arc::new(
            rustls_platform_verifier::Verifier::new(provider.clone())
                .map_err(TlsError::SystemRoots)?,
        )
    } else {
        Arc::new(Unverified {
            provider: provider.clone(),
            accept: false,
        })
    };
    let verifier = match &tls.server_name {
        Some(name) if !tls.insecure_skip_verify => Arc::new(NameOverride {
            name: name.clone(),
            inner: verifier,
        }),
        _ => verifier,
    };
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match &tls.identity {
        Some(id) => builder
            .with_client_auth_cert(id.certs.clone(), id.key.clone_key())
            .map_err(|e| match e {
                Error::InconsistentKeys(_) => TlsError::KeyMismatch,
                e => TlsError::Rustls(e),
            })?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// `server_name`: the certificate is checked against this name, not the
/// URL's host (which may be an address, or a name the certificate lacks).
#[derive(Debug)]
struct NameOverride {
    name: ServerName<'static>,
    inner: Arc<dyn ServerCertVerifier>,
}

impl ServerCertVerifier for NameOverride {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        self.inner
            .verify_server_cert(end_entity, intermediates, &self.name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// No chain or name checked: `accept`, any certificate is taken
/// (`insecure_skip_verify: true`; the handshake's signatures are still
/// checked, so the server holds the certificate's key); otherwise none is
/// (an http:// URL, where TLS is never used).
#[derive(Debug)]
struct Unverified {
    provider: Arc<CryptoProvider>,
    accept: bool,
}

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        if self.accept {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(Error::General(
                "TLS is not configured for an http:// Alertmanager URL".into(),
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
