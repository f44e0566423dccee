//! Java system properties: the `-Dkey=value` half of ZooKeeper's configuration.
//!
//! Many ZooKeeper settings are not read from zoo.cfg fields but from
//! `System.getProperty`: `zookeeper.snapCount`, `zookeeper.skipACL`, `jute.maxbuffer`,
//! `readonlymode.enabled`, ... They come from two places:
//!
//! 1. the JVM command line, `-Dkey=value` ([`SystemProperties::from_args`]), and
//! 2. zoo.cfg: every key `QuorumPeerConfig` does not handle itself is stored as the system
//!    property `zookeeper.<key>` (`System.setProperty`, after the command line was read).
//!
//! **Precedence: zoo.cfg wins.** `System.setProperty` overwrites, and ZooKeeper reads these
//! properties after parsing zoo.cfg. Checked against Debian's ZooKeeper 3.8.0 with
//! `-Dzookeeper.4lw.commands.whitelist=*` plus `4lw.commands.whitelist=srvr` in zoo.cfg:
//! `conf` is refused; with the two values swapped, `conf` answers. The flip side: a
//! property ZooKeeper reads *without* the `zookeeper.` prefix (`readonlymode.enabled`,
//! `jute.maxbuffer`, `znode.container.*`) can only be set with `-D`; the same key in zoo.cfg
//! lands on `zookeeper.readonlymode.enabled`, which nothing reads (checked: `isro` stays
//! disabled with `readonlymode.enabled=true` in zoo.cfg and is enabled by
//! `-Dreadonlymode.enabled=true`).
//!
//! The typed getters reproduce Java's parsing, lenient where Java is lenient:
//! [`SystemProperties::get_integer`] is `Integer.getInteger` (decimal, `0x`/`#` hex,
//! leading-`0` octal, anything unparsable gives the default), and
//! [`SystemProperties::get_boolean`] is `Boolean.getBoolean` (`true` in any case).

use std::collections::BTreeMap;
use std::fmt;

use super::secret::shown;
use super::ConfigError;

/// Where a system property's value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// `-Dkey=value` on the command line (or set by the embedding program).
    CommandLine,
    /// A zoo.cfg key `k`, stored as `zookeeper.k`.
    ZooCfg,
    /// Set by the configuration logic itself, as ZooKeeper does (e.g.
    /// `zookeeper.authProvider.x509` when a secure client port is configured).
    Derived,
}

/// The system property map, with the origin of every value.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SystemProperties {
    map: BTreeMap<String, (String, Origin)>,
}

impl fmt::Debug for SystemProperties {
    /// Values of secret-looking keys are redacted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.map.iter().map(|(k, (v, _))| (k, shown(k, v))))
            .finish()
    }
}

impl SystemProperties {
    /// No properties.
    pub fn new() -> Self {
        Self::default()
    }

