//! Certificates made at test time (rcgen): a CA and a server certificate it
//! signed, or a self-signed server certificate, written as PEM files.

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

/// A CA with a unique name (so no two tests' CAs are mistaken for each
/// other): its certificate's PEM and the issuer that signs with it.
pub fn new_ca() -> (String, Issuer<'static, KeyPair>) {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let name = format!("wsresume test CA {}", crate::hex(&crate::random_bytes(8)));
    params.distinguished_name.push(DnType::CommonName, name);
    let key = KeyPair::generate().unwrap();
    let pem = params.self_signed(&key).unwrap().pem();
    (pem, Issuer::new(params, key))
}

/// Writes `ca.crt` (a new CA's), and `server.crt` + `server.key`: a
/// certificate for `names` the CA signed; returns (ca, cert, key) paths.
pub fn ca_signed(dir: &Path, names: &[&str]) -> (PathBuf, PathBuf, PathBuf) {
    let (ca_pem, issuer) = new_ca();
    let key = KeyPair::generate().unwrap();
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let cert = CertificateParams::new(names)
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let paths = (
        dir.join("ca.crt"),
        dir.join("server.crt"),
        dir.join("server.key"),
    );
    std::fs::write(&paths.0, ca_pem).unwrap();
    std::fs::write(&paths.1, cert.pem()).unwrap();
    std::fs::write(&paths.2, key.serialize_pem()).unwrap();
    paths
}

/// Writes a self-signed certificate for `localhost` and its key as
/// `c.pem` and `k.pem`; returns their paths.
pub fn self_signed_localhost(dir: &Path) -> (PathBuf, PathBuf) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (cert_path, key_path) = (dir.join("c.pem"), dir.join("k.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    (cert_path, key_path)
}
