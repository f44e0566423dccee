//! Request preparation, as `PrepRequestProcessor`: a write request becomes a txn with the
//! next zxid, checked against the tree *plus the changes prepared but not yet applied*
//! (the outstanding changes), so pipelined requests see each other.
//!
//! Every write consumes a zxid, even one that fails: the failure is logged as an
//! `ErrorTxn` (inside a multi, as error sub-txns), exactly as upstream, so zxids match a
//! Java server's for the same request stream.

use std::collections::{HashMap, VecDeque};

use bytes::Bytes;
use foldhash::fast::RandomState;
use zk_proto::data::{Acl, Id, StatPersisted};
use zk_proto::proto::{
    CheckVersionRequest, CreateRequest, CreateTTLRequest, DeleteRequest, SetACLRequest,
    SetDataRequest,
};
use zk_proto::txn::{
    CheckVersionTxn, CloseSessionTxn, CreateContainerTxn, CreateSessionTxn, CreateTTLTxn,
    CreateTxn, DeleteTxn, ErrorTxn, SetACLTxn, SetDataTxn, TxnHeader,
};
use zk_proto::txn_body::TxnBody;
use zk_proto::{perms, CreateMode, ErrorCode, JString, OpCode};
use zk_tree::ephemeral::{self, Kind};
use zk_tree::path::parent_of;
use zk_tree::DataTree;

use crate::auth::{check_acl, fixup_acl, AuthConfig};
use crate::session::SessionTable;

/// Settings that change what preparation accepts. The default is upstream's.
#[derive(Debug, Clone)]
pub struct PrepConfig {
    /// ACL settings (superDigest, skipACL).
    pub auth: AuthConfig,
    /// `zookeeper.extendedTypesEnabled`: TTL nodes allowed.
    pub extended_types: bool,
    /// `zookeeper.closeSessionTxn.enabled` (default true): closeSession txns list the
    /// ephemerals to delete.
    pub close_session_txn: bool,
    /// `reconfigEnabled`: reconfig is refused with RECONFIGDISABLED without it; a
    /// standalone server answers UNIMPLEMENTED with it.
    pub reconfig_enabled: bool,
}

impl Default for PrepConfig {
    fn default() -> Self {
        PrepConfig {
            auth: AuthConfig::default(),
            extended_types: false,
            // Without the list, a replay after a fuzzy snapshot cannot move the parent's pzxid
            // for an ephemeral the snapshot missed (ZOOKEEPER-3145).
            close_session_txn: true,
            reconfig_enabled: false,
        }
    }
}

/// A write request, as preparation needs it.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteOp {
    /// create (1), create2 (15), createContainer (19): which one is `op`.
    Create {
        /// The opcode.
        op: OpCode,
        /// The request.
        req: CreateRequest,
    },
    /// createTTL (21).
    CreateTtl(CreateTTLRequest),
    /// delete (2).
    Delete(DeleteRequest),
    /// deleteContainer (20), issued by the container/TTL reaper.
    DeleteContainer(Bytes),
    /// setData (5).
    SetData(SetDataRequest),
    /// setACL (7).
    SetAcl(SetACLRequest),
    /// check (13), inside a multi.
    Check(CheckVersionRequest),
    /// multi (14).
    Multi(Vec<WriteOp>),
    /// reconfig (16): always refused here (reconfig disabled / standalone).
    Reconfig,
    /// createSession (-10) with the negotiated timeout.
    CreateSession(i32),
    /// closeSession (-11).
    CloseSession,
    /// A request whose body could not be decoded (MARSHALLINGERROR, still a txn).
    Malformed(OpCode),
}

