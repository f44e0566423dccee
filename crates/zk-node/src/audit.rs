//! Apache ZooKeeper's audit log (`audit.enable`, ZOOKEEPER-1260): what `AuditHelper`,
//! `ZKAuditProvider` and `DataTree.deleteNodes` log, as typed events the shell writes out.
//!
//! A line is tab-separated `key=value` pairs in the order session, user, ip, operation,
//! znode, znode_type, acl (absent ones left out), then `result=success|failure|invoked`
//! (`<TAB>` stands for a tab):
//!
//! ```text
//! session=0x10000d1354d0000<TAB>user=u1,127.0.0.1<TAB>ip=127.0.0.1<TAB>operation=create<TAB>znode=/a/s-0000000001<TAB>znode_type=persistent_sequential<TAB>result=success
//! session=0x10000d1354d0000<TAB>user=root<TAB>operation=ephemeralZNodeDeletionOnSessionCloseOrExpire<TAB>znode=/a/e<TAB>result=success
//! ```
//!
//! Client writes are logged where the result is known (`FinalRequestProcessor`), only on the
//! node the client is connected to: create, delete, setData, setAcl, the ops of a multi,
//! multiOperation (a failed multi), reconfig. Ephemeral deletions of a closed or expired
//! session are logged by every node that applies the closeSession txn, as upstream's
//! `DataTree` does. Quirks kept: `acl` is `ZKUtil.aclToString`, which joins the entries
//! with no separator; `user` lists the connection's identities in the iteration order of
//! upstream's `ConcurrentHashMap`-backed set; a sequential create inside a multi has no
//! `znode_type` (upstream looks the mode up by the created path, which has the suffix).

use std::fmt;

use bytes::Bytes;
use zk_core::prep::WriteOp;
use zk_proto::data::{Acl, Id};
use zk_proto::OpCode;
use zk_tree::apply::TxnResult;

/// How an audited operation ended (`AuditEvent.Result`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditResult {
    /// `success` (logged at INFO).
    Success,
    /// `failure` (logged at ERROR).
    Failure,
    /// `invoked` (serverStop).
    Invoked,
}

/// One audit log line (`AuditEvent`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// The session (printed `0x<hex>`).
    pub session: Option<i64>,
    /// Comma-joined user names of the connection's identities, or the server's user.
    pub user: Option<String>,
    /// The client's address.
    pub ip: Option<String>,
    /// `create`, `delete`, `setData`, `setAcl`, `multiOperation`, `reconfig`,
    /// `ephemeralZNodeDeletionOnSessionCloseOrExpire`, `serverStart`, `serverStop`.
    pub operation: &'static str,
    /// The path.
    pub znode: Option<String>,
    /// The create mode (`persistent_sequential`, ...).
    pub znode_type: Option<&'static str>,
    /// The ACL set (setAcl).
    pub acl: Option<String>,
    /// The outcome.
    pub result: AuditResult,
}

impl AuditEvent {
    /// serverStart / serverStop of the server run by `user` (`addZKStartStopAuditLog`).
    pub fn server(user: &str, operation: &'static str, result: AuditResult) -> Self {
        AuditEvent {
            session: None,
            user: Some(user.to_string()),
            ip: None,
            operation,
            znode: None,
            znode_type: None,
            acl: None,
            result,
        }
    }
}

impl fmt::Display for AuditEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let session = self.session.map(|s| format!("0x{s:x}"));
        let fields = [
            ("session", session.as_deref()),
            ("user", self.user.as_deref()),
            ("ip", self.ip.as_deref()),
            ("operation", Some(self.operation)),
            ("znode", self.znode.as_deref()),
            ("znode_type", self.znode_type),
            ("acl", self.acl.as_deref()),
        ];
        for (k, v) in fields {
            if let Some(v) = v {
                write!(f, "{k}={v}\t")?;
            }
        }
        let result = match self.result {
            AuditResult::Success => "success",
            AuditResult::Failure => "failure",
            AuditResult::Invoked => "invoked",
        };
        write!(f, "result={result}")
    }
}

