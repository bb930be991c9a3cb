//! Client assertions at the simulated token endpoint, checked as Microsoft's identity platform documents them:
//! - a certificate credential ("certificate credentials", learn.microsoft.com/entra/identity-platform/
//!   certificate-credentials): `iss` and `sub` are the client id, `aud` the tenant's token endpoint, the header's
//!   `x5t#S256` names the registered certificate, and the signature (PS256 or RS256) verifies with its key;
//! - a federated token ("workload identity federation", learn.microsoft.com/entra/workload-id/
//!   workload-identity-federation): `iss`, `sub` and `aud` match one of the app's federated credentials. Entra also
//!   checks its signature against the issuer's published keys; the simulator cannot reach an issuer and does not
//!   (ARCHITECTURE.md, "Where the sources are silent or the stand-ins differ").
//!
//! Verified with jsonwebtoken and x509-parser, not with the client's signer.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use sha2::Digest as _;

use super::state::PrincipalState;

/// An Entra refusal: (`error`, `error_description`).
pub(crate) type Refusal = (&'static str, String);

#[derive(Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    #[serde(default)]
    aud: Audiences,
    exp: i64,
}

#[derive(Deserialize, Default)]
#[serde(untagged)]
enum Audiences {
    One(String),
    Many(Vec<String>),
    #[default]
    None,
}

impl Audiences {
    fn all(&self) -> Vec<&str> {
        match self {
            Audiences::One(a) => vec![a.as_str()],
            Audiences::Many(v) => v.iter().map(String::as_str).collect(),
            Audiences::None => Vec::new(),
        }
    }
}

/// Whether `assertion` proves `principal`: `Ok` or Entra's refusal.
pub(crate) fn check(
    assertion: &str,
    principal: &PrincipalState,
    tenant: &str,
) -> Result<(), Refusal> {
    let malformed = |why: String| {
        ("invalid_client", format!("AADSTS50027: JWT token is invalid or malformed. {why}"))
    };
    let header = jsonwebtoken::decode_header(assertion).map_err(|e| malformed(e.to_string()))?;
    let mut unchecked = Validation::default();
    unchecked.insecure_disable_signature_validation();
    unchecked.validate_aud = false;
    unchecked.validate_exp = false;
    let claims =
        jsonwebtoken::decode::<Claims>(assertion, &DecodingKey::from_secret(&[]), &unchecked)
            .map_err(|e| malformed(e.to_string()))?
            .claims;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    if claims.exp + 300 < now {
        return Err((
            "invalid_client",
            "AADSTS700024: Client assertion is not within its valid time range.".into(),
        ));
    }
    if claims.iss.eq_ignore_ascii_case(&principal.id) {
        certificate(assertion, &header, &claims, principal, tenant)
    } else {
        federated(&claims, principal)
    }
}

fn certificate(
    assertion: &str,
    header: &jsonwebtoken::Header,
    claims: &Claims,
    principal: &PrincipalState,
    tenant: &str,
) -> Result<(), Refusal> {
    let no_key = || {
        (
            "invalid_client",
            format!(
                "AADSTS700027: The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '{}']",
                header.x5t_s256.clone().or_else(|| header.x5t.clone()).unwrap_or_default()
            ),
        )
    };
    if !claims.sub.eq_ignore_ascii_case(&principal.id) {
        return Err(("invalid_client", "AADSTS700021: Client assertion application identifier doesn't match 'client_id' parameter.".into()));
    }
    let audience_ok = claims.aud.all().iter().any(|a| {
        a.trim_end_matches('/')
            .to_ascii_lowercase()
            .ends_with(&format!("/{tenant}/oauth2/v2.0/token").to_ascii_lowercase())
    });
    if !audience_ok {
        return Err((
            "invalid_client",
            "AADSTS700016: The client assertion's audience is not this tenant's token endpoint."
                .into(),
        ));
    }
    let Some(pem) = &principal.certificate else { return Err(no_key()) };
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).map_err(|_| no_key())?;
    let der = pem.contents;
    let sha256 = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(&der));
    // `x5t` (SHA-1) is the older header; the simulator knows the SHA-256 one only.
    if header.x5t_s256.as_deref() != Some(sha256.as_str()) {
        return Err(no_key());
    }
    let (_, cert) = x509_parser::parse_x509_certificate(&der).map_err(|_| no_key())?;
    let x509_parser::public_key::PublicKey::RSA(rsa) =
        cert.public_key().parsed().map_err(|_| no_key())?
    else {
        return Err(no_key());
    };
    // DER integers may start with a zero byte; the key's components are the numbers without it.
    let unsigned = |b: &[u8]| b.iter().position(|&x| x != 0).map_or(&[][..], |i| &b[i..]).to_vec();
    let key = DecodingKey::from_rsa_raw_components(&unsigned(rsa.modulus), &unsigned(rsa.exponent));
    let algorithm = match header.alg {
        Algorithm::PS256 | Algorithm::RS256 => header.alg,
        other => {
            return Err((
                "invalid_client",
                format!("AADSTS5002738: the assertion's algorithm {other:?} is not PS256 or RS256"),
            ));
        }
    };
    let mut validation = Validation::new(algorithm);
    validation.validate_aud = false;
    validation.leeway = 300;
    jsonwebtoken::decode::<Claims>(assertion, &key, &validation).map_err(|e| {
        (
            "invalid_client",
            format!("AADSTS7000274: Client assertion contains an invalid signature. ({e})"),
        )
    })?;
    Ok(())
}

fn federated(claims: &Claims, principal: &PrincipalState) -> Result<(), Refusal> {
    let audiences = claims.aud.all();
    let matched = principal.federated_credentials.iter().any(|f| {
        f.issuer == claims.iss
            && f.subject == claims.sub
            && audiences.iter().any(|a| f.audiences.iter().any(|b| b == a))
    });
    if matched {
        Ok(())
    } else {
        Err((
            "invalid_request",
            format!(
                "AADSTS70021: No matching federated identity record found for presented assertion. Assertion Issuer: '{}'. Assertion Subject: '{}'. Assertion Audience: '{}'.",
                claims.iss,
                claims.sub,
                audiences.join(",")
            ),
        ))
    }
}
