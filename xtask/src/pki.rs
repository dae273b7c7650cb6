//! A throw-away PKI for the tests of TLS (the agent's web server, the
//! Alertmanager it delivers to): a CA, a server certificate for
//! `127.0.0.1` and `localhost`, and a client certificate, made with the
//! `openssl` command (Debian's package, which `cargo xtask setup`
//! installs) in a directory of the test's own; and the bcrypt hashes the
//! web configuration files of Prometheus's exporter-toolkit hold.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, Result, bail};

/// The files of one test PKI, all PEM.
#[derive(Clone, Debug)]
pub struct Pki {
    pub ca_cert: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    /// A client certificate signed by another CA: one the server must refuse.
    pub stranger_cert: PathBuf,
    pub stranger_key: PathBuf,
}

impl Pki {
    /// Makes the CA and the certificates in `dir` (created if needed),
    /// valid for a day, EC P-256 keys.
    pub fn create(dir: &Path) -> Result<Pki> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let p = |name: &str| dir.join(name);
        ca(dir, "ca", "pxe-monitor test CA")?;
        ca(dir, "other-ca", "another CA")?;
        leaf(
            dir,
            "server",
            "ca",
            "127.0.0.1",
            "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\nextendedKeyUsage=serverAuth",
        )?;
        leaf(
            dir,
            "client",
            "ca",
            "prometheus",
            "extendedKeyUsage=clientAuth",
        )?;
        leaf(
            dir,
            "stranger",
            "other-ca",
            "stranger",
            "extendedKeyUsage=clientAuth",
        )?;
        Ok(Pki {
            ca_cert: p("ca.crt"),
            server_cert: p("server.crt"),
            server_key: p("server.key"),
            client_cert: p("client.crt"),
            client_key: p("client.key"),
            stranger_cert: p("stranger.crt"),
            stranger_key: p("stranger.key"),
        })
    }
}

/// The bcrypt hash of `password` (cost 10, as `htpasswd -B` makes), for
/// `basic_auth_users` in a web configuration file.
pub fn bcrypt_hash(password: &str) -> Result<String> {
    bcrypt::hash(password, 10).context("bcrypt hashing")
}

fn openssl(dir: &Path, args: &[&str]) -> Result<()> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .context("running openssl (cargo xtask setup installs the Debian package)")?;
    if !out.status.success() {
        bail!(
            "openssl {}: {}\n{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

fn new_key(dir: &Path, name: &str) -> Result<()> {
    openssl(
        dir,
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            &format!("{name}.key"),
        ],
    )
}

fn ca(dir: &Path, name: &str, subject: &str) -> Result<()> {
    new_key(dir, name)?;
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            &format!("{name}.key"),
            "-subj",
            &format!("/CN={subject}"),
            "-days",
            "1",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-out",
            &format!("{name}.crt"),
        ],
    )
}

fn leaf(dir: &Path, name: &str, ca: &str, cn: &str, ext: &str) -> Result<()> {
    new_key(dir, name)?;
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-key",
            &format!("{name}.key"),
            "-subj",
            &format!("/CN={cn}"),
            "-out",
            &format!("{name}.csr"),
        ],
    )?;
    let ext_file = dir.join(format!("{name}.ext"));
    std::fs::write(&ext_file, format!("basicConstraints=CA:FALSE\n{ext}\n"))
        .with_context(|| format!("writing {}", ext_file.display()))?;
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &format!("{ca}.crt"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            &format!("{name}.ext"),
            "-out",
            &format!("{name}.crt"),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificates_chain_to_their_ca_and_the_stranger_does_not() {
        let dir = std::env::temp_dir().join(format!("pxe-pki-test-{}", std::process::id()));
        let pki = Pki::create(&dir).unwrap();
        let verify = |ca: &Path, cert: &Path| {
            Command::new("openssl")
                .args(["verify", "-CAfile"])
                .arg(ca)
                .arg(cert)
                .output()
                .unwrap()
                .status
                .success()
        };
        assert!(verify(&pki.ca_cert, &pki.server_cert));
        assert!(verify(&pki.ca_cert, &pki.client_cert));
        assert!(!verify(&pki.ca_cert, &pki.stranger_cert));
        let h = bcrypt_hash("s3cret").unwrap();
        assert!(h.starts_with("$2") && bcrypt::verify("s3cret", &h).unwrap());
        assert!(!bcrypt::verify("wrong", &h).unwrap());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
