//! Four-letter words: the exact shape of every answer, as Apache ZooKeeper 3.8.0 standalone
//! (Debian, NIO connection factory) prints it. Values are normalised with regexes; lines,
//! order, spacing and key names are not.
//!
//! Every test here also runs against the real server: start it with
//! `4lw.commands.whitelist=*` and point `FERROKEEPER_TEST_EXTERNAL_4LW=host:port` at it
//! (one test at a time: several assert the server's packet counters).
//!
//! ```text
//! FERROKEEPER_TEST_EXTERNAL_4LW=127.0.0.1:2181 cargo test -p zk-server --test fourlw -- --test-threads=1
//! ```

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use common::*;
use regex::Regex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Asserts that all of `text` matches `re`.
#[track_caller]
fn assert_shape(re: &str, text: &str) {
    let r = Regex::new(&format!("^(?:{re})$")).unwrap();
    assert!(r.is_match(text), "does not match /{re}/:\n{text}");
}

/// The line of `text` starting with `prefix`.
#[track_caller]
fn line_with<'a>(text: &'a str, needle: &str) -> &'a str {
    text.lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?} in:\n{text}"))
}

/// The value of `key=`/`key: ` in a line of `text`.
#[track_caller]
fn field(text: &str, key: &str) -> String {
    let r = Regex::new(&format!(
        r"(?:^|[,(\n]){}[=:] ?([^,)\n]*)",
        regex::escape(key)
    ))
    .unwrap();
    r.captures(text)
        .unwrap_or_else(|| panic!("no {key} in:\n{text}"))
        .get(1)
        .unwrap()
        .as_str()
        .to_string()
}

const VERSION: &str = r"Zookeeper version: [0-9]+\.[0-9]+\.[0-9]+[^\n]*, built on [^\n]+\n";
const SERVER_STATS: &str = concat!(
    r"Latency min/avg/max: [0-9]+/[0-9]+\.[0-9]+(E-?[0-9]+)?/[0-9]+\n",
    r"Received: [0-9]+\nSent: [0-9]+\nConnections: [0-9]+\nOutstanding: [0-9]+\n",
    r"Zxid: 0x[0-9a-f]+\nMode: standalone\nNode count: [0-9]+\n"
);
/// `dumpConnectionInfo(brief)`.
const BRIEF: &str = r" /127\.0\.0\.1:[0-9]+\[[01]\]\(queued=[0-9]+,recved=[0-9]+,sent=[0-9]+\)";
/// `dumpConnectionInfo(full)` of a connection with a session.
const FULL: &str = concat!(
    r" /127\.0\.0\.1:[0-9]+\[[01]\]\(queued=[0-9]+,recved=[0-9]+,sent=[0-9]+",
    r",sid=0x[0-9a-f]+,lop=(?:[A-Z]+|null),est=[0-9]+,to=[0-9]+(,lcxid=0x[0-9a-f]+)?",
    r",lzxid=0x[0-9a-f]+,lresp=[0-9]+,llat=[0-9]+,minlat=[0-9]+,avglat=[0-9]+,maxlat=[0-9]+\)"
);
const DATE: &str =
    r"[A-Z][a-z]{2} [A-Z][a-z]{2} [0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} [A-Z]+ [0-9]{4}";

async fn word(srv: &TestServer, w: &str) -> String {
    four_letter(&srv.addr, w).await
}

/// Sends raw bytes as the first thing on a connection; returns the whole answer.
async fn send_first(addr: &str, bytes: &[u8]) -> Vec<u8> {
    let mut s = within("tcp connect", TcpStream::connect(addr))
        .await
        .unwrap();
    s.write_all(bytes).await.unwrap();
    let mut out = Vec::new();
    within("answer", s.read_to_end(&mut out)).await.unwrap();
    out
}

fn exists(path: &str, watch: bool) -> Vec<u8> {
    J::new().str(path).bool(watch).bytes()
}

fn sid(r: &Raw) -> String {
    format!("0x{:x}", r.session_id)
}

