//! The server side of SASL DIGEST-MD5 (RFC 2831), as the JDK's `DigestMD5Server` runs it
//! for ZooKeeper: protocol `zookeeper`, server name (and realm) `zk-sasl-md5`, quality of
//! protection `auth` only, passwords from the JAAS file's `user_<name>` entries.
//!
//! No IO and no randomness here: the caller supplies the nonce.

use std::collections::HashMap;
use std::fmt;

use md5::{Digest as _, Md5};

/// The realm and server name ZooKeeper uses for DIGEST-MD5 (`SecurityUtils`).
pub const REALM: &str = "zk-sasl-md5";
/// The digest-uri the client must name: `zookeeper/zk-sasl-md5`.
pub const DIGEST_URI: &str = "zookeeper/zk-sasl-md5";

/// The users a DIGEST-MD5 exchange may authenticate: name → password.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    users: HashMap<String, String>,
}

impl Credentials {
    /// Adds (or replaces) a user.
    pub fn insert(&mut self, user: impl Into<String>, password: impl Into<String>) {
        self.users.insert(user.into(), password.into());
    }

    /// The password of `user`.
    pub fn password(&self, user: &str) -> Option<&str> {
        self.users.get(user).map(String::as_str)
    }

    /// Number of users.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// No users.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

impl fmt::Debug for Credentials {
    /// Names only: passwords are never printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&String> = self.users.keys().collect();
        names.sort();
        f.debug_struct("Credentials")
            .field("users", &names)
            .finish_non_exhaustive()
    }
}

/// Why an exchange failed (the JDK's `SaslException`). Never carries a password or a hash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SaslError {
    /// The client's message is not a DIGEST-MD5 response.
    #[error("DIGEST-MD5: malformed response: {0}")]
    Malformed(&'static str),
    /// A directive has a value the server does not accept.
    #[error("DIGEST-MD5: {0}")]
    Unacceptable(&'static str),
    /// The user is not in the JAAS file.
    #[error("DIGEST-MD5: user '{0}' not found")]
    UnknownUser(String),
    /// The response hash does not match (wrong password).
    #[error("DIGEST-MD5: digest response mismatch for user '{0}'")]
    BadResponse(String),
    /// A token after the exchange completed.
    #[error("DIGEST-MD5: authentication already complete")]
    Complete,
}

enum State {
    /// Waiting for the client's first (empty) token.
    Start,
    /// The challenge went out with this nonce.
    Challenged { nonce: String },
    /// Done.
    Complete,
}

/// One DIGEST-MD5 exchange (a connection's `ZooKeeperSaslServer`).
pub struct DigestMd5Server {
    state: State,
    nonce: String,
}

/// What [`DigestMd5Server::step`] produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Send this token; the exchange goes on.
    Continue(Vec<u8>),
    /// Authenticated as this authorization id; send the token (`rspauth=...`).
    Done {
        /// The token for the client.
        token: Vec<u8>,
        /// The authorization id (becomes `sasl:<id>`).
        authorization_id: String,
    },
}

impl DigestMd5Server {
    /// A new exchange that will challenge with `nonce` (random, printable, no quotes).
    pub fn new(nonce: impl Into<String>) -> Self {
        DigestMd5Server {
            state: State::Start,
            nonce: nonce.into(),
        }
    }

    /// Whether the exchange has completed.
    pub fn is_complete(&self) -> bool {
        matches!(self.state, State::Complete)
    }

    /// Evaluates one client token (`evaluateResponse`).
    pub fn step(&mut self, token: &[u8], creds: &Credentials) -> Result<Step, SaslError> {
        match std::mem::replace(&mut self.state, State::Complete) {
            State::Start => {
                // The JDK server ignores what a first token holds; clients send it empty.
                let nonce = std::mem::take(&mut self.nonce);
                let challenge = format!(
                    "realm=\"{REALM}\",nonce=\"{nonce}\",qop=\"auth\",charset=utf-8,algorithm=md5-sess"
                );
                self.state = State::Challenged { nonce };
                Ok(Step::Continue(challenge.into_bytes()))
            }
            State::Challenged { nonce } => verify(token, &nonce, creds),
            State::Complete => Err(SaslError::Complete),
        }
    }
}

