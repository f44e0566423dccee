//! Answers to requests that do not change the tree, as `FinalRequestProcessor` (3.8)
//! computes them, plus the reply records of applied writes.

use bytes::{Bytes, BytesMut};
use zk_proto::data::{ClientInfo, Id, Stat};
use zk_proto::multi::{MultiOp, MultiRequest, MultiResponse, MultiResult, OpKind};
use zk_proto::proto::{
    AddWatchRequest, CheckWatchesRequest, Create2Response, CreateResponse, ErrorResponse,
    ExistsRequest, ExistsResponse, GetACLRequest, GetACLResponse, GetAllChildrenNumberRequest,
    GetAllChildrenNumberResponse, GetChildren2Request, GetChildren2Response, GetChildrenRequest,
    GetChildrenResponse, GetDataRequest, GetDataResponse, GetEphemeralsRequest,
    GetEphemeralsResponse, RemoveWatchesRequest, SetACLResponse, SetDataResponse, SetSASLResponse,
    SetWatches2, SyncRequest, SyncResponse, WhoAmIResponse,
};
use zk_proto::{perms, AddWatchMode, ErrorCode, EventType, JString, OpCode, Record, WatcherType};
use zk_tree::{DataTree, TxnResult, WatchKind, WatchMode, WatchedEvent, WatcherId};

use crate::auth::{check_acl, redact_digests, AuthConfig};

/// A request answered from the tree.
#[derive(Debug, Clone, PartialEq)]
pub enum ReadOp {
    /// exists (3).
    Exists(ExistsRequest),
    /// getData (4).
    GetData(GetDataRequest),
    /// getChildren (8).
    GetChildren(GetChildrenRequest),
    /// getChildren2 (12).
    GetChildren2(GetChildren2Request),
    /// getACL (6).
    GetAcl(GetACLRequest),
    /// getAllChildrenNumber (104).
    GetAllChildrenNumber(GetAllChildrenNumberRequest),
    /// getEphemerals (103).
    GetEphemerals(GetEphemeralsRequest),
    /// sync (9): standalone, nothing to wait for.
    Sync(SyncRequest),
    /// multiRead (22).
    MultiRead(MultiRequest),
    /// setWatches (101) and setWatches2 (105); setWatches has empty persistent lists.
    SetWatches(SetWatches2),
    /// addWatch (106).
    AddWatch(AddWatchRequest),
    /// checkWatches (17).
    CheckWatches(CheckWatchesRequest),
    /// removeWatches (18).
    RemoveWatches(RemoveWatchesRequest),
    /// whoAmI (107).
    WhoAmI,
    /// ping (11).
    Ping,
}

impl ReadOp {
    /// The opcode.
    pub fn op_code(&self) -> OpCode {
        match self {
            ReadOp::Exists(_) => OpCode::Exists,
            ReadOp::GetData(_) => OpCode::GetData,
            ReadOp::GetChildren(_) => OpCode::GetChildren,
            ReadOp::GetChildren2(_) => OpCode::GetChildren2,
            ReadOp::GetAcl(_) => OpCode::GetAcl,
            ReadOp::GetAllChildrenNumber(_) => OpCode::GetAllChildrenNumber,
            ReadOp::GetEphemerals(_) => OpCode::GetEphemerals,
            ReadOp::Sync(_) => OpCode::Sync,
            ReadOp::MultiRead(_) => OpCode::MultiRead,
            ReadOp::SetWatches(_) => OpCode::SetWatches2,
            ReadOp::AddWatch(_) => OpCode::AddWatch,
            ReadOp::CheckWatches(_) => OpCode::CheckWatches,
            ReadOp::RemoveWatches(_) => OpCode::RemoveWatches,
            ReadOp::WhoAmI => OpCode::WhoAmI,
            ReadOp::Ping => OpCode::Ping,
        }
    }
}

