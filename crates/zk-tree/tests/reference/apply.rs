//! `apply` of the reference tree (a copy of the earlier `apply.rs`).

use bytes::Bytes;
use zk_proto::txn::TxnHeader;
use zk_proto::txn_body::TxnBody;
use zk_proto::{ErrorCode, OpCode};

use zk_tree::ephemeral;
use zk_tree::path::parent_of;
use zk_tree::TxnResult;

use super::{Notification, RefTree};

fn new_result(op: i32) -> TxnResult {
    TxnResult {
        op,
        err: 0,
        path: None,
        stat: None,
        multi: Vec::new(),
    }
}

fn path_bytes(p: &Option<zk_proto::JString>) -> Bytes {
    p.as_ref().map(|s| s.bytes().clone()).unwrap_or_default()
}

impl RefTree {
    /// Applies one txn, appending the watch notifications it fires to `out`.
    pub fn apply(
        &mut self,
        header: &TxnHeader,
        body: &TxnBody,
        out: &mut Vec<Notification>,
    ) -> TxnResult {
        let rc = self.apply_inner(header, header.type_, body, out);
        if header.zxid > self.last_processed_zxid {
            self.last_processed_zxid = header.zxid;
        }
        rc
    }

    fn apply_inner(
        &mut self,
        h: &TxnHeader,
        type_: i32,
        body: &TxnBody,
        out: &mut Vec<Notification>,
    ) -> TxnResult {
        let mut rc = new_result(type_);
        let (zxid, time) = (h.zxid, h.time);
        let result: Result<(), ErrorCode> = match body {
            TxnBody::Create { create2, txn } => {
                rc.path = Some(path_bytes(&txn.path));
                let owner = if txn.ephemeral { h.client_id } else { 0 };
                let acl = txn.acl.clone().unwrap_or_default();
                let r = self.create_node(
                    &path_bytes(&txn.path),
                    txn.data.clone(),
                    &acl,
                    owner,
                    txn.parent_c_version,
                    zxid,
                    time,
                    out,
                );
                if let Ok(s) = &r {
                    if *create2 {
                        rc.stat = Some(s.clone());
                    }
                }
                // Replay after a fuzzy snapshot: the node may already exist; the parent's
                // cversion and pzxid must still move (DataTree.processTxn).
                if r == Err(ErrorCode::NodeExists) && type_ == OpCode::Create.code() {
                    let p = path_bytes(&txn.path);
                    if let Some(parent) = parent_of(&p) {
                        if let Err(e) = self.set_cversion_pzxid(parent, txn.parent_c_version, zxid)
                        {
                            rc.err = e.code();
                            return rc;
                        }
                    }
                }
                r.map(|_| ())
            }
            TxnBody::CreateContainer(txn) => {
                rc.path = Some(path_bytes(&txn.path));
                let acl = txn.acl.clone().unwrap_or_default();
                self.create_node(
                    &path_bytes(&txn.path),
                    txn.data.clone(),
                    &acl,
                    ephemeral::CONTAINER_OWNER,
                    txn.parent_c_version,
                    zxid,
                    time,
                    out,
                )
                .map(|s| rc.stat = Some(s))
            }
            TxnBody::CreateTtl(txn) => {
                rc.path = Some(path_bytes(&txn.path));
                let acl = txn.acl.clone().unwrap_or_default();
                match ephemeral::ttl_owner(txn.ttl) {
                    Some(owner) => self
                        .create_node(
                            &path_bytes(&txn.path),
                            txn.data.clone(),
                            &acl,
                            owner,
                            txn.parent_c_version,
                            zxid,
                            time,
                            out,
                        )
                        .map(|s| rc.stat = Some(s)),
                    None => Err(ErrorCode::BadArguments),
                }
            }
            TxnBody::Delete { txn, .. } => {
                rc.path = Some(path_bytes(&txn.path));
                self.delete_node(&path_bytes(&txn.path), zxid, out)
            }
            TxnBody::SetData(txn) | TxnBody::Reconfig(txn) => {
                rc.path = Some(path_bytes(&txn.path));
                self.set_data(
                    &path_bytes(&txn.path),
                    txn.data.clone(),
                    txn.version,
                    zxid,
                    time,
                    out,
                )
                .map(|s| rc.stat = Some(s))
            }
            TxnBody::SetAcl(txn) => {
                rc.path = Some(path_bytes(&txn.path));
                let acl = txn.acl.clone().unwrap_or_default();
                self.set_acl(&path_bytes(&txn.path), &acl, txn.version)
                    .map(|s| rc.stat = Some(s))
            }
            TxnBody::CloseSession(txn) => {
                let paths: Option<Vec<Bytes>> = txn.as_ref().map(|t| {
                    t.paths2_delete
                        .iter()
                        .flatten()
                        .map(|p| p.bytes().clone())
                        .collect()
                });
                self.kill_session(h.client_id, zxid, paths.as_deref(), out);
                Ok(())
            }
            TxnBody::CreateSession(_) => Ok(()),
            TxnBody::Error(e) => {
                rc.err = e.err;
                Ok(())
            }
            TxnBody::Check(txn) => {
                rc.path = Some(path_bytes(&txn.path));
                Ok(())
            }
            TxnBody::Multi(txns) => {
                let failed = txns.iter().any(|t| matches!(t, TxnBody::Error(_)));
                let mut post_failed = false;
                for sub in txns {
                    let is_error = matches!(sub, TxnBody::Error(_));
                    if is_error {
                        post_failed = true;
                    }
                    let converted;
                    let (sub_type, sub_body) = if failed && !is_error {
                        let ec = if post_failed {
                            ErrorCode::RuntimeInconsistency
                        } else {
                            ErrorCode::Ok
                        };
                        converted = TxnBody::Error(zk_proto::txn::ErrorTxn { err: ec.code() });
                        (OpCode::Error.code(), &converted)
                    } else {
                        (sub.op_code().code(), sub)
                    };
                    let sub_rc = self.apply_inner(h, sub_type, sub_body, out);
                    if sub_rc.err != 0 && rc.err == 0 {
                        rc.err = sub_rc.err;
                    }
                    rc.multi.push(sub_rc);
                }
                Ok(())
            }
        };
        if let Err(e) = result {
            rc.err = e.code();
        }
        rc
    }
}