impl WriteOp {
    fn op_code(&self) -> OpCode {
        match self {
            WriteOp::Create { op, .. } => *op,
            WriteOp::CreateTtl(_) => OpCode::CreateTtl,
            WriteOp::Delete(_) => OpCode::Delete,
            WriteOp::DeleteContainer(_) => OpCode::DeleteContainer,
            WriteOp::SetData(_) => OpCode::SetData,
            WriteOp::SetAcl(_) => OpCode::SetAcl,
            WriteOp::Check(_) => OpCode::Check,
            WriteOp::Multi(_) => OpCode::Multi,
            WriteOp::Reconfig => OpCode::Reconfig,
            WriteOp::CreateSession(_) => OpCode::CreateSession,
            WriteOp::CloseSession => OpCode::CloseSession,
            WriteOp::Malformed(op) => *op,
        }
    }
}

/// Who sent a request.
#[derive(Debug, Clone, Copy)]
pub struct Requester<'a> {
    /// The session.
    pub session_id: i64,
    /// Its identities.
    pub auth: &'a [Id],
}

/// A prepared txn, ready for the log.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    /// The header (type `error` when preparation failed).
    pub header: TxnHeader,
    /// The body.
    pub body: TxnBody,
}

/// What preparation knows of a node: the tree's state or a pending change (`ChangeRecord`).
#[derive(Debug, Clone)]
struct Change {
    zxid: i64,
    /// `None`: the node is being deleted.
    stat: Option<StatPersisted>,
    child_count: i32,
    acl: Vec<Acl>,
    data: Option<Bytes>,
}

/// The preparation state: outstanding changes and the zxid counter.
#[derive(Debug, Clone)]
pub struct Prep {
    cfg: PrepConfig,
    last_zxid: i64,
    queue: VecDeque<(i64, Bytes)>,
    by_path: HashMap<Bytes, Change, RandomState>,
    /// The digest delta of each prepared txn is computed ([`Prep::track_digest`]).
    track_digest: bool,
    /// The txn being prepared: each path it changes, with its outstanding change before.
    before: Vec<(Bytes, Option<Change>)>,
    /// The tree-digest delta of the last txn prepared.
    last_delta: i64,
}

type PResult<T> = Result<T, ErrorCode>;

/// The path of a create or delete. Upstream dereferences a null path there
/// (NullPointerException in PrepRequestProcessor), which it answers as MARSHALLINGERROR.
fn path_of(p: &Option<JString>) -> PResult<Bytes> {
    p.as_ref()
        .map(|s| s.bytes().clone())
        .ok_or(ErrorCode::MarshallingError)
}

/// The path of setData, setACL and check: `validatePath` refuses a null path as
/// BADARGUMENTS.
fn validated_path(p: &Option<JString>) -> PResult<Bytes> {
    let path = p
        .as_ref()
        .map(|s| s.bytes().clone())
        .ok_or(ErrorCode::BadArguments)?;
    validate(&path)?;
    Ok(path)
}

/// `PathUtils.validatePath`.
fn validate(path: &[u8]) -> PResult<()> {
    zk_proto::path::validate(path).map_err(|_| ErrorCode::BadArguments)
}

/// `getParentPathAndValidate`: the parent, refusing the root and the system nodes.
fn parent_for_delete(path: &[u8]) -> PResult<Bytes> {
    if path.contains(&0) || is_special(path) {
        return Err(ErrorCode::BadArguments);
    }
    parent_of(path)
        .map(Bytes::copy_from_slice)
        .ok_or(ErrorCode::BadArguments)
}

/// `DataTree.isSpecialPath`.
fn is_special(path: &[u8]) -> bool {
    matches!(
        path,
        b"/" | b"/zookeeper" | b"/zookeeper/quota" | b"/zookeeper/config"
    )
}

/// `checkAndIncVersion` (3.8: no wrap-around special case).
fn check_and_inc(current: i32, expected: i32) -> PResult<i32> {
    if expected != -1 && expected != current {
        return Err(ErrorCode::BadVersion);
    }
    Ok(current.wrapping_add(1))
}

impl Prep {
    /// Preparation continuing after `last_zxid`.
    pub fn new(cfg: PrepConfig, last_zxid: i64) -> Self {
        Prep {
            cfg,
            last_zxid,
            queue: VecDeque::new(),
            by_path: HashMap::default(),
            track_digest: false,
            before: Vec::new(),
            last_delta: 0,
        }
    }

