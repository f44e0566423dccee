//! Authentication schemes and ACL checks, as `ProviderRegistry`, the `ip` and `digest`
//! providers, `ZooKeeperServer.checkACL` and `PrepRequestProcessor.fixupACL`.

use base64::Engine as _;
use sha1::{Digest as _, Sha1};
use zk_proto::data::{Acl, Id};
use zk_proto::{ErrorCode, JString};

/// Identities a connection holds (`ServerCnxn.authInfo`): always `ip:<addr>`, plus one per
/// successful addAuth, plus `super:` when the superDigest matched.
pub type AuthInfo = Vec<Id>;

/// Server-side authentication settings.
#[derive(Clone, Default)]
pub struct AuthConfig {
    /// `zookeeper.DigestAuthenticationProvider.superDigest`: `super:<base64 sha1>`.
    pub super_digest: Option<String>,
    /// `zookeeper.skipACL=yes`.
    pub skip_acl: bool,
    /// The `sasl` scheme is registered (`zookeeper.authProvider.*` names
    /// `SASLAuthenticationProvider`).
    pub sasl_provider: bool,
    /// `zookeeper.letAnySaslUserDoX`: an ACL id every SASL identity matches.
    pub sasl_let_any_user: Option<String>,
    /// The `x509` scheme is registered (a secure client port is configured, or
    /// `zookeeper.authProvider.x509` is set).
    pub x509_provider: bool,
    /// `zookeeper.X509AuthenticationProvider.superUser`: the certificate subject that is
    /// super, and matches every x509 ACL.
    pub x509_super_user: Option<String>,
}

impl std::fmt::Debug for AuthConfig {
    /// The super digest is a secret: never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field(
                "super_digest",
                &self.super_digest.as_ref().map(|_| "<redacted>"),
            )
            .field("skip_acl", &self.skip_acl)
            .field("sasl_provider", &self.sasl_provider)
            .field("x509_provider", &self.x509_provider)
            .field("x509_super_user", &self.x509_super_user)
            .finish_non_exhaustive()
    }
}

/// `digest` id for `user:password`: `user:base64(sha1("user:password"))`
/// (`DigestAuthenticationProvider.generateDigest`).
pub fn generate_digest(id_password: &str) -> String {
    let user = id_password.split(':').next().unwrap_or("");
    let hash = Sha1::digest(id_password.as_bytes());
    format!(
        "{user}:{}",
        base64::engine::general_purpose::STANDARD.encode(hash)
    )
}

fn id(scheme: &str, id: &str) -> Id {
    Id {
        scheme: Some(JString::from(scheme)),
        id: Some(JString::from(id)),
    }
}

/// The identity every connection from `addr` starts with: `InetAddress.getHostAddress()`,
/// so an IPv6 client is `ip:0:0:0:0:0:0:0:1`, not `ip:::1` (Java writes all eight groups).
pub fn ip_identity(addr: &std::net::IpAddr) -> Id {
    match addr {
        std::net::IpAddr::V4(v4) => id("ip", &v4.to_string()),
        std::net::IpAddr::V6(v6) => {
            let groups: Vec<String> = v6.segments().iter().map(|g| format!("{g:x}")).collect();
            id("ip", &groups.join(":"))
        }
    }
}

/// Outcome of an addAuth packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthOutcome {
    /// Identities to add to the connection.
    Added(Vec<Id>),
    /// AUTHFAILED: the server answers -115 and closes the connection.
    Failed,
}

/// Handles addAuth for `scheme` (`ZooKeeperServer.processPacket`, auth branch).
pub fn authenticate(
    cfg: &AuthConfig,
    scheme: &[u8],
    auth: &[u8],
    peer: Option<&std::net::IpAddr>,
) -> AuthOutcome {
    match scheme {
        b"digest" => {
            let text = String::from_utf8_lossy(auth);
            let digest = generate_digest(&text);
            let mut ids = Vec::new();
            if cfg.super_digest.as_deref() == Some(digest.as_str()) {
                ids.push(id("super", ""));
            }
            ids.push(id("digest", &digest));
            AuthOutcome::Added(ids)
        }
        b"ip" => match peer {
            Some(a) => AuthOutcome::Added(vec![ip_identity(a)]),
            None => AuthOutcome::Failed,
        },
        _ => AuthOutcome::Failed,
    }
}

