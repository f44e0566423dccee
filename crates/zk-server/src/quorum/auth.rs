//! Quorum SASL (`quorum.auth.enableSasl`): DIGEST-MD5 between members, as Java's
//! `SaslQuorumAuthLearner` and `SaslQuorumAuthServer` run it on both peer ports.
//!
//! * Election port: the dialling side sends its initial message, then authenticates as a
//!   learner (whether or not it keeps the connection); the accepting side reads the
//!   initial message, then runs the server side.
//! * Quorum port: a learner authenticates right after connecting, before FOLLOWERINFO /
//!   OBSERVERINFO; the leader runs the server side before reading anything else.
//!
//! The server side peeks at the first eight bytes: a peer that does not start with the
//! `QuorumAuthPacket` magic is let through when `quorum.auth.serverRequireSasl=false`
//! (rolling upgrades) and refused otherwise; a failed exchange is answered with `ERROR`
//! and closes the connection when SASL is required. With
//! `quorum.auth.learnerRequireSasl=false` a learner does not authenticate at all (Java's
//! learner skips the exchange then). Every exchange runs inside the caller's time bound;
//! bytes that follow it in the same read stay in the caller's buffer.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use zk_core::sasl::{Credentials, DigestMd5Client, DigestMd5Server, Service, Step};
use zk_zab::wire::auth::{starts_with_auth, AuthStatus, QuorumAuthPacket};

/// `SaslQuorumAuthServer.MAX_RETRIES`: challenges a server sends before giving up.
const MAX_ROUNDS: u32 = 5;

/// A member's quorum SASL settings: zoo.cfg's `quorum.auth.*` keys and the two JAAS
/// sections they name.
#[derive(Clone)]
pub struct QuorumAuth {
    /// `quorum.auth.serverRequireSasl`: refuse peers that do not authenticate.
    pub server_required: bool,
    /// `quorum.auth.learnerRequireSasl`: authenticate to the members we connect to.
    pub learner_required: bool,
    /// The `user_<name>` entries of the server section (`QuorumServer`).
    pub server_credentials: Arc<Credentials>,
    /// The learner section's (`QuorumLearner`) `username`.
    pub learner_user: String,
    /// The learner section's `password`.
    pub learner_password: String,
}

impl fmt::Debug for QuorumAuth {
    /// No password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QuorumAuth")
            .field("server_required", &self.server_required)
            .field("learner_required", &self.learner_required)
            .field("server_credentials", &self.server_credentials)
            .field("learner_user", &self.learner_user)
            .finish_non_exhaustive()
    }
}

impl QuorumAuth {
    /// The settings of `cfg`: `None` without `quorum.auth.enableSasl=true`. With it, the
    /// JAAS file (`-Djava.security.auth.login.config`) must have both sections, as Java's
    /// `QuorumPeer.initialize` requires; any problem is an error that stops the server.
    pub fn from_config(cfg: &zk_config::Config) -> Result<Option<QuorumAuth>, String> {
        let sasl = &cfg.quorum_sasl;
        if !sasl.enabled {
            return Ok(None);
        }
        let Some(path) = cfg.properties.get("java.security.auth.login.config") else {
            return Err(format!(
                "quorum.auth.enableSasl=true needs a JAAS file with sections {} and {} \
                 (-Djava.security.auth.login.config=<file>)",
                sasl.server_login_context, sasl.learner_login_context
            ));
        };
        let text = std::fs::read_to_string(path).map_err(|e| format!("JAAS file {path}: {e}"))?;
        let jaas =
            crate::jaas::JaasConfig::parse(&text).map_err(|e| format!("JAAS file {path}: {e}"))?;
        let section = |name: &str| {
            jaas.section(name).filter(|m| !m.is_empty()).ok_or_else(|| {
                format!(
                    "SASL-authentication failed because the specified JAAS configuration \
                     section '{name}' could not be found (JAAS file {path})"
                )
            })
        };
        let server = section(&sasl.server_login_context)?;
        let learner = section(&sasl.learner_login_context)?;
        let crate::jaas::ServerLogin::Digest(creds) = crate::jaas::server_login(server) else {
            return Err(format!(
                "JAAS section {} of {path} configures Kerberos (GSSAPI) for quorum SASL, which \
                 Ferrokeeper does not support; only DIGEST-MD5 (DigestLoginModule) is \
                 implemented",
                sasl.server_login_context
            ));
        };
        let Some((user, password)) = crate::jaas::learner_login(learner) else {
            return Err(format!(
                "JAAS section {} of {path} has no login module with both username and \
                 password (Kerberos is not supported for quorum SASL)",
                sasl.learner_login_context
            ));
        };
        tracing::info!(
            "quorum SASL (DIGEST-MD5) enabled: {} learner(s) in section {}, this member \
             authenticates as '{user}' (section {}); serverRequireSasl={}, \
             learnerRequireSasl={}",
            creds.len(),
            sasl.server_login_context,
            sasl.learner_login_context,
            sasl.server_required,
            sasl.learner_required
        );
        Ok(Some(QuorumAuth {
            server_required: sasl.server_required,
            learner_required: sasl.learner_required,
            server_credentials: Arc::new(creds),
            learner_user: user,
            learner_password: password,
        }))
    }
}

