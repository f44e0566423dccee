//! SASL DIGEST-MD5 (RFC 2831) as the JDK runs it for ZooKeeper, quality of protection
//! `auth` only:
//!
//! * the server side ([`DigestMd5Server`], the JDK's `DigestMD5Server`), for clients
//!   (protocol `zookeeper`, server name and realm `zk-sasl-md5`, [`Service::CLIENT`]) and
//!   for quorum peers (`zookeeper-quorum` / `zk-quorum-sasl-md5`, [`Service::QUORUM`]),
//!   with passwords from the JAAS file's `user_<name>` entries;
//! * the initiator side ([`DigestMd5Client`], the JDK's `DigestMD5Client`), which a quorum
//!   learner runs against a member's server side (`SaslQuorumAuthLearner`).
//!
//! No IO and no randomness here: the caller supplies the nonces.

use std::collections::HashMap;
use std::fmt;

use md5::{Digest as _, Md5};

/// The realm and server name ZooKeeper uses for DIGEST-MD5 (`SecurityUtils`).
pub const REALM: &str = "zk-sasl-md5";
/// The digest-uri the client must name: `zookeeper/zk-sasl-md5`.
pub const DIGEST_URI: &str = "zookeeper/zk-sasl-md5";

/// Which ZooKeeper service an exchange authenticates for: the digest-uri is
/// `protocol/server_name`, and the server name is also the server's only realm (the JDK
/// server's default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Service {
    /// The SASL protocol name.
    pub protocol: &'static str,
    /// The SASL server name (and realm).
    pub server_name: &'static str,
    /// Whether an `authzid` other than the user name is refused: the quorum server's
    /// callback handler (`SaslQuorumServerCallbackHandler`) authorizes only a learner
    /// whose authorization id is its authentication id.
    pub authzid_must_be_user: bool,
}

impl Service {
    /// Clients (`ZooKeeperSaslServer`): `zookeeper/zk-sasl-md5`.
    pub const CLIENT: Service = Service {
        protocol: "zookeeper",
        server_name: REALM,
        authzid_must_be_user: false,
    };
    /// Quorum peers (`QuorumAuth`): `zookeeper-quorum/zk-quorum-sasl-md5`.
    pub const QUORUM: Service = Service {
        protocol: "zookeeper-quorum",
        server_name: "zk-quorum-sasl-md5",
        authzid_must_be_user: true,
    };

    /// `protocol/server_name`.
    pub fn digest_uri(&self) -> String {
        format!("{}/{}", self.protocol, self.server_name)
    }
}

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
    /// The learner asked to act as someone else (`authzid` differs from the user).
    #[error("DIGEST-MD5: user '{0}' is not authorized to act as another identity")]
    NotAuthorized(String),
    /// The server's `rspauth` does not match: it does not know our password (or is not
    /// the server it claims to be).
    #[error("DIGEST-MD5: the server's rspauth does not match")]
    BadServerAuth,
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
    service: Service,
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
    /// A new client exchange ([`Service::CLIENT`]) that will challenge with `nonce`
    /// (random, printable, no quotes).
    pub fn new(nonce: impl Into<String>) -> Self {
        Self::for_service(Service::CLIENT, nonce)
    }

    /// A new exchange for `service` that will challenge with `nonce`.
    pub fn for_service(service: Service, nonce: impl Into<String>) -> Self {
        DigestMd5Server {
            state: State::Start,
            nonce: nonce.into(),
            service,
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
                    "realm=\"{}\",nonce=\"{nonce}\",qop=\"auth\",charset=utf-8,algorithm=md5-sess",
                    self.service.server_name
                );
                self.state = State::Challenged { nonce };
                Ok(Step::Continue(challenge.into_bytes()))
            }
            State::Challenged { nonce } => verify(token, &nonce, creds, &self.service),
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

