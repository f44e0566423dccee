//! Requests in the forms preparation and reads take.

use zk_core::prep::WriteOp;
use zk_core::read::ReadOp;
use zk_proto::multi::{MultiOp, MultiRequest};
use zk_proto::proto::SetWatches2;
use zk_proto::request::Request;
use zk_proto::OpCode;

/// The prep form of a write request; `None` for reads and everything answered directly.
pub fn to_write_op(req: &Request) -> Option<WriteOp> {
    Some(match req {
        Request::Create { op, request } => WriteOp::Create {
            op: op.op_code(),
            req: request.clone(),
        },
        Request::CreateTtl(r) => WriteOp::CreateTtl(r.clone()),
        Request::Delete(r) => WriteOp::Delete(r.clone()),
        Request::SetData(r) => WriteOp::SetData(r.clone()),
        Request::SetAcl(r) => WriteOp::SetAcl(r.clone()),
        Request::Check(r) => WriteOp::Check(r.clone()),
        Request::Reconfig(_) => WriteOp::Reconfig,
        Request::CloseSession => WriteOp::CloseSession,
        Request::Multi(m) => WriteOp::Multi(m.ops.iter().map(multi_write_op).collect()),
        _ => return None,
    })
}

fn multi_write_op(op: &MultiOp) -> WriteOp {
    match op {
        MultiOp::Create { op, request } => WriteOp::Create {
            op: op.op_code(),
            req: request.clone(),
        },
        MultiOp::CreateTtl(r) => WriteOp::CreateTtl(r.clone()),
        MultiOp::Delete(r) => WriteOp::Delete(r.clone()),
        MultiOp::SetData(r) => WriteOp::SetData(r.clone()),
        MultiOp::Check(r) => WriteOp::Check(r.clone()),
        MultiOp::GetData { .. } | MultiOp::GetChildren { .. } => WriteOp::Malformed(OpCode::Multi),
    }
}

/// The read form of a request; `None` for writes and everything answered directly.
pub fn to_read_op(req: &Request) -> Option<ReadOp> {
    Some(match req {
        Request::Exists(r) => ReadOp::Exists(r.clone()),
        Request::GetData(r) => ReadOp::GetData(r.clone()),
        Request::GetChildren(r) => ReadOp::GetChildren(r.clone()),
        Request::GetChildren2(r) => ReadOp::GetChildren2(r.clone()),
        Request::GetAcl(r) => ReadOp::GetAcl(r.clone()),
        Request::GetAllChildrenNumber(r) => ReadOp::GetAllChildrenNumber(r.clone()),
        Request::GetEphemerals(r) => ReadOp::GetEphemerals(r.clone()),
        Request::Sync(r) => ReadOp::Sync(r.clone()),
        Request::MultiRead(m) => ReadOp::MultiRead(MultiRequest { ops: m.ops.clone() }),
        Request::SetWatches(s) => ReadOp::SetWatches(SetWatches2 {
            relative_zxid: s.relative_zxid,
            data_watches: s.data_watches.clone(),
            exist_watches: s.exist_watches.clone(),
            child_watches: s.child_watches.clone(),
            persistent_watches: None,
            persistent_recursive_watches: None,
        }),
        Request::SetWatches2(s) => ReadOp::SetWatches(s.clone()),
        Request::AddWatch(r) => ReadOp::AddWatch(r.clone()),
        Request::CheckWatches(r) => ReadOp::CheckWatches(r.clone()),
        Request::RemoveWatches(r) => ReadOp::RemoveWatches(r.clone()),
        Request::WhoAmI => ReadOp::WhoAmI,
        Request::Ping => ReadOp::Ping,
        _ => return None,
    })
}
