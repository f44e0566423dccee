//! The seeded workload generator.
//!
//! Operations are concrete (their request bytes are fixed when generated), so a recorded list
//! can be replayed and shrunk without the generator. To keep most requests meaningful the
//! generator follows a rough model of the tree, updated from Apache ZooKeeper's answers (the
//! oracle): which paths exist and which session owns which ephemeral. The model only steers
//! choices; nothing is asserted from it.

use std::collections::BTreeMap;

use crate::jute::W;

/// Opcodes (ZooDefs.OpCode).
pub mod op {
    #![allow(missing_docs)]
    pub const CREATE: i32 = 1;
    pub const DELETE: i32 = 2;
    pub const EXISTS: i32 = 3;
    pub const GET_DATA: i32 = 4;
    pub const SET_DATA: i32 = 5;
    pub const GET_ACL: i32 = 6;
    pub const SET_ACL: i32 = 7;
    pub const GET_CHILDREN: i32 = 8;
    pub const SYNC: i32 = 9;
    pub const PING: i32 = 11;
    pub const GET_CHILDREN2: i32 = 12;
    pub const CHECK: i32 = 13;
    pub const MULTI: i32 = 14;
    pub const CREATE2: i32 = 15;
    pub const CHECK_WATCHES: i32 = 17;
    pub const REMOVE_WATCHES: i32 = 18;
    pub const CREATE_CONTAINER: i32 = 19;
    pub const CREATE_TTL: i32 = 21;
    pub const MULTI_READ: i32 = 22;
    pub const AUTH: i32 = 100;
    pub const GET_EPHEMERALS: i32 = 103;
    pub const GET_ALL_CHILDREN_NUMBER: i32 = 104;
    pub const ADD_WATCH: i32 = 106;
    pub const WHO_AM_I: i32 = 107;
    pub const CLOSE_SESSION: i32 = -11;
}

/// `jute.maxbuffer`'s default: the largest frame either server accepts.
pub const MAX_BUFFER: usize = 0xfffff;

/// Session timeout asked for by sessions that may be expired on purpose (ms).
pub const SHORT_TIMEOUT: i32 = 1000;

/// One step of a workload.
#[derive(Clone, Debug)]
pub enum Op {
    /// Open a new session in slot `s` (ConnectRequest with this timeout).
    Connect {
        /// Session slot.
        s: usize,
        /// Requested timeout, ms.
        timeout: i32,
    },
    /// A request on the session in slot `s`.
    Req {
        /// Session slot.
        s: usize,
        /// Opcode (`AUTH` goes out with xid -4, `CLOSE_SESSION` ends the session).
        code: i32,
        /// The request record after the RequestHeader.
        body: Vec<u8>,
        /// Human-readable form (root shown as `/R`).
        desc: String,
        /// What the generator's model needs to learn from the answer.
        meta: Meta,
    },
    /// Create the ephemeral `body` (a CreateRequest for `sentinel`) on slot `s`, then drop the
    /// connection without closing the session and wait until both servers expire it.
    Expire {
        /// Session slot.
        s: usize,
        /// The CreateRequest of the sentinel.
        body: Vec<u8>,
        /// The sentinel's path.
        sentinel: String,
    },
}

impl Op {
    /// The session slot the op runs on.
    pub fn slot(&self) -> usize {
        match self {
            Op::Connect { s, .. } | Op::Req { s, .. } | Op::Expire { s, .. } => *s,
        }
    }

    /// One line describing the op, with `root` shown as `/R`.
    pub fn describe(&self, root: &str) -> String {
        match self {
            Op::Connect { s, timeout } => format!("s{s}: connect timeout={timeout}"),
            Op::Req { s, desc, .. } => format!("s{s}: {}", desc.replace(root, "/R")),
            Op::Expire { s, sentinel, .. } => format!(
                "s{s}: create ephemeral {} then drop the connection and wait for expiry",
                sentinel.replace(root, "/R")
            ),
        }
    }