impl AuthConfig {
    /// Whether a provider for `scheme` is registered (`ProviderRegistry.getProvider`).
    pub fn has_provider(&self, scheme: &[u8]) -> bool {
        match scheme {
            b"ip" | b"digest" => true,
            b"sasl" => self.sasl_provider,
            b"x509" => self.x509_provider,
            _ => false,
        }
    }

    fn scheme_is_authenticated(&self, scheme: &[u8]) -> bool {
        // digest, sasl, x509: isAuthenticated() true; ip: false; no provider: false.
        scheme != b"ip" && self.has_provider(scheme)
    }
}

/// `KerberosName`'s syntax, which `SASLAuthenticationProvider.isValid` applies: a simple
/// name without `/` or `@`, or `name[/host]@realm`.
fn kerberos_name_is_valid(id: &str) -> bool {
    let Some((left, realm)) = id.split_once('@') else {
        return !id.contains('/');
    };
    if realm.contains('@') || realm.contains('/') {
        return false;
    }
    match left.split_once('/') {
        Some((_, host)) => !host.contains('/'),
        None => true,
    }
}

/// `X500Principal(id)` accepts it (roughly: comma- or semicolon-separated `type=value`
/// attributes, or the empty name).
fn x500_name_is_valid(id: &str) -> bool {
    id.trim().is_empty() || id.split([',', ';']).all(|rdn| rdn.contains('='))
}

fn ipv4(s: &str) -> Option<[u8; 4]> {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() != 4 {
        return None;
    }
    let mut b = [0u8; 4];
    for (i, p) in parts.iter().enumerate() {
        // Java's Integer.parseInt accepts a leading '+' or '-'; only 0..=255 pass.
        let v: i64 = p.parse().ok()?;
        b[i] = u8::try_from(v).ok()?;
    }
    Some(b)
}

fn mask(b: &mut [u8; 4], bits: usize) {
    let mut start = bits / 8;
    let mut m: u8 = !(((1u16 << (8 - bits % 8)) - 1) as u8);
    while start < 4 {
        b[start] &= m;
        m = 0;
        start += 1;
    }
}

/// `ip` ACL expression validity (`a.b.c.d` or `a.b.c.d/bits`).
fn ip_is_valid(expr: &str) -> bool {
    let mut parts = expr.splitn(2, '/');
    let Some(addr) = parts.next().and_then(ipv4) else {
        return false;
    };
    let _ = addr;
    match parts.next() {
        Some(bits) => bits.parse::<i64>().is_ok_and(|b| (0..=32).contains(&b)),
        None => true,
    }
}

/// `ip` provider match.
fn ip_matches(client: &str, expr: &str) -> bool {
    let mut parts = expr.splitn(2, '/');
    let Some(mut acl) = parts.next().and_then(ipv4) else {
        return false;
    };
    let bits = match parts.next() {
        Some(b) => match b.parse::<i64>() {
            Ok(b) if (0..=32).contains(&b) => b as usize,
            _ => return false,
        },
        None => 32,
    };
    let Some(mut remote) = ipv4(client) else {
        return false;
    };
    if bits < 32 {
        mask(&mut acl, bits);
        mask(&mut remote, bits);
    }
    acl == remote
}

/// `digest` id validity: exactly one `:` separating two parts (Java `split(":")`, which
/// drops trailing empty strings).
fn digest_is_valid(id: &str) -> bool {
    let mut parts: Vec<&str> = id.split(':').collect();
    while parts.last().is_some_and(|p| p.is_empty()) {
        parts.pop();
    }
    parts.len() == 2
}

fn text(s: &Option<JString>) -> std::borrow::Cow<'_, str> {
    s.as_ref()
        .map_or(std::borrow::Cow::Borrowed(""), |s| s.to_string_lossy())
}