    /// Computes, for every txn prepared from now on, how much it changes the tree digest
    /// (`zk_tree::digest`), as `PrepRequestProcessor` does for the `TxnDigest` a leader
    /// proposes: [`Prep::last_digest_delta`]. Off by default (standalone logs no digest).
    pub fn track_digest(&mut self, on: bool) {
        self.track_digest = on;
    }

    /// The tree-digest delta of the last txn prepared (0 unless tracking): the digest of
    /// the tree with every prepared txn applied is the applied tree's plus the deltas of
    /// the txns prepared since.
    pub fn last_digest_delta(&self) -> i64 {
        self.last_delta
    }

    /// The digest of `path`'s outstanding change, or of its node in `tree` without one.
    fn state_digest(tree: &DataTree, path: &[u8], change: Option<&Change>) -> i64 {
        match change {
            Some(c) => c.stat.as_ref().map_or(0, |stat| {
                zk_tree::digest::node_digest(path, c.data.as_deref(), stat)
            }),
            None => tree
                .node(path)
                .map_or(0, |n| zk_tree::digest::digest_of(path, &n)),
        }
    }

    /// Starts a new epoch: the next zxid is `epoch << 32 | 1` (a leader that has just
    /// established `epoch`, as `Leader.lead` sets `zk.setZxid(makeZxid(epoch, 0))`). A
    /// standalone server never calls this: it goes on from the last zxid, as
    /// `ZooKeeperServer.loadData` does, whatever epoch that zxid carries.
    pub fn start_epoch(&mut self, epoch: u32) {
        self.last_zxid = zk_proto::Zxid::new(epoch, 0).0;
    }

    /// The last zxid handed out.
    pub fn last_zxid(&self) -> i64 {
        self.last_zxid
    }

    /// Number of outstanding changes.
    pub fn outstanding(&self) -> usize {
        self.queue.len()
    }

    /// Forgets the changes of txns up to `zxid`, now applied (FinalRequestProcessor).
    pub fn applied(&mut self, zxid: i64) {
        while let Some((z, _)) = self.queue.front() {
            if *z > zxid {
                break;
            }
            if let Some((z, p)) = self.queue.pop_front() {
                if self.by_path.get(&p).is_some_and(|c| c.zxid == z) {
                    self.by_path.remove(&p);
                }
            }
        }
    }

    fn record(&self, tree: &DataTree, path: &[u8]) -> PResult<Change> {
        if let Some(c) = self.by_path.get(path) {
            if c.stat.is_none() {
                return Err(ErrorCode::NoNode);
            }
            return Ok(c.clone());
        }
        let n = tree.node(path).ok_or(ErrorCode::NoNode)?;
        Ok(Change {
            zxid: -1,
            stat: Some(n.stat.clone()),
            child_count: n.children.len() as i32,
            acl: tree.acl_of(n).to_vec(),
            data: n.data.map(Bytes::copy_from_slice),
        })
    }

    fn add_change(&mut self, path: Bytes, c: Change) {
        if self.track_digest && !self.before.iter().any(|(p, _)| *p == path) {
            self.before
                .push((path.clone(), self.by_path.get(&path).cloned()));
        }
        self.queue.push_back((c.zxid, path.clone()));
        self.by_path.insert(path, c);
    }

    fn check_session(sessions: &SessionTable, who: &Requester<'_>) -> PResult<()> {
        if sessions.is_active(who.session_id) {
            Ok(())
        } else {
            Err(ErrorCode::SessionExpired)
        }
    }

