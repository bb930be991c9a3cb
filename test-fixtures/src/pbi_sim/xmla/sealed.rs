//! The simulator's own format for a password-protected backup.
//!
//! How the service encrypts an `.abf` is not public: no encrypted sample exists, and what stays in clear is unverified
//! (the format notes, `abf.md` §8.2). The one public fact used here is that the header page carries
//! `EncryptionFlag`. So this format is pbi-sim's invention, and a test that passes against it proves only that a
//! client reads that flag, not that it reads a real encrypted backup:
//!
//! - page 0 (4096 bytes): the plain image's header page, with `EncryptionFlag` set to `true`;
//! - then `PBISIM-SEALED-v1` (16 bytes), a random salt (16), a random nonce (12);
//! - then the whole plain image, sealed with AES-256-GCM under the key PBKDF2-HMAC-SHA256(password, salt, 100,000
//!   rounds). Nothing past the header page can be read, or changed unnoticed, without the password.

use aes_gcm::aead::rand_core::RngCore;
use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng};
use aes_gcm::{Aes256Gcm, Key, Nonce};

const PAGE: usize = 4096;
/// The header page starts with the STREAM_STORAGE signature: 72 bytes before its UTF-16 text.
const SIGNATURE_LEN: usize = 72;
const MAGIC: &[u8; 16] = b"PBISIM-SEALED-v1";
const SALT_LEN: usize = 16;
const NONCE_LEN: usize = 12;
const ROUNDS: u32 = 100_000;

fn key(password: &str, salt: &[u8]) -> Key<Aes256Gcm> {
    let mut key = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password.as_bytes(), salt, ROUNDS, &mut key);
    key.into()
}

/// The header page with `EncryptionFlag` true; `None` when the page is not one the simulator wrote.
fn flagged_header(plain: &[u8]) -> Option<Vec<u8>> {
    let page = plain.get(..PAGE)?;
    let body = &page[SIGNATURE_LEN..];
    let units: Vec<u16> = body
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .take_while(|u| *u != 0)
        .collect();
    let text = String::from_utf16(&units).ok()?;
    let flagged = text.replacen(
        "<EncryptionFlag>false</EncryptionFlag>",
        "<EncryptionFlag>true</EncryptionFlag>",
        1,
    );
    if flagged == text {
        return None;
    }
    let mut out = page[..SIGNATURE_LEN].to_vec();
    out.extend(flagged.encode_utf16().flat_map(u16::to_le_bytes));
    (out.len() <= PAGE).then(|| {
        out.resize(PAGE, 0);
        out
    })
}

/// Seals a plain image with `password`.
pub(super) fn seal(plain: &[u8], password: &str) -> Result<Vec<u8>, String> {
    let header = flagged_header(plain).ok_or("the image has no header page to flag")?;
    let mut salt = [0u8; SALT_LEN];
    OsRng.fill_bytes(&mut salt);
    let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
    let sealed = Aes256Gcm::new(&key(password, &salt))
        .encrypt(&nonce, plain)
        .map_err(|_| "the image could not be sealed".to_owned())?;
    let mut out = header;
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&salt);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// Whether `image` is in this format.
pub(super) fn is_sealed(image: &[u8]) -> bool {
    image.get(PAGE..PAGE + MAGIC.len()) == Some(&MAGIC[..])
}

/// The plain image of a sealed one; `None` when the password is missing or wrong (or the bytes were changed).
pub(super) fn open(image: &[u8], password: Option<&str>) -> Option<Vec<u8>> {
    let password = password?;
    let rest = image.get(PAGE + MAGIC.len()..)?;
    let (salt, rest) = rest.split_at_checked(SALT_LEN)?;
    let (nonce, sealed) = rest.split_at_checked(NONCE_LEN)?;
    Aes256Gcm::new(&key(password, salt)).decrypt(Nonce::from_slice(nonce), sealed).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain() -> Vec<u8> {
        let spec = abf_format::ModelSpec {
            name: "Sealed".into(),
            compatibility_level: 1600,
            tables: vec![abf_format::TableSpec { name: "T".into(), partitions: vec!["T".into()] }],
            expressions: Vec::new(),
            roles: Vec::new(),
            data_source_version: Some(2),
        };
        abf_format::write_model(
            std::io::Cursor::new(Vec::new()),
            &spec,
            &[],
            abf_format::WriterOptions { compress: false, crc: true },
        )
        .unwrap()
        .into_inner()
    }

    #[test]
    fn only_the_password_opens_it_and_nothing_but_the_header_is_in_clear() {
        let plain = plain();
        let sealed = seal(&plain, "pässword").unwrap();
        assert!(is_sealed(&sealed) && !is_sealed(&plain));
        assert_eq!(open(&sealed, Some("pässword")).as_deref(), Some(&plain[..]));
        assert_eq!(open(&sealed, Some("password")), None);
        assert_eq!(open(&sealed, None), None);
        // The model's name is in the plain image's catalog, and nowhere in the sealed one past the header page.
        let utf16: Vec<u8> = "Sealed".encode_utf16().flat_map(u16::to_le_bytes).collect();
        let has = |hay: &[u8]| {
            [&utf16[..], b"Sealed"].iter().any(|n| hay.windows(n.len()).any(|w| w == *n))
        };
        assert!(has(&plain[PAGE..]));
        assert!(!has(&sealed[PAGE..]));
        // A changed byte is found out.
        let mut bent = sealed.clone();
        *bent.last_mut().unwrap() ^= 1;
        assert_eq!(open(&bent, Some("pässword")), None);
        // The header page says it is encrypted, and inspect stops there.
        let report = abf_format::inspect(
            std::io::Cursor::new(&sealed[..]),
            abf_format::InspectOptions { full: true, ..Default::default() },
        )
        .unwrap();
        assert!(report.encrypted && !report.valid, "{report:?}");
        assert!(
            report.problems.iter().all(|p| p.kind == abf_format::ProblemKind::Encrypted),
            "{report:?}"
        );
    }
}