    /// The op with every occurrence of `from` in its request bytes replaced by `to` (same
    /// length: roots differ only in their attempt number).
    pub fn reroot(&self, from: &str, to: &str) -> Op {
        let sub = |b: &[u8]| replace_bytes(b, from.as_bytes(), to.as_bytes());
        match self {
            Op::Connect { .. } => self.clone(),
            Op::Req {
                s,
                code,
                body,
                desc,
                meta,
            } => Op::Req {
                s: *s,
                code: *code,
                body: sub(body),
                desc: desc.replace(from, to),
                meta: meta.clone(),
            },
            Op::Expire { s, body, sentinel } => Op::Expire {
                s: *s,
                body: sub(body),
                sentinel: sentinel.replace(from, to),
            },
        }
    }
}

/// `hay` with each non-overlapping `from` replaced by `to`.
pub fn replace_bytes(hay: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    if from.is_empty() || from == to {
        return hay.to_vec();
    }
    let mut out = Vec::with_capacity(hay.len());
    let mut i = 0;
    while i < hay.len() {
        if hay[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(hay[i]);
            i += 1;
        }
    }
    out
}

/// What a request may change in the generator's model.
#[derive(Clone, Debug)]
pub enum Meta {
    /// Nothing to learn.
    None,
    /// A create of `path` (relative to the root) with these flags.
    Create {
        /// CreateMode flags.
        flags: i32,
    },
    /// A delete of `rel`.
    Delete {
        /// Path, relative.
        rel: String,
    },
    /// A multi: one entry per op.
    Multi(Vec<Meta>),
    /// addAuth digest as this user.
    Auth,
    /// closeSession.
    Close,
}

/// splitmix64: small, fast and the same on every platform.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x5DEE_CE66_D1CE_4E5B)
    }
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % (n.max(1) as u64)) as usize
    }
    /// True with probability `p` percent.
    pub fn pct(&mut self, p: u32) -> bool {
        self.below(100) < p as usize
    }
    /// One element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

/// ACL lists the generator uses: (name, [(perms, scheme, id)]).
type Acl = (&'static str, &'static [(i32, &'static str, &'static str)]);

const ACLS: &[Acl] = &[
    ("open", &[(31, "world", "anyone")]),
    ("open", &[(31, "world", "anyone")]),
    ("open", &[(31, "world", "anyone")]),
    ("read-only", &[(1, "world", "anyone")]),
    ("no-delete", &[(0x17, "world", "anyone")]),
    ("creator-all", &[(31, "auth", "")]),
    (
        "u1-all",
        &[(31, "digest", "u1:fpT/y03U+EjItKZOSLGvjnJlyng=")],
    ),
    (
        "u2-all+world-read",
        &[
            (31, "digest", "u2:o9NxcCGDPOlcV7JVhmKHOf5ctVE="),
            (1, "world", "anyone"),
        ],
    ),
    ("ip-local", &[(31, "ip", "127.0.0.1")]),
    ("bogus-scheme", &[(31, "bogus", "x")]),
    ("empty", &[]),
    ("bad-perms", &[(0, "world", "anyone")]),
];

const NAMES: &[&str] = &["a", "b", "c", "d", "e"];

#[derive(Clone, Debug)]
struct Slot {
    open: bool,
    short: bool,
}

/// The generator's state for one seed.
pub struct Gen {
    rng: Rng,
    root: String,
    /// Known nodes (relative path → owning slot if ephemeral), root excluded.
    known: BTreeMap<String, Option<usize>>,
    slots: Vec<Slot>,
    expiries: usize,
    max_expiries: usize,
    sentinels: usize,
    remaining: usize,
}