#[tokio::test]
async fn ruok_isro_hash_and_trace_masks() {
    let Some(srv) = all_words_server(settings()).await else {
        return;
    };
    // No trailing newline on these (PrintWriter.print).
    assert_eq!(word(&srv, "ruok").await, "imok");
    assert_eq!(word(&srv, "isro").await, "rw");
    // No digests are logged (upstream logs one every 128 zxids when digests are enabled).
    assert_eq!(word(&srv, "hash").await, "");
    let before = word(&srv, "gtmk").await;
    assert_shape("-?[0-9]+", &before);
    // stmk reads an 8-byte big-endian mask right after the word and echoes it.
    let mut stmk = b"stmk".to_vec();
    stmk.extend_from_slice(&261i64.to_be_bytes());
    assert_eq!(send_first(&srv.addr, &stmk).await, b"261");
    assert_eq!(word(&srv, "gtmk").await, "261");
    let mut neg = b"stmk".to_vec();
    neg.extend_from_slice(&(-2i64).to_be_bytes());
    assert_eq!(send_first(&srv.addr, &neg).await, b"-2");
    assert_eq!(word(&srv, "gtmk").await, "-2");
    // Without the mask: no answer, the mask is unchanged.
    assert_eq!(send_first(&srv.addr, b"stmk").await, b"");
    assert_eq!(word(&srv, "gtmk").await, "-2");
    let mut restore = b"stmk".to_vec();
    restore.extend_from_slice(&before.parse::<i64>().unwrap().to_be_bytes());
    assert_eq!(send_first(&srv.addr, &restore).await, before.as_bytes());
    // The telnet interrupt sequence is known, and `*` enables it: it runs nothing.
    assert_eq!(send_first(&srv.addr, &[0xff, 0xf4, 0xff, 0xfd]).await, b"");
}

#[tokio::test]
async fn srvr_counts_packets_and_connections_like_upstream() {
    let Some(srv) = all_words_server(settings()).await else {
        return;
    };
    assert_eq!(word(&srv, "srst").await, "Server stats reset.\n");
    // The srst answer itself is counted after the reset: Sent 1.
    let mut r = srv.raw().await;
    assert_eq!(r.call(1, op::EXISTS, &exists("/", false)).await.err, 0);
    assert_eq!(r.call(2, op::EXISTS, &exists("/", false)).await.err, 0);
    let srvr = word(&srv, "srvr").await;
    assert_shape(&format!("{VERSION}{SERVER_STATS}"), &srvr);
    // Received: connect + 2 requests + this srvr; Sent: srst's answer + connect + 2 replies.
    assert_eq!(field(&srvr, "Received"), "4", "{srvr}");
    assert_eq!(field(&srvr, "Sent"), "4", "{srvr}");
    // The four-letter connection counts itself.
    assert_eq!(field(&srvr, "Connections"), "2", "{srvr}");
    assert_eq!(field(&srvr, "Outstanding"), "0", "{srvr}");
    let zxid = r.call(-2, op::PING, &[]).await.zxid;
    let srvr = word(&srv, "srvr").await;
    assert_eq!(field(&srvr, "Zxid"), format!("0x{zxid:x}"), "{srvr}");
}

#[tokio::test]
async fn stat_lists_every_connection_briefly() {
    let Some(srv) = all_words_server(settings()).await else {
        return;
    };
    let mut a = srv.raw().await;
    a.call(1, op::EXISTS, &exists("/", false)).await;
    let _b = srv.raw().await;
    // An accepted connection that has sent nothing yet is listed too.
    let _idle = Raw::connect(&srv.addr).await;
    let stat = word(&srv, "stat").await;
    assert_shape(
        &format!("{VERSION}Clients:\n(?:{BRIEF}\n)+\n{SERVER_STATS}"),
        &stat,
    );
    let clients: Vec<&str> = stat.lines().filter(|l| l.starts_with(" /")).collect();
    assert_eq!(
        clients.len().to_string(),
        field(&stat, "Connections"),
        "{stat}"
    );
    // The stat connection itself: its word received, nothing sent yet, not selecting.
    assert!(
        clients
            .iter()
            .any(|l| l.ends_with("[0](queued=0,recved=1,sent=0)")),
        "{stat}"
    );
    let port = a.stream.local_addr().unwrap().port();
    let mine = line_with(&stat, &format!(":{port}["));
    assert!(mine.ends_with("[1](queued=0,recved=2,sent=2)"), "{mine}");
}