fn is_world_anyone(i: &Id) -> bool {
    i.scheme.as_ref().is_some_and(|s| s == "world") && i.id.as_ref().is_some_and(|s| s == "anyone")
}

/// `checkACL`: Ok if `auth` may do `perm` on a node with `acl`.
pub fn check_acl(cfg: &AuthConfig, acl: &[Acl], perm: i32, auth: &[Id]) -> Result<(), ErrorCode> {
    if cfg.skip_acl || acl.is_empty() {
        return Ok(());
    }
    if auth
        .iter()
        .any(|i| i.scheme.as_ref().is_some_and(|s| s == "super"))
    {
        return Ok(());
    }
    for a in acl {
        if a.perms & perm == 0 {
            continue;
        }
        if is_world_anyone(&a.id) {
            return Ok(());
        }
        let scheme =
            a.id.scheme
                .as_ref()
                .map(|s| s.as_bytes())
                .unwrap_or_default();
        let expr = text(&a.id.id);
        for who in auth {
            if who.scheme.as_ref().map(|s| s.as_bytes()) != Some(scheme) {
                continue;
            }
            let matched = match scheme {
                b"digest" => who.id == a.id.id,
                b"ip" => ip_matches(&text(&who.id), &expr),
                b"sasl" if cfg.sasl_provider => {
                    let me = text(&who.id);
                    me == "super" || me == expr || cfg.sasl_let_any_user.as_deref() == Some(&*expr)
                }
                b"x509" if cfg.x509_provider => {
                    let me = text(&who.id);
                    me == expr || cfg.x509_super_user.as_deref() == Some(&*me)
                }
                _ => false,
            };
            if matched {
                return Ok(());
            }
        }
    }
    Err(ErrorCode::NoAuth)
}

/// `fixupACL`: checks an ACL list from a create/setACL and expands `auth` entries into the
/// requester's authenticated identities. INVALIDACL for an empty list, an unknown scheme,
/// a malformed id, or `auth` without any authenticated identity.
pub fn fixup_acl(
    cfg: &AuthConfig,
    acl: &Option<Vec<Acl>>,
    auth: &[Id],
) -> Result<Vec<Acl>, ErrorCode> {
    let mut uniq: Vec<&Acl> = Vec::new();
    for a in acl.iter().flatten() {
        if !uniq.contains(&a) {
            uniq.push(a);
        }
    }
    if uniq.is_empty() {
        return Err(ErrorCode::InvalidAcl);
    }
    let mut out = Vec::with_capacity(uniq.len());
    for a in uniq {
        let Some(scheme) = a.id.scheme.as_ref() else {
            return Err(ErrorCode::InvalidAcl);
        };
        // PrepRequestProcessor.fixupACL dereferences the id for world (`equals("anyone")`)
        // and in the digest and ip providers' isValid: a null id there is a
        // NullPointerException, answered as MARSHALLINGERROR.
        if a.id.id.is_none() && matches!(scheme.as_bytes(), b"world" | b"digest" | b"ip") {
            return Err(ErrorCode::MarshallingError);
        }
        if is_world_anyone(&a.id) {
            out.push(a.clone());
        } else if scheme == "auth" {
            let mut any = false;
            for who in auth {
                if who
                    .scheme
                    .as_ref()
                    .is_some_and(|s| cfg.scheme_is_authenticated(s.as_bytes()))
                {
                    any = true;
                    out.push(Acl {
                        perms: a.perms,
                        id: who.clone(),
                    });
                }
            }
            if !any {
                return Err(ErrorCode::InvalidAcl);
            }
        } else {
            let id_text = text(&a.id.id);
            let valid = match scheme.as_bytes() {
                b"digest" => a.id.id.is_some() && digest_is_valid(&id_text),
                b"ip" => a.id.id.is_some() && ip_is_valid(&id_text),
                b"sasl" if cfg.sasl_provider => kerberos_name_is_valid(&id_text),
                b"x509" if cfg.x509_provider => x500_name_is_valid(&id_text),
                _ => false,
            };
            if !valid {
                return Err(ErrorCode::InvalidAcl);
            }
            out.push(a.clone());
        }
    }
    Ok(out)
}

