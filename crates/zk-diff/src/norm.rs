//! Normalisation: a reply decoded field by field into text, with the fields that legitimately
//! differ between two servers replaced by stable names.
//!
//! - zxids (reply headers, Stat czxid/mzxid/pzxid) become `z<n>`, n = order of first
//!   appearance on that server; 0 and -1 stay as they are.
//! - ctime and mtime become `T`.
//! - session ids (ConnectResponse, Stat ephemeralOwner) become `s<n>`, n = order in which the
//!   sessions were created; other owner values (0, containers, TTL nodes) stay raw.
//! - the session password is reduced to its length (it derives from the session id).
//! - the per-run root znode becomes `/R` in every path.
//! - child lists, getEphemerals lists and whoAmI identities are sorted (Apache ZooKeeper
//!   returns them in hash-set order, which no client may rely on).
//!
//! Every other byte is compared: the decoder renders each field, and whatever it cannot
//! decode, or finds after the end of the record, is shown in hex (`RAW=` / `TAIL=`).

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::gen::op;
use crate::jute::R;

/// One server's normalisation state for one run.
#[derive(Default)]
pub struct Norm {
    zxids: HashMap<i64, usize>,
    sessions: HashMap<i64, usize>,
    /// The run's root znode.
    pub root: String,
}

impl Norm {
    /// A normaliser for a run under `root`.
    pub fn new(root: &str) -> Self {
        Norm {
            root: root.to_string(),
            ..Norm::default()
        }
    }

    /// A zxid's stable name.
    pub fn zxid(&mut self, z: i64) -> String {
        if z == 0 || z == -1 {
            return z.to_string();
        }
        let n = self.zxids.len();
        format!("z{}", self.zxids.entry(z).or_insert(n))
    }

    /// Registers a new session id; returns its stable name.
    pub fn new_session(&mut self, id: i64) -> String {
        let n = self.sessions.len();
        format!("s{}", self.sessions.entry(id).or_insert(n))
    }

    fn owner(&self, id: i64) -> String {
        match self.sessions.get(&id) {
            Some(n) => format!("s{n}"),
            None => format!("{id:#x}"),
        }
    }

    fn path(&self, b: &[u8]) -> String {
        let s = String::from_utf8_lossy(b);
        let s = if self.root.is_empty() {
            s.into_owned()
        } else {
            s.replace(&self.root, "/R")
        };
        crate::gen::escape(&s)
    }

    /// A ReplyHeader (xid, zxid, err) and body, normalised.
    pub fn reply(&mut self, code: i32, xid: i32, zxid: i64, err: i32, body: &[u8]) -> String {
        let mut out = format!("xid={xid} zxid={} err={err}", self.zxid(zxid));
        let mut r = R(body);
        let ok = self.body(code, &mut r, &mut out);
        if ok.is_none() {
            let _ = write!(out, " RAW={}", hex(body));
        } else if !r.is_empty() {
            let _ = write!(out, " TAIL={}", hex(r.0));
        }
        out
    }

    /// A watch notification (WatcherEvent after a ReplyHeader).
    pub fn event(&mut self, zxid: i64, err: i32, body: &[u8]) -> String {
        let mut r = R(body);
        let mut out = format!("event zxid={} err={err}", self.zxid(zxid));
        let parsed = (|| {
            let kind = r.i32()?;
            let state = r.i32()?;
            let path = r.buf()?;
            Some(format!(
                " type={kind} state={state} path={}",
                path.map_or("null".into(), |p| self.path(p))
            ))
        })();
        match parsed {
            Some(s) if r.is_empty() => out.push_str(&s),
            _ => {
                let _ = write!(out, " RAW={}", hex(body));
            }
        }
        out
    }

    /// A ConnectResponse.
    pub fn connect(&mut self, frame: &[u8]) -> String {
        let mut r = R(frame);
        let parsed = (|| {
            let proto = r.i32()?;
            let timeout = r.i32()?;
            let sid = r.i64()?;
            let pw = r.buf()?;
            let ro = if r.is_empty() {
                "absent".to_string()
            } else {
                r.u8()?.to_string()
            };
            let sname = if sid == 0 {
                "0".to_string()
            } else {
                self.new_session(sid)
            };
            Some(format!(
                "connected proto={proto} timeout={timeout} session={sname} passwd={} readOnly={ro}",
                pw.map_or("null".into(), |p| format!("{}B", p.len()))
            ))
        })();
        match parsed {
            Some(s) if r.is_empty() => s,
            _ => format!("connect RAW={}", hex(frame)),
        }
    }

    fn stat(&mut self, r: &mut R<'_>, out: &mut String) -> Option<()> {
        let cz = r.i64()?;
        let mz = r.i64()?;
        let _ctime = r.i64()?;
        let _mtime = r.i64()?;
        let v = r.i32()?;
        let cv = r.i32()?;
        let av = r.i32()?;
        let eo = r.i64()?;
        let dl = r.i32()?;
        let nc = r.i32()?;
        let pz = r.i64()?;
        let (cz, mz, pz) = (self.zxid(cz), self.zxid(mz), self.zxid(pz));
        let _ = write!(
            out,
            " stat(cz={cz} mz={mz} ct=T mt=T v={v} cv={cv} av={av} eo={} dl={dl} nc={nc} pz={pz})",
            self.owner(eo)
        );
        Some(())
    }