/// A reply body.
#[derive(Debug, Clone, PartialEq)]
pub enum Response {
    /// No body (delete, ping, setWatches, errors).
    Empty,
    /// create.
    Create(CreateResponse),
    /// create2, createTTL, createContainer.
    Create2(Create2Response),
    /// setData (and a bare check).
    SetData(SetDataResponse),
    /// setACL.
    SetAcl(SetACLResponse),
    /// exists.
    Exists(ExistsResponse),
    /// getData.
    GetData(GetDataResponse),
    /// getChildren.
    GetChildren(GetChildrenResponse),
    /// getChildren2.
    GetChildren2(GetChildren2Response),
    /// getACL.
    GetAcl(GetACLResponse),
    /// getAllChildrenNumber.
    AllChildrenNumber(GetAllChildrenNumberResponse),
    /// getEphemerals.
    Ephemerals(GetEphemeralsResponse),
    /// sync.
    Sync(SyncResponse),
    /// multi, multiRead.
    Multi(MultiResponse),
    /// whoAmI.
    WhoAmI(WhoAmIResponse),
    /// addWatch answers an ErrorResponse(0).
    Error(ErrorResponse),
    /// sasl.
    Sasl(SetSASLResponse),
}

impl Response {
    /// Appends the body's bytes.
    pub fn encode(&self, buf: &mut BytesMut) {
        match self {
            Response::Empty => {}
            Response::Create(r) => r.encode(buf),
            Response::Create2(r) => r.encode(buf),
            Response::SetData(r) => r.encode(buf),
            Response::SetAcl(r) => r.encode(buf),
            Response::Exists(r) => r.encode(buf),
            Response::GetData(r) => r.encode(buf),
            Response::GetChildren(r) => r.encode(buf),
            Response::GetChildren2(r) => r.encode(buf),
            Response::GetAcl(r) => r.encode(buf),
            Response::AllChildrenNumber(r) => r.encode(buf),
            Response::Ephemerals(r) => r.encode(buf),
            Response::Sync(r) => r.encode(buf),
            Response::Multi(r) => r.encode(buf),
            Response::WhoAmI(r) => r.encode(buf),
            Response::Error(r) => r.encode(buf),
            Response::Sasl(r) => r.encode(buf),
        }
    }

    /// Exact encoded size.
    pub fn encoded_len(&self) -> usize {
        match self {
            Response::Empty => 0,
            Response::Create(r) => r.encoded_len(),
            Response::Create2(r) => r.encoded_len(),
            Response::SetData(r) => r.encoded_len(),
            Response::SetAcl(r) => r.encoded_len(),
            Response::Exists(r) => r.encoded_len(),
            Response::GetData(r) => r.encoded_len(),
            Response::GetChildren(r) => r.encoded_len(),
            Response::GetChildren2(r) => r.encoded_len(),
            Response::GetAcl(r) => r.encoded_len(),
            Response::AllChildrenNumber(r) => r.encoded_len(),
            Response::Ephemerals(r) => r.encoded_len(),
            Response::Sync(r) => r.encoded_len(),
            Response::Multi(r) => r.encoded_len(),
            Response::WhoAmI(r) => r.encoded_len(),
            Response::Error(r) => r.encoded_len(),
            Response::Sasl(r) => r.encoded_len(),
        }
    }
}

/// The reply to an applied write, from its txn result (FinalRequestProcessor's write
/// cases). An error result is the error code with no body; a multi always succeeds at the
/// header level and carries per-op results.
pub fn write_reply(op: OpCode, rc: &TxnResult) -> Result<Response, ErrorCode> {
    let jpath = || rc.path.clone().map(JString::from);
    if op == OpCode::Multi && rc.op == OpCode::Multi.code() {
        let results = rc
            .multi
            .iter()
            .map(|sub| match OpCode::from_code(sub.op) {
                Some(OpCode::Check) => MultiResult::Check,
                Some(OpCode::Create) => MultiResult::Create {
                    path: jpath_of(sub),
                },
                Some(OpCode::Create2 | OpCode::CreateTtl | OpCode::CreateContainer) => {
                    MultiResult::Create2 {
                        path: jpath_of(sub),
                        stat: sub.stat.clone().unwrap_or_default(),
                    }
                }
                Some(OpCode::Delete | OpCode::DeleteContainer) => MultiResult::Delete,
                Some(OpCode::SetData) => MultiResult::SetData {
                    stat: sub.stat.clone().unwrap_or_default(),
                },
                _ => MultiResult::Error { err: sub.err },
            })
            .collect();
        return Ok(Response::Multi(MultiResponse { results }));
    }
    if rc.op == OpCode::Error.code() || rc.err != 0 {
        return Err(ErrorCode::from_code(rc.err).unwrap_or(ErrorCode::SystemError));
    }
    Ok(match op {
        OpCode::Create => Response::Create(CreateResponse { path: jpath() }),
        OpCode::Create2 | OpCode::CreateTtl | OpCode::CreateContainer => {
            Response::Create2(Create2Response {
                path: jpath(),
                stat: rc.stat.clone().unwrap_or_default(),
            })
        }
        OpCode::SetData | OpCode::Check => Response::SetData(SetDataResponse {
            stat: rc.stat.clone().unwrap_or_default(),
        }),
        OpCode::SetAcl => Response::SetAcl(SetACLResponse {
            stat: rc.stat.clone().unwrap_or_default(),
        }),
        _ => Response::Empty,
    })
}