/// getACL without ADMIN: digest ids are shown as `user:x` (ZOOKEEPER-1392).
pub fn redact_digests(acl: Vec<Acl>) -> Vec<Acl> {
    acl.into_iter()
        .map(|mut a| {
            if a.id.scheme.as_ref().is_some_and(|s| s == "digest") {
                if let Some(i) = a.id.id.as_ref() {
                    let s = i.to_string_lossy();
                    let user = s.split(':').next().unwrap_or("");
                    let redacted = if s.contains(':') {
                        format!("{user}:x")
                    } else {
                        s.into_owned()
                    };
                    a.id.id = Some(JString::from(redacted));
                }
            }
            a
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use zk_proto::perms;

    fn acl(p: i32, scheme: &str, i: &str) -> Acl {
        Acl {
            perms: p,
            id: id(scheme, i),
        }
    }

    #[test]
    fn ip_identities_are_java_host_addresses() {
        let who = |ip: &str| text(&ip_identity(&ip.parse().unwrap()).id).into_owned();
        assert_eq!(who("10.0.0.7"), "10.0.0.7");
        assert_eq!(who("::1"), "0:0:0:0:0:0:0:1");
        assert_eq!(who("fd00::ab:2"), "fd00:0:0:0:0:0:ab:2");
    }

    #[test]
    fn digest_matches_upstream() {
        // zkCli's `addauth digest super:test` / DigestAuthenticationProvider's generateDigest.
        assert_eq!(
            generate_digest("super:test"),
            "super:D/InIHSb7yEEbrWz8b9l71RjZJU="
        );
        assert_eq!(
            generate_digest("user:"),
            "user:kd7q5xGKLW+18xQTfO8iqRaFvsM="
        );
        assert_eq!(generate_digest("a:b:c"), "a:cLzgnoJ6mP5qz3w+mwvPE2vDgu0=");
    }

    #[test]
    fn super_digest_adds_super() {
        let cfg = AuthConfig {
            super_digest: Some(generate_digest("super:test")),
            ..Default::default()
        };
        let AuthOutcome::Added(ids) = authenticate(&cfg, b"digest", b"super:test", None) else {
            panic!()
        };
        assert_eq!(ids[0], id("super", ""));
        assert_eq!(authenticate(&cfg, b"nope", b"x", None), AuthOutcome::Failed);
    }

    #[test]
    fn check_acl_rules() {
        let cfg = AuthConfig::default();
        let d = generate_digest("u:p");
        let list = vec![
            acl(perms::READ, "digest", &d),
            acl(perms::WRITE, "ip", "10.0.0.0/8"),
        ];
        let me = vec![id("ip", "127.0.0.1"), id("digest", &d)];
        assert_eq!(check_acl(&cfg, &list, perms::READ, &me), Ok(()));
        assert_eq!(
            check_acl(&cfg, &list, perms::WRITE, &me),
            Err(ErrorCode::NoAuth)
        );
        let inside = vec![id("ip", "10.1.2.3")];
        assert_eq!(check_acl(&cfg, &list, perms::WRITE, &inside), Ok(()));
        assert_eq!(
            check_acl(&cfg, &list, perms::READ | perms::ADMIN, &inside),
            Err(ErrorCode::NoAuth)
        );
        assert_eq!(check_acl(&cfg, &[], perms::ADMIN, &[]), Ok(()));
        assert_eq!(
            check_acl(&cfg, &list, perms::ADMIN, &[id("super", "")]),
            Ok(())
        );
        let skip = AuthConfig {
            skip_acl: true,
            ..Default::default()
        };
        assert_eq!(check_acl(&skip, &list, perms::ADMIN, &[]), Ok(()));
    }

    #[test]
    fn fixup_acl_rules() {
        let me = vec![id("ip", "127.0.0.1"), id("digest", "u:h")];
        let expanded = fixup_acl(
            &AuthConfig::default(),
            &Some(vec![acl(perms::ALL, "auth", "")]),
            &me,
        )
        .unwrap();
        assert_eq!(expanded, vec![acl(perms::ALL, "digest", "u:h")]);
        assert_eq!(
            fixup_acl(
                &AuthConfig::default(),
                &Some(vec![acl(1, "auth", "")]),
                &me[..1]
            ),
            Err(ErrorCode::InvalidAcl)
        );
        assert_eq!(
            fixup_acl(&AuthConfig::default(), &Some(vec![]), &me),
            Err(ErrorCode::InvalidAcl)
        );
        assert_eq!(
            fixup_acl(&AuthConfig::default(), &None, &me),
            Err(ErrorCode::InvalidAcl)
        );
        assert_eq!(
            fixup_acl(
                &AuthConfig::default(),
                &Some(vec![acl(1, "world", "someone")]),
                &me
            ),
            Err(ErrorCode::InvalidAcl)
        );
        assert_eq!(
            fixup_acl(
                &AuthConfig::default(),
                &Some(vec![acl(1, "digest", "nocolon")]),
                &me
            ),
            Err(ErrorCode::InvalidAcl)
        );
        assert_eq!(
            fixup_acl(
                &AuthConfig::default(),
                &Some(vec![acl(1, "ip", "300.0.0.1")]),
                &me
            ),
            Err(ErrorCode::InvalidAcl)
        );
        assert_eq!(
            fixup_acl(
                &AuthConfig::default(),
                &Some(vec![acl(1, "ip", "10.0.0.1/33")]),
                &me
            ),
            Err(ErrorCode::InvalidAcl)
        );
        let dup = vec![acl(1, "ip", "10.0.0.1"), acl(1, "ip", "10.0.0.1")];
        assert_eq!(
            fixup_acl(&AuthConfig::default(), &Some(dup), &me)
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn sasl_and_x509_schemes() {
        let none = AuthConfig::default();
        let cfg = AuthConfig {
            sasl_provider: true,
            x509_provider: true,
            x509_super_user: Some("CN=admin".into()),
            ..Default::default()
        };
        let sasl = vec![acl(perms::ALL, "sasl", "jaasuser")];
        let me = vec![id("ip", "127.0.0.1"), id("sasl", "jaasuser")];
        assert_eq!(check_acl(&cfg, &sasl, perms::READ, &me), Ok(()));
        assert_eq!(
            check_acl(&none, &sasl, perms::READ, &me),
            Err(ErrorCode::NoAuth)
        );
        let other = vec![id("sasl", "bob")];
        assert_eq!(
            check_acl(&cfg, &sasl, perms::READ, &other),
            Err(ErrorCode::NoAuth)
        );
        // Without the provider the scheme is unknown: INVALIDACL, as upstream.
        assert_eq!(
            fixup_acl(&none, &Some(sasl.clone()), &me),
            Err(ErrorCode::InvalidAcl)
        );
        assert_eq!(fixup_acl(&cfg, &Some(sasl.clone()), &me).unwrap(), sasl);
        assert_eq!(
            fixup_acl(&cfg, &Some(vec![acl(1, "sasl", "a@b@c")]), &me),
            Err(ErrorCode::InvalidAcl)
        );
        // `auth` expands to every authenticated identity.
        let expanded = fixup_acl(&cfg, &Some(vec![acl(perms::ALL, "auth", "")]), &me).unwrap();
        assert_eq!(expanded, sasl);
        let x = vec![acl(perms::READ, "x509", "CN=client,O=kazoo")];
        let cert = vec![id("x509", "CN=client,O=kazoo")];
        assert_eq!(check_acl(&cfg, &x, perms::READ, &cert), Ok(()));
        let admin = vec![id("x509", "CN=admin")];
        assert_eq!(check_acl(&cfg, &x, perms::READ, &admin), Ok(()));
        assert_eq!(
            check_acl(&none, &x, perms::READ, &cert),
            Err(ErrorCode::NoAuth)
        );
    }

    #[test]
    fn redaction() {
        let r = redact_digests(vec![acl(1, "digest", "bob:abc="), acl(1, "ip", "1.2.3.4")]);
        assert_eq!(r, vec![acl(1, "digest", "bob:x"), acl(1, "ip", "1.2.3.4")]);
    }
}
