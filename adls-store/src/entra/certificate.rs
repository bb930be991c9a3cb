//! The certificate credential: a client assertion (a JWT signed with the certificate's private key) that Microsoft's
//! identity platform takes in place of a client secret ("Microsoft identity platform application authentication
//! certificate credentials", learn.microsoft.com/entra/identity-platform/certificate-credentials). azure_identity's
//! own certificate credential needs openssl; this one signs with ring and reads PEM (rustls-pki-types) and PKCS#12
//! (p12-keystore) files, then hands the assertion to the SDK's `ClientAssertionCredential`.

use std::fmt;
use std::path::{Path, PathBuf};

use azure_core_v1::http::ClientMethodOptions;
use azure_identity::ClientAssertion;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{RSA_PSS_SHA256, RsaKeyPair};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use secrecy::{ExposeSecret as _, SecretString};
use sha2::Digest as _;

/// How long an assertion is good for. The documented example uses ten minutes; a fresh one is signed per token.
const LIFETIME_SECONDS: i64 = 600;

/// Signs client assertions for one application with one certificate.
pub(crate) struct CertificateAssertion {
    client_id: String,
    /// The token endpoint the assertion is meant for (its `aud` claim).
    audience: String,
    key: RsaKeyPair,
    /// base64url of the certificate's SHA-256 thumbprint: the `x5t#S256` header Entra finds the key by.
    thumbprint: String,
    path: PathBuf,
}

impl fmt::Debug for CertificateAssertion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertificateAssertion")
            .field("client_id", &self.client_id)
            .field("certificate", &self.path)
            .finish_non_exhaustive()
    }
}

impl CertificateAssertion {
    /// Reads the certificate and its RSA private key from `path`: PEM (an unencrypted `PRIVATE KEY` or `RSA PRIVATE
    /// KEY` and a `CERTIFICATE`), or PKCS#12 (`.pfx`/`.p12`, with `password` or none). The error names the file and
    /// what is wrong with it, never the password.
    pub(crate) fn load(
        path: &Path,
        password: Option<&SecretString>,
        client_id: &str,
        audience: String,
    ) -> Result<Self, String> {
        let shown = path.display();
        let bytes = std::fs::read(path)
            .map_err(|e| format!("cannot read the certificate file {shown}: {e}"))?;
        let (key, certificate) = if bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
            read_pem(&bytes).map_err(|e| format!("the certificate file {shown} (PEM): {e}"))?
        } else {
            let password = password.map(|p| p.expose_secret()).unwrap_or("");
            read_pkcs12(&bytes, password)
                .map_err(|e| format!("the certificate file {shown} (PKCS#12): {e}"))?
        };
        let key = match &key {
            PrivateKeyDer::Pkcs8(k) => RsaKeyPair::from_pkcs8(k.secret_pkcs8_der()),
            PrivateKeyDer::Pkcs1(k) => RsaKeyPair::from_der(k.secret_pkcs1_der()),
            _ => {
                return Err(format!(
                    "the certificate file {shown} holds an EC key; Entra takes RSA keys only (2048 bits or more)"
                ));
            }
        }
        .map_err(|e| format!("the certificate file {shown} holds no usable RSA private key ({e})"))?;
        let thumbprint = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(certificate.as_ref()));
        Ok(Self {
            client_id: client_id.to_owned(),
            audience,
            key,
            thumbprint,
            path: path.to_owned(),
        })
    }

    /// A signed assertion, good for [`LIFETIME_SECONDS`] from `now` (Unix seconds).
    pub(crate) fn sign(&self, now: i64) -> Result<String, String> {
        let header = serde_json::json!({"alg": "PS256", "typ": "JWT", "x5t#S256": self.thumbprint});
        let claims = serde_json::json!({
            "aud": self.audience,
            "iss": self.client_id,
            "sub": self.client_id,
            "jti": uuid::Uuid::new_v4().to_string(),
            "iat": now,
            "nbf": now,
            "exp": now + LIFETIME_SECONDS,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut signature = vec![0; self.key.public().modulus_len()];
        self.key
            .sign(&RSA_PSS_SHA256, &SystemRandom::new(), signing_input.as_bytes(), &mut signature)
            .map_err(|_| format!("cannot sign with the key in {}", self.path.display()))?;
        Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }
}

#[async_trait::async_trait]
impl ClientAssertion for CertificateAssertion {
    async fn secret(&self, _: Option<ClientMethodOptions<'_>>) -> azure_core_v1::Result<String> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        self.sign(now).map_err(|e| {
            azure_core_v1::Error::with_message(azure_core_v1::error::ErrorKind::Credential, e)
        })
    }
}

fn read_pem(bytes: &[u8]) -> Result<(PrivateKeyDer<'static>, CertificateDer<'static>), String> {
    if bytes.windows(21).any(|w| w == b"ENCRYPTED PRIVATE KEY") {
        return Err("its private key is encrypted, which is not read; export it unencrypted to a file only \
                    this job can read, or use a PKCS#12 file and its password"
            .into());
    }
    let key = PrivateKeyDer::from_pem_slice(bytes).map_err(|e| {
        format!("no private key found ({e}); the file needs the key and the certificate")
    })?;
    let certificate = CertificateDer::pem_slice_iter(bytes)
        .next()
        .ok_or("no CERTIFICATE found; the file needs the key and the certificate")?
        .map_err(|e| format!("its CERTIFICATE cannot be read ({e})"))?;
    Ok((key, certificate))
}

fn read_pkcs12(
    bytes: &[u8],
    password: &str,
) -> Result<(PrivateKeyDer<'static>, CertificateDer<'static>), String> {
    let store = p12_keystore::KeyStore::from_pkcs12(
        bytes,
        password,
        p12_keystore::Pkcs12ImportPolicy::Strict,
    )
    .map_err(|e| {
        format!(
            "cannot be opened ({e}); check the password (AZURE_CLIENT_CERTIFICATE_PASSWORD or the password file)"
        )
    })?;
    let (_, chain) =
        store.private_key_chain().ok_or("it holds no private key with its certificate")?;
    let certificate = chain.certs().first().ok_or("its private key has no certificate")?;
    Ok((
        PrivateKeyDer::Pkcs8(chain.key().as_der().to_vec().into()),
        CertificateDer::from(certificate.as_der().to_vec()),
    ))
}
