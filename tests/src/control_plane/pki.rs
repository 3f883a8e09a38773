//! The control plane's keys and certificates, made in-process with `rcgen` (ECDSA P-256):
//! a service-account signing key, a client CA, and client certificates for the users the
//! tests act as. The apiserver makes its own self-signed serving certificate
//! (`CERTDIR/apiserver.crt`), which the clients trust.

use std::io;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};

/// A user the tests act as, authenticated by a client certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum User {
    /// `CN=informer-admin, O=system:masters`: bypasses RBAC, exempt from API priority and
    /// fairness.
    Admin,
    /// `CN=informer-nobody` with no group: authenticated, but RBAC grants it nothing.
    Unprivileged,
}

impl User {
    /// Every user, in a fixed order.
    pub const ALL: [User; 2] = [User::Admin, User::Unprivileged];

    /// The user name (the certificate's common name).
    pub fn name(self) -> &'static str {
        match self {
            User::Admin => "informer-admin",
            User::Unprivileged => "informer-nobody",
        }
    }

    fn groups(self) -> &'static [&'static str] {
        match self {
            User::Admin => &["system:masters"],
            User::Unprivileged => &[],
        }
    }
}

/// A client certificate and its key, PEM-encoded.
#[derive(Clone)]
pub struct ClientIdentity {
    /// The certificate.
    pub cert_pem: String,
    /// The private key (PKCS#8).
    pub key_pem: String,
}

impl std::fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientIdentity").field("key_pem", &"<redacted>").finish_non_exhaustive()
    }
}

/// The files the apiserver is started with, and the client identities.
#[derive(Debug)]
pub struct Pki {
    /// `--client-ca-file`.
    pub client_ca_file: PathBuf,
    /// `--service-account-signing-key-file` (private key).
    pub service_account_key_file: PathBuf,
    /// `--service-account-key-file` (its public key).
    pub service_account_public_file: PathBuf,
    admin: ClientIdentity,
    unprivileged: ClientIdentity,
}

fn pki_error(what: &str, e: rcgen::Error) -> io::Error {
    io::Error::other(format!("making the control plane's {what}: {e}"))
}

impl Pki {
    /// Makes every key and certificate and writes the apiserver's files into `dir`.
    pub fn create(dir: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let ca_key = KeyPair::generate().map_err(|e| pki_error("client CA key", e))?;
        let mut ca = CertificateParams::new(Vec::new()).map_err(|e| pki_error("client CA", e))?;
        ca.distinguished_name.push(DnType::CommonName, "informer-test-client-ca");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
        let ca_cert = ca.self_signed(&ca_key).map_err(|e| pki_error("client CA", e))?;
        let issuer = Issuer::new(ca, ca_key);

        let client_ca_file = dir.join("client-ca.crt");
        std::fs::write(&client_ca_file, ca_cert.pem())?;

        let sa_key = KeyPair::generate().map_err(|e| pki_error("service-account key", e))?;
        let service_account_key_file = dir.join("sa.key");
        let service_account_public_file = dir.join("sa.pub");
        std::fs::write(&service_account_key_file, sa_key.serialize_pem())?;
        std::fs::write(&service_account_public_file, sa_key.public_key_pem())?;

        let admin = client_identity(User::Admin, &issuer)?;
        let unprivileged = client_identity(User::Unprivileged, &issuer)?;
        Ok(Self { client_ca_file, service_account_key_file, service_account_public_file, admin, unprivileged })
    }

    /// The client certificate of `user`.
    pub fn identity(&self, user: User) -> &ClientIdentity {
        match user {
            User::Admin => &self.admin,
            User::Unprivileged => &self.unprivileged,
        }
    }
}

fn client_identity(user: User, issuer: &Issuer<'_, KeyPair>) -> io::Result<ClientIdentity> {
    let key = KeyPair::generate().map_err(|e| pki_error("client key", e))?;
    let mut params = CertificateParams::new(Vec::new()).map_err(|e| pki_error("client certificate", e))?;
    params.distinguished_name.push(DnType::CommonName, user.name());
    for group in user.groups() {
        params.distinguished_name.push(DnType::OrganizationName, *group);
    }
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.use_authority_key_identifier_extension = true;
    let cert = params.signed_by(&key, issuer).map_err(|e| pki_error("client certificate", e))?;
    Ok(ClientIdentity { cert_pem: cert.pem(), key_pem: key.serialize_pem() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_the_apiserver_files_and_one_identity_per_user() {
        let dir = tempfile::tempdir().unwrap();
        let pki = Pki::create(dir.path()).unwrap();
        for file in [&pki.client_ca_file, &pki.service_account_key_file, &pki.service_account_public_file] {
            let text = std::fs::read_to_string(file).unwrap();
            assert!(text.starts_with("-----BEGIN "), "{file:?} is PEM");
        }
        assert!(std::fs::read_to_string(&pki.service_account_public_file).unwrap().contains("PUBLIC KEY"));
        let (admin, nobody) = (pki.identity(User::Admin), pki.identity(User::Unprivileged));
        assert_ne!(admin.cert_pem, nobody.cert_pem);
        assert!(admin.key_pem.contains("PRIVATE KEY"));
        assert!(!format!("{admin:?}").contains("PRIVATE"), "keys stay out of Debug output");
    }
}
