//! TLS for both ends, on rustls with the ring provider: the server's
//! certificate chain and key read from PEM files, the client's trust store
//! (the system's roots plus `--cacert`), and TLS failures explained.
//!
//! There is no fallback: a `wss://` URL whose certificate does not verify
//! fails with [`Error::Tls`] (exit 5), never with a plain connection.

use std::path::Path;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::error::{Error, Result};

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn pem_error(flag: &str, path: &Path, e: pem::Error) -> Error {
    match e {
        pem::Error::Io(e) => Error::local_io(format!("reading {flag} {}", path.display()), e),
        other => Error::Usage(format!("{flag} {}: {other}", path.display())),
    }
}

/// Every certificate in the PEM file at `path` (at least one).
fn certificates(flag: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| pem_error(flag, path, e))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| pem_error(flag, path, e))?;
    if certs.is_empty() {
        return Err(Error::Usage(format!(
            "{flag} {}: no certificate in the file (expected PEM, \"BEGIN CERTIFICATE\")",
            path.display()
        )));
    }
    Ok(certs)
}

/// The acceptor for `serve --tls-cert CERT --tls-key KEY`.
pub fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor> {
    let chain = certificates("--tls-cert", cert)?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| pem_error("--tls-key", key, e))?;
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Usage(format!("TLS setup: {e}")))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| Error::Usage(format!("--tls-cert {} and --tls-key: {e}", cert.display())))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// The client's TLS settings: the system's root certificates plus those in
/// `cacert`.
pub fn client_config(cacert: Option<&Path>) -> Result<Arc<ClientConfig>> {
    let mut roots = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(native.certs);
    if let Some(path) = cacert {
        for cert in certificates("--cacert", path)? {
            roots.add(cert).map_err(|e| {
                Error::Usage(format!(
                    "--cacert {}: unusable certificate: {e}",
                    path.display()
                ))
            })?;
        }
    }
    if roots.is_empty() {
        return Err(Error::Tls(
            "no trusted root certificates: the system has none; give --cacert PEM".into(),
        ));
    }
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Usage(format!("TLS setup: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The TLS failure inside an I/O error from a handshake, if there is one.
pub fn tls_failure(e: &std::io::Error) -> Option<String> {
    let inner = e.get_ref()?.downcast_ref::<rustls::Error>()?;
    Some(match inner {
        rustls::Error::InvalidCertificate(_) => format!("certificate verification failed: {inner}"),
        other => format!("TLS handshake failed: {other}"),
    })
}