/// The directives of `token`, each at most once.
fn unique_directives(token: &[u8]) -> Result<HashMap<String, String>, SaslError> {
    let text = std::str::from_utf8(token).map_err(|_| SaslError::Malformed("not UTF-8"))?;
    let mut fields: HashMap<String, String> = HashMap::new();
    for (k, v) in directives(text)? {
        if fields.insert(k, v).is_some() {
            return Err(SaslError::Malformed("repeated directive"));
        }
    }
    Ok(fields)
}

fn verify(
    token: &[u8],
    nonce: &str,
    creds: &Credentials,
    service: &Service,
) -> Result<Step, SaslError> {
    let fields = unique_directives(token)?;
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
    if !uri.eq_ignore_ascii_case(&service.digest_uri()) {
        return Err(SaslError::Unacceptable("digest-uri does not match"));
    }
    if !realm.is_empty() && realm != service.server_name {
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
    if service.authzid_must_be_user && authzid.is_some_and(|z| z != user) {
        return Err(SaslError::NotAuthorized(user.to_string()));
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
/// `user`/`password` with client nonce `cnonce`, for [`Service::CLIENT`] and without an
/// authorization id (as kazoo sends it).
pub fn client_response(challenge: &[u8], user: &str, password: &str, cnonce: &str) -> Vec<u8> {
    let mut c = DigestMd5Client::new(Service::CLIENT, user, password, None, cnonce);
    c.step(challenge).ok().flatten().unwrap_or_default()
}

enum ClientState {
    /// Waiting for the server's challenge.
    Start,
    /// The response went out; the server's `rspauth` must be this.
    Responded { rspauth: String },
    /// Done.
    Complete,
}

/// The initiator's side of one DIGEST-MD5 exchange (the JDK's `DigestMD5Client`, as
/// `SaslQuorumAuthLearner` runs it): no initial response; the server's challenge is
/// answered with a response carrying `authzid` when one is given (the JDK passes the
/// user name), and the server's final `rspauth` is checked.
pub struct DigestMd5Client {
    service: Service,
    user: String,
    password: String,
    authzid: Option<String>,
    cnonce: String,
    state: ClientState,
}

impl fmt::Debug for DigestMd5Client {
    /// No password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DigestMd5Client")
            .field("service", &self.service)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// `s` as the inside of a quoted-string (RFC 2831 §7.2: `"` and `\` escaped).
fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl DigestMd5Client {
    /// A new exchange for `service` as `user` with `password`, client nonce `cnonce`
    /// (random, printable, no quotes).
    pub fn new(
        service: Service,
        user: impl Into<String>,
        password: impl Into<String>,
        authzid: Option<&str>,
        cnonce: impl Into<String>,
    ) -> Self {
        DigestMd5Client {
            service,
            user: user.into(),
            password: password.into(),
            authzid: authzid.map(str::to_owned),
            cnonce: cnonce.into(),
            state: ClientState::Start,
        }
    }

    /// Whether the exchange has completed (the server proved it knows the password).
    pub fn is_complete(&self) -> bool {
        matches!(self.state, ClientState::Complete)
    }

    /// Evaluates one server token (`evaluateChallenge`): the challenge gives the response
    /// to send (`Some`); the server's final `rspauth=...` completes the exchange (`None`).
    pub fn step(&mut self, token: &[u8]) -> Result<Option<Vec<u8>>, SaslError> {
        match std::mem::replace(&mut self.state, ClientState::Complete) {
            ClientState::Start => {
                let (response, rspauth) = self.respond(token)?;
                self.state = ClientState::Responded { rspauth };
                Ok(Some(response))
            }
            ClientState::Responded { rspauth } => {
                let fields = unique_directives(token)?;
                let got = fields
                    .get("rspauth")
                    .ok_or(SaslError::Malformed("no rspauth"))?;
                if !constant_time_eq(rspauth.as_bytes(), got.to_ascii_lowercase().as_bytes()) {
                    return Err(SaslError::BadServerAuth);
                }
                Ok(None)
            }
            ClientState::Complete => Err(SaslError::Complete),
        }
    }

    /// The response to `challenge`, and the `rspauth` the server must answer with.
    fn respond(&self, challenge: &[u8]) -> Result<(Vec<u8>, String), SaslError> {
        let text = std::str::from_utf8(challenge).map_err(|_| SaslError::Malformed("not UTF-8"))?;
        let mut nonce = None;
        let mut realm = None;
        let mut qop_auth = true;
        let mut algorithm = None;
        for (k, v) in directives(text)? {
            match k.as_str() {
                "nonce" if nonce.is_some() => {
                    return Err(SaslError::Malformed("repeated directive"))
                }
                "nonce" => nonce = Some(v),
                // Several realms may be offered: the JDK's callback takes the first.
                "realm" => {
                    realm.get_or_insert(v);
                }
                "qop" => qop_auth = v.split(',').any(|q| q.trim() == "auth"),
                "algorithm" => algorithm = Some(v),
                _ => {}
            }
        }
        let nonce = nonce.ok_or(SaslError::Malformed("no nonce"))?;
        if algorithm.as_deref() != Some("md5-sess") {
            return Err(SaslError::Unacceptable("algorithm is not md5-sess"));
        }
        if !qop_auth {
            return Err(SaslError::Unacceptable(
                "the server does not offer qop auth",
            ));
        }
        let realm = realm.unwrap_or_default();
        let uri = self.service.digest_uri();
        let nc = "00000001";
        let authzid = self.authzid.as_deref();
        let value = |prefix: &str| {
            response_value(
                &self.user,
                &realm,
                &self.password,
                &nonce,
                &self.cnonce,
                nc,
                authzid,
                prefix,
                &uri,
            )
        };
        let response = value("AUTHENTICATE");
        let mut out = format!(
            "charset=utf-8,username=\"{}\",realm=\"{}\",nonce=\"{}\",nc={nc},cnonce=\"{}\",\
             digest-uri=\"{uri}\",maxbuf=65536,response={response},qop=auth",
            quoted(&self.user),
            quoted(&realm),
            quoted(&nonce),
            quoted(&self.cnonce),
        );
        if let Some(z) = authzid {
            out.push_str(&format!(",authzid=\"{}\"", quoted(z)));
        }
        Ok((out.into_bytes(), value("")))
    }
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

    const IMAP: Service = Service {
        protocol: "imap",
        server_name: "elwood.innosoft.com",
        authzid_must_be_user: false,
    };

    #[test]
    fn client_answers_the_rfc2831_example() {
        let challenge = b"realm=\"elwood.innosoft.com\",nonce=\"OA6MG9tEQGm2hh\",qop=\"auth\",\
                          algorithm=md5-sess,charset=utf-8";
        let mut c = DigestMd5Client::new(IMAP, "chris", "secret", None, "OA6MHXh6VqTrRk");
        let resp = String::from_utf8(c.step(challenge).unwrap().unwrap()).unwrap();
        assert!(
            resp.contains("response=d388dad90d4bbd760a152321f2143af7"),
            "{resp}"
        );
        assert!(resp.contains("digest-uri=\"imap/elwood.innosoft.com\""));
        assert!(resp.contains("realm=\"elwood.innosoft.com\""));
        assert!(resp.contains("nc=00000001") && resp.contains("qop=auth"));
        assert!(!resp.contains("authzid") && !resp.contains("secret"));
        assert!(!c.is_complete());
        assert_eq!(
            c.step(b"rspauth=ea40f60335c427b5527b84dbabcdfffd"),
            Ok(None)
        );
        assert!(c.is_complete());
        assert_eq!(c.step(b""), Err(SaslError::Complete));
    }

    fn quorum_exchange(
        user: &str,
        password: &str,
        authzid: Option<&str>,
    ) -> (DigestMd5Client, Result<Step, SaslError>) {
        let mut creds = Credentials::default();
        creds.insert("learner", "s3cret");
        let mut server = DigestMd5Server::for_service(Service::QUORUM, "srvnonce");
        let mut client = DigestMd5Client::new(Service::QUORUM, user, password, authzid, "cn");
        // The learner has no initial response: it sends an empty token first.
        let Step::Continue(challenge) = server.step(b"", &creds).unwrap() else {
            panic!("no challenge")
        };
        assert!(String::from_utf8_lossy(&challenge).contains("realm=\"zk-quorum-sasl-md5\""));
        let response = client.step(&challenge).unwrap().unwrap();
        let text = String::from_utf8_lossy(&response).into_owned();
        assert!(text.contains("digest-uri=\"zookeeper-quorum/zk-quorum-sasl-md5\""));
        (client, server.step(&response, &creds))
    }

    #[test]
    fn quorum_client_and_server_agree() {
        // As the JDK learner runs it: the user name is also the authorization id.
        let (mut client, done) = quorum_exchange("learner", "s3cret", Some("learner"));
        let Ok(Step::Done {
            token,
            authorization_id,
        }) = done
        else {
            panic!("{done:?}")
        };
        assert_eq!(authorization_id, "learner");
        assert_eq!(client.step(&token), Ok(None));
        assert!(client.is_complete());

        let (_, wrong) = quorum_exchange("learner", "guess", Some("learner"));
        assert_eq!(wrong, Err(SaslError::BadResponse("learner".into())));
        let (_, other) = quorum_exchange("learner", "s3cret", Some("super"));
        assert_eq!(other, Err(SaslError::NotAuthorized("learner".into())));
        // A client-port digest-uri is refused by a quorum server, and the reverse.
        let mut server = DigestMd5Server::for_service(Service::QUORUM, "n");
        let mut creds = Credentials::default();
        creds.insert("learner", "s3cret");
        let Ok(Step::Continue(ch)) = server.step(b"", &creds) else {
            panic!()
        };
        let resp = client_response(&ch, "learner", "s3cret", "c");
        assert_eq!(
            server.step(&resp, &creds),
            Err(SaslError::Unacceptable("digest-uri does not match"))
        );
    }

    #[test]
    fn client_rejects_a_bad_rspauth_and_hostile_challenges() {
        let (mut client, _) = quorum_exchange("learner", "s3cret", None);
        assert_eq!(
            client.step(b"rspauth=00000000000000000000000000000000"),
            Err(SaslError::BadServerAuth)
        );
        let (mut client, _) = quorum_exchange("learner", "s3cret", None);
        assert!(matches!(client.step(b"x"), Err(SaslError::Malformed(_))));
        for bad in [
            &b"realm=\"r\",qop=\"auth\",algorithm=md5-sess"[..],
            b"nonce=\"n\",qop=\"auth\"",
            b"nonce=\"n\",qop=\"auth-int\",algorithm=md5-sess",
            b"nonce=\"n\",nonce=\"m\",algorithm=md5-sess",
            b"nonce=\"unterminated",
            b"\xff\xfe",
            b"",
        ] {
            let mut c = DigestMd5Client::new(Service::QUORUM, "u", "p", None, "c");
            assert!(c.step(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        // Quotes in a name are escaped, and the server reads them back.
        let mut creds = Credentials::default();
        creds.insert("a\"b", "pw");
        let mut server = DigestMd5Server::for_service(Service::QUORUM, "n");
        let Ok(Step::Continue(ch)) = server.step(b"", &creds) else {
            panic!()
        };
        let mut c = DigestMd5Client::new(Service::QUORUM, "a\"b", "pw", Some("a\"b"), "c");
        let resp = c.step(&ch).unwrap().unwrap();
        assert!(matches!(server.step(&resp, &creds), Ok(Step::Done { .. })));
        assert!(!format!("{c:?}").contains("pw"));
    }
}
