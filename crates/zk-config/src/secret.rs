//! Keeping secrets out of output: warnings, errors, `Debug` and the `conf` word.
//!
//! A key is secret when its name contains `password`, `passwd`, `secret` or `digest`
//! (any case): `ssl.keyStore.password`, `ssl.trustStore.password`,
//! `zookeeper.DigestAuthenticationProvider.superDigest`, ... Their values are shown as
//! [`REDACTED`] everywhere this crate formats a value.

use std::fmt;

/// What a secret value is shown as.
pub const REDACTED: &str = "<redacted>";

/// Whether values of `key` must never be shown.
pub fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    ["password", "passwd", "secret", "digest"]
        .iter()
        .any(|w| k.contains(w))
}

/// `value` as it may be shown for `key`: itself, or [`REDACTED`].
pub fn shown<'a>(key: &str, value: &'a str) -> &'a str {
    if is_secret_key(key) {
        REDACTED
    } else {
        value
    }
}

/// A secret string: usable by the code that needs it, never printed by `Debug` or
/// `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for the one place that must compare or use it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_keys() {
        for k in [
            "ssl.keyStore.password",
            "zookeeper.ssl.trustStore.password",
            "zookeeper.ssl.quorum.keyStore.passwordPath",
            "zookeeper.DigestAuthenticationProvider.superDigest",
            "my.SECRET",
            "db.passwd",
        ] {
            assert!(is_secret_key(k), "{k}");
            assert_eq!(shown(k, "hunter2"), REDACTED);
        }
        for k in ["tickTime", "ssl.keyStore.location", "zookeeper.skipACL"] {
            assert!(!is_secret_key(k), "{k}");
            assert_eq!(shown(k, "v"), "v");
        }
        let s = Secret::new("super:abc");
        assert_eq!(format!("{s:?} {s}"), format!("{REDACTED} {REDACTED}"));
        assert_eq!(s.expose(), "super:abc");
    }
}
