//! The JAAS login configuration file (`-Djava.security.auth.login.config`), as far as
//! ZooKeeper's server reads it: the section named by `zookeeper.sasl.serverconfig`
//! (default `Server`), its login modules, and their `user_<name>="<password>"` options
//! (`SaslServerCallbackHandler`); and, for quorum SASL, the sections named by
//! `quorum.auth.server.saslLoginContext` (default `QuorumServer`, `user_<name>` entries
//! like `Server`) and `quorum.auth.learner.saslLoginContext` (default `QuorumLearner`, the
//! `username` and `password` this member authenticates with).
//!
//! ```text
//! Server {
//!     org.apache.zookeeper.server.auth.DigestLoginModule required
//!     user_super="adminsecret"
//!     user_bob="bobsecret";
//! };
//! ```

use std::collections::BTreeMap;
use std::fmt;

use zk_core::sasl::Credentials;

/// One login module entry of a section.
#[derive(Clone, PartialEq, Eq)]
pub struct LoginModule {
    /// Its class name.
    pub class: String,
    /// `required`, `requisite`, `sufficient` or `optional`.
    pub flag: String,
    /// Its options (values may be secrets: `Debug` shows keys only).
    pub options: BTreeMap<String, String>,
}

impl fmt::Debug for LoginModule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginModule")
            .field("class", &self.class)
            .field("flag", &self.flag)
            .field("options", &self.options.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Why a JAAS file cannot be read. Never quotes option values.
#[derive(Debug, thiserror::Error)]
pub enum JaasError {
    /// Syntax error at a byte offset.
    #[error("JAAS configuration syntax error at byte {at}: {what}")]
    Syntax {
        /// Byte offset.
        at: usize,
        /// What was expected.
        what: &'static str,
    },
}

#[derive(Debug, PartialEq)]
enum Tok {
    Word(String),
    Quoted(String),
    Open,
    Close,
    Semi,
    Eq,
}

fn tokens(text: &str) -> Result<Vec<(usize, Tok)>, JaasError> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let end = text[i + 2..].find("*/").ok_or(JaasError::Syntax {
                    at: i,
                    what: "unterminated comment",
                })?;
                i += 2 + end + 2;
            }
            b'{' => {
                out.push((i, Tok::Open));
                i += 1;
            }
            b'}' => {
                out.push((i, Tok::Close));
                i += 1;
            }
            b';' => {
                out.push((i, Tok::Semi));
                i += 1;
            }
            b'=' => {
                out.push((i, Tok::Eq));
                i += 1;
            }
            b'"' | b'\'' => {
                let start = i;
                i += 1;
                let mut v = String::new();
                loop {
                    let Some(ch) = text[i..].chars().next() else {
                        return Err(JaasError::Syntax {
                            at: start,
                            what: "unterminated quoted value",
                        });
                    };
                    i += ch.len_utf8();
                    if ch as u32 == u32::from(c) {
                        break;
                    }
                    if ch == '\\' {
                        if let Some(n) = text[i..].chars().next() {
                            i += n.len_utf8();
                            v.push(n);
                            continue;
                        }
                    }
                    v.push(ch);
                }
                out.push((start, Tok::Quoted(v)));
            }
            _ => {
                let start = i;
                while i < b.len() && !b" \t\r\n{};=\"'".contains(&b[i]) {
                    i += 1;
                }
                out.push((start, Tok::Word(text[start..i].to_string())));
            }
        }
    }
    Ok(out)
}

/// A parsed JAAS file: section name → its login modules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JaasConfig {
    /// The sections, in file order.
    pub sections: Vec<(String, Vec<LoginModule>)>,
}

impl JaasConfig {
    /// Parses the file's text.
    pub fn parse(text: &str) -> Result<Self, JaasError> {
        let toks = tokens(text)?;
        let mut it = toks.into_iter().peekable();
        let mut sections = Vec::new();
        let err = |at: usize, what: &'static str| JaasError::Syntax { at, what };
        while let Some((at, t)) = it.next() {
            let Tok::Word(name) = t else {
                return Err(err(at, "a section name"));
            };
            match it.next() {
                Some((_, Tok::Open)) => {}
                Some((at, _)) => return Err(err(at, "'{'")),
                None => return Err(err(text.len(), "'{'")),
            }
            let mut modules = Vec::new();
            loop {
                match it.next() {
                    Some((_, Tok::Close)) => break,
                    Some((_, Tok::Word(class))) => {
                        let flag = match it.next() {
                            Some((_, Tok::Word(f))) => f,
                            Some((at, _)) => return Err(err(at, "a control flag")),
                            None => return Err(err(text.len(), "a control flag")),
                        };
                        let mut options = BTreeMap::new();
                        loop {
                            match it.next() {
                                Some((_, Tok::Semi)) => break,
                                Some((_, Tok::Word(k))) => {
                                    match it.next() {
                                        Some((_, Tok::Eq)) => {}
                                        Some((at, _)) => return Err(err(at, "'='")),
                                        None => return Err(err(text.len(), "'='")),
                                    }
                                    let v = match it.next() {
                                        Some((_, Tok::Quoted(v) | Tok::Word(v))) => v,
                                        Some((at, _)) => return Err(err(at, "a value")),
                                        None => return Err(err(text.len(), "a value")),
                                    };
                                    options.insert(k, v);
                                }
                                Some((at, _)) => return Err(err(at, "an option or ';'")),
                                None => return Err(err(text.len(), "';'")),
                            }
                        }
                        modules.push(LoginModule {
                            class,
                            flag,
                            options,
                        });
                    }
                    Some((at, _)) => return Err(err(at, "a login module or '}'")),
                    None => return Err(err(text.len(), "'}'")),
                }
            }
            if let Some((_, Tok::Semi)) = it.peek() {
                it.next();
            }
            sections.push((name, modules));
        }
        Ok(JaasConfig { sections })
    }

