//! TLS for both ends, on rustls with the ring provider: the server's
//! certificate chain and key read from PEM files, the client's trust store
//! (the system's roots plus `--cacert`), `-k/--insecure`'s verifier that
//! accepts any certificate, and TLS failures explained in plain words.
//!
//! There is no fallback: a `wss://` URL whose certificate does not verify
//! fails with [`Error::Tls`] (exit 5), never with a plain connection.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig,
    SignatureScheme,
};
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
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

/// The client's TLS settings for `-k/--insecure`: any certificate is
/// accepted, for any name; the handshake's signatures are still checked, so
/// the connection is encrypted with the key of the certificate shown.
pub fn insecure_client_config() -> Result<Arc<ClientConfig>> {
    let provider = provider();
    let verifier = Arc::new(AnyCertificate(provider.clone()));
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Usage(format!("TLS setup: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// A verifier that trusts every certificate (`--insecure`) but checks
/// handshake signatures with the provider's algorithms.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The TLS failure inside an I/O error from a handshake with `host`, if
/// there is one: what is wrong and what to do, then rustls's own words.
pub fn tls_failure(e: &std::io::Error, host: &str) -> Option<String> {
    let inner = e.get_ref()?.downcast_ref::<rustls::Error>()?;
    Some(match inner {
        rustls::Error::InvalidCertificate(cert) => match certificate_advice(cert, host) {
            Some(advice) => format!("{advice} ({inner})"),
            None => format!("certificate verification failed: {inner}"),
        },
        other => format!("TLS handshake failed: {other}"),
    })
}

/// What is wrong with a certificate that did not verify, and how to fix it.
fn certificate_advice(error: &CertificateError, host: &str) -> Option<String> {
    Some(match error {
        CertificateError::UnknownIssuer => "the server's certificate is signed by an authority \
            this machine does not trust: give that authority's certificate (or the server's \
            own self-signed one) with --cacert PEM, or skip verification with -k"
            .to_string(),
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            format!(
                "the server's certificate is not valid for the name '{host}': use a name it \
                 lists in the URL, or make a certificate whose subjectAltName has {host}"
            )
        }
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            "the server's certificate has expired: renew it (or check this machine's clock)"
                .to_string()
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            "the server's certificate is not valid yet: check the clocks of this machine and \
             the server"
                .to_string()
        }
        CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
            "the server's certificate is not for TLS servers: make one with extendedKeyUsage \
             serverAuth (or none)"
                .to_string()
        }
        CertificateError::Other(other) => match other.0.downcast_ref::<webpki::Error>()? {
            webpki::Error::CaUsedAsEndEntity => format!(
                "the server's certificate is a CA certificate (basicConstraints CA:TRUE, as \
                 `openssl req -x509` makes by default), which cannot identify a server: make \
                 one with basicConstraints CA:FALSE and a subjectAltName for {host} (README, \
                 \"Certificates\"), or sign such a one with this CA"
            ),
            _ => return None,
        },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn io_error(error: rustls::Error) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::InvalidData, error)
    }

    #[test]
    fn certificate_failures_are_explained() {
        let ca_as_leaf = CertificateError::Other(rustls::OtherError(Arc::new(
            webpki::Error::CaUsedAsEndEntity,
        )));
        let cases: Vec<(CertificateError, &[&str])> = vec![
            (
                ca_as_leaf,
                &[
                    "is a CA certificate",
                    "CA:FALSE",
                    "h.test",
                    "CaUsedAsEndEntity",
                ],
            ),
            (
                CertificateError::UnknownIssuer,
                &["--cacert", "-k", "UnknownIssuer"],
            ),
            (
                CertificateError::NotValidForName,
                &["not valid for the name 'h.test'"],
            ),
            (CertificateError::Expired, &["expired", "clock"]),
            (CertificateError::NotValidYet, &["not valid yet", "clocks"]),
            (CertificateError::InvalidPurpose, &["serverAuth"]),
            (
                CertificateError::BadSignature,
                &["certificate verification failed"],
            ),
        ];
        for (error, wants) in cases {
            let e = io_error(rustls::Error::InvalidCertificate(error));
            let text = tls_failure(&e, "h.test").unwrap();
            for want in wants {
                assert!(text.contains(want), "{want:?} not in {text}");
            }
        }
        let other = io_error(rustls::Error::HandshakeNotComplete);
        assert!(
            tls_failure(&other, "h")
                .unwrap()
                .starts_with("TLS handshake failed")
        );
        assert_eq!(tls_failure(&std::io::Error::other("plain"), "h"), None);
    }
}
