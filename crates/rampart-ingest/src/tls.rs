//! TLS server configuration shared by syslog-over-TLS and HTTPS: load PEM files or
//! generate (once) a self-signed certificate, optional client-certificate verification.
//! Always uses the ring provider explicitly, never a process-wide default.

use crate::IngestError;
use rustls::RootCertStore;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// File names of the generated certificate, under the directory given to [`server_config`].
pub const GENERATED_CERT: &str = "tls/server.crt";
pub const GENERATED_KEY: &str = "tls/server.key";

/// The crypto provider every TLS endpoint of Rampart uses.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Build a TLS server configuration.
///
/// With `cert` and `key`, load those PEM files. With neither, use
/// `generated_dir/tls/server.crt` and `generated_dir/tls/server.key`, generating a
/// self-signed certificate (for `localhost`, the loopback addresses and the host name)
/// the first time; the key file is created with mode 0600. With `client_ca`, clients
/// must present a certificate issued by one of the CAs in that PEM file.
pub fn server_config(
    cert: Option<&Path>,
    key: Option<&Path>,
    generated_dir: &Path,
    client_ca: Option<&Path>,
) -> Result<Arc<rustls::ServerConfig>, IngestError> {
    let (cert_path, key_path) = match (cert, key) {
        (Some(c), Some(k)) => (c.to_path_buf(), k.to_path_buf()),
        (None, None) => ensure_generated(generated_dir)?,
        _ => {
            return Err(IngestError::TlsMaterial(
                "cert_path and key_path must be given together".into(),
            ));
        }
    };
    let chain = load_certs(&cert_path, "certificate")?;
    let key = load_key(&key_path)?;
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?;
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca_path) => {
            let mut roots = RootCertStore::empty();
            for ca in load_certs(ca_path, "client ca")? {
                roots.add(ca)?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                .build()
                .map_err(|e| {
                    IngestError::TlsMaterial(format!("client ca '{}': {e}", ca_path.display()))
                })?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    Ok(Arc::new(builder.with_single_cert(chain, key)?))
}

fn read_file(path: &Path, what: &'static str) -> Result<Vec<u8>, IngestError> {
    std::fs::read(path).map_err(|source| IngestError::TlsFile {
        what,
        path: path.to_path_buf(),
        source,
    })
}

/// Every certificate in a PEM file; an error when there is none.
pub fn load_certs(
    path: &Path,
    what: &'static str,
) -> Result<Vec<CertificateDer<'static>>, IngestError> {
    let pem = read_file(path, what)?;
    let certs = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| IngestError::TlsFile {
            what,
            path: path.to_path_buf(),
            source,
        })?;
    if certs.is_empty() {
        return Err(IngestError::TlsMaterial(format!(
            "no certificate found in {what} file '{}'",
            path.display()
        )));
    }
    Ok(certs)
}

/// The first private key (PKCS#8, PKCS#1 or SEC1) in a PEM file.
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, IngestError> {
    let pem = read_file(path, "private key")?;
    rustls_pemfile::private_key(&mut pem.as_slice())
        .map_err(|source| IngestError::TlsFile {
            what: "private key",
            path: path.to_path_buf(),
            source,
        })?
        .ok_or_else(|| {
            IngestError::TlsMaterial(format!("no private key found in '{}'", path.display()))
        })
}

/// Paths of the generated pair, generating it when either file is missing.
fn ensure_generated(dir: &Path) -> Result<(PathBuf, PathBuf), IngestError> {
    let cert_path = dir.join(GENERATED_CERT);
    let key_path = dir.join(GENERATED_KEY);
    if cert_path.is_file() && key_path.is_file() {
        return Ok((cert_path, key_path));
    }
    let mut names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    if let Some(host) = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty() && h != "localhost")
    {
        names.push(host);
    }
    let generated = rcgen::generate_simple_self_signed(names)?;
    let write_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| IngestError::CertWrite { path, source }
    };
    if let Some(parent) = cert_path.parent() {
        std::fs::create_dir_all(parent).map_err(write_err(parent))?;
    }
    // The key first, so a certificate never exists without its key.
    write_atomically(
        &key_path,
        generated.signing_key.serialize_pem().as_bytes(),
        0o600,
    )
    .map_err(write_err(&key_path))?;
    write_atomically(&cert_path, generated.cert.pem().as_bytes(), 0o644)
        .map_err(write_err(&cert_path))?;
    tracing::info!(cert = %cert_path.display(), "generated a self-signed tls certificate");
    Ok((cert_path, key_path))
}

/// Write `data` to a temporary file with `mode`, sync it, and rename it over `path`.
pub(crate) fn write_atomically(path: &Path, data: &[u8], mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)?;
    file.write_all(data)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path)?;
    if let Some(parent) = path.parent()
        && let Ok(dir) = std::fs::File::open(parent)
    {
        // Make the rename itself durable; not every file system supports syncing a directory.
        let _ = dir.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn generates_once_then_reuses_with_private_key_mode() {
        let dir = tempfile::tempdir().expect("tempdir");
        server_config(None, None, dir.path(), None).expect("generated config");
        let cert = std::fs::read(dir.path().join(GENERATED_CERT)).expect("cert written");
        let mode = std::fs::metadata(dir.path().join(GENERATED_KEY))
            .expect("key written")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        server_config(None, None, dir.path(), None).expect("reused config");
        let again = std::fs::read(dir.path().join(GENERATED_CERT)).expect("cert kept");
        assert_eq!(cert, again, "second start must reuse the certificate");
    }

    #[test]
    fn bad_material_gives_clear_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not pem").expect("write");
        let cases: [(Option<&Path>, Option<&Path>, &str); 3] = [
            (Some(&junk), None, "must be given together"),
            (Some(&junk), Some(&junk), "no certificate found"),
            (
                Some(Path::new("/nonexistent/c.pem")),
                Some(&junk),
                "cannot read certificate",
            ),
        ];
        for (cert, key, expected) in cases {
            let err = server_config(cert, key, dir.path(), None)
                .expect_err("bad material must fail")
                .to_string();
            assert!(
                err.contains(expected),
                "{err:?} should contain {expected:?}"
            );
        }
    }
}