fn jpath_of(rc: &TxnResult) -> Option<JString> {
    rc.path.clone().map(JString::from)
}

/// Who is reading.
#[derive(Debug, Clone, Copy)]
pub struct Reader<'a> {
    /// The session.
    pub session_id: i64,
    /// Its identities.
    pub auth: &'a [Id],
    /// The connection, for watch registration.
    pub watcher: WatcherId,
}

/// Answers a read. Events that setWatches fires for the reader (missed while it was away)
/// are appended to `events`; they must be sent before the reply.
pub fn answer(
    tree: &mut DataTree,
    cfg: &AuthConfig,
    who: &Reader<'_>,
    op: &ReadOp,
    events: &mut Vec<WatchedEvent>,
) -> Result<Response, ErrorCode> {
    let path = |p: &Option<JString>| -> Bytes {
        p.as_ref().map(|s| s.bytes().clone()).unwrap_or_default()
    };
    // Where FinalRequestProcessor dereferences the path, a null one is a
    // NullPointerException, answered as MARSHALLINGERROR.
    let required = |p: &Option<JString>| -> Result<Bytes, ErrorCode> {
        p.as_ref()
            .map(|s| s.bytes().clone())
            .ok_or(ErrorCode::MarshallingError)
    };
    let watcher = |w: bool| if w { Some(who.watcher) } else { None };
    match op {
        ReadOp::Ping => Ok(Response::Empty),
        ReadOp::Exists(r) => {
            let p = required(&r.path)?;
            if p.contains(&0) {
                return Err(ErrorCode::BadArguments);
            }
            let stat = tree.stat_node(&p, watcher(r.watch))?;
            Ok(Response::Exists(ExistsResponse { stat }))
        }
        ReadOp::GetData(r) => {
            let (data, stat) = get_data(tree, cfg, who, &required(&r.path)?, watcher(r.watch))?;
            Ok(Response::GetData(GetDataResponse { data, stat }))
        }
        ReadOp::GetChildren(r) => {
            let (children, _) =
                get_children(tree, cfg, who, &required(&r.path)?, watcher(r.watch))?;
            Ok(Response::GetChildren(GetChildrenResponse {
                children: Some(children),
            }))
        }
        ReadOp::GetChildren2(r) => {
            let (children, stat) =
                get_children(tree, cfg, who, &required(&r.path)?, watcher(r.watch))?;
            Ok(Response::GetChildren2(GetChildren2Response {
                children: Some(children),
                stat,
            }))
        }
        ReadOp::GetAcl(r) => {
            let p = required(&r.path)?;
            let n = tree.node(&p).ok_or(ErrorCode::NoNode)?;
            let acl = tree.acl_of(n).to_vec();
            check_acl(cfg, &acl, perms::READ | perms::ADMIN, who.auth)?;
            let (list, stat) = tree.get_acl(&p)?;
            let list = if check_acl(cfg, &acl, perms::ADMIN, who.auth).is_ok() {
                list
            } else {
                redact_digests(list)
            };
            Ok(Response::GetAcl(GetACLResponse {
                acl: Some(list),
                stat,
            }))
        }
        ReadOp::GetAllChildrenNumber(r) => {
            let p = required(&r.path)?;
            let n = tree.node(&p).ok_or(ErrorCode::NoNode)?;
            check_acl(cfg, tree.acl_of(n), perms::READ, who.auth)?;
            Ok(Response::AllChildrenNumber(GetAllChildrenNumberResponse {
                total_number: tree.all_children_number(&p),
            }))
        }
        ReadOp::GetEphemerals(r) => {
            let mut all = tree.ephemerals_of(who.session_id);
            let prefix = r
                .prefix_path
                .as_ref()
                .map(|s| s.to_string_lossy().trim().to_string());
            if let Some(prefix) = prefix.filter(|p| !p.is_empty() && p != "/") {
                // Upstream filters on the untrimmed prefix.
                let raw = r
                    .prefix_path
                    .as_ref()
                    .map(|s| s.as_bytes().to_vec())
                    .unwrap_or_default();
                let _ = prefix;
                all.retain(|p| p.starts_with(&raw));
            }
            Ok(Response::Ephemerals(GetEphemeralsResponse {
                ephemerals: Some(all.into_iter().map(JString::from).collect()),
            }))
        }
        ReadOp::Sync(r) => Ok(Response::Sync(SyncResponse {
            path: r.path.clone(),
        })),
        ReadOp::MultiRead(m) => {
            // FinalRequestProcessor: a write op throws IOException("Invalid type of readOp"),
            // MARSHALLINGERROR for the whole request (decoding already refused mixed kinds,
            // so it is the first op and nothing was read before it).
            if m.ops.iter().any(|op| op.kind() != OpKind::Read) {
                return Err(ErrorCode::MarshallingError);
            }
            let mut results = Vec::with_capacity(m.ops.len());
            for op in &m.ops {
                let r = match op {
                    MultiOp::GetData { path: p } => get_data(tree, cfg, who, &path(p), None)
                        .map(|(data, stat)| MultiResult::GetData { data, stat }),
                    MultiOp::GetChildren { path: p } => {
                        get_children(tree, cfg, who, &path(p), None).map(|(children, _)| {
                            MultiResult::GetChildren {
                                children: Some(children),
                            }
                        })
                    }
                    _ => Err(ErrorCode::MarshallingError),
                };
                results.push(r.unwrap_or_else(|e| MultiResult::Error { err: e.code() }));
            }
            Ok(Response::Multi(MultiResponse { results }))
        }
        ReadOp::SetWatches(sw) => {
            set_watches(tree, who.watcher, sw, events);
            Ok(Response::Empty)
        }
        ReadOp::AddWatch(r) => {
            // WatcherMode.fromZooDef throws on a mode it does not know: a marshalling error.
            let mode = AddWatchMode::from_code(r.mode).ok_or(ErrorCode::MarshallingError)?;
            let p = path(&r.path);
            let recursive = mode == AddWatchMode::PersistentRecursive;
            tree.add_persistent_watch(&p, who.watcher, recursive);
            Ok(Response::Error(ErrorResponse { err: 0 }))
        }
        ReadOp::CheckWatches(r) => {
            // WatcherType.fromInt throws on an unknown type: a marshalling error.
            WatcherType::from_code(r.type_).ok_or(ErrorCode::MarshallingError)?;
            let p = required(&r.path)?;
            if contains_watcher(tree, &p, r.type_, who.watcher) {
                Ok(Response::Empty)
            } else if !p.starts_with(b"/") {
                // WatchManager.containsWatcher walks the parents of a path with no watch;
                // for a relative path that walk throws: a marshalling error.
                Err(ErrorCode::MarshallingError)
            } else {
                Err(ErrorCode::NoWatcher)
            }
        }
        ReadOp::RemoveWatches(r) => {
            WatcherType::from_code(r.type_).ok_or(ErrorCode::MarshallingError)?;
            let p = path(&r.path);
            if remove_watch(tree, &p, r.type_, who.watcher) {
                Ok(Response::Empty)
            } else {
                Err(ErrorCode::NoWatcher)
            }
        }
        ReadOp::WhoAmI => Ok(Response::WhoAmI(WhoAmIResponse {
            client_info: Some(who.auth.iter().map(client_info).collect()),
        })),
    }
}

