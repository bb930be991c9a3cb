//! Certificates for the certificate credential's tests, made when a test runs (none is committed): an RSA key
//! (Entra takes RSA only; rcgen cannot make RSA keys with ring, so the `rsa` crate does), a self-signed certificate
//! over it (rcgen), and the pair as a PEM file and as a password-protected PKCS#12 file (p12-keystore).

use rsa::pkcs8::EncodePrivateKey as _;

/// An application's certificate and key.
#[derive(Debug, Clone)]
pub struct AppCertificate {
    /// The certificate, PEM: what the scenario registers for the app (`certificate`).
    pub cert_pem: String,
    /// The key (PKCS#8) and the certificate, PEM: the file the client reads.
    pub key_and_cert_pem: String,
    cert_der: Vec<u8>,
    key_der: Vec<u8>,
}

impl AppCertificate {
    /// A fresh 2048-bit RSA key and a self-signed certificate named `name`.
    ///
    /// # Panics
    /// When key generation or signing fails: a test cannot go on without its certificate.
    pub fn new(name: &str) -> AppCertificate {
        let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).expect("an RSA key");
        let key_der = key.to_pkcs8_der().expect("PKCS#8").as_bytes().to_vec();
        let pair = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(
            &rustls_pki_types::PrivatePkcs8KeyDer::from(key_der.clone()),
            &rcgen::PKCS_RSA_SHA256,
        )
        .expect("an rcgen key pair");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params.distinguished_name.push(rcgen::DnType::CommonName, name);
        let cert = params.self_signed(&pair).expect("a self-signed certificate");
        AppCertificate {
            cert_pem: cert.pem(),
            key_and_cert_pem: format!("{}{}", pair.serialize_pem(), cert.pem()),
            cert_der: cert.der().to_vec(),
            key_der,
        }
    }

    /// The key and certificate as a PKCS#12 file protected by `password`.
    ///
    /// # Panics
    /// When the file cannot be written.
    pub fn pkcs12(&self, password: &str) -> Vec<u8> {
        let key = p12_keystore::PrivateKey::from_der(&self.key_der).expect("PKCS#8 key");
        let cert = p12_keystore::Certificate::from_der(&self.cert_der).expect("certificate");
        let chain = p12_keystore::PrivateKeyChain::new(b"app".as_slice(), key, [cert]);
        let mut store = p12_keystore::KeyStore::new();
        store.add_entry("app", p12_keystore::KeyStoreEntry::PrivateKeyChain(chain));
        store.writer(password).write().expect("a PKCS#12 file")
    }
}