    /// The modules of section `name`.
    pub fn section(&self, name: &str) -> Option<&[LoginModule]> {
        self.sections
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, m)| m.as_slice())
    }
}

/// What a server section allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerLogin {
    /// DIGEST-MD5 with these users.
    Digest(Credentials),
    /// The section asks for Kerberos (GSSAPI), which Ferrokeeper does not implement.
    Kerberos,
}

/// The server login a section describes: its `user_` options (`DigestLoginModule`), or
/// Kerberos when a `Krb5LoginModule` is listed.
pub fn server_login(modules: &[LoginModule]) -> ServerLogin {
    if modules.iter().any(|m| m.class.ends_with("Krb5LoginModule")) {
        return ServerLogin::Kerberos;
    }
    let mut creds = Credentials::default();
    for m in modules {
        for (k, v) in &m.options {
            if let Some(user) = k.strip_prefix("user_") {
                creds.insert(user, v.clone());
            }
        }
    }
    ServerLogin::Digest(creds)
}

/// The name and password a learner section (`QuorumLearner`) logs in with: the
/// `username` and `password` options of its first login module that has both (what
/// `DigestLoginModule` puts in the subject's credentials). `None` when no module has both.
pub fn learner_login(modules: &[LoginModule]) -> Option<(String, String)> {
    modules.iter().find_map(|m| {
        let user = m.options.get("username")?;
        let password = m.options.get("password")?;
        Some((user.clone(), password.clone()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kazoo_file() {
        let text = r#"
// comment
Server {
    org.apache.zookeeper.server.auth.DigestLoginModule required
    user_super="super_secret"
    user_jaasuser="jaas_password";
};
Client { org.apache.zookeeper.server.auth.DigestLoginModule required username="a" password='b'; };
"#;
        let cfg = JaasConfig::parse(text).unwrap();
        let server = cfg.section("Server").unwrap();
        assert_eq!(server.len(), 1);
        assert_eq!(server[0].flag, "required");
        let ServerLogin::Digest(creds) = server_login(server) else {
            panic!()
        };
        assert_eq!(creds.password("jaasuser"), Some("jaas_password"));
        assert_eq!(creds.password("super"), Some("super_secret"));
        assert_eq!(creds.len(), 2);
        assert!(!format!("{cfg:?}").contains("jaas_password"));
        assert_eq!(cfg.section("Client").unwrap()[0].options["password"], "b");
        assert!(JaasConfig::parse("").unwrap().sections.is_empty());
    }

    #[test]
    fn kerberos_and_errors() {
        let text = "Server { com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true principal=\"zk/h@R\"; };";
        let cfg = JaasConfig::parse(text).unwrap();
        assert_eq!(
            server_login(cfg.section("Server").unwrap()),
            ServerLogin::Kerberos
        );
        let e = JaasConfig::parse("Server { m required user_a=\"secret\" }").unwrap_err();
        assert!(!e.to_string().contains("secret"));
        assert!(JaasConfig::parse("Server { m required a=\"x").is_err());
    }

    #[test]
    fn quorum_sections() {
        // The layout of ZooKeeper's quorum SASL documentation.
        let text = r#"
QuorumServer {
       org.apache.zookeeper.server.auth.DigestLoginModule required
       user_test="test";
};
QuorumLearner {
       org.apache.zookeeper.server.auth.DigestLoginModule required
       username="test"
       password="test";
};
Other { org.apache.zookeeper.server.auth.DigestLoginModule required username="only"; };
"#;
        let cfg = JaasConfig::parse(text).unwrap();
        let ServerLogin::Digest(creds) = server_login(cfg.section("QuorumServer").unwrap()) else {
            panic!()
        };
        assert_eq!(creds.password("test"), Some("test"));
        assert_eq!(
            learner_login(cfg.section("QuorumLearner").unwrap()),
            Some(("test".to_string(), "test".to_string()))
        );
        // A learner section without a password logs in as nobody.
        assert_eq!(learner_login(cfg.section("Other").unwrap()), None);
        assert_eq!(learner_login(&[]), None);
    }
}