impl Gen {
    /// A generator for `seed`, `sessions` slots and `ops` steps, working under `root`.
    pub fn new(seed: u64, root: &str, sessions: usize, ops: usize, max_expiries: usize) -> Self {
        Gen {
            rng: Rng::new(seed),
            root: root.to_string(),
            known: BTreeMap::new(),
            slots: vec![
                Slot {
                    open: false,
                    short: false
                };
                sessions.max(1)
            ],
            expiries: 0,
            max_expiries,
            sentinels: 0,
            remaining: ops,
        }
    }

    /// The next op, or `None` when the workload is done (every session closed).
    pub fn next_op(&mut self) -> Option<Op> {
        // Closed slots are reopened first (the first ops open every slot).
        if let Some(s) = self.slots.iter().position(|x| !x.open) {
            if self.remaining > 0 {
                self.remaining -= 1;
                let timeout = *self.rng.pick(&[30_000, 30_000, 90_000, SHORT_TIMEOUT]);
                return Some(Op::Connect { s, timeout });
            }
        }
        if self.remaining == 0 {
            // Wind down: close what is open, so every event reaches a reply.
            let s = self.slots.iter().position(|x| x.open)?;
            return Some(self.req(
                s,
                op::CLOSE_SESSION,
                Vec::new(),
                "closeSession".into(),
                Meta::Close,
            ));
        }
        self.remaining -= 1;
        let open: Vec<usize> = (0..self.slots.len())
            .filter(|&i| self.slots[i].open)
            .collect();
        let s = *self.rng.pick(&open);
        let roll = self.rng.below(1000);
        Some(match roll {
            0..=179 => self.gen_create(s),
            180..=249 => self.gen_delete(s),
            250..=339 => self.gen_set_data(s),
            340..=409 => self.gen_read(s, op::EXISTS, "exists"),
            410..=479 => self.gen_read(s, op::GET_DATA, "getData"),
            480..=529 => self.gen_read(s, op::GET_CHILDREN, "getChildren"),
            530..=579 => self.gen_read(s, op::GET_CHILDREN2, "getChildren2"),
            580..=649 => self.gen_multi(s),
            650..=689 => self.gen_multi_read(s),
            690..=719 => self.gen_set_acl(s),
            720..=739 => self.gen_path_only(s, op::GET_ACL, "getACL"),
            740..=759 => self.gen_auth(s),
            760..=799 => self.gen_add_watch(s),
            800..=839 => self.gen_remove_watches(s),
            840..=859 => self.gen_path_only(s, op::SYNC, "sync"),
            860..=884 => self.gen_get_ephemerals(s),
            885..=909 => self.gen_path_only(s, op::GET_ALL_CHILDREN_NUMBER, "getAllChildrenNumber"),
            910..=929 => self.req(s, op::WHO_AM_I, Vec::new(), "whoAmI".into(), Meta::None),
            930..=934 => self.gen_large(s),
            935..=959 => self.gen_read(s, op::EXISTS, "exists"),
            960..=989 => self.gen_create(s),
            990..=994 => self.req(
                s,
                op::CLOSE_SESSION,
                Vec::new(),
                "closeSession".into(),
                Meta::Close,
            ),
            _ => self.gen_expire_or_close(s),
        })
    }

    fn req(&mut self, s: usize, code: i32, body: Vec<u8>, desc: String, meta: Meta) -> Op {
        Op::Req {
            s,
            code,
            body,
            desc,
            meta,
        }
    }

    fn abs(&self, rel: &str) -> String {
        format!("{}{rel}", self.root)
    }

    /// A node the model believes exists (or the root).
    fn existing(&mut self) -> String {
        let n = self.known.len();
        let i = self.rng.below(n + 1);
        self.known.keys().nth(i).cloned().unwrap_or_default()
    }

    /// A path for a request: mostly existing nodes or new children of them, sometimes invalid.
    fn path(&mut self) -> String {
        let r = self.rng.below(100);
        if r < 4 {
            return self.invalid_path();
        }
        let mut base = self.existing();
        if r < 55 {
            return self.abs(&base);
        }
        while base.matches('/').count() >= 4 {
            base.truncate(base.rfind('/').unwrap_or(0));
        }
        let name = *self.rng.pick(NAMES);
        self.abs(&format!("{base}/{name}"))
    }

