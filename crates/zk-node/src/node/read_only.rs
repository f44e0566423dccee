//! Read-only mode: with `readonlymode.enabled` ([`crate::NodeConfig::read_only`]) a member
//! whose peer has been LOOKING for [`crate::ReadOnlyMode::after_ms`] serves read-only
//! clients from the database it has loaded, as Java's `ReadOnlyZooKeeperServer` does.
//!
//! ```text
//!  RoleChanged(Looking) ── start_at = now + max(2000, tickTime) ──► Tick / peer event at
//!       │                                                            start_at, still LOOKING
//!       │                                                                     │
//!       ▼                                                                     ▼
//!  RoleKind::Looking (connections closed)            RoleKind::ReadOnly ("Read-only server
//!       ▲                                             started"): sessions local, never txns
//!       └──────────── RoleChanged(anything): every connection closed ◄────────┘
//! ```
//!
//! What the read-only server does (`QuorumPeer.run`'s `roZkMgr`,
//! `ZooKeeperServer.processConnectRequest`, `ReadOnlyZooKeeperServer`,
//! `ReadOnlyRequestProcessor`, 3.8.0):
//!
//! * a ConnectRequest without `readOnly = true` (old clients included) is refused: the
//!   connection is closed ("Refusing session request for not-read-only client");
//! * a new session is a local session of this node (`localSessionsEnabled`; without it
//!   Java's createSession is refused and the client cannot connect, see
//!   [`crate::ReadOnlyMode::local_sessions`]); it expires here and never becomes a txn;
//! * a reconnect to a global session (one the loaded database holds) is refused by closing
//!   the connection (RENEW_GLOBAL_SESSION_IN_RO_MODE); to a session of this read-only
//!   server it is revalidated here; any other session is answered as expired;
//! * every ConnectResponse says `readOnly = true`;
//! * sync, create, create2, createTTL, createContainer, delete, deleteContainer, setData,
//!   reconfig, setACL, multi (whatever it holds) and check are answered with a bare reply
//!   header: the request's xid, the last zxid, NOTREADONLY (-119); closeSession of a local
//!   session closes it; every other request is served as usual (reads, multiRead, watches,
//!   auth, ping, whoAmI).
//!
//! When the peer leaves LOOKING the read-only server stops: every connection is closed
//! (`ReadOnlyZooKeeperServer.shutdown` → `closeAllConnections`) and its sessions are gone.

use zk_core::read::Response;
use zk_core::session::SessionTable;
use zk_proto::request::Request;
use zk_proto::{ErrorCode, OpCode};
use zk_zab::peer::PeerRole;

use super::Node;
use crate::replicate::RoleKind;
use crate::zab::ZabKind;
use crate::{ConnId, Outgoing, Output};

/// The read-only side of a node.
#[derive(Default)]
pub(super) struct ReadOnly {
    /// When the read-only server starts if the peer is still LOOKING then (monotonic ms);
    /// set each time the peer starts looking.
    start_at: Option<i64>,
    /// The running read-only server's sessions (all local).
    sessions: Option<SessionTable>,
}

/// `ReadOnlyRequestProcessor`'s list: what a read-only server answers with NOTREADONLY.
fn refused(op: i32) -> bool {
    [
        OpCode::Sync,
        OpCode::Create,
        OpCode::Create2,
        OpCode::CreateTtl,
        OpCode::CreateContainer,
        OpCode::Delete,
        OpCode::DeleteContainer,
        OpCode::SetData,
        OpCode::Reconfig,
        OpCode::SetAcl,
        OpCode::Multi,
        OpCode::Check,
    ]
    .iter()
    .any(|c| c.code() == op)
}

impl Node {
    /// The peer's role changed (the node has stopped serving already): a LOOKING peer
    /// arms the read-only server's start, any other role disarms it.
    pub(super) fn read_only_role_changed(&mut self, role: PeerRole) {
        self.read_only.sessions = None;
        self.read_only.start_at = match (self.cfg.read_only, role) {
            (Some(mode), PeerRole::Looking) => Some(self.now.mono_ms.saturating_add(mode.after_ms)),
            _ => None,
        };
    }

    /// Starts the read-only server when its time has come and the peer is still LOOKING.
    pub(super) fn maybe_start_read_only(&mut self) {
        let Some(mode) = self.cfg.read_only else {
            return;
        };
        let due = self
            .read_only
            .start_at
            .is_some_and(|at| at <= self.now.mono_ms);
        let looking = self.peer().is_some_and(|p| p.role() == PeerRole::Looking);
        if !due || !looking || self.role.kind() != RoleKind::Looking {
            return;
        }
        self.read_only.start_at = None;
        self.read_only.sessions = Some(SessionTable::new(mode.tick_ms, self.now.wall_ms, 0));
        self.role = Box::new(ZabKind(RoleKind::ReadOnly));
        tracing::info!("Read-only server started");
    }

    /// The sessions of the read-only server, while it runs (all local to this node; the
    /// global ones are in [`Node::sessions`]).
    pub fn read_only_sessions(&self) -> Option<&SessionTable> {
        self.read_only.sessions.as_ref()
    }

    /// When the read-only side next needs an [`crate::Input::Tick`]: its start, or its
    /// sessions' earliest deadline.
    pub(super) fn read_only_deadline(&self) -> Option<i64> {
        match &self.read_only.sessions {
            Some(t) => t.next_deadline(),
            None if self.role.kind() == RoleKind::Looking => self.read_only.start_at,
            None => None,
        }
    }