/// Runs an exchange within `limit`; running out of time is a failure too.
pub(super) async fn within<T>(
    limit: Duration,
    exchange: impl Future<Output = Result<T, String>>,
) -> Result<T, String> {
    tokio::time::timeout(limit, exchange)
        .await
        .unwrap_or_else(|_| Err(format!("no SASL exchange within {limit:?}")))
}

/// Random printable nonce text (hex of 24 random bytes).
fn nonce() -> String {
    crate::core::sasl_nonce()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Reads until `buf` holds at least `n` bytes.
async fn fill<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut BytesMut,
    n: usize,
) -> Result<(), String> {
    // Bounded: every pass reads at least one byte or returns.
    while buf.len() < n {
        buf.reserve((n - buf.len()).max(512));
        match stream.read_buf(buf).await {
            Ok(0) => return Err("connection closed during SASL authentication".into()),
            Ok(_) => {}
            Err(e) => return Err(format!("read: {e}")),
        }
    }
    Ok(())
}

/// Reads one `QuorumAuthPacket`; what follows it stays in `buf`.
async fn receive<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut BytesMut,
) -> Result<QuorumAuthPacket, String> {
    // Bounded: the token length is checked against its limit, and every pass reads.
    loop {
        match QuorumAuthPacket::decode(buf) {
            Ok(Some(p)) => return Ok(p),
            Ok(None) => fill(stream, buf, buf.len() + 1).await?,
            Err(e) => return Err(format!("bad QuorumAuthPacket: {e}")),
        }
    }
}

async fn send<S: AsyncWrite + Unpin>(
    stream: &mut S,
    status: AuthStatus,
    token: Option<Vec<u8>>,
) -> Result<(), String> {
    let packet = QuorumAuthPacket::new(status, token.map(Bytes::from));
    super::election::write_flushed(stream, &packet.to_bytes())
        .await
        .map_err(|e| format!("write: {e}"))
}