    /// Prepares one write. Always returns a txn: a failure becomes an `ErrorTxn` with its
    /// own zxid, as upstream logs it.
    pub fn prepare(
        &mut self,
        tree: &DataTree,
        sessions: &mut SessionTable,
        who: &Requester<'_>,
        cxid: i32,
        op: &WriteOp,
        now_ms: i64,
    ) -> Prepared {
        self.last_zxid += 1;
        let zxid = self.last_zxid;
        let mut header = TxnHeader {
            client_id: who.session_id,
            cxid,
            zxid,
            time: now_ms,
            type_: op.op_code().code(),
        };
        let body = match op {
            WriteOp::Multi(ops) => self.prepare_multi(tree, sessions, who, zxid, now_ms, ops),
            WriteOp::Malformed(_) => Err(ErrorCode::MarshallingError),
            _ => self.prepare_one(tree, sessions, who, zxid, now_ms, op),
        };
        let body = match body {
            Ok(b) => b,
            Err(code) => {
                header.type_ = OpCode::Error.code();
                TxnBody::Error(ErrorTxn { err: code.code() })
            }
        };
        if self.track_digest {
            // After the txn (a rolled-back multi restored its paths): each path's state now
            // against its state before.
            let before = std::mem::take(&mut self.before);
            self.last_delta = before.iter().fold(0i64, |acc, (path, old)| {
                let now = Self::state_digest(tree, path, self.by_path.get(path));
                let was = Self::state_digest(tree, path, old.as_ref());
                acc.wrapping_add(now.wrapping_sub(was))
            });
        }
        Prepared { header, body }
    }

    fn prepare_multi(
        &mut self,
        tree: &DataTree,
        sessions: &mut SessionTable,
        who: &Requester<'_>,
        zxid: i64,
        now_ms: i64,
        ops: &[WriteOp],
    ) -> PResult<TxnBody> {
        // Remember pending records of the paths involved, to restore after a failure.
        let mut saved: HashMap<Bytes, Change> = HashMap::new();
        for op in ops {
            if let Some(p) = op_path(op) {
                if let Some(c) = self.by_path.get(p.as_ref()) {
                    saved.insert(p.clone(), c.clone());
                }
                if !p.contains(&0) {
                    if let Some(parent) = parent_of(&p) {
                        if let Some(c) = self.by_path.get(parent) {
                            saved.insert(Bytes::copy_from_slice(parent), c.clone());
                        }
                    }
                }
            }
        }
        let mut out = Vec::with_capacity(ops.len());
        let mut failed = false;
        for op in ops {
            if failed {
                out.push(TxnBody::Error(ErrorTxn {
                    err: ErrorCode::RuntimeInconsistency.code(),
                }));
                continue;
            }
            let res = match op {
                WriteOp::Multi(_)
                | WriteOp::CreateSession(_)
                | WriteOp::CloseSession
                | WriteOp::Reconfig => Err(ErrorCode::BadArguments),
                WriteOp::Malformed(_) => Err(ErrorCode::MarshallingError),
                _ => self.prepare_one(tree, sessions, who, zxid, now_ms, op),
            };
            match res {
                Ok(b) => out.push(b),
                Err(code) => {
                    failed = true;
                    out.push(TxnBody::Error(ErrorTxn { err: code.code() }));
                    self.rollback(zxid, &saved);
                }
            }
        }
        // Ops before a failing one keep their real txns in the log; the applier turns
        // them into errors with code 0 (DataTree.processTxn), as upstream.
        Ok(TxnBody::Multi(out))
    }

    /// `rollbackPendingChanges`.
    fn rollback(&mut self, zxid: i64, saved: &HashMap<Bytes, Change>) {
        while let Some((z, _)) = self.queue.back() {
            if *z != zxid {
                break;
            }
            if let Some((_, p)) = self.queue.pop_back() {
                self.by_path.remove(&p);
            }
        }
        let Some(first) = self.queue.front().map(|(z, _)| *z) else {
            return;
        };
        for (p, c) in saved {
            if c.zxid >= first {
                self.by_path.insert(p.clone(), c.clone());
            }
        }
    }