/// What is known of an audited client write when it is prepared: the request's side of
/// `AuditHelper.addAuditLog`.
#[derive(Debug)]
pub(crate) struct Note {
    operation: &'static str,
    /// The request's path (used when the txn failed).
    path: Option<String>,
    znode_type: Option<&'static str>,
    acl: Option<String>,
    /// A multi's creates: request path → mode.
    create_modes: Vec<(String, &'static str)>,
    session: i64,
    user: Option<String>,
    ip: String,
}

impl Note {
    /// The note for `op`, or `None` when upstream logs nothing for it (reads, sessions,
    /// checks, undecodable requests, an invalid create mode).
    pub(crate) fn of(
        op: &WriteOp,
        session: i64,
        auth: &[Id],
        peer: &std::net::IpAddr,
    ) -> Option<Box<Note>> {
        let text =
            |p: &Option<zk_proto::JString>| p.as_ref().map(|s| s.to_string_lossy().into_owned());
        let (operation, path, znode_type, acl, create_modes) = match op {
            WriteOp::Create { req, .. } => (
                "create",
                text(&req.path),
                Some(create_mode(req.flags)?),
                None,
                Vec::new(),
            ),
            WriteOp::CreateTtl(req) => (
                "create",
                text(&req.path),
                Some(create_mode(req.flags)?),
                None,
                Vec::new(),
            ),
            WriteOp::Delete(req) => ("delete", text(&req.path), None, None, Vec::new()),
            WriteOp::SetData(req) => ("setData", text(&req.path), None, None, Vec::new()),
            WriteOp::SetAcl(req) => {
                let acl = acl_to_string(req.acl.as_deref().unwrap_or_default());
                ("setAcl", text(&req.path), None, Some(acl), Vec::new())
            }
            WriteOp::Multi(ops) => {
                let mut modes = Vec::new();
                for o in ops {
                    if let WriteOp::Create { req, .. } = o {
                        modes.push((text(&req.path).unwrap_or_default(), create_mode(req.flags)?));
                    }
                }
                ("multiOperation", None, None, None, modes)
            }
            WriteOp::Reconfig => ("reconfig", None, None, None, Vec::new()),
            _ => return None,
        };
        let ip = zk_core::auth::ip_identity(peer)
            .id
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        Some(Box::new(Note {
            operation,
            path,
            znode_type,
            acl,
            create_modes,
            session,
            user: users_for_audit(auth),
            ip,
        }))
    }

    fn event(
        &self,
        operation: &'static str,
        znode: Option<String>,
        znode_type: Option<&'static str>,
        acl: Option<String>,
        result: AuditResult,
    ) -> AuditEvent {
        AuditEvent {
            session: Some(self.session),
            user: self.user.clone(),
            ip: Some(self.ip.clone()),
            operation,
            znode,
            znode_type,
            acl,
            result,
        }
    }

    /// The lines for the applied txn's result `rc` (`AuditHelper.addAuditLog`).
    pub(crate) fn events(&self, rc: &TxnResult) -> Vec<AuditEvent> {
        let failed_txn = rc.op == OpCode::Error.code();
        let lossy = |p: &Option<Bytes>| p.as_ref().map(|b| String::from_utf8_lossy(b).into_owned());
        if self.operation == "multiOperation" && !failed_txn {
            let mut out = Vec::new();
            let mut multi_failed = false;
            for sub in &rc.multi {
                let path = lossy(&sub.path);
                match OpCode::from_code(sub.op) {
                    Some(
                        OpCode::Create
                        | OpCode::Create2
                        | OpCode::CreateTtl
                        | OpCode::CreateContainer,
                    ) => {
                        let mode = self
                            .create_modes
                            .iter()
                            .find(|(p, _)| Some(p) == path.as_ref())
                            .map(|(_, m)| *m);
                        out.push(self.event("create", path, mode, None, AuditResult::Success));
                    }
                    Some(OpCode::Delete | OpCode::DeleteContainer) => {
                        out.push(self.event("delete", path, None, None, AuditResult::Success))
                    }
                    Some(OpCode::SetData) => {
                        out.push(self.event("setData", path, None, None, AuditResult::Success))
                    }
                    Some(OpCode::Error) => multi_failed = true,
                    _ => {}
                }
            }
            if multi_failed {
                out.push(self.event("multiOperation", None, None, None, AuditResult::Failure));
            }
            return out;
        }
        let path = if self.operation == "reconfig" || self.operation == "multiOperation" {
            lossy(&rc.path).filter(|_| self.operation == "reconfig" && !failed_txn)
        } else if failed_txn {
            self.path.clone()
        } else {
            lossy(&rc.path)
        };
        let result = if failed_txn || rc.err != 0 {
            AuditResult::Failure
        } else {
            AuditResult::Success
        };
        vec![self.event(
            self.operation,
            path,
            self.znode_type,
            self.acl.clone(),
            result,
        )]
    }
}

/// `CreateMode.fromFlag(flags).toString().toLowerCase()`; `None` for a flag upstream
/// rejects (it then logs nothing).
fn create_mode(flags: i32) -> Option<&'static str> {
    Some(match flags {
        0 => "persistent",
        1 => "ephemeral",
        2 => "persistent_sequential",
        3 => "ephemeral_sequential",
        4 => "container",
        5 => "persistent_with_ttl",
        6 => "persistent_sequential_with_ttl",
        _ => return None,
    })
}