    /// A path to create: never the root itself (a sequential create of the root's own path
    /// would make a node beside it, outside the run's tree).
    fn create_path(&mut self) -> String {
        let p = self.path();
        if p == self.root {
            format!("{p}/{}", self.rng.pick(NAMES))
        } else {
            p
        }
    }

    fn invalid_path(&mut self) -> String {
        let root = self.root.clone();
        // Not "": Apache ZooKeeper keeps the root under "" as well as "/", so reads of ""
        // answer for "/", the whole server's root (see README.md, known differences).
        let choices = [
            "relative".to_string(),
            format!("{root}/"),
            format!("{root}//a"),
            format!("{root}/a/./b"),
            format!("{root}/../a"),
            format!("{root}/."),
            format!("{root}/a\u{1}"),
            format!("{root}/a\u{7f}"),
            format!("{root}/a\u{0}b"),
            format!("{root}/\u{fff0}"),
        ];
        self.rng.pick(&choices).clone()
    }

    fn rel(&self, abs: &str) -> String {
        abs.strip_prefix(&self.root).unwrap_or(abs).to_string()
    }

    fn data(&mut self) -> Option<Vec<u8>> {
        match self.rng.below(20) {
            0 => None,
            1 => Some(Vec::new()),
            _ => {
                let n = self.rng.below(24);
                Some((0..n).map(|_| self.rng.below(256) as u8).collect())
            }
        }
    }

    fn version(&mut self) -> i32 {
        match self.rng.below(10) {
            0..=3 => -1,
            4 => -2,
            _ => self.rng.below(4) as i32,
        }
    }

    fn acl(&mut self) -> (&'static str, W) {
        let (name, entries) = *self.rng.pick(ACLS);
        let mut w = W::new().i32(entries.len() as i32);
        for (perms, scheme, id) in entries {
            w = w.i32(*perms).str(scheme).str(id);
        }
        (name, w)
    }

    /// A create-like record for multi or single use: (opcode, body, desc, meta).
    fn create_parts(&mut self, in_multi: bool) -> (i32, Vec<u8>, String, Meta) {
        let path = self.create_path();
        let data = self.data();
        let (acl_name, acl) = self.acl();
        let (code, flags, ttl) = match self.rng.below(if in_multi { 12 } else { 14 }) {
            0..=5 => (op::CREATE, self.rng.below(4) as i32, None),
            6..=9 => (op::CREATE2, self.rng.below(4) as i32, None),
            10 => (op::CREATE_CONTAINER, 4, None),
            11 => {
                let flags = *self.rng.pick(&[5, 6, 5, 0, 1]);
                // A createTTL with a plain mode and a negative ttl passes 3.8's validation and
                // then throws inside DataTree.processTxn (TTL.toEphemeralOwner): a server bug
                // path, not protocol, so it is not generated.
                let ttl = if flags >= 5 {
                    *self.rng.pick(&[3_600_000i64, 3_600_000, 0, -5, 1 << 41])
                } else {
                    3_600_000
                };
                (op::CREATE_TTL, flags, Some(ttl))
            }
            12 => (op::CREATE, *self.rng.pick(&[4, 5, 6, 7, -1]), None),
            _ => (op::CREATE_CONTAINER, *self.rng.pick(&[0, 1, 4]), None),
        };
        let mut w = W::new()
            .str(&path)
            .buf(data.as_deref())
            .raw(&acl.bytes())
            .i32(flags);
        if let Some(t) = ttl {
            w = w.i64(t);
        }
        let name = match code {
            op::CREATE => "create",
            op::CREATE2 => "create2",
            op::CREATE_CONTAINER => "createContainer",
            _ => "createTTL",
        };
        let desc = format!(
            "{name} {} data={} acl={acl_name} flags={flags}{}",
            escape(&path),
            data.map_or("null".to_string(), |d| format!("{}B", d.len())),
            ttl.map_or(String::new(), |t| format!(" ttl={t}"))
        );
        (code, w.bytes(), desc, Meta::Create { flags })
    }