    /// Collects the `-Dkey=value` arguments of a JVM-style command line; every other
    /// argument is returned, in order, for the caller to interpret. `-Dkey` alone sets
    /// `key` to `""`, as the JVM does. A later `-D` for the same key wins.
    pub fn from_args<I, S>(args: I) -> Result<(Self, Vec<String>), ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut props = SystemProperties::new();
        let mut rest = Vec::new();
        for arg in args {
            let arg = arg.as_ref();
            if arg.starts_with("-D") {
                props.define(arg)?;
            } else {
                rest.push(arg.to_owned());
            }
        }
        Ok((props, rest))
    }

    /// Applies one `-Dkey=value` (or `-Dkey`) argument.
    pub fn define(&mut self, arg: &str) -> Result<(), ConfigError> {
        let body = arg
            .strip_prefix("-D")
            .ok_or_else(|| ConfigError::BadArgument {
                argument: arg.to_owned(),
                reason: "a system property is given as -Dkey=value".into(),
            })?;
        let (key, value) = body.split_once('=').unwrap_or((body, ""));
        // `value` of an empty key is never echoed: it may be a secret.
        if key.is_empty() {
            return Err(ConfigError::BadArgument {
                argument: "-D=<value>".into(),
                reason: "the property name is empty".into(),
            });
        }
        self.set(key, value);
        Ok(())
    }

    /// Sets `key` (origin [`Origin::CommandLine`]).
    pub fn set(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.set_with_origin(key, value, Origin::CommandLine);
    }

    /// Sets `key`, recording where the value came from.
    pub fn set_with_origin(
        &mut self,
        key: impl Into<String>,
        value: impl Into<String>,
        origin: Origin,
    ) {
        self.map.insert(key.into(), (value.into(), origin));
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        self.map.remove(key).map(|(v, _)| v)
    }

    /// `System.getProperty(key)`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.map.get(key).map(|(v, _)| v.as_str())
    }

    /// Where the value of `key` came from.
    pub fn origin(&self, key: &str) -> Option<Origin> {
        self.map.get(key).map(|(_, o)| *o)
    }

    /// All properties, sorted by key.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str, Origin)> {
        self.map
            .iter()
            .map(|(k, (v, o))| (k.as_str(), v.as_str(), *o))
    }

    /// Number of properties.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// `Integer.getInteger(key, default)`: [`java_decode`] of the value, the default when
    /// absent or unparsable.
    pub fn get_integer(&self, key: &str, default: i32) -> i32 {
        self.get(key)
            .and_then(java_decode)
            .and_then(|v| i32::try_from(v).ok())
            .unwrap_or(default)
    }

    /// `Long.getLong(key, default)`.
    pub fn get_long(&self, key: &str, default: i64) -> i64 {
        self.get(key).and_then(java_decode).unwrap_or(default)
    }

    /// `Boolean.getBoolean(key)`: true only for `true` in any case.
    pub fn get_boolean(&self, key: &str) -> bool {
        self.get(key)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }

    /// `Boolean.parseBoolean(System.getProperty(key, default))`.
    pub fn get_boolean_or(&self, key: &str, default: bool) -> bool {
        match self.get(key) {
            Some(v) => v.eq_ignore_ascii_case("true"),
            None => default,
        }
    }

    /// Whether the value of `key` is present and unparsable by `Integer.getInteger`, which
    /// then silently uses its default (we warn).
    pub(crate) fn bad_integer(&self, key: &str) -> Option<&str> {
        self.get(key)
            .filter(|v| java_decode(v).and_then(|n| i32::try_from(n).ok()).is_none())
    }

    /// Like [`Self::bad_integer`] for `Long.getLong`.
    pub(crate) fn bad_long(&self, key: &str) -> Option<&str> {
        self.get(key).filter(|v| java_decode(v).is_none())
    }
}

/// `Long.decode` (and `Integer.decode` once range-checked): an optional sign, then `0x`,
/// `0X` or `#` for hex, a leading `0` (with more digits) for octal, else decimal. No
/// whitespace, no sign after the prefix, ASCII digits only.
pub fn java_decode(s: &str) -> Option<i64> {
    let (negative, rest) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let (radix, digits) = if let Some(h) = rest
        .strip_prefix("0x")
        .or_else(|| rest.strip_prefix("0X"))
        .or_else(|| rest.strip_prefix('#'))
    {
        (16, h)
    } else if rest.len() > 1 && rest.starts_with('0') {
        (8, &rest[1..])
    } else {
        (10, rest)
    };
    signed_digits(negative, digits, radix)
}

/// `Integer.parseInt(s)`: an optional `+` or `-`, then decimal digits; nothing else.
pub fn java_parse_int(s: &str) -> Option<i32> {
    java_parse_long(s).and_then(|v| i32::try_from(v).ok())
}

/// `Long.parseLong(s)`.
pub fn java_parse_long(s: &str) -> Option<i64> {
    java_parse_long_radix(s, 10)
}

/// `Long.parseLong(s, radix)`.
pub fn java_parse_long_radix(s: &str, radix: u32) -> Option<i64> {
    let (negative, digits) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    signed_digits(negative, digits, radix)
}