#[tokio::test]
async fn cons_shows_each_connections_last_operation() {
    let Some(srv) = all_words_server(settings()).await else {
        return;
    };
    let mut r = srv.raw().await;
    let me = sid(&r);
    let cons = word(&srv, "cons").await;
    assert_shape(&format!("(?:(?:{FULL}|{BRIEF})\n)+\n"), &cons);
    // A new session went through the pipeline as createSession.
    let line = line_with(&cons, &format!("sid={me},"));
    assert_shape(FULL, line);
    assert_eq!(field(line, "lop"), "SESS", "{line}");
    assert_eq!(field(line, "lcxid"), "0x0", "{line}");
    assert_eq!(field(line, "recved"), "1", "{line}");
    assert_eq!(field(line, "sent"), "1", "{line}");
    assert_eq!(field(line, "to"), "30000", "{line}");
    let est: i64 = field(line, "est").parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert!(
        (now - 60_000..=now).contains(&est),
        "est {est} is not a recent wall time"
    );

    // A read: its name, xid and the zxid of the reply.
    let rep = r.call(0x1b, op::EXISTS, &exists("/", false)).await;
    let line = line_with(&word(&srv, "cons").await, &format!("sid={me},")).to_string();
    assert_eq!(field(&line, "lop"), "EXIS", "{line}");
    assert_eq!(field(&line, "lcxid"), "0x1b", "{line}");
    assert_eq!(field(&line, "lzxid"), format!("0x{:x}", rep.zxid), "{line}");
    assert_eq!(field(&line, "queued"), "0", "{line}");
    // A failed read keeps its name; a write refused by prep is an error txn: "NA".
    r.call(0x1c, op::GET_DATA, &exists("/no/such/node", false))
        .await;
    let line = line_with(&word(&srv, "cons").await, &format!("sid={me},")).to_string();
    assert_eq!(field(&line, "lop"), "GETD", "{line}");
    let rep = r
        .call(
            0x1d,
            op::CREATE,
            &J::new().create("/", b"", OPEN, 0).bytes(),
        )
        .await;
    assert_eq!(rep.err, code::NODE_EXISTS);
    let line = line_with(&word(&srv, "cons").await, &format!("sid={me},")).to_string();
    assert_eq!(field(&line, "lop"), "NA", "{line}");
    // A ping: its name, but a negative xid is not a cxid.
    r.call(-2, op::PING, &[]).await;
    let line = line_with(&word(&srv, "cons").await, &format!("sid={me},")).to_string();
    assert_eq!(field(&line, "lop"), "PING", "{line}");
    assert_eq!(field(&line, "lcxid"), "0x1d", "{line}");
    assert_eq!(field(&line, "recved"), "5", "{line}");
    assert_eq!(field(&line, "sent"), "5", "{line}");

    // crst: counters and last operation reset (lcxid -1 is not printed, lzxid -1 is).
    assert_eq!(word(&srv, "crst").await, "Connection stats reset.\n");
    let line = line_with(&word(&srv, "cons").await, &format!("sid={me},")).to_string();
    assert_shape(FULL, &line);
    assert!(line.contains("(queued=0,recved=0,sent=0,"), "{line}");
    assert!(line.contains(",lop=NA,"), "{line}");
    assert!(!line.contains("lcxid"), "{line}");
    assert!(
        line.ends_with(",lzxid=0xffffffffffffffff,lresp=0,llat=0,minlat=0,avglat=0,maxlat=0)"),
        "{line}"
    );

    // A reopened session has not been through the pipeline on this connection: Java's
    // initial values (a null last operation).
    let (id, passwd) = (r.session_id, r.passwd.clone());
    drop(r);
    let mut again = Raw::connect(&srv.addr).await;
    let resp = again
        .handshake(&ConnectReq {
            session_id: id,
            passwd,
            ..ConnectReq::default()
        })
        .await
        .unwrap();
    assert_eq!(resp.session_id, id);
    let port = again.stream.local_addr().unwrap().port();
    let line = line_with(&word(&srv, "cons").await, &format!(":{port}[")).to_string();
    assert!(line.contains(",lop=null,"), "{line}");
    assert!(
        line.ends_with(",lcxid=0x0,lzxid=0x0,lresp=0,llat=0,minlat=0,avglat=0,maxlat=0)"),
        "{line}"
    );
}