    fn string(&self, r: &mut R<'_>, out: &mut String) -> Option<()> {
        let p = r.buf()?;
        let _ = write!(out, " {}", p.map_or("null".into(), |p| self.path(p)));
        Some(())
    }

    fn strings_sorted(&self, r: &mut R<'_>, out: &mut String) -> Option<()> {
        let n = r.i32()?;
        if n < 0 {
            out.push_str(" [null]");
            return Some(());
        }
        let mut v = Vec::new();
        for _ in 0..n {
            v.push(r.buf()?.map_or("null".into(), |p| self.path(p)));
        }
        v.sort();
        let _ = write!(out, " [{}]", v.join(","));
        Some(())
    }

    fn data(&self, r: &mut R<'_>, out: &mut String) -> Option<()> {
        let d = r.buf()?;
        match d {
            None => out.push_str(" data=null"),
            Some(d) if d.len() > 64 => {
                let _ = write!(out, " data={}B#{:016x}", d.len(), fnv(d));
            }
            Some(d) => {
                let _ = write!(out, " data={}", hex(d));
            }
        }
        Some(())
    }

    fn body(&mut self, code: i32, r: &mut R<'_>, out: &mut String) -> Option<()> {
        if r.is_empty() {
            return Some(());
        }
        match code {
            op::CREATE | op::SYNC => self.string(r, out),
            op::CREATE2 | op::CREATE_CONTAINER | op::CREATE_TTL => {
                self.string(r, out)?;
                self.stat(r, out)
            }
            op::EXISTS | op::SET_DATA | op::SET_ACL => self.stat(r, out),
            op::GET_DATA => {
                self.data(r, out)?;
                self.stat(r, out)
            }
            op::GET_ACL => {
                // Sorted: an `auth` ACL expands to the session's identities in the hash order
                // of 3.8's ConcurrentHashMap-backed set (README.md).
                let n = r.i32()?;
                let mut acl = Vec::new();
                for _ in 0..n.max(0) {
                    let perms = r.i32()?;
                    let scheme = r.buf()?.map(String::from_utf8_lossy).unwrap_or_default();
                    let id = r.buf()?.map(String::from_utf8_lossy).unwrap_or_default();
                    acl.push(format!("{perms}:{scheme}:{id}"));
                }
                acl.sort();
                let _ = write!(out, " acl[{}]", acl.join(" "));
                self.stat(r, out)
            }
            op::GET_CHILDREN | op::GET_EPHEMERALS => self.strings_sorted(r, out),
            op::GET_CHILDREN2 => {
                self.strings_sorted(r, out)?;
                self.stat(r, out)
            }
            op::GET_ALL_CHILDREN_NUMBER => {
                let _ = write!(out, " n={}", r.i32()?);
                Some(())
            }
            op::WHO_AM_I => {
                // Sorted: 3.8 keeps a connection's identities in a ConcurrentHashMap-backed set.
                let n = r.i32()?;
                let mut who = Vec::new();
                for _ in 0..n.max(0) {
                    let scheme = r.buf()?.map(String::from_utf8_lossy).unwrap_or_default();
                    let user = r.buf()?.map(String::from_utf8_lossy).unwrap_or_default();
                    who.push(format!("{scheme}:{user}"));
                }
                who.sort();
                let _ = write!(out, " who[{}]", who.join(" "));
                Some(())
            }
            op::ADD_WATCH => {
                let _ = write!(out, " ErrorResponse({})", r.i32()?);
                Some(())
            }
            op::MULTI | op::MULTI_READ => self.multi(r, out),
            _ => None,
        }
    }

    fn multi(&mut self, r: &mut R<'_>, out: &mut String) -> Option<()> {
        loop {
            let kind = r.i32()?;
            let done = r.u8()?;
            let err = r.i32()?;
            let _ = write!(out, "\n    [{kind} done={done} err={err}]");
            if done != 0 {
                return Some(());
            }
            match kind {
                op::CREATE => self.string(r, out)?,
                op::CREATE2 | op::CREATE_CONTAINER | op::CREATE_TTL => {
                    self.string(r, out)?;
                    self.stat(r, out)?;
                }
                op::SET_DATA => self.stat(r, out)?,
                op::DELETE | op::CHECK => {}
                op::GET_CHILDREN => self.strings_sorted(r, out)?,
                op::GET_DATA => {
                    self.data(r, out)?;
                    self.stat(r, out)?;
                }
                -1 => {
                    let _ = write!(out, " error={}", r.i32()?);
                }
                _ => return None,
            }
        }
    }
}

/// Lower-case hex, cut after 256 bytes (with the total length).
pub fn hex(b: &[u8]) -> String {
    let mut s = String::new();
    for x in b.iter().take(256) {
        let _ = write!(s, "{x:02x}");
    }
    if b.len() > 256 {
        let _ = write!(s, "...({} bytes, fnv {:016x})", b.len(), fnv(b));
    }
    s
}

/// FNV-1a, to compare long values without printing them.
pub fn fnv(b: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for x in b {
        h ^= u64::from(*x);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}
