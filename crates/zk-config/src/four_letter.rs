//! Which four-letter words exist and which are enabled (`FourLetterCommands`).
//!
//! The whitelist is the system property `zookeeper.4lw.commands.whitelist` (in zoo.cfg:
//! `4lw.commands.whitelist`), a comma-separated list; each entry is trimmed, `*` enables
//! every known word, unknown names are ignored. Whatever the list says, `srvr` is always
//! enabled (`zkServer.sh status` needs it) and `isro` is enabled when the system property
//! `readonlymode.enabled` is exactly `true` (case-sensitive here, unlike elsewhere). With
//! no property at all only `srvr` runs.

use std::collections::BTreeSet;

/// Every four-letter word Apache ZooKeeper 3.8 knows, in `FourLetterCommands` order.
pub const ALL_WORDS: [&str; 18] = [
    "conf", "cons", "crst", "dirs", "dump", "envi", "gtmk", "ruok", "stmk", "srst", "srvr", "stat",
    "wchc", "wchp", "wchs", "mntr", "isro", "hash",
];

/// The name `FourLetterCommands` gives the telnet interrupt sequence (`0xfff4fffd`).
pub const TELNET_CLOSE: &str = "telnet close";

/// The system property holding the whitelist.
pub const WHITELIST_PROPERTY: &str = "zookeeper.4lw.commands.whitelist";

/// The set of enabled four-letter words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FourLetterWhitelist {
    enabled: BTreeSet<&'static str>,
    unknown: Vec<String>,
    /// "telnet close" (the telnet interrupt sequence) is known too: `*` enables it like the
    /// others (it then runs nothing and the connection closes without an answer).
    telnet_close: bool,
}

impl Default for FourLetterWhitelist {
    /// No property set: only `srvr`.
    fn default() -> Self {
        Self::from_property(None, false)
    }
}

impl FourLetterWhitelist {
    /// Builds the set from the whitelist property value (if any) and whether the system
    /// property `readonlymode.enabled` is exactly `"true"`.
    pub fn from_property(whitelist: Option<&str>, read_only_mode: bool) -> Self {
        let mut enabled = BTreeSet::new();
        let mut unknown = Vec::new();
        let mut telnet_close = false;
        if let Some(list) = whitelist {
            for entry in list.split(',') {
                let cmd = super::properties::java_trim(entry);
                if cmd == "*" {
                    enabled.extend(ALL_WORDS);
                    telnet_close = true;
                    break;
                }
                if cmd.is_empty() {
                    continue;
                }
                if cmd == TELNET_CLOSE {
                    telnet_close = true;
                    continue;
                }
                match ALL_WORDS.iter().find(|w| **w == cmd) {
                    Some(w) => {
                        enabled.insert(*w);
                    }
                    None => unknown.push(cmd.to_owned()),
                }
            }
        }
        if read_only_mode {
            enabled.insert("isro");
        }
        enabled.insert("srvr");
        FourLetterWhitelist {
            enabled,
            unknown,
            telnet_close,
        }
    }

    /// Whether `word` may run. Words that do not exist are never enabled.
    pub fn is_enabled(&self, word: &str) -> bool {
        self.enabled.contains(word) || (word == TELNET_CLOSE && self.telnet_close)
    }

    /// The enabled words, sorted.
    pub fn enabled(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.enabled.iter().copied()
    }

    /// Names in the list that are not four-letter words (Java ignores them silently).
    pub fn unknown(&self) -> &[String] {
        &self.unknown
    }

    /// The reply to a word that exists but is not enabled.
    pub fn refusal(word: &str) -> String {
        format!("{word} is not executed because it is not in the whitelist.\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(w: &FourLetterWhitelist) -> Vec<&'static str> {
        w.enabled().collect()
    }

    #[test]
    fn default_is_srvr_only() {
        let w = FourLetterWhitelist::default();
        assert_eq!(words(&w), ["srvr"]);
        assert!(!w.is_enabled("ruok"));
    }

    #[test]
    fn star_and_lists() {
        let all = FourLetterWhitelist::from_property(Some("*"), false);
        assert_eq!(all.enabled().count(), ALL_WORDS.len());
        assert!(all.is_enabled(TELNET_CLOSE));
        let w = FourLetterWhitelist::from_property(Some(" ruok , stat,,bogus"), false);
        assert!(!w.is_enabled(TELNET_CLOSE));
        assert_eq!(words(&w), ["ruok", "srvr", "stat"]);
        assert_eq!(w.unknown(), ["bogus"]);
        // '*' after other entries still enables everything.
        let w = FourLetterWhitelist::from_property(Some("ruok, * "), false);
        assert_eq!(w.enabled().count(), ALL_WORDS.len());
        // An empty list still has srvr.
        let w = FourLetterWhitelist::from_property(Some(""), false);
        assert_eq!(words(&w), ["srvr"]);
    }

    #[test]
    fn read_only_mode_adds_isro() {
        let w = FourLetterWhitelist::from_property(Some("ruok"), true);
        assert_eq!(words(&w), ["isro", "ruok", "srvr"]);
    }

    #[test]
    fn refusal_text() {
        assert_eq!(
            FourLetterWhitelist::refusal("conf"),
            "conf is not executed because it is not in the whitelist.\n"
        );
    }
}