/// `AuthUtil.getClientInfos`: scheme and the provider's user name for each identity.
fn client_info(id: &Id) -> ClientInfo {
    let user = match id.scheme.as_ref().map(|s| s.as_bytes()) {
        // DigestAuthenticationProvider.getUserName: the part before ':'.
        Some(b"digest") => id.id.as_ref().map(|i| {
            JString::from(
                i.to_string_lossy()
                    .split(':')
                    .next()
                    .unwrap_or("")
                    .to_string(),
            )
        }),
        _ => id.id.clone(),
    };
    ClientInfo {
        auth_scheme: id.scheme.clone(),
        user,
    }
}

fn get_data(
    tree: &mut DataTree,
    cfg: &AuthConfig,
    who: &Reader<'_>,
    p: &[u8],
    watcher: Option<WatcherId>,
) -> Result<(Option<Bytes>, Stat), ErrorCode> {
    let n = tree.node(p).ok_or(ErrorCode::NoNode)?;
    check_acl(cfg, tree.acl_of(n), perms::READ, who.auth)?;
    tree.get_data(p, watcher)
}

fn get_children(
    tree: &mut DataTree,
    cfg: &AuthConfig,
    who: &Reader<'_>,
    p: &[u8],
    watcher: Option<WatcherId>,
) -> Result<(Vec<JString>, Stat), ErrorCode> {
    let n = tree.node(p).ok_or(ErrorCode::NoNode)?;
    check_acl(cfg, tree.acl_of(n), perms::READ, who.auth)?;
    let (children, stat) = tree.get_children(p, watcher)?;
    Ok((children.into_iter().map(JString::from).collect(), stat))
}