#[tokio::test]
async fn dump_lists_sessions_ephemerals_and_connections() {
    let Some(srv) = all_words_server(settings()).await else {
        return;
    };
    let mut r = srv.raw().await;
    let me = sid(&r);
    let base = unique("dump");
    let a = format!("{base}-a");
    let b = format!("{base}-b");
    for p in [&a, &b] {
        let rep = r
            .call(1, op::CREATE, &J::new().create(p, b"x", OPEN, 1).bytes())
            .await;
        assert_eq!(rep.err, 0);
    }
    let dump = word(&srv, "dump").await;
    assert_shape(
        &format!(
            concat!(
                r"SessionTracker dump:\n",
                r"Session Sets \([0-9]+\)/\([0-9]+\):\n",
                r"(?:[0-9]+ expire at {date}:\n(?:\t0x[0-9a-f]+\n)*)*",
                r"ephemeral nodes dump:\n",
                r"Sessions with Ephemerals \([0-9]+\):\n",
                r"(?:0x[0-9a-f]+:\n(?:\t/[^\n]*\n)*)*",
                r"Connections dump:\n",
                r"Connections Sets \([0-9]+\)/\([0-9]+\):\n",
                r"(?:[0-9]+ expire at {date}:\n(?:\tip: /127\.0\.0\.1:[0-9]+ sessionId: 0x[0-9a-f]+\n)*)*",
            ),
            date = DATE
        ),
        &dump,
    );
    // Our session is in the expiry queue and owns its two ephemerals.
    assert!(dump.contains(&format!("\t{me}\n")), "{dump}");
    let block = dump
        .split(&format!("\n{me}:\n"))
        .nth(1)
        .unwrap_or_else(|| panic!("no ephemerals of {me}:\n{dump}"));
    let mut paths: Vec<&str> = block
        .lines()
        .take_while(|l| l.starts_with('\t'))
        .map(|l| &l[1..])
        .collect();
    paths.sort();
    assert_eq!(paths, [a.as_str(), b.as_str()]);
    // Its connection, and the dump connection itself (no session).
    let port = r.stream.local_addr().unwrap().port();
    assert!(
        dump.contains(&format!("\tip: /127.0.0.1:{port} sessionId: {me}\n")),
        "{dump}"
    );
    assert!(dump.contains(" sessionId: 0x0\n"), "{dump}");
    // The set counts add up.
    let counts = Regex::new(r"Session Sets \(([0-9]+)\)/\(([0-9]+)\):").unwrap();
    let c = counts.captures(&dump).unwrap();
    let sessions_part = dump.split("ephemeral nodes dump:").next().unwrap();
    let listed = sessions_part
        .lines()
        .filter(|l| l.starts_with("\t0x"))
        .count();
    let sets = sessions_part
        .lines()
        .filter(|l| l.contains(" expire at "))
        .count();
    assert_eq!(c[2].parse::<usize>().unwrap(), listed, "{dump}");
    assert_eq!(c[1].parse::<usize>().unwrap(), sets, "{dump}");
}