    fn prepare_one(
        &mut self,
        tree: &DataTree,
        sessions: &mut SessionTable,
        who: &Requester<'_>,
        zxid: i64,
        now_ms: i64,
        op: &WriteOp,
    ) -> PResult<TxnBody> {
        let cfg_auth = self.cfg.auth.clone();
        match op {
            WriteOp::Create { op, req } => self.prepare_create(
                tree, sessions, who, zxid, now_ms, *op, &req.path, &req.data, &req.acl, req.flags,
                -1,
            ),
            WriteOp::CreateTtl(req) => self.prepare_create(
                tree,
                sessions,
                who,
                zxid,
                now_ms,
                OpCode::CreateTtl,
                &req.path,
                &req.data,
                &req.acl,
                req.flags,
                req.ttl,
            ),
            WriteOp::DeleteContainer(path) => {
                let parent = parent_for_delete(path)?;
                let node = self.record(tree, path)?;
                if node.child_count > 0 {
                    return Err(ErrorCode::NotEmpty);
                }
                let owner = node.stat.as_ref().map_or(0, |s| s.ephemeral_owner);
                if matches!(ephemeral::kind(owner), Kind::Ephemeral(_)) {
                    return Err(ErrorCode::BadVersion);
                }
                self.delete_changes(tree, zxid, &parent, path)?;
                Ok(TxnBody::Delete {
                    container: true,
                    txn: DeleteTxn {
                        path: Some(JString::from(path.clone())),
                    },
                })
            }
            WriteOp::Delete(req) => {
                Self::check_session(sessions, who)?;
                let path = path_of(&req.path)?;
                let parent = parent_for_delete(&path)?;
                let prec = self.record(tree, &parent)?;
                check_acl(&cfg_auth, &prec.acl, perms::DELETE, who.auth)?;
                let node = self.record(tree, &path)?;
                let version = node.stat.as_ref().map_or(0, |s| s.version);
                check_and_inc(version, req.version)?;
                if node.child_count > 0 {
                    return Err(ErrorCode::NotEmpty);
                }
                self.delete_changes(tree, zxid, &parent, &path)?;
                Ok(TxnBody::Delete {
                    container: false,
                    txn: DeleteTxn {
                        path: Some(JString::from(path)),
                    },
                })
            }
            WriteOp::SetData(req) => {
                Self::check_session(sessions, who)?;
                let path = validated_path(&req.path)?;
                let mut node = self.record(tree, &path)?;
                check_acl(&cfg_auth, &node.acl, perms::WRITE, who.auth)?;
                let stat = node.stat.get_or_insert_with(StatPersisted::default);
                let version = check_and_inc(stat.version, req.version)?;
                stat.version = version;
                stat.mtime = now_ms;
                stat.mzxid = zxid;
                node.data = req.data.clone();
                node.zxid = zxid;
                self.add_change(path.clone(), node);
                Ok(TxnBody::SetData(SetDataTxn {
                    path: Some(JString::from(path)),
                    data: req.data.clone(),
                    version,
                }))
            }
            WriteOp::SetAcl(req) => {
                Self::check_session(sessions, who)?;
                let path = validated_path(&req.path)?;
                let list = fixup_acl(&cfg_auth, &req.acl, who.auth)?;
                let mut node = self.record(tree, &path)?;
                check_acl(&cfg_auth, &node.acl, perms::ADMIN, who.auth)?;
                let stat = node.stat.get_or_insert_with(StatPersisted::default);
                let version = check_and_inc(stat.aversion, req.version)?;
                stat.aversion = version;
                node.zxid = zxid;
                node.acl = list.clone();
                self.add_change(path.clone(), node);
                Ok(TxnBody::SetAcl(SetACLTxn {
                    path: Some(JString::from(path)),
                    acl: Some(list),
                    version,
                }))
            }
            WriteOp::Check(req) => {
                Self::check_session(sessions, who)?;
                let path = validated_path(&req.path)?;
                let node = self.record(tree, &path)?;
                check_acl(&cfg_auth, &node.acl, perms::READ, who.auth)?;
                let version = node.stat.as_ref().map_or(0, |s| s.version);
                let version = check_and_inc(version, req.version)?;
                Ok(TxnBody::Check(CheckVersionTxn {
                    path: Some(JString::from(path)),
                    version,
                }))
            }
            WriteOp::Reconfig => {
                // PrepRequestProcessor: disabled first, then the session, then standalone.
                if !self.cfg.reconfig_enabled {
                    return Err(ErrorCode::ReconfigDisabled);
                }
                Self::check_session(sessions, who)?;
                Err(ErrorCode::Unimplemented)
            }
            WriteOp::CreateSession(timeout) => {
                sessions.add(who.session_id, *timeout, now_ms);
                Ok(TxnBody::CreateSession(CreateSessionTxn {
                    time_out: *timeout,
                }))
            }
            WriteOp::CloseSession => {
                let mut es: Vec<Bytes> = tree.ephemerals_of(who.session_id);
                for (z, p) in &self.queue {
                    if let Some(c) = self.by_path.get(p) {
                        if c.zxid != *z {
                            continue;
                        }
                        match &c.stat {
                            None => es.retain(|e| e != p),
                            Some(s) if s.ephemeral_owner == who.session_id => {
                                if !es.contains(p) {
                                    es.push(p.clone());
                                }
                            }
                            Some(_) => {}
                        }
                    }
                }
                es.sort();
                for p in &es {
                    if self.track_digest {
                        // With digests (as upstream's `digestEnabled`): the parent's pzxid
                        // moves when the node goes, and the predicted digest must see it.
                        if let Some(parent) = parent_of(p).map(Bytes::copy_from_slice) {
                            if let Ok(mut prec) = self.record(tree, &parent) {
                                if let Some(st) = prec.stat.as_mut() {
                                    st.pzxid = st.pzxid.max(zxid);
                                }
                                prec.zxid = zxid;
                                self.add_change(parent, prec);
                            }
                        }
                    }
                    self.add_change(
                        p.clone(),
                        Change {
                            zxid,
                            stat: None,
                            child_count: 0,
                            acl: Vec::new(),
                            data: None,
                        },
                    );
                }
                sessions.set_closing(who.session_id);
                if self.cfg.close_session_txn {
                    Ok(TxnBody::CloseSession(Some(CloseSessionTxn {
                        paths2_delete: Some(es.into_iter().map(JString::from).collect()),
                    })))
                } else {
                    Ok(TxnBody::CloseSession(None))
                }
            }
            WriteOp::Multi(_) | WriteOp::Malformed(_) => Err(ErrorCode::MarshallingError),
        }
    }