    fn gen_create(&mut self, s: usize) -> Op {
        let (code, body, desc, meta) = self.create_parts(false);
        self.req(s, code, body, desc, meta)
    }

    fn gen_delete(&mut self, s: usize) -> Op {
        let path = self.path();
        let v = self.version();
        let meta = Meta::Delete {
            rel: self.rel(&path),
        };
        let body = W::new().str(&path).i32(v).bytes();
        self.req(
            s,
            op::DELETE,
            body,
            format!("delete {} v={v}", escape(&path)),
            meta,
        )
    }

    fn gen_set_data(&mut self, s: usize) -> Op {
        let path = self.path();
        let data = self.data();
        let v = self.version();
        let body = W::new().str(&path).buf(data.as_deref()).i32(v).bytes();
        let desc = format!(
            "setData {} data={} v={v}",
            escape(&path),
            data.map_or("null".into(), |d| format!("{}B", d.len()))
        );
        self.req(s, op::SET_DATA, body, desc, Meta::None)
    }

    /// A create or setData with a value close to jute.maxbuffer.
    fn gen_large(&mut self, s: usize) -> Op {
        // Header, path, ACL and framing stay well under 250 bytes.
        let n = MAX_BUFFER - 250 - self.rng.below(1000);
        let byte = self.rng.below(256) as u8;
        let data: Vec<u8> = (0..n).map(|i| byte.wrapping_add(i as u8)).collect();
        let path = self.create_path();
        if self.rng.pct(50) {
            let v = self.version();
            let body = W::new().str(&path).buf(Some(&data)).i32(v).bytes();
            let desc = format!("setData {} data={n}B v={v}", escape(&path));
            self.req(s, op::SET_DATA, body, desc, Meta::None)
        } else {
            let flags = self.rng.below(4) as i32;
            let body = W::new()
                .str(&path)
                .buf(Some(&data))
                .i32(1)
                .i32(31)
                .str("world")
                .str("anyone")
                .i32(flags)
                .bytes();
            let desc = format!("create2 {} data={n}B acl=open flags={flags}", escape(&path));
            self.req(s, op::CREATE2, body, desc, Meta::Create { flags })
        }
    }

    fn gen_read(&mut self, s: usize, code: i32, name: &str) -> Op {
        let path = self.path();
        let watch = self.rng.pct(50);
        let body = W::new().str(&path).bool(watch).bytes();
        self.req(
            s,
            code,
            body,
            format!("{name} {} watch={watch}", escape(&path)),
            Meta::None,
        )
    }

    fn gen_path_only(&mut self, s: usize, code: i32, name: &str) -> Op {
        let path = self.path();
        let body = W::new().str(&path).bytes();
        self.req(
            s,
            code,
            body,
            format!("{name} {}", escape(&path)),
            Meta::None,
        )
    }

    fn gen_get_ephemerals(&mut self, s: usize) -> Op {
        let prefix = if self.rng.pct(60) {
            self.root.clone()
        } else {
            self.path()
        };
        let body = W::new().str(&prefix).bytes();
        self.req(
            s,
            op::GET_EPHEMERALS,
            body,
            format!("getEphemerals {}", escape(&prefix)),
            Meta::None,
        )
    }

    fn gen_set_acl(&mut self, s: usize) -> Op {
        let path = self.path();
        let (name, acl) = self.acl();
        let v = self.version();
        let body = W::new().str(&path).raw(&acl.bytes()).i32(v).bytes();
        self.req(
            s,
            op::SET_ACL,
            body,
            format!("setACL {} acl={name} v={v}", escape(&path)),
            Meta::None,
        )
    }