/// `SaslQuorumAuthLearner.authenticate` against the member at `peer` (for log lines).
/// `Ok` when the member authenticated us, or when learners need not authenticate.
pub(super) async fn as_learner<S: AsyncRead + AsyncWrite + Unpin>(
    auth: &QuorumAuth,
    stream: &mut S,
    buf: &mut BytesMut,
    peer: &str,
) -> Result<(), String> {
    if !auth.learner_required {
        tracing::debug!("skipping quorum SASL with {peer}: quorum.auth.learnerRequireSasl=false");
        return Ok(());
    }
    let user = auth.learner_user.as_str();
    // The JDK learner passes its user name as the authorization id too.
    let mut client = DigestMd5Client::new(
        Service::QUORUM,
        user,
        auth.learner_password.as_str(),
        Some(user),
        nonce(),
    );
    let failed = || format!("Authentication failed against server addr: {peer}");
    // DIGEST-MD5 has no initial response: an empty token opens the exchange.
    send(stream, AuthStatus::InProgress, Some(Vec::new())).await?;
    let mut packet = receive(stream, buf).await?;
    // Bounded: DIGEST-MD5 completes in two server tokens; a server that keeps going is
    // refused after MAX_ROUNDS.
    for _ in 0..=MAX_ROUNDS {
        let token = || {
            packet
                .token
                .as_deref()
                .ok_or_else(|| "the member sent a null SASL token".to_string())
        };
        match packet.status {
            AuthStatus::Error => return Err(failed()),
            AuthStatus::Success => {
                return match client.step(token()?) {
                    Ok(None) if client.is_complete() => {
                        tracing::info!(
                            "Successfully completed the authentication using SASL. server \
                             addr: {peer}, status: SUCCESS"
                        );
                        Ok(())
                    }
                    Ok(_) => Err(format!(
                        "{}: protocol error: a response after completion",
                        failed()
                    )),
                    Err(e) => Err(format!("{}: {e}", failed())),
                };
            }
            AuthStatus::InProgress => {
                let response = client
                    .step(token()?)
                    .map_err(|e| format!("{}: {e}", failed()))?;
                send(stream, AuthStatus::InProgress, response).await?;
                packet = receive(stream, buf).await?;
            }
        }
    }
    Err(format!("{}: too many rounds", failed()))
}

/// How the server side let a peer in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Admitted {
    /// It authenticated as this user.
    As(String),
    /// It did not authenticate (or failed to) and `serverRequireSasl=false`.
    Unauthenticated,
}

/// `SaslQuorumAuthServer.authenticate` for the peer at `peer` (for log lines). `Err`: the
/// connection must be closed (the peer was told `ERROR` where the exchange got that far).
pub(super) async fn as_server<S: AsyncRead + AsyncWrite + Unpin>(
    auth: &QuorumAuth,
    stream: &mut S,
    buf: &mut BytesMut,
    peer: &str,
) -> Result<Admitted, String> {
    fill(stream, buf, 8).await?;
    if starts_with_auth(buf) != Some(true) {
        if auth.server_required {
            return Err("Learner not trying to authenticate and authentication is required".into());
        }
        return Ok(Admitted::Unauthenticated);
    }
    let outcome = exchange(auth, stream, buf).await;
    let why = match outcome {
        Ok(user) => {
            tracing::info!(
                "Successfully completed the authentication using SASL. learner addr: {peer}, \
                 user: {user}"
            );
            return Ok(Admitted::As(user));
        }
        Err(why) => why,
    };
    // Tell the learner (best effort: it may be gone already).
    let _ = send(stream, AuthStatus::Error, Some(Vec::new())).await;
    if auth.server_required {
        return Err(format!("Failed to authenticate using SASL: {why}"));
    }
    tracing::warn!(
        "Failed to authenticate using SASL: {why}; maintaining the learner connection from \
         {peer} despite the failure (quorum.auth.serverRequireSasl=false)"
    );
    Ok(Admitted::Unauthenticated)
}

