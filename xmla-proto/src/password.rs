//! A backup password that never prints.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

/// The password of an encrypted backup.
///
/// `Debug` and `Display` print a mask, so a password cannot reach a log line, an error or a `--dry-run` listing by
/// accident. The only way to the text is [`Password::expose`], which the request writer calls.
///
/// ```
/// use xmla_proto::Password;
/// let p = Password::new("s3cret");
/// assert_eq!(format!("{p} {p:?}"), "******** Password(********)");
/// assert_eq!(p.expose(), "s3cret");
/// ```
#[derive(Clone)]
pub struct Password(SecretString);

/// What a password looks like in any printed form.
pub const PASSWORD_MASK: &str = "********";

impl Password {
    /// Wraps a password.
    pub fn new(password: impl Into<String>) -> Self {
        Password(SecretString::from(password.into()))
    }

    /// The password text, for the request writer and nobody else.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl PartialEq for Password {
    fn eq(&self, other: &Self) -> bool {
        self.expose() == other.expose()
    }
}

impl Eq for Password {}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Password({PASSWORD_MASK})")
    }
}

impl fmt::Display for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(PASSWORD_MASK)
    }
}