    fn delete_changes(
        &mut self,
        tree: &DataTree,
        zxid: i64,
        parent: &Bytes,
        path: &Bytes,
    ) -> PResult<()> {
        let mut prec = self.record(tree, parent)?;
        prec.zxid = zxid;
        prec.child_count -= 1;
        if let Some(s) = prec.stat.as_mut() {
            s.pzxid = zxid;
        }
        self.add_change(parent.clone(), prec);
        self.add_change(
            path.clone(),
            Change {
                zxid,
                stat: None,
                child_count: -1,
                acl: Vec::new(),
                data: None,
            },
        );
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn prepare_create(
        &mut self,
        tree: &DataTree,
        sessions: &mut SessionTable,
        who: &Requester<'_>,
        zxid: i64,
        now_ms: i64,
        op: OpCode,
        path: &Option<JString>,
        data: &Option<Bytes>,
        acl: &Option<Vec<Acl>>,
        flags: i32,
        ttl: i64,
    ) -> PResult<TxnBody> {
        let mode = CreateMode::from_code(flags).ok_or(ErrorCode::BadArguments)?;
        // validateCreateRequest
        if mode.is_ttl() && !self.cfg.extended_types {
            return Err(ErrorCode::Unimplemented);
        }
        if mode.is_ttl() && ephemeral::ttl_owner(ttl).is_none() {
            return Err(ErrorCode::BadArguments);
        }
        Self::check_session(sessions, who)?;
        // A createTTL must use a TTL mode and a plain create must not (the server sees the
        // mismatch as bad arguments). Container mode and opcode may differ: 3.8.0's
        // pRequest2TxnCreate picks the txn by opcode, so createContainer with plain flags
        // makes a container and create2 with the container flag a persistent node.
        if (op == OpCode::CreateTtl) != mode.is_ttl() {
            return Err(ErrorCode::BadArguments);
        }
        let path = path_of(path)?;
        // validatePathForCreate
        let slash = path.iter().rposition(|&c| c == b'/');
        let Some(slash) = slash else {
            return Err(ErrorCode::BadArguments);
        };
        if path.contains(&0) {
            return Err(ErrorCode::BadArguments);
        }
        let parent = if slash == 0 {
            Bytes::from_static(b"/")
        } else {
            path.slice(..slash)
        };
        let list = fixup_acl(&self.cfg.auth, acl, who.auth)?;
        let mut prec = self.record(tree, &parent)?;
        check_acl(&self.cfg.auth, &prec.acl, perms::CREATE, who.auth)?;
        let parent_stat = prec.stat.clone().unwrap_or_default();
        let parent_cversion = parent_stat.cversion;
        let path = if mode.is_sequential() {
            let mut p = path.to_vec();
            p.extend_from_slice(format!("{parent_cversion:010}").as_bytes());
            Bytes::from(p)
        } else {
            path
        };
        validate(&path)?;
        if self.record(tree, &path).is_ok() {
            return Err(ErrorCode::NodeExists);
        }
        if matches!(
            ephemeral::kind(parent_stat.ephemeral_owner),
            Kind::Ephemeral(_)
        ) {
            return Err(ErrorCode::NoChildrenForEphemerals);
        }
        let new_cversion = parent_cversion + 1;
        let owner = if mode.is_container() {
            ephemeral::CONTAINER_OWNER
        } else if mode.is_ttl() {
            ephemeral::ttl_owner(ttl).unwrap_or(0)
        } else if mode.is_ephemeral() {
            who.session_id
        } else {
            0
        };
        prec.zxid = zxid;
        prec.child_count += 1;
        if let Some(s) = prec.stat.as_mut() {
            s.cversion = new_cversion;
            s.pzxid = zxid;
        }
        self.add_change(parent, prec);
        self.add_change(
            path.clone(),
            Change {
                zxid,
                stat: Some(StatPersisted {
                    czxid: zxid,
                    mzxid: zxid,
                    ctime: now_ms,
                    mtime: now_ms,
                    version: 0,
                    cversion: 0,
                    aversion: 0,
                    ephemeral_owner: owner,
                    pzxid: zxid,
                }),
                child_count: 0,
                acl: list.clone(),
                data: data.clone(),
            },
        );
        let jpath = Some(JString::from(path));
        Ok(match op {
            OpCode::CreateContainer => TxnBody::CreateContainer(CreateContainerTxn {
                path: jpath,
                data: data.clone(),
                acl: Some(list),
                parent_c_version: new_cversion,
            }),
            OpCode::CreateTtl => TxnBody::CreateTtl(CreateTTLTxn {
                path: jpath,
                data: data.clone(),
                acl: Some(list),
                parent_c_version: new_cversion,
                ttl,
            }),
            _ => TxnBody::Create {
                create2: op == OpCode::Create2,
                txn: CreateTxn {
                    path: jpath,
                    data: data.clone(),
                    acl: Some(list),
                    ephemeral: mode.is_ephemeral(),
                    parent_c_version: new_cversion,
                },
            },
        })
    }
}

fn op_path(op: &WriteOp) -> Option<Bytes> {
    let p = match op {
        WriteOp::Create { req, .. } => &req.path,
        WriteOp::CreateTtl(r) => &r.path,
        WriteOp::Delete(r) => &r.path,
        WriteOp::SetData(r) => &r.path,
        WriteOp::SetAcl(r) => &r.path,
        WriteOp::Check(r) => &r.path,
        WriteOp::DeleteContainer(p) => return Some(p.clone()),
        _ => return None,
    };
    p.as_ref().map(|s| s.bytes().clone())
}