    fn gen_auth(&mut self, s: usize) -> Op {
        let who = *self.rng.pick(&["u1:p1", "u2:p2", "u1:wrong"]);
        let body = W::new()
            .i32(0)
            .str("digest")
            .buf(Some(who.as_bytes()))
            .bytes();
        self.req(
            s,
            op::AUTH,
            body,
            format!("addAuth digest {who}"),
            Meta::Auth,
        )
    }

    fn gen_add_watch(&mut self, s: usize) -> Op {
        let path = if self.rng.pct(30) {
            self.root.clone()
        } else {
            self.path()
        };
        let mode = *self.rng.pick(&[0, 1, 1, 2]);
        let body = W::new().str(&path).i32(mode).bytes();
        self.req(
            s,
            op::ADD_WATCH,
            body,
            format!("addWatch {} mode={mode}", escape(&path)),
            Meta::None,
        )
    }

    fn gen_remove_watches(&mut self, s: usize) -> Op {
        // Valid paths only: for a relative path 3.8 answers from an exception thrown in its
        // parent walk, which depends on every session's watches (README.md).
        let mut path = self.path();
        if !path.starts_with(&self.root) {
            path = self.root.clone();
        }
        let kind = *self.rng.pick(&[1, 2, 3, 3, 0]);
        let body = W::new().str(&path).i32(kind).bytes();
        let (code, name) = if self.rng.pct(50) {
            (op::REMOVE_WATCHES, "removeWatches")
        } else {
            (op::CHECK_WATCHES, "checkWatches")
        };
        self.req(
            s,
            code,
            body,
            format!("{name} {} type={kind}", escape(&path)),
            Meta::None,
        )
    }

    fn gen_multi(&mut self, s: usize) -> Op {
        let n = self.rng.below(6);
        let mut w = W::new();
        let mut descs = Vec::new();
        let mut metas = Vec::new();
        for _ in 0..n {
            let (code, body, desc, meta) = match self.rng.below(10) {
                0..=3 => self.create_parts(true),
                4..=5 => {
                    let path = self.path();
                    let v = self.version();
                    let meta = Meta::Delete {
                        rel: self.rel(&path),
                    };
                    let b = W::new().str(&path).i32(v).bytes();
                    (
                        op::DELETE,
                        b,
                        format!("delete {} v={v}", escape(&path)),
                        meta,
                    )
                }
                6..=7 => {
                    let path = self.path();
                    let data = self.data();
                    let v = self.version();
                    let b = W::new().str(&path).buf(data.as_deref()).i32(v).bytes();
                    (
                        op::SET_DATA,
                        b,
                        format!("setData {} v={v}", escape(&path)),
                        Meta::None,
                    )
                }
                _ => {
                    let path = self.path();
                    let v = self.version();
                    let b = W::new().str(&path).i32(v).bytes();
                    (
                        op::CHECK,
                        b,
                        format!("check {} v={v}", escape(&path)),
                        Meta::None,
                    )
                }
            };
            w = w.i32(code).bool(false).i32(-1).raw(&body);
            descs.push(desc);
            metas.push(meta);
        }
        w = w.i32(-1).bool(true).i32(-1);
        let desc = format!("multi [{}]", descs.join("; "));
        self.req(s, op::MULTI, w.bytes(), desc, Meta::Multi(metas))
    }

    fn gen_multi_read(&mut self, s: usize) -> Op {
        let n = self.rng.below(5);
        let mut w = W::new();
        let mut descs = Vec::new();
        for _ in 0..n {
            let path = self.path();
            let watch = self.rng.pct(40);
            let (code, name) = if self.rng.pct(50) {
                (op::GET_CHILDREN, "getChildren")
            } else {
                (op::GET_DATA, "getData")
            };
            w = w.i32(code).bool(false).i32(-1).str(&path).bool(watch);
            descs.push(format!("{name} {} watch={watch}", escape(&path)));
        }
        w = w.i32(-1).bool(true).i32(-1);
        let desc = format!("multiRead [{}]", descs.join("; "));
        self.req(s, op::MULTI_READ, w.bytes(), desc, Meta::None)
    }