#[tokio::test]
async fn watches_by_session_and_by_path() {
    let Some(srv) = all_words_server(settings()).await else {
        return;
    };
    let base = unique("wch");
    let mut owner = srv.raw().await;
    let rep = owner
        .call(1, op::CREATE, &J::new().create(&base, b"", OPEN, 0).bytes())
        .await;
    assert_eq!(rep.err, 0);
    let missing = format!("{base}-missing");
    let mut w = srv.raw().await;
    let me = sid(&w);
    // A data watch, an exist watch on a missing node, a child watch (the child table,
    // which the words do not show), a persistent and a recursive watch.
    w.call(1, op::GET_DATA, &exists(&base, true)).await;
    w.call(2, op::EXISTS, &exists(&missing, true)).await;
    w.call(3, op::GET_CHILDREN, &exists(&base, true)).await;
    let mut p = srv.raw().await;
    let them = sid(&p);
    p.call(1, op::ADD_WATCH, &J::new().str(&base).i32(0).bytes())
        .await;
    let rec = format!("{base}-rec");
    p.call(2, op::ADD_WATCH, &J::new().str(&rec).i32(1).bytes())
        .await;

    let wchs = word(&srv, "wchs").await;
    assert_shape(
        "[0-9]+ connections watching [0-9]+ paths\nTotal watches:[0-9]+\n",
        &wchs,
    );

    let wchc = word(&srv, "wchc").await;
    assert_shape(r"(?:0x[0-9a-f]+\n(?:\t/[^\n]*\n)*)*\n", &wchc);
    let paths_of = |text: &str, session: &str| -> Vec<String> {
        let block = text
            .split(&format!("{session}\n"))
            .nth(1)
            .unwrap_or_else(|| panic!("no {session} in:\n{text}"));
        let mut v: Vec<String> = block
            .lines()
            .take_while(|l| l.starts_with('\t'))
            .map(|l| l[1..].to_string())
            .collect();
        v.sort();
        v
    };
    let mut want = vec![base.clone(), missing.clone()];
    want.sort();
    assert_eq!(paths_of(&wchc, &me), want);
    let mut want = vec![base.clone(), rec.clone()];
    want.sort();
    assert_eq!(paths_of(&wchc, &them), want);

    let wchp = word(&srv, "wchp").await;
    assert_shape(r"(?:/[^\n]*\n(?:\t0x[0-9a-f]+\n)*)*\n", &wchp);
    let sessions_of = |path: &str| -> Vec<String> {
        let block = wchp
            .split(&format!("\n{path}\n"))
            .nth(1)
            .or_else(|| wchp.strip_prefix(&format!("{path}\n")))
            .unwrap_or_else(|| panic!("no {path} in:\n{wchp}"));
        let mut v: Vec<String> = block
            .lines()
            .take_while(|l| l.starts_with('\t'))
            .map(|l| l[1..].to_string())
            .collect();
        v.sort();
        v
    };
    let mut both = vec![me.clone(), them.clone()];
    both.sort();
    assert_eq!(sessions_of(&base), both);
    assert_eq!(sessions_of(&missing), std::slice::from_ref(&me));
    assert_eq!(sessions_of(&rec), std::slice::from_ref(&them));
}

/// (key, value) of each line of a `mntr` answer.
fn mntr_lines(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(|l| {
            let (k, v) = l
                .split_once('\t')
                .unwrap_or_else(|| panic!("no tab in {l:?}"));
            (k.to_string(), v.to_string())
        })
        .collect()
}