/// `DataTree.setWatches` (3.8): fire what the client missed since `relativeZxid`, register
/// the rest.
fn set_watches(
    tree: &mut DataTree,
    w: WatcherId,
    sw: &SetWatches2,
    events: &mut Vec<WatchedEvent>,
) {
    let ev = |kind, path: &JString| WatchedEvent {
        kind,
        path: path.bytes().clone(),
        zxid: -1,
    };
    let rel = sw.relative_zxid;
    for p in sw.data_watches.iter().flatten() {
        match tree.node(p.as_bytes()) {
            None => events.push(ev(EventType::NodeDeleted, p)),
            Some(n) if n.stat.mzxid > rel => events.push(ev(EventType::NodeDataChanged, p)),
            Some(_) => tree.add_watch(p.as_bytes(), w, WatchKind::Data),
        }
    }
    for p in sw.exist_watches.iter().flatten() {
        match tree.node(p.as_bytes()) {
            Some(_) => events.push(ev(EventType::NodeCreated, p)),
            None => tree.add_watch(p.as_bytes(), w, WatchKind::Data),
        }
    }
    for p in sw.child_watches.iter().flatten() {
        match tree.node(p.as_bytes()) {
            None => events.push(ev(EventType::NodeDeleted, p)),
            Some(n) if n.stat.pzxid > rel => events.push(ev(EventType::NodeChildrenChanged, p)),
            Some(_) => tree.add_watch(p.as_bytes(), w, WatchKind::Child),
        }
    }
    let (data, child) = tree.watch_tables_mut();
    for p in sw.persistent_watches.iter().flatten() {
        child.add(p.as_bytes(), w, WatchMode::Persistent);
        data.add(p.as_bytes(), w, WatchMode::Persistent);
    }
    // 3.8 registers recursive watches in both tables on reconnect (unlike addWatch).
    for p in sw.persistent_recursive_watches.iter().flatten() {
        child.add(p.as_bytes(), w, WatchMode::PersistentRecursive);
        data.add(p.as_bytes(), w, WatchMode::PersistentRecursive);
    }
}

/// `DataTree.containsWatcher` by WatcherType.
fn contains_watcher(tree: &DataTree, p: &[u8], type_: i32, w: WatcherId) -> bool {
    let (data, child) = tree.watch_tables();
    match WatcherType::from_code(type_) {
        Some(WatcherType::Children) => child.contains(p, w),
        Some(WatcherType::Data) => data.contains(p, w),
        Some(WatcherType::Any) => child.contains(p, w) || data.contains(p, w),
        // 3.8 knows no other WatcherType: WatcherType.fromInt throws, a marshalling error.
        _ => false,
    }
}

/// `DataTree.removeWatch` by WatcherType.
fn remove_watch(tree: &mut DataTree, p: &[u8], type_: i32, w: WatcherId) -> bool {
    let (data, child) = tree.watch_tables_mut();
    match WatcherType::from_code(type_) {
        Some(WatcherType::Children) => child.remove(p, w),
        Some(WatcherType::Data) => data.remove(p, w),
        Some(WatcherType::Any) => {
            let c = child.remove(p, w);
            let d = data.remove(p, w);
            c || d
        }
        _ => false,
    }
}