/// The server's rounds; the authenticated user.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    auth: &QuorumAuth,
    stream: &mut S,
    buf: &mut BytesMut,
) -> Result<String, String> {
    let mut server = DigestMd5Server::for_service(Service::QUORUM, nonce());
    let mut packet = receive(stream, buf).await?;
    // Bounded by MAX_ROUNDS challenges.
    for _ in 0..MAX_ROUNDS {
        let token = packet
            .token
            .as_deref()
            .ok_or_else(|| "the learner sent a null SASL token".to_string())?;
        match server
            .step(token, &auth.server_credentials)
            .map_err(|e| e.to_string())?
        {
            Step::Continue(challenge) => {
                send(stream, AuthStatus::InProgress, Some(challenge)).await?;
                packet = receive(stream, buf).await?;
            }
            Step::Done {
                token,
                authorization_id,
            } => {
                send(stream, AuthStatus::Success, Some(token)).await?;
                return Ok(authorization_id);
            }
        }
    }
    Err(format!("retries={MAX_ROUNDS} exceeded"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;
    use tokio::net::{TcpListener, TcpStream};

    fn settings(password: &str, server_required: bool) -> QuorumAuth {
        let mut creds = Credentials::default();
        creds.insert("peer", "right");
        QuorumAuth {
            server_required,
            learner_required: true,
            server_credentials: Arc::new(creds),
            learner_user: "peer".into(),
            learner_password: password.into(),
        }
    }

    async fn pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let (a, b) = tokio::join!(TcpStream::connect(addr), l.accept());
        (a.unwrap(), b.unwrap().0)
    }

    /// The learner's result, the server's, and what the server's buffer held after.
    async fn run(
        learner: &QuorumAuth,
        server: &QuorumAuth,
        after: &[u8],
    ) -> (Result<(), String>, Result<Admitted, String>, BytesMut) {
        let (mut l, mut s) = pair().await;
        let mut lbuf = BytesMut::new();
        let mut sbuf = BytesMut::new();
        let (lr, sr) = tokio::join!(
            async {
                let r = as_learner(learner, &mut l, &mut lbuf, "server").await;
                if r.is_ok() {
                    l.write_all(after).await.unwrap();
                }
                r
            },
            async {
                let r = as_server(server, &mut s, &mut sbuf, "learner").await;
                if r.is_ok() && !after.is_empty() {
                    fill(&mut s, &mut sbuf, after.len()).await.unwrap();
                }
                r
            }
        );
        (lr, sr, sbuf)
    }

    #[tokio::test]
    async fn the_right_password_gets_in_and_what_follows_is_kept() {
        let a = settings("right", true);
        let (l, s, rest) = run(&a, &a, b"FOLLOWERINFO").await;
        assert_eq!(l, Ok(()));
        assert_eq!(s, Ok(Admitted::As("peer".into())));
        assert_eq!(&rest[..], b"FOLLOWERINFO");
    }

    #[tokio::test]
    async fn a_wrong_password_is_refused_on_both_sides() {
        let (l, s, _) = run(&settings("wrong", true), &settings("right", true), b"").await;
        assert!(l.unwrap_err().contains("Authentication failed"));
        let s = s.unwrap_err();
        assert!(
            s.contains("digest response mismatch for user 'peer'"),
            "{s}"
        );
        assert!(!s.contains("wrong") && !s.contains("right"));
        // Not required by the server: it lets the connection be, the learner still leaves.
        let (l, s, _) = run(&settings("wrong", false), &settings("right", false), b"").await;
        assert!(l.is_err());
        assert_eq!(s, Ok(Admitted::Unauthenticated));
    }

    #[tokio::test]
    async fn a_peer_without_sasl_passes_only_when_not_required() {
        let mut quiet = settings("right", false);
        quiet.learner_required = false;
        // The learner sends nothing of SASL; its first bytes are protocol.
        let (l, s, rest) = run(&quiet, &settings("right", false), b"0123456789").await;
        assert_eq!(l, Ok(()));
        assert_eq!(s, Ok(Admitted::Unauthenticated));
        assert_eq!(&rest[..], b"0123456789");
        let (l, s, _) = run(&quiet, &settings("right", true), b"0123456789").await;
        assert_eq!(l, Ok(()));
        assert!(s.unwrap_err().contains("not trying to authenticate"));
    }

    #[tokio::test]
    async fn hostile_bytes_end_the_exchange() {
        let a = settings("right", true);
        for bytes in [
            // The magic, then a token length far over the limit.
            QuorumAuthPacket::new(AuthStatus::InProgress, None).to_bytes()[..12]
                .iter()
                .copied()
                .chain([0x7f, 0xff, 0xff, 0xff])
                .collect::<Vec<u8>>(),
            // The magic, then a null token.
            QuorumAuthPacket::new(AuthStatus::InProgress, None)
                .to_bytes()
                .to_vec(),
        ] {
            let (mut l, mut s) = pair().await;
            l.write_all(&bytes).await.unwrap();
            let mut buf = BytesMut::new();
            assert!(as_server(&a, &mut s, &mut buf, "x").await.is_err());
        }
        // A server answering garbage: the learner gives up.
        let (mut l, mut s) = pair().await;
        s.write_all(&[0xff; 32]).await.unwrap();
        let mut buf = BytesMut::new();
        assert!(as_learner(&a, &mut l, &mut buf, "x").await.is_err());
    }

    /// An ensemble's config with `lines`, reading the JAAS file `jaas` (if any).
    fn config(lines: &str, jaas: Option<&std::path::Path>) -> zk_config::Config {
        let text = format!(
            "dataDir=/zk\nclientPort=2181\ninitLimit=5\nsyncLimit=2\nserver.1=a:1:2\n\
             server.2=b:1:2\nserver.3=c:1:2\n{lines}"
        );
        let props = zk_config::JavaProperties::parse_str(&text).unwrap();
        let mut sys = zk_config::SystemProperties::new();
        if let Some(p) = jaas {
            sys.set("java.security.auth.login.config", p.display().to_string());
        }
        let files = std::collections::BTreeMap::from([(
            std::path::PathBuf::from("/zk/myid"),
            b"1".to_vec(),
        )]);
        zk_config::Config::parse(&props, None, sys, &files)
            .unwrap()
            .config
    }

    #[test]
    fn settings_come_from_zoo_cfg_and_the_named_sections() {
        let dir = tempfile::tempdir().unwrap();
        let jaas = dir.path().join("jaas.conf");
        std::fs::write(
            &jaas,
            "S { org.apache.zookeeper.server.auth.DigestLoginModule required user_a=\"pa\"; };\n\
             L { org.apache.zookeeper.server.auth.DigestLoginModule required username=\"b\" \
             password=\"pb\"; };\n\
             K { com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true; };\n\
             N { org.apache.zookeeper.server.auth.DigestLoginModule required username=\"c\"; };",
        )
        .unwrap();
        let sections = |server: &str, learner: &str| {
            let lines = format!(
                "quorum.auth.enableSasl=true\nquorum.auth.learnerRequireSasl=true\n\
                 quorum.auth.server.saslLoginContext={server}\n\
                 quorum.auth.learner.saslLoginContext={learner}\n"
            );
            QuorumAuth::from_config(&config(&lines, Some(&jaas)))
        };
        let a = sections("S", "L").unwrap().unwrap();
        assert!(a.learner_required && !a.server_required);
        assert_eq!(a.server_credentials.password("a"), Some("pa"));
        assert_eq!(
            (a.learner_user.as_str(), a.learner_password.as_str()),
            ("b", "pb")
        );
        assert!(!format!("{a:?}").contains("pb") && !format!("{a:?}").contains("pa"));
        // Kerberos, a learner without a password, a missing section: errors.
        assert!(sections("K", "L").unwrap_err().contains("Kerberos"));
        assert!(sections("S", "N").unwrap_err().contains("username and"));
        assert!(sections("S", "QuorumLearner")
            .unwrap_err()
            .contains("'QuorumLearner' could not be found"));
        // Off: nothing read at all.
        assert!(QuorumAuth::from_config(&config("", None))
            .unwrap()
            .is_none());
        let on = config("quorum.auth.enableSasl=true\n", None);
        assert!(QuorumAuth::from_config(&on)
            .unwrap_err()
            .contains("java.security.auth.login.config"));
    }
}