    fn gen_expire_or_close(&mut self, s: usize) -> Op {
        if self.slots[s].short && self.expiries < self.max_expiries {
            self.expiries += 1;
            self.sentinels += 1;
            let sentinel = self.abs(&format!("/expiry-{}", self.sentinels));
            let body = W::new()
                .str(&sentinel)
                .buf(Some(b""))
                .i32(1)
                .i32(31)
                .str("world")
                .str("anyone")
                .i32(1)
                .bytes();
            return Op::Expire { s, body, sentinel };
        }
        self.req(
            s,
            op::CLOSE_SESSION,
            Vec::new(),
            "closeSession".into(),
            Meta::Close,
        )
    }

    /// Learns from Apache ZooKeeper's answer to `op`: `err` and the reply body.
    pub fn observe(&mut self, op: &Op, err: i32, body: &[u8]) {
        match op {
            Op::Connect { s, timeout } => {
                self.slots[*s] = Slot {
                    open: true,
                    short: *timeout == SHORT_TIMEOUT,
                };
            }
            Op::Expire { s, .. } => self.end_session(*s),
            Op::Req { s, meta, .. } => match meta {
                Meta::Close => self.end_session(*s),
                Meta::Create { flags, .. } if err == 0 => {
                    let mut r = crate::jute::R(body);
                    if let Some(Some(p)) = r.buf() {
                        let p = String::from_utf8_lossy(p).into_owned();
                        self.learn_create(&p, *flags, *s);
                    }
                }
                Meta::Delete { rel } if err == 0 => {
                    self.known.remove(rel);
                }
                Meta::Multi(metas) if err == 0 => self.observe_multi(*s, metas, body),
                _ => {}
            },
        }
    }

    fn observe_multi(&mut self, s: usize, metas: &[Meta], body: &[u8]) {
        let mut r = crate::jute::R(body);
        let mut created = Vec::new();
        for meta in metas {
            let Some(kind) = r.i32() else { return };
            if r.u8().is_none() || r.i32().is_none() {
                return;
            }
            match kind {
                op::CREATE | op::CREATE2 | op::CREATE_CONTAINER | op::CREATE_TTL => {
                    let Some(Some(p)) = r.buf() else { return };
                    let p = String::from_utf8_lossy(p).into_owned();
                    if kind != op::CREATE && r.0.len() >= 68 {
                        r.0 = &r.0[68..];
                    }
                    if let Meta::Create { flags, .. } = meta {
                        created.push((p, *flags));
                    }
                }
                op::SET_DATA => {
                    if r.0.len() < 68 {
                        return;
                    }
                    r.0 = &r.0[68..];
                }
                op::DELETE => {
                    if let Meta::Delete { rel } = meta {
                        self.known.remove(rel);
                    }
                }
                op::CHECK => {}
                _ => return, // an error result: nothing was applied
            }
        }
        for (p, flags) in created {
            self.learn_create(&p, flags, s);
        }
    }

    fn learn_create(&mut self, abs: &str, flags: i32, s: usize) {
        let rel = self.rel(abs);
        let eph = matches!(flags, 1 | 3);
        self.known.insert(rel, eph.then_some(s));
    }

    fn end_session(&mut self, s: usize) {
        self.slots[s].open = false;
        self.known.retain(|_, owner| *owner != Some(s));
    }
}

/// A path with control characters shown escaped.
pub fn escape(p: &str) -> String {
    if p.is_empty() {
        return "\"\"".into();
    }
    p.chars()
        .map(|c| {
            if c.is_control() || ('\u{fff0}'..='\u{ffff}').contains(&c) {
                format!("\\u{{{:x}}}", c as u32)
            } else {
                c.to_string()
            }
        })
        .collect()
}