fn signed_digits(negative: bool, digits: &str, radix: u32) -> Option<i64> {
    if digits.is_empty() {
        return None;
    }
    let mut magnitude: i128 = 0;
    for c in digits.chars() {
        magnitude = magnitude * i128::from(radix) + i128::from(c.to_digit(radix)?);
        if magnitude > 1 << 63 {
            return None;
        }
    }
    i64::try_from(if negative { -magnitude } else { magnitude }).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn define_args() {
        let (p, rest) = SystemProperties::from_args([
            "-Dzookeeper.snapCount=10",
            "-cp",
            "x.jar",
            "-Dflag",
            "-Da=b=c",
            "-Dzookeeper.snapCount=20",
            "Main",
        ])
        .unwrap();
        assert_eq!(rest, ["-cp", "x.jar", "Main"]);
        assert_eq!(p.get("zookeeper.snapCount"), Some("20"));
        assert_eq!(p.get("flag"), Some(""));
        assert_eq!(p.get("a"), Some("b=c"));
        assert_eq!(p.origin("a"), Some(Origin::CommandLine));
        assert!(SystemProperties::from_args(["-D=x"]).is_err());
        assert!(SystemProperties::from_args(["-D"]).is_err());
    }

    #[test]
    fn integer_get_integer_semantics() {
        let mut p = SystemProperties::new();
        for (v, want) in [
            ("42", 42),
            ("+42", 42),
            ("-42", -42),
            ("0x10", 16),
            ("0X1f", 31),
            ("#10", 16),
            ("-0x10", -16),
            ("010", 8),
            ("0", 0),
            ("-2147483648", i32::MIN),
            // Unparsable or out of range: the default.
            ("2147483648", 7),
            (" 42", 7),
            ("42 ", 7),
            ("08", 7),
            ("0x-1", 7),
            ("", 7),
            ("1_000", 7),
            ("abc", 7),
        ] {
            p.set("k", v);
            assert_eq!(p.get_integer("k", 7), want, "{v:?}");
        }
        assert_eq!(p.get_integer("absent", 7), 7);
        p.set("k", "9223372036854775807");
        assert_eq!(p.get_long("k", 0), i64::MAX);
        p.set("k", "-9223372036854775808");
        assert_eq!(p.get_long("k", 0), i64::MIN);
        p.set("k", "9223372036854775808");
        assert_eq!(p.get_long("k", 5), 5);
    }

    #[test]
    fn booleans() {
        let mut p = SystemProperties::new();
        for (v, want) in [
            ("true", true),
            ("TRUE", true),
            ("yes", false),
            (" true", false),
        ] {
            p.set("b", v);
            assert_eq!(p.get_boolean("b"), want, "{v:?}");
            assert_eq!(p.get_boolean_or("b", true), want, "{v:?}");
        }
        assert!(!p.get_boolean("absent"));
        assert!(p.get_boolean_or("absent", true));
    }

    #[test]
    fn parse_int_is_strict() {
        assert_eq!(java_parse_int("2000"), Some(2000));
        assert_eq!(java_parse_int("+5"), Some(5));
        assert_eq!(java_parse_int("-1"), Some(-1));
        for bad in ["", "+", "-", "0x10", "1e3", " 1", "2147483648", "１"] {
            assert_eq!(java_parse_int(bad), None, "{bad:?}");
        }
        assert_eq!(java_parse_long_radix("ff", 16), Some(255));
        assert_eq!(java_parse_long_radix("100000000", 16), Some(1 << 32));
    }

    #[test]
    fn debug_redacts() {
        let mut p = SystemProperties::new();
        p.set("zookeeper.ssl.keyStore.password", "apassword");
        p.set("zookeeper.snapCount", "5");
        let d = format!("{p:?}");
        assert!(!d.contains("apassword"), "{d}");
        assert!(d.contains("zookeeper.snapCount"), "{d}");
    }
}