/// `ZKUtil.aclToString`: `scheme:id:perms` per entry, joined with nothing.
fn acl_to_string(acl: &[Acl]) -> String {
    let mut s = String::new();
    for a in acl {
        let part = |j: &Option<zk_proto::JString>| {
            j.as_ref()
                .map(|v| v.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        s.push_str(&part(&a.id.scheme));
        s.push(':');
        s.push_str(&part(&a.id.id));
        s.push(':');
        use zk_proto::perms::{ADMIN, CREATE, DELETE, READ, WRITE};
        for (bit, c) in [
            (CREATE, 'c'),
            (DELETE, 'd'),
            (READ, 'r'),
            (WRITE, 'w'),
            (ADMIN, 'a'),
        ] {
            if a.perms & bit != 0 {
                s.push(c);
            }
        }
    }
    s
}

/// `Request.getUsersForAudit` (`AuthUtil.getUsers`): the user name of every identity whose
/// scheme has a provider (ip, digest → the part before `:`, sasl, x509), comma-joined, in
/// the order upstream's `ServerCnxn.authInfo` set iterates them.
pub(crate) fn users_for_audit(auth: &[Id]) -> Option<String> {
    let mut ids: Vec<(String, String)> = auth
        .iter()
        .map(|i| {
            let s = |j: &Option<zk_proto::JString>| {
                j.as_ref()
                    .map(|v| v.to_string_lossy().into_owned())
                    .unwrap_or_default()
            };
            (s(&i.scheme), s(&i.id))
        })
        .collect();
    ids.sort_by_key(|(scheme, id)| java_set_slot(scheme, id, auth.len()));
    let names: Vec<String> = ids
        .into_iter()
        .filter_map(|(scheme, id)| match scheme.as_str() {
            "digest" => id.split(':').next().map(str::to_string),
            "ip" | "sasl" | "x509" => Some(id),
            _ => None,
        })
        .filter(|n| !n.trim().is_empty())
        .collect();
    (!names.is_empty()).then(|| names.join(","))
}

/// Where `new Id(scheme, id)` sits when a `ConcurrentHashMap` of `len` entries iterates:
/// its bucket (`spread(hashCode) & (table - 1)`); equal buckets keep insertion order (the
/// sort is stable). The table starts at 16 and doubles past three quarters full.
fn java_set_slot(scheme: &str, id: &str, len: usize) -> u32 {
    let mut table: u32 = 16;
    while len as u64 * 4 > u64::from(table) * 3 && table < 1 << 30 {
        table *= 2;
    }
    // The jute-generated Id.hashCode: 17, then 37 * result + each field's hashCode.
    let h = 37i32
        .wrapping_mul(
            37i32
                .wrapping_mul(17)
                .wrapping_add(java_string_hash(scheme)),
        )
        .wrapping_add(java_string_hash(id)) as u32;
    ((h ^ (h >> 16)) & 0x7fff_ffff) & (table - 1)
}

/// `String.hashCode` (over UTF-16 code units).
fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(scheme: &str, id: &str) -> Id {
        Id {
            scheme: Some(scheme.into()),
            id: Some(id.into()),
        }
    }

    #[test]
    fn users_come_in_the_order_of_upstreams_hash_set() {
        // Orders printed by Apache ZooKeeper 3.8's ServerCnxn.authInfo (a ConcurrentHashMap
        // key set) for these identities, inserted in this order.
        let ids = [
            id("ip", "127.0.0.1"),
            id("digest", "alice:XYZ"),
            id("digest", "bob:ABC"),
            id("sasl", "carol"),
        ];
        assert_eq!(
            users_for_audit(&ids).as_deref(),
            Some("alice,bob,carol,127.0.0.1")
        );
        let ids = [
            id("ip", "127.0.0.1"),
            id("digest", "u1:fpT/y03U+EjItKZOSLGvjnJlyng="),
        ];
        assert_eq!(users_for_audit(&ids).as_deref(), Some("u1,127.0.0.1"));
        let ids = [
            id("ip", "0:0:0:0:0:0:0:1"),
            id("x509", "CN=client"),
            id("super", ""),
        ];
        assert_eq!(
            users_for_audit(&ids).as_deref(),
            Some("CN=client,0:0:0:0:0:0:0:1")
        );
        assert_eq!(users_for_audit(&[id("super", "")]), None);
    }

    #[test]
    fn a_line_is_tab_separated_in_upstreams_order() {
        let e = AuditEvent {
            session: Some(0x0100_00d1_354d_0000),
            user: Some("u1,127.0.0.1".into()),
            ip: Some("127.0.0.1".into()),
            operation: "setAcl",
            znode: Some("/a".into()),
            znode_type: None,
            acl: Some(acl_to_string(&[
                Acl {
                    perms: 31,
                    id: id("world", "anyone"),
                },
                Acl {
                    perms: 1,
                    id: id("ip", "127.0.0.1"),
                },
            ])),
            result: AuditResult::Success,
        };
        assert_eq!(
            e.to_string(),
            "session=0x10000d1354d0000\tuser=u1,127.0.0.1\tip=127.0.0.1\toperation=setAcl\t\
             znode=/a\tacl=world:anyone:cdrwaip:127.0.0.1:r\tresult=success"
        );
        assert_eq!(
            AuditEvent::server("root", "serverStart", AuditResult::Success).to_string(),
            "user=root\toperation=serverStart\tresult=success"
        );
    }
}
