//! Runs ops in lock step against two servers and normalises their answers.
//!
//! Each op is sent to both servers before either answer is read, so the two servers work
//! concurrently, and the next op goes out only when both answered: the order of everything
//! is decided by the op list alone. A watch notification is attributed to the next reply on
//! its session; because a write's notifications are queued before the write's own reply, the
//! notifications that precede a reply are the same on any correct server.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::gen::{op, Op};
use crate::jute::{len_i32, W};
use crate::norm::Norm;

/// Bound on any single answer.
const ANSWER_WAIT: Duration = Duration::from_secs(20);
/// Bound on a session expiry (timeout 1 s, both servers check every tick).
const EXPIRY_WAIT: Duration = Duration::from_secs(20);
/// Largest frame accepted from a server.
const MAX_FRAME: usize = 64 << 20;

/// What came back from a server for a request.
enum Got {
    Frame(Vec<u8>),
    Closed,
    TimedOut,
}

/// One client connection.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    xid: i32,
    /// Normalised notifications not yet attributed to a reply.
    events: Vec<String>,
    last_sent: Instant,
    ping_every: Duration,
}

impl Conn {
    fn open(addr: &str) -> Result<Conn> {
        let stream = TcpStream::connect(addr).with_context(|| format!("connect {addr}"))?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            buf: Vec::new(),
            xid: 0,
            events: Vec::new(),
            last_sent: Instant::now(),
            ping_every: Duration::from_secs(5),
        })
    }

    fn send_frame(&mut self, payload: &[u8]) -> bool {
        let mut f = len_i32(payload.len()).to_be_bytes().to_vec();
        f.extend_from_slice(payload);
        self.last_sent = Instant::now();
        self.stream.write_all(&f).is_ok()
    }

    /// Sends a request with the next xid (or `xid` if given); returns the xid used.
    fn send(&mut self, code: i32, body: &[u8], xid: Option<i32>) -> (i32, bool) {
        let xid = xid.unwrap_or_else(|| {
            self.xid += 1;
            self.xid
        });
        let ok = self.send_frame(&W::new().i32(xid).i32(code).raw(body).bytes());
        (xid, ok)
    }

    /// The next frame, waiting at most `wait`.
    fn frame(&mut self, wait: Duration) -> Got {
        let deadline = Instant::now() + wait;
        loop {
            if self.buf.len() >= 4 {
                let n = i32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]);
                let n = usize::try_from(n).unwrap_or(usize::MAX);
                if n > MAX_FRAME {
                    return Got::Closed;
                }
                if self.buf.len() >= 4 + n {
                    let f = self.buf[4..4 + n].to_vec();
                    self.buf.drain(..4 + n);
                    return Got::Frame(f);
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Got::TimedOut;
            }
            if self.stream.set_read_timeout(Some(left)).is_err() {
                return Got::Closed;
            }
            let mut chunk = [0u8; 65536];
            match self.stream.read(&mut chunk) {
                Ok(0) => return Got::Closed,
                Ok(k) => self.buf.extend_from_slice(&chunk[..k]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return Got::TimedOut
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return Got::Closed,
            }
        }
    }

    /// Reads until the reply with `xid`; notifications on the way are normalised into
    /// `events`, ping replies dropped. Returns (xid, zxid, err, body) or the failure text.
    fn reply(
        &mut self,
        xid: i32,
        norm: &mut Norm,
        wait: Duration,
    ) -> std::result::Result<(i64, i32, Vec<u8>), String> {
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.frame(left) {
                Got::Closed => return Err("connection closed".into()),
                Got::TimedOut => return Err(format!("no answer within {wait:?}")),
                Got::Frame(f) => {
                    if f.len() < 16 {
                        return Err(format!("short frame {}", crate::norm::hex(&f)));
                    }
                    let got = i32::from_be_bytes([f[0], f[1], f[2], f[3]]);
                    let zxid =
                        i64::from_be_bytes([f[4], f[5], f[6], f[7], f[8], f[9], f[10], f[11]]);
                    let err = i32::from_be_bytes([f[12], f[13], f[14], f[15]]);
                    let body = f[16..].to_vec();
                    if got == -1 && xid != -1 {
                        let e = norm.event(zxid, err, &body);
                        self.events.push(e);
                    } else if got == -2 && xid != -2 {
                        // a keep-alive answer
                    } else if got == xid {
                        return Ok((zxid, err, body));
                    } else {
                        return Err(format!(
                            "unexpected frame xid={got} err={err} body={}",
                            crate::norm::hex(&body)
                        ));
                    }
                }
            }
        }
    }

    fn drop_connection(&self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

/// One server under test.
struct Side {
    addr: String,
    norm: Norm,
    slots: Vec<Option<Conn>>,
    control: Conn,
}

fn connect_request(timeout: i32) -> Vec<u8> {
    W::new()
        .i32(0)
        .i64(0)
        .i32(timeout)
        .i64(0)
        .buf(Some(&[0u8; 16]))
        .bool(false)
        .bytes()
}

impl Side {
    fn start(addr: &str, root: &str, slots: usize) -> Result<Side> {
        let mut control = Conn::open(addr)?;
        control.send_frame(&connect_request(30_000));
        match control.frame(ANSWER_WAIT) {
            Got::Frame(_) => {}
            _ => bail!("{addr}: no session for the control connection"),
        }
        let mut side = Side {
            addr: addr.to_string(),
            norm: Norm::new(root),
            slots: (0..slots).map(|_| None).collect(),
            control,
        };
        // The super user (super:test, configured on both servers) can clear any tree.
        let auth = W::new()
            .i32(0)
            .str("digest")
            .buf(Some(b"super:test"))
            .bytes();
        let (xid, _) = side.control.send(op::AUTH, &auth, Some(-4));
        match side.control.reply(xid, &mut Norm::default(), ANSWER_WAIT) {
            Ok((_, 0, _)) => {}
            _ => bail!("{addr}: addAuth super:test failed"),
        }
        side.delete_tree(root)?;
        let body = W::new()
            .str(root)
            .buf(Some(b""))
            .i32(1)
            .i32(31)
            .str("world")
            .str("anyone")
            .i32(0)
            .bytes();
        let err = side.control_call(op::CREATE, &body)?.0;
        if err != 0 {
            bail!("{addr}: create {root} failed with {err}");
        }
        Ok(side)
    }

    /// A request on the control session (not compared); returns (err, body).
    fn control_call(&mut self, code: i32, body: &[u8]) -> Result<(i32, Vec<u8>)> {
        let (xid, _) = self.control.send(code, body, None);
        let mut scratch = Norm::default();
        match self.control.reply(xid, &mut scratch, ANSWER_WAIT) {
            Ok((_, err, body)) => Ok((err, body)),
            Err(e) => bail!("{}: control request {code}: {e}", self.addr),
        }
    }

    fn delete_tree(&mut self, path: &str) -> Result<()> {
        let (err, body) =
            self.control_call(op::GET_CHILDREN, &W::new().str(path).bool(false).bytes())?;
        if err != 0 {
            return Ok(());
        }
        let mut r = crate::jute::R(&body);
        let n = r.i32().unwrap_or(0);
        let mut kids = Vec::new();
        for _ in 0..n {
            if let Some(Some(k)) = r.buf() {
                kids.push(String::from_utf8_lossy(k).into_owned());
            }
        }
        for k in kids {
            self.delete_tree(&format!("{path}/{k}"))?;
        }
        self.control_call(op::DELETE, &W::new().str(path).i32(-1).bytes())?;
        Ok(())
    }

    /// Pings the connections that have been idle for a third of their timeout.
    fn keepalive_send(&mut self) -> Vec<Option<usize>> {
        let mut sent = Vec::new();
        let now = Instant::now();
        for (i, c) in self.slots.iter_mut().enumerate() {
            if let Some(c) = c {
                if now.duration_since(c.last_sent) >= c.ping_every {
                    c.send(op::PING, &[], Some(-2));
                    sent.push(Some(i));
                }
            }
        }
        if now.duration_since(self.control.last_sent) >= self.control.ping_every {
            self.control.send(op::PING, &[], Some(-2));
            sent.push(None);
        }
        sent
    }

    fn keepalive_recv(&mut self, sent: Vec<Option<usize>>) {
        for s in sent {
            let conn = match s {
                Some(i) => self.slots[i].as_mut(),
                None => Some(&mut self.control),
            };
            if let Some(c) = conn {
                let mut scratch = Norm::default();
                let norm = if s.is_some() {
                    &mut self.norm
                } else {
                    &mut scratch
                };
                // A failure shows up on the session's next compared request.
                let _ = c.reply(-2, norm, ANSWER_WAIT);
            }
        }
    }

    /// Closes what is still open and removes the run's tree.
    fn finish(mut self) {
        for c in self.slots.iter_mut().filter_map(Option::take) {
            let mut c = c;
            let (xid, _) = c.send(op::CLOSE_SESSION, &[], None);
            let _ = c.reply(xid, &mut Norm::default(), ANSWER_WAIT);
        }
        let root = self.norm.root.clone();
        let _ = self.delete_tree(&root);
        let (xid, _) = self.control.send(op::CLOSE_SESSION, &[], None);
        let _ = self.control.reply(xid, &mut Norm::default(), ANSWER_WAIT);
    }
}

/// The outcome of one op on both servers.
pub struct Step {
    /// Normalised answers: Apache ZooKeeper's, then Ferrokeeper's.
    pub texts: [String; 2],
    /// Apache ZooKeeper's error code and reply body (for the generator's model).
    pub oracle: (i32, Vec<u8>),
    /// False when the op did not apply (its session slot was not open, after shrinking).
    pub ran: bool,
}

/// Two servers driven in lock step.
pub struct Exec {
    sides: Vec<Side>,
}

/// Per-side state of an op between send and receive.
enum Sent {
    Nothing,
    Connect,
    Req { xid: i32, ok: bool },
}

impl Exec {
    /// Connects to both servers and creates `root` on each.
    pub fn start(addrs: [&str; 2], root: &str, slots: usize) -> Result<Exec> {
        let sides = addrs
            .iter()
            .map(|a| Side::start(a, root, slots))
            .collect::<Result<Vec<_>>>()?;
        Ok(Exec { sides })
    }

    /// Closes everything and removes both trees.
    pub fn finish(self) {
        for s in self.sides {
            s.finish();
        }
    }

    fn keepalive(&mut self) {
        let sent: Vec<_> = self.sides.iter_mut().map(Side::keepalive_send).collect();
        for (side, sent) in self.sides.iter_mut().zip(sent) {
            side.keepalive_recv(sent);
        }
    }

    /// Runs one op on both servers.
    pub fn step(&mut self, op: &Op) -> Result<Step> {
        self.keepalive();
        let s = op.slot();
        // Ops whose session is absent (removed by shrinking) are skipped.
        let open = self.sides[0].slots.get(s).is_some_and(Option::is_some);
        let applicable = match op {
            Op::Connect { .. } => !open,
            _ => open,
        };
        if s >= self.sides[0].slots.len() || !applicable {
            return Ok(Step {
                texts: [String::new(), String::new()],
                oracle: (0, Vec::new()),
                ran: false,
            });
        }
        // Send to both.
        let mut sent = Vec::new();
        for side in &mut self.sides {
            sent.push(match op {
                Op::Connect { timeout, .. } => {
                    let mut c = Conn::open(&side.addr)?;
                    c.ping_every = Duration::from_millis((*timeout).clamp(600, 30_000) as u64 / 4);
                    c.send_frame(&connect_request(*timeout));
                    side.slots[s] = Some(c);
                    Sent::Connect
                }
                Op::Req { code, body, .. } => match side.slots[s].as_mut() {
                    Some(c) => {
                        let (xid, ok) = c.send(*code, body, (*code == op::AUTH).then_some(-4));
                        Sent::Req { xid, ok }
                    }
                    None => Sent::Nothing,
                },
                Op::Expire { body, .. } => match side.slots[s].as_mut() {
                    Some(c) => {
                        let (xid, ok) = c.send(op::CREATE, body, None);
                        Sent::Req { xid, ok }
                    }
                    None => Sent::Nothing,
                },
            });
        }
        // Receive from both.
        let mut texts = Vec::new();
        let mut oracle = (0, Vec::new());
        for (k, (side, sent)) in self.sides.iter_mut().zip(sent).enumerate() {
            let code = match op {
                Op::Req { code, .. } => *code,
                _ => op::CREATE,
            };
            let (text, err, body) = side.receive(s, code, sent);
            if k == 0 {
                oracle = (err, body);
            }
            texts.push(text);
        }
        let mut texts: [String; 2] = [texts.remove(0), texts.remove(0)];
        match op {
            Op::Req { code, .. } if *code == op::CLOSE_SESSION => {
                for side in &mut self.sides {
                    if let Some(c) = side.slots[s].take() {
                        c.drop_connection();
                    }
                }
            }
            Op::Expire { sentinel, .. } => {
                let waited = self.expire(s, sentinel)?;
                for (t, w) in texts.iter_mut().zip(waited) {
                    t.push_str(" | ");
                    t.push_str(&w);
                }
            }
            _ => {}
        }
        Ok(Step {
            texts,
            oracle,
            ran: true,
        })
    }

    /// Drops slot `s` on both servers and waits until each has expired the session (seen as
    /// the deletion of its ephemeral `sentinel`, watched from the control session).
    fn expire(&mut self, s: usize, sentinel: &str) -> Result<Vec<String>> {
        let mut waiting = Vec::new();
        for side in &mut self.sides {
            let (err, _) =
                side.control_call(op::EXISTS, &W::new().str(sentinel).bool(true).bytes())?;
            if err != 0 {
                // No sentinel: close the session instead so that nothing lingers.
                if let Some(mut c) = side.slots[s].take() {
                    let (xid, _) = c.send(op::CLOSE_SESSION, &[], None);
                    let _ = c.reply(xid, &mut Norm::default(), ANSWER_WAIT);
                }
                waiting.push(false);
                continue;
            }
            if let Some(c) = side.slots[s].take() {
                c.drop_connection();
            }
            waiting.push(true);
        }
        let mut result: Vec<String> = waiting
            .iter()
            .map(|w| {
                if *w {
                    String::new()
                } else {
                    "no sentinel to wait for".into()
                }
            })
            .collect();
        let deadline = Instant::now() + EXPIRY_WAIT;
        while waiting.iter().any(|w| *w) {
            if Instant::now() >= deadline {
                for (r, w) in result.iter_mut().zip(&waiting) {
                    if *w {
                        *r = format!("session not expired within {EXPIRY_WAIT:?}");
                    }
                }
                break;
            }
            self.keepalive();
            for (k, side) in self.sides.iter_mut().enumerate() {
                if !waiting[k] {
                    continue;
                }
                match side.control.frame(Duration::from_millis(50)) {
                    Got::Frame(f) if f.len() >= 16 && f[..4] == (-1i32).to_be_bytes() => {
                        let mut scratch = Norm::new(&side.norm.root);
                        let e = scratch.event(-1, 0, &f[16..]);
                        waiting[k] = false;
                        result[k] =
                            format!("expired ({})", e.trim_start_matches("event zxid=-1 err=0 "));
                    }
                    Got::Closed => bail!("{}: control connection closed", side.addr),
                    _ => {}
                }
            }
        }
        Ok(result)
    }
}

impl Side {
    fn receive(&mut self, s: usize, code: i32, sent: Sent) -> (String, i32, Vec<u8>) {
        let Some(c) = self.slots[s].as_mut() else {
            return ("session not open".into(), 0, Vec::new());
        };
        let (mut text, err, body) = match sent {
            Sent::Nothing => return ("session not open".into(), 0, Vec::new()),
            Sent::Connect => match c.frame(ANSWER_WAIT) {
                Got::Frame(f) => (self.norm.connect(&f), 0, f),
                Got::Closed => ("connection closed".into(), 0, Vec::new()),
                Got::TimedOut => ("no ConnectResponse".into(), 0, Vec::new()),
            },
            Sent::Req { xid, ok } => {
                let r = c.reply(xid, &mut self.norm, ANSWER_WAIT);
                match r {
                    Ok((zxid, err, body)) => {
                        (self.norm.reply(code, xid, zxid, err, &body), err, body)
                    }
                    Err(e) if ok => (e, 0, Vec::new()),
                    Err(e) => (format!("send failed; {e}"), 0, Vec::new()),
                }
            }
        };
        if !c.events.is_empty() {
            // Compared as a multiset: closeSession deletes a session's ephemerals in HashSet
            // order, so one txn's events have no defined order (README.md).
            c.events.sort();
            text.push_str("\n  events before it:");
            for e in c.events.drain(..) {
                text.push_str("\n    ");
                text.push_str(&e);
            }
        }
        if text.starts_with("connection closed") || text.starts_with("send failed") {
            self.slots[s] = None;
        }
        (text, err, body)
    }
}