#[tokio::test]
async fn mntr_has_upstreams_keys_in_upstreams_order() {
    let Some(srv) = all_words_server(settings()).await else {
        return;
    };
    let mut r = srv.raw().await;
    r.call(1, op::EXISTS, &exists("/", false)).await;
    let mntr = word(&srv, "mntr").await;
    assert!(mntr.ends_with('\n'));
    // Per-namespace entries exist only for namespaces seen so far: compared separately.
    // The AdminServer figures 3.9 added (snapshot and restore) are not in 3.8.0's list.
    let since_3_9 =
        Regex::new(r"^zk_(snapshot_|restore_|(avg|min|max|cnt|sum)_restore_time$)").unwrap();
    let ours: Vec<(String, String)> = mntr_lines(&mntr)
        .into_iter()
        .filter(|(k, _)| !k.ends_with("_per_namespace") && !since_3_9.is_match(k))
        .collect();
    let theirs = mntr_lines(include_str!("fixtures/mntr-3.8.0-standalone.txt"));
    let keys = |v: &[(String, String)]| v.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();
    assert_eq!(keys(&ours), keys(&theirs));
    // Each value has the type upstream prints: integer, Java double, or text.
    let kind = |v: &str| {
        if Regex::new(r"^-?[0-9]+$").unwrap().is_match(v) {
            "integer"
        } else if Regex::new(r"^-?[0-9]+\.[0-9]+(E-?[0-9]+)?$")
            .unwrap()
            .is_match(v)
        {
            "double"
        } else {
            "text"
        }
    };
    for ((k, ours), (_, theirs)) in ours.iter().zip(&theirs) {
        assert_eq!(kind(ours), kind(theirs), "{k}: {ours} vs upstream {theirs}");
    }
    let get = |k: &str| -> String {
        ours.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    assert_eq!(get("zk_server_state"), "standalone");
    assert!(get("zk_num_alive_connections").parse::<i64>().unwrap() >= 2);
    assert!(get("zk_global_sessions").parse::<i64>().unwrap() >= 1);
    assert!(get("zk_znode_count").parse::<i64>().unwrap() >= 5);
    assert!(get("zk_packets_received").parse::<i64>().unwrap() >= 3);
    // exists("/") replies are 16 + 68 bytes: header and Stat.
    assert!(get("zk_max_client_response_size").parse::<i64>().unwrap() >= 84);
    assert!(get("zk_connection_request_count").parse::<i64>().unwrap() >= 1);
    assert!(get("zk_bytes_received_count").parse::<i64>().unwrap() > 0);
}

#[tokio::test]
async fn mntr_reports_quotas_per_namespace() {
    let Some(srv) = all_words_server(settings()).await else {
        return;
    };
    let mut r = srv.raw().await;
    let ns = unique("quota")[1..].replace('/', "-");
    let quota = format!("/zookeeper/quota/{ns}");
    let create = |p: &str, data: &str| J::new().create(p, data.as_bytes(), OPEN, 0).bytes();
    // What zkCli's setquota creates, then a node in the namespace.
    assert_eq!(r.call(1, op::CREATE, &create(&quota, "")).await.err, 0);
    let limits = format!("{quota}/zookeeper_limits");
    let rep = r
        .call(
            2,
            op::CREATE,
            &create(&limits, "count=10,bytes=1000;countHardLimit=7"),
        )
        .await;
    assert_eq!(rep.err, 0);
    let stats = format!("{quota}/zookeeper_stats");
    assert_eq!(
        r.call(3, op::CREATE, &create(&stats, "count=0,bytes=0"))
            .await
            .err,
        0
    );
    assert_eq!(
        r.call(4, op::CREATE, &create(&format!("/{ns}"), "hello"))
            .await
            .err,
        0
    );
    let mntr = word(&srv, "mntr").await;
    let lines = mntr_lines(&mntr);
    let pos = |k: &str| lines.iter().position(|(key, _)| key == k);
    let value = |k: &str| {
        lines
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no {k} in:\n{mntr}"))
    };
    let key = |name: &str| format!("zk_{ns}_{name}");
    // The hard count limit wins over the soft one.
    assert_eq!(value(&key("quota_count_limit_per_namespace")), "7");
    assert_eq!(value(&key("quota_bytes_limit_per_namespace")), "1000");
    assert_eq!(value(&key("quota_count_usage_per_namespace")), "1");
    assert_eq!(value(&key("quota_bytes_usage_per_namespace")), "5");
    // The gauge sets sit between the gauges and the counters.
    let last_gauge = pos("zk_non_mtls_local_conn_count").unwrap();
    let first_counter = pos("zk_proposal_count").unwrap();
    for name in [
        "quota_count_limit_per_namespace",
        "quota_bytes_limit_per_namespace",
        "quota_count_usage_per_namespace",
        "quota_bytes_usage_per_namespace",
    ] {
        let p = pos(&key(name)).unwrap();
        assert!(last_gauge < p && p < first_counter, "{name} at line {p}");
    }
}

#[tokio::test]
async fn envi_has_upstreams_keys() {
    let Some(srv) = all_words_server(settings()).await else {
        return;
    };
    let envi = word(&srv, "envi").await;
    let keys = |t: &str| -> Vec<String> {
        t.lines()
            .skip(1)
            .map(|l| l.split_once('=').unwrap().0.to_string())
            .collect()
    };
    assert!(envi.starts_with("Environment:\n"), "{envi}");
    assert!(envi.ends_with('\n'));
    assert_eq!(keys(&envi), keys(include_str!("fixtures/envi-3.8.0.txt")));
    assert_shape(
        r"zookeeper\.version=[0-9]+\.[0-9]+\.[0-9]+[^\n]*, built on [^\n]+",
        line_with(&envi, "zookeeper.version="),
    );
    for k in ["os.memory.free", "os.memory.max", "os.memory.total"] {
        assert_shape(
            &format!(r"{}=[0-9]+MB", regex::escape(k)),
            line_with(&envi, k),
        );
    }
    // The super digest of the test settings never shows.
    assert!(!envi.contains("InIHSb7yEEbrWz8b9l71RjZJU"), "{envi}");
}

/// A directory of its own under the system temp dir.
fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "ferrokeeper-fourlw-{name}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[tokio::test]
async fn conf_and_dirs_measure_the_directories_now() {
    if external_4lw() {
        // The real server's directories are its own: only the shapes can be checked.
        let srv = all_words_server(settings()).await.unwrap();
        assert_shape(
            "datadir_size: [0-9]+\nlogdir_size: [0-9]+\n",
            &word(&srv, "dirs").await,
        );
        return;
    }
    let dir = temp_dir("dirs");
    let (data, logs) = (dir.join("data"), dir.join("logs"));
    let cfg_path = dir.join("zoo.cfg");
    std::fs::write(
        &cfg_path,
        format!(
            "tickTime=2000\ndataDir={}\ndataLogDir={}\nclientPort=2181\n\
             4lw.commands.whitelist=*\n\
             DigestAuthenticationProvider.superDigest=super:D/InIHSb7yEEbrWz8b9l71RjZJU=\n",
            data.display(),
            logs.display()
        ),
    )
    .unwrap();
    let loaded =
        zk_server::config::load(&cfg_path, zk_server::config::SystemProperties::default()).unwrap();
    let text = zk_server::config::render_conf(
        &loaded.config,
        &zk_server::config::ConfRuntime {
            client_port: Some(2181),
            secure_client_port: None,
            snap_dir_bytes: 0,
            log_dir_bytes: 0,
            working_dir: &dir,
            membership: None,
        },
    );
    let s = zk_server::Settings::from_config(&loaded.config, text);
    let Some(srv) = all_words_server(s).await else {
        return;
    };
    assert_eq!(
        word(&srv, "dirs").await,
        "datadir_size: 0\nlogdir_size: 0\n"
    );
    // Files appear after start: both words see them (a snapshot in a subdirectory too).
    std::fs::create_dir_all(data.join("version-2/sub")).unwrap();
    std::fs::create_dir_all(logs.join("version-2")).unwrap();
    std::fs::write(data.join("version-2/snapshot.0"), vec![0u8; 1000]).unwrap();
    std::fs::write(data.join("version-2/sub/x"), vec![0u8; 234]).unwrap();
    std::fs::write(logs.join("version-2/log.1"), vec![0u8; 100]).unwrap();
    // Upstream's names are swapped: "datadir" measures the txn-log directory.
    assert_eq!(
        word(&srv, "dirs").await,
        "datadir_size: 100\nlogdir_size: 1234\n"
    );
    let conf = word(&srv, "conf").await;
    assert_eq!(
        conf,
        format!(
            "clientPort=2181\nsecureClientPort=-1\ndataDir={}/version-2\ndataDirSize=100\n\
             dataLogDir={}/version-2\ndataLogSize=1234\ntickTime=2000\nmaxClientCnxns=60\n\
             minSessionTimeout=4000\nmaxSessionTimeout=40000\nclientPortListenBacklog=-1\n\
             serverId=0\n",
            data.display(),
            logs.display()
        )
    );
    assert!(!conf.contains("InIHSb7yEEbrWz8b9l71RjZJU"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn words_outside_the_whitelist_are_refused() {
    let mut s = settings();
    s.four_letter_whitelist =
        zk_server::config::FourLetterWhitelist::from_property(Some("ruok"), false);
    let Some(srv) = local(s).await else { return };
    assert_eq!(word(&srv, "ruok").await, "imok");
    // srvr is always enabled (zkServer.sh status needs it).
    assert!(word(&srv, "srvr").await.starts_with("Zookeeper version: "));
    for w in [
        "conf", "cons", "crst", "dirs", "dump", "envi", "gtmk", "stmk", "srst", "stat", "wchc",
        "wchp", "wchs", "mntr", "isro", "hash",
    ] {
        assert_eq!(
            word(&srv, w).await,
            format!("{w} is not executed because it is not in the whitelist.\n")
        );
    }
    assert_eq!(
        send_first(&srv.addr, &[0xff, 0xf4, 0xff, 0xfd]).await,
        b"telnet close is not executed because it is not in the whitelist.\n"
    );
    // The refused words still count as received and sent packets.
    let srvr = word(&srv, "srvr").await;
    assert_eq!(field(&srvr, "Received"), "20", "{srvr}");
    assert_eq!(field(&srvr, "Sent"), "19", "{srvr}");
}

/// `zk_cnt_fsynctime` counts the log's fsyncs (upstream: one per `FileTxnLog.commit`); the
/// benchmark divides writes by it to show group commit.
#[tokio::test]
async fn mntr_counts_fsyncs() {
    let Some(srv) = all_words_server(settings()).await else {
        return;
    };
    let mut r = srv.raw().await;
    let cnt = |mntr: &str| -> u64 {
        mntr_lines(mntr)
            .into_iter()
            .find(|(k, _)| k == "zk_cnt_fsynctime")
            .map(|(_, v)| v.parse().unwrap())
            .unwrap_or_else(|| panic!("no zk_cnt_fsynctime in:\n{mntr}"))
    };
    let before = cnt(&word(&srv, "mntr").await);
    let path = unique("fsync-count");
    let rep = r
        .call(
            1,
            op::CREATE,
            &J::new().create(&path, b"x", OPEN, 0).bytes(),
        )
        .await;
    assert_eq!(rep.err, 0);
    let after = cnt(&word(&srv, "mntr").await);
    assert!(after > before, "fsyncs {before} -> {after} across a create");
}

/// `readlatency`'s `mntr` keys count every read and print percentiles that are ordered and
/// within min..max (their values against upstream's arithmetic: `summary` unit tests);
/// `srst` empties them, as `ServerMetrics.resetAll` does.
#[tokio::test]
async fn mntr_read_latency_percentiles_count_reads_and_srst_resets_them() {
    let Some(srv) = all_words_server(settings()).await else {
        return;
    };
    let mut r = srv.raw().await;
    assert_eq!(word(&srv, "srst").await, "Server stats reset.\n");
    const READS: i32 = 30;
    for xid in 1..=READS {
        assert_eq!(r.call(xid, op::EXISTS, &exists("/", false)).await.err, 0);
    }
    let figures = |mntr: &str| -> BTreeMap<String, u64> {
        mntr_lines(mntr)
            .into_iter()
            .filter(|(k, _)| k.ends_with("_readlatency") && !k.starts_with("zk_avg"))
            .map(|(k, v)| (k, v.parse().unwrap()))
            .collect()
    };
    let f = figures(&word(&srv, "mntr").await);
    let get = |k: &str| f[&format!("zk_{k}_readlatency")];
    assert_eq!(get("cnt"), READS as u64, "{f:?}");
    let ps = [
        get("min"),
        get("p50"),
        get("p95"),
        get("p99"),
        get("p999"),
        get("max"),
    ];
    assert!(ps.windows(2).all(|w| w[0] <= w[1]), "{f:?}");
    assert_eq!(word(&srv, "srst").await, "Server stats reset.\n");
    let f = figures(&word(&srv, "mntr").await);
    assert!(f.values().all(|v| *v == 0), "{f:?}");
}

/// Under `NullMetricsProvider`, `mntr` prints only the version and the state
/// (`NullMetricsProvider.dump` prints nothing), however many requests were served.
#[tokio::test]
async fn mntr_under_the_null_metrics_provider_prints_version_and_state_only() {
    let mut s = settings();
    s.ops.metrics_off = true;
    let Some(srv) = all_words_server(s).await else {
        return;
    };
    let mut r = srv.raw().await;
    for xid in 1..=5 {
        assert_eq!(r.call(xid, op::EXISTS, &exists("/", false)).await.err, 0);
    }
    let keys: Vec<String> = mntr_lines(&word(&srv, "mntr").await)
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(keys, ["zk_version", "zk_server_state"]);
}