    /// A new session or a reconnect at the read-only server (the client sent
    /// `readOnly = true`, its zxid is not ahead, the connection is registered).
    pub(super) fn read_only_connect(
        &mut self,
        conn: ConnId,
        peer: std::net::IpAddr,
        session_id: i64,
        password_ok: bool,
        timeout: i32,
        read_only_byte: bool,
    ) {
        let local = self.cfg.read_only.is_some_and(|m| m.local_sessions);
        if session_id == 0 {
            if !local {
                // ReadOnlyRequestProcessor refuses a global createSession: the client gets
                // the bare header (xid 0) where it waits for its ConnectResponse, which it
                // cannot read. Java then leaves the connection to the client; it is closed
                // here.
                tracing::info!(
                    "Refusing a new session from /{peer} in read-only mode: sessions need \
                     localSessionsEnabled"
                );
                self.not_read_only(conn, 0);
                self.send(conn, Outgoing::Close);
                return;
            }
            let id = self.sessions.next_session_id();
            if let Some(t) = self.read_only.sessions.as_mut() {
                t.add(id, timeout, self.now.mono_ms);
            }
            self.finish_connect(conn, id, timeout, true, read_only_byte);
            return;
        }
        if self.sessions.get(session_id).is_some() {
            // ReadOnlyZooKeeperServer.validateSession (ZOOKEEPER-3863).
            tracing::info!("Refusing global session reconnection in RO mode /{peer}");
            self.send(conn, Outgoing::Close);
            return;
        }
        if let Some(old) = self.session_conn.remove(&session_id) {
            if old != conn {
                self.send(old, Outgoing::Close);
            }
        }
        let now = self.now.mono_ms;
        let valid = password_ok
            && self
                .read_only
                .sessions
                .as_mut()
                .is_some_and(|t| t.set_timeout_and_touch(session_id, timeout, now));
        self.finish_connect(conn, session_id, timeout, valid, read_only_byte);
    }

    /// A request of a read-only session (`ReadOnlyRequestProcessor`).
    pub(super) fn read_only_request(
        &mut self,
        conn: ConnId,
        session: i64,
        xid: i32,
        req: Box<Request>,
    ) {
        let now = self.now.mono_ms;
        let live = self
            .read_only
            .sessions
            .as_mut()
            .is_some_and(|t| t.touch(session, now));
        if !live {
            tracing::debug!("dropping request of closing session 0x{session:x}");
            return;
        }
        if refused(req.type_code()) {
            self.not_read_only(conn, xid);
            return;
        }
        if matches!(*req, Request::CloseSession) {
            // A local session's close: no txn; FinalRequestProcessor answers and closes.
            tracing::info!("Closed read-only session 0x{session:x}");
            self.close_read_only_session(session);
            self.bare_reply(conn, xid, 0);
            self.send(conn, Outgoing::Close);
            return;
        }
        self.enqueue_read(conn, session, xid, req, None);
    }

    /// A request of a read-only session whose body did not decode: NOTREADONLY if its
    /// opcode is refused anyway (the processor looks at the type only), else
    /// MARSHALLINGERROR.
    pub(super) fn read_only_malformed(&mut self, conn: ConnId, session: i64, xid: i32, op: OpCode) {
        if refused(op.code()) {
            self.not_read_only(conn, xid);
            return;
        }
        let req = Box::new(Request::Unknown(op.code()));
        self.enqueue_read(conn, session, xid, req, Some(ErrorCode::MarshallingError));
    }

    /// `ReadOnlyRequestProcessor.sendErrorResponse`: a bare header.
    fn not_read_only(&mut self, conn: ConnId, xid: i32) {
        self.bare_reply(conn, xid, ErrorCode::NotReadOnly.code());
    }

    /// A reply header with `err` and no body, at the last zxid.
    fn bare_reply(&mut self, conn: ConnId, xid: i32, err: i32) {
        let zxid = self.last_zxid();
        let body = Response::Empty;
        self.send(
            conn,
            Outgoing::Reply {
                xid,
                zxid,
                err,
                body,
            },
        );
    }

    fn close_read_only_session(&mut self, session: i64) {
        if let Some(t) = self.read_only.sessions.as_mut() {
            t.remove(session);
        }
        self.session_conn.remove(&session);
    }

    /// The read-only server's session expiry (its `LocalSessionTracker`): no txn, the
    /// session's connection is closed.
    pub(super) fn expire_read_only_sessions(&mut self) {
        let now = self.now.mono_ms;
        let Some(t) = self.read_only.sessions.as_mut() else {
            return;
        };
        let expired: Vec<(i64, i32)> = t
            .expire(now)
            .into_iter()
            .map(|id| (id, t.get(id).map_or(0, |s| s.timeout_ms)))
            .collect();
        for (id, timeout) in expired {
            tracing::info!("Expiring session 0x{id:x}, timeout of {timeout}ms exceeded");
            self.out.push(Output::Expired(zk_proto::SessionId(id)));
            let conn = self.session_conn.get(&id).copied();
            self.close_read_only_session(id);
            if let Some(conn) = conn {
                self.send(conn, Outgoing::Close);
            }
        }
    }
}