/// Parses `key=value,key="quoted value",...` (RFC 2831 §7.1 with `\` escapes in quotes).
fn directives(text: &str) -> Result<Vec<(String, String)>, SaslError> {
    let mut out = Vec::new();
    let b = text.as_bytes();
    let mut i = 0;
    let skip_ws = |i: &mut usize| {
        while *i < b.len() && (b[*i] == b' ' || b[*i] == b'\t' || b[*i] == b'\r' || b[*i] == b'\n')
        {
            *i += 1;
        }
    };
    loop {
        skip_ws(&mut i);
        while i < b.len() && b[i] == b',' {
            i += 1;
            skip_ws(&mut i);
        }
        if i >= b.len() {
            return Ok(out);
        }
        let start = i;
        while i < b.len() && b[i] != b'=' && b[i] != b',' {
            i += 1;
        }
        if i >= b.len() || b[i] != b'=' {
            return Err(SaslError::Malformed("directive without a value"));
        }
        let key = text[start..i].trim().to_ascii_lowercase();
        i += 1;
        skip_ws(&mut i);
        let mut value = Vec::new();
        if i < b.len() && b[i] == b'"' {
            i += 1;
            let mut closed = false;
            while i < b.len() {
                match b[i] {
                    b'\\' if i + 1 < b.len() => {
                        value.push(b[i + 1]);
                        i += 2;
                    }
                    b'"' => {
                        i += 1;
                        closed = true;
                        break;
                    }
                    c => {
                        value.push(c);
                        i += 1;
                    }
                }
            }
            if !closed {
                return Err(SaslError::Malformed("unterminated quoted value"));
            }
        } else {
            let s = i;
            while i < b.len() && b[i] != b',' {
                i += 1;
            }
            value.extend_from_slice(text[s..i].trim().as_bytes());
        }
        let value = String::from_utf8(value).map_err(|_| SaslError::Malformed("not UTF-8"))?;
        out.push((key, value));
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The bytes RFC 2831 hashes for a name or password sent with `charset=utf-8`: ISO 8859-1
/// when every character fits, UTF-8 otherwise (as the JDK does).
fn wire_bytes(s: &str) -> Vec<u8> {
    if s.chars().all(|c| (c as u32) < 0x100) {
        s.chars().map(|c| c as u32 as u8).collect()
    } else {
        s.as_bytes().to_vec()
    }
}

/// `HEX(KD(HEX(H(A1)), nonce:nc:cnonce:qop:HEX(H(A2))))` with `a2_prefix` `AUTHENTICATE`
/// for the response and empty for `rspauth`.
#[allow(clippy::too_many_arguments)]
fn response_value(
    user: &str,
    realm: &str,
    password: &str,
    nonce: &str,
    cnonce: &str,
    nc: &str,
    authzid: Option<&str>,
    a2_prefix: &str,
    uri: &str,
) -> String {
    let mut h = Md5::new();
    h.update(wire_bytes(user));
    h.update(b":");
    h.update(wire_bytes(realm));
    h.update(b":");
    h.update(wire_bytes(password));
    let secret = h.finalize();
    let mut a1 = Vec::new();
    a1.extend_from_slice(&secret);
    a1.extend_from_slice(format!(":{nonce}:{cnonce}").as_bytes());
    if let Some(z) = authzid {
        a1.push(b':');
        a1.extend_from_slice(z.as_bytes());
    }
    let ha1 = hex(&Md5::digest(&a1));
    let ha2 = hex(&Md5::digest(format!("{a2_prefix}:{uri}").as_bytes()));
    let kd = format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}");
    hex(&Md5::digest(kd.as_bytes()))
}

fn verify(token: &[u8], nonce: &str, creds: &Credentials) -> Result<Step, SaslError> {
    let text = std::str::from_utf8(token).map_err(|_| SaslError::Malformed("not UTF-8"))?;
    let mut fields: HashMap<String, String> = HashMap::new();
    for (k, v) in directives(text)? {
        if fields.insert(k, v).is_some() {
            return Err(SaslError::Malformed("repeated directive"));
        }
    }
    let get = |k: &'static str| fields.get(k).map(String::as_str);
    let user = get("username").ok_or(SaslError::Malformed("no username"))?;
    let realm = get("realm").unwrap_or("");
    let cnonce = get("cnonce").ok_or(SaslError::Malformed("no cnonce"))?;
    let nc = get("nc").ok_or(SaslError::Malformed("no nc"))?;
    let uri = get("digest-uri").ok_or(SaslError::Malformed("no digest-uri"))?;
    let response = get("response").ok_or(SaslError::Malformed("no response"))?;
    let authzid = get("authzid");
    if get("nonce") != Some(nonce) {
        return Err(SaslError::Unacceptable("nonces do not match"));
    }
    if u32::from_str_radix(nc, 16).ok() != Some(1) {
        return Err(SaslError::Unacceptable("nonce count does not match"));
    }
    if get("qop").is_some_and(|q| q != "auth") {
        return Err(SaslError::Unacceptable("unsupported qop"));
    }
    if !uri.eq_ignore_ascii_case(DIGEST_URI) {
        return Err(SaslError::Unacceptable("digest-uri does not match"));
    }
    if !realm.is_empty() && realm != REALM {
        return Err(SaslError::Unacceptable("realm does not match"));
    }
    let password = creds
        .password(user)
        .ok_or_else(|| SaslError::UnknownUser(user.to_string()))?;
    let expected = response_value(
        user,
        realm,
        password,
        nonce,
        cnonce,
        nc,
        authzid,
        "AUTHENTICATE",
        uri,
    );
    if !constant_time_eq(
        expected.as_bytes(),
        response.to_ascii_lowercase().as_bytes(),
    ) {
        return Err(SaslError::BadResponse(user.to_string()));
    }
    let rspauth = response_value(user, realm, password, nonce, cnonce, nc, authzid, "", uri);
    Ok(Step::Done {
        token: format!("rspauth={rspauth}").into_bytes(),
        authorization_id: user.to_string(),
    })
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A client's side of the exchange, for tests: the response to `challenge` for
/// `user`/`password` with client nonce `cnonce`.
pub fn client_response(challenge: &[u8], user: &str, password: &str, cnonce: &str) -> Vec<u8> {
    let text = String::from_utf8_lossy(challenge);
    let fields: HashMap<String, String> =
        directives(&text).unwrap_or_default().into_iter().collect();
    let nonce = fields.get("nonce").map(String::as_str).unwrap_or("");
    let response = response_value(
        user,
        REALM,
        password,
        nonce,
        cnonce,
        "00000001",
        None,
        "AUTHENTICATE",
        DIGEST_URI,
    );
    format!(
        "charset=utf-8,username=\"{user}\",realm=\"{REALM}\",nonce=\"{nonce}\",nc=00000001,\
         cnonce=\"{cnonce}\",digest-uri=\"{DIGEST_URI}\",maxbuf=65536,response={response},qop=auth"
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> Credentials {
        let mut c = Credentials::default();
        c.insert("jaasuser", "jaas_password");
        c
    }

    #[test]
    fn rfc2831_example() {
        // RFC 2831 §4's worked example (imap, realm elwood.innosoft.com).
        let v = response_value(
            "chris",
            "elwood.innosoft.com",
            "secret",
            "OA6MG9tEQGm2hh",
            "OA6MHXh6VqTrRk",
            "00000001",
            None,
            "AUTHENTICATE",
            "imap/elwood.innosoft.com",
        );
        assert_eq!(v, "d388dad90d4bbd760a152321f2143af7");
        let r = response_value(
            "chris",
            "elwood.innosoft.com",
            "secret",
            "OA6MG9tEQGm2hh",
            "OA6MHXh6VqTrRk",
            "00000001",
            None,
            "",
            "imap/elwood.innosoft.com",
        );
        assert_eq!(r, "ea40f60335c427b5527b84dbabcdfffd");
    }

    #[test]
    fn exchange_succeeds_and_fails() {
        let c = creds();
        let mut s = DigestMd5Server::new("abc123");
        let Step::Continue(ch) = s.step(b"", &c).unwrap() else {
            panic!()
        };
        assert!(String::from_utf8_lossy(&ch).contains("nonce=\"abc123\""));
        let resp = client_response(&ch, "jaasuser", "jaas_password", "xyz");
        let Step::Done {
            authorization_id, ..
        } = s.step(&resp, &c).unwrap()
        else {
            panic!()
        };
        assert_eq!(authorization_id, "jaasuser");
        assert!(s.is_complete());
        assert_eq!(s.step(b"", &c), Err(SaslError::Complete));

        let mut s = DigestMd5Server::new("n");
        let Step::Continue(ch) = s.step(b"", &c).unwrap() else {
            panic!()
        };
        let bad = client_response(&ch, "jaasuser", "wrong", "xyz");
        let err = s.step(&bad, &c).unwrap_err();
        assert_eq!(err, SaslError::BadResponse("jaasuser".into()));
        assert!(!err.to_string().contains("wrong"));

        let mut s = DigestMd5Server::new("n");
        let Step::Continue(ch) = s.step(b"", &c).unwrap() else {
            panic!()
        };
        let unknown = client_response(&ch, "nobody", "x", "xyz");
        assert_eq!(
            s.step(&unknown, &c),
            Err(SaslError::UnknownUser("nobody".into()))
        );

        let mut s = DigestMd5Server::new("n");
        s.step(b"", &c).unwrap();
        assert!(matches!(
            s.step(b"garbage", &c),
            Err(SaslError::Malformed(_))
        ));
    }

    #[test]
    fn credentials_debug_hides_passwords() {
        assert!(!format!("{:?}", creds()).contains("jaas_password"));
    }
}
