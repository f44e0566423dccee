#!/usr/bin/env python3
"""Turns scripts/bench-servers' results (JSON lines) into the servers section of
docs/benchmarks.md, between the `<!-- servers:begin -->` and `<!-- servers:end -->` markers
(added at the end of the file the first time). Everything else in the file is kept.

    scripts/bench-report.py RESULTS.jsonl docs/benchmarks.md
    scripts/bench-report.py --ensemble RESULTS.jsonl docs/benchmarks.md
    scripts/bench-report.py --metrics-ratios RESULTS.jsonl   (bench-servers --workloads metrics)

--ensemble writes the 3-member ensembles section instead, between its own markers
(`<!-- ensemble:begin -->`, `<!-- ensemble:end -->`), leaving the servers section alone.
"""

import json
import statistics
import sys

BEGIN = "<!-- servers:begin (written by scripts/bench-servers; edits here are overwritten) -->"
END = "<!-- servers:end -->"
ENS_BEGIN = "<!-- ensemble:begin (written by scripts/bench-servers --workloads ensemble; edits here are overwritten) -->"
ENS_END = "<!-- ensemble:end -->"
ZK, FK = "zookeeper", "ferrokeeper"


def load(path):
    rows = [json.loads(line) for line in open(path) if line.strip()]
    by = {}
    for r in rows:
        by.setdefault((r["server"], r["workload"]), []).append(r["data"])
    return by


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt_int(v):
    return "–" if v is None else f"{v:,.0f}"


def fmt_us(v):
    if v is None:
        return "–"
    if v >= 10_000:
        return f"{v / 1000:,.0f} ms"
    if v >= 1000:
        return f"{v / 1000:.1f} ms"
    return f"{v:,.0f} µs"


def fmt_bytes(v):
    if v is None:
        return "–"
    if abs(v) >= 1 << 30:
        return f"{v / (1 << 30):.2f} GiB"
    if abs(v) >= 1 << 20:
        return f"{v / (1 << 20):.0f} MiB"
    return f"{v:,.0f} B"


def ratio(fk, zk):
    if fk is None or zk is None or zk == 0:
        return None
    return fk / zk


def fmt_ratio(r):
    if r is None:
        return "–"
    return f"{r:.2f}×" if r < 10 else f"{r:.1f}×"


def verdict(r, target, higher_better):
    """'met' / 'missed' against a target ratio (FK/ZK)."""
    if r is None:
        return "–"
    ok = r >= target if higher_better else r <= target
    want = f"≥ {target:g}×" if higher_better else f"≤ {target:g}×"
    return f"{want}: {'met' if ok else '**missed**'}"


def run_stat(by, server, workload, key, op=None):
    runs = by.get((server, workload), [])
    vals = []
    for r in runs:
        if op is None:
            vals.append(r["all"][key] if key.endswith("_us") else r[key])
        elif op in r["by_op"]:
            vals.append(r["by_op"][op][key])
    return med(vals)


def single(by, server, workload):
    runs = by.get((server, workload), [])
    return runs[-1] if runs else None


def hold(by, server, workload):
    """The memory figures a `--hold` measured, or {}."""
    r = single(by, server, workload)
    if not r or not r.get("hold_output"):
        return {}
    try:
        return json.loads(r["hold_output"])
    except ValueError:
        return {}


def mem(by, server, workload):
    return single(by, server, workload) or {}


def report(by):
    meta = (by.get(("meta", "run")) or [{}])[-1]
    rates = (by.get(("meta", "rates")) or [{}])[-1]
    gc = ((by.get((ZK, "jvm")) or [{}])[-1].get("gc") or "?").replace("Use", "-XX:+Use")
    out = []
    w = out.append
    w("## Ferrokeeper and Apache ZooKeeper, side by side")
    w("")
    w(
        "Both servers in the same run, on the same machine, driven by the same client "
        "(`zk-bench`, raw Jute frames, every session of a thread multiplexed on one "
        "current-thread runtime), with equivalent settings. **Ratio** is always Ferrokeeper "
        "÷ Apache ZooKeeper: above 1 is more for Ferrokeeper (good for throughput, bad for "
        "latency, memory and time)."
    )
    w("")
    w(f"- Command: `{meta.get('command', 'scripts/bench')}` "
      f"({meta.get('seconds', 0) // 60} min {meta.get('seconds', 0) % 60} s).")
    w(f"- Date: {meta.get('started', '?')}.")
    w(f"- Machine: {meta.get('cores', '?')} cores ({meta.get('cpu', '?')}), "
      f"{meta.get('mem_gib', '?')} GiB, kernel {meta.get('kernel', '?')}; "
      f"{meta.get('java', '?')}; {meta.get('rustc', '?')}, release profile.")
    w("- Servers: Debian's Apache ZooKeeper 3.8.0 (`zookeeper` package, `QuorumPeerMain`, "
      f"NIO connection factory, `-Xmx{meta.get('zk_heap', '?')}`: ZooKeeper's admin guide "
      "asks for a heap large enough never to swap, and this is well above the live set of the "
      f"largest workload here; no GC flags, so the JVM's own choice for one CPU: `{gc}`) and "
      "Ferrokeeper (RocksDB txn log). Same "
      "`zoo.cfg` for both: standalone, `tickTime=2000`, `maxClientCnxns=0`, fsync on every "
      "commit (`forceSync` default yes; Ferrokeeper always syncs), data directories on the same "
      f"disk (`{meta.get('disk', '?')}`), logging at WARN.")
    w("- Pinning: server on core 0, client on core 1 (`taskset`), for both.")
    reps = meta.get("reps", 1)
    times = {1: "once", 2: "twice"}.get(reps, f"{reps} times")
    w(f"- Timed runs: {meta.get('warmup', '?')} s warm-up then {meta.get('duration', '?')} s "
      f"measured, {times} each; the tables give the median of the repetitions (with two, "
      "their mean). 100-byte values, 1,000 keys (`/zkbench/k/p00000/n0000123`), picked "
      "uniformly.")
    w(f"- Conditions: load average {meta.get('load_before', '?')} at the end of the run, on "
      "2 cores. The two pinned processes account for up to 2 of it (the open-loop client "
      "keeps its core busy between sends, see zk-bench above); anything beyond that was other "
      "work sharing the cores, which open-loop latency suffers from most, because every late "
      "wakeup of the client or the server is charged to the requests due meanwhile. Compare "
      "the two servers, not the absolute numbers.")
    if meta.get("quick"):
        w("- **Reduced grid (`--quick`)**: "
          f"{meta.get('znodes', 0):,} znodes instead of 1,000,000, "
          f"{meta.get('watch_sessions', 0):,} × {meta.get('watches_per_session', 0):,} watches "
          f"instead of 10,000 × 1,000, {meta.get('sessions_many', 0):,} sessions instead of "
          f"20,000, fan-out to {meta.get('fanout', 0):,} sessions instead of 10,000, one "
          "repetition of 3 s.")
    w("")

    # (1) latency, one at a time.
    w("### (1) One request at a time (1 session × 1 in flight)")
    w("")
    w("| op | ZK p50 | FK p50 | ratio | ZK p99 | FK p99 | ratio | ZK p99.9 | FK p99.9 | ratio | ZK ops/s | FK ops/s |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, wl, op in [
        ("getData", "lat-get", "get"),
        ("setData", "lat-set", "set"),
        ("create", "lat-create-delete", "create"),
        ("delete", "lat-create-delete", "delete"),
        ("multi (2 × setData)", "lat-multi", "multi"),
    ]:
        cells = [label]
        for key in ["p50_us", "p99_us", "p999_us"]:
            z = run_stat(by, ZK, wl, key, op)
            f = run_stat(by, FK, wl, key, op)
            cells += [fmt_us(z), fmt_us(f), fmt_ratio(ratio(f, z))]
        z = run_stat(by, ZK, wl, "ops_per_sec")
        f = run_stat(by, FK, wl, "ops_per_sec")
        cells += [fmt_int(z), fmt_int(f)]
        w("| " + " | ".join(cells) + " |")
    w("")
    w("create and delete come from one run that alternates them (`create=50,delete=50`: each "
      "delete removes a node the session created), so the ops/s there is for both together.")
    w("")

    # (2)-(4) throughput.
    w("### (2) reads, (3) writes, (4) mixes: 64 sessions × 16 in flight, closed loop")
    w("")
    w("| workload | ZK ops/s | FK ops/s | ratio | target | ZK p99 | FK p99 | ZK p99.9 | FK p99.9 |")
    w("|---|---:|---:|---:|---|---:|---:|---:|---:|")
    for label, wl, target in [
        ("(2) getData", "read-64x16", 3),
        ("(3) setData, fsync on", "write-64x16", 2),
        ("(4) 90 % get, 10 % set", "mix-90-10", None),
        ("(4) 50 % get, 50 % set", "mix-50-50", None),
    ]:
        z = run_stat(by, ZK, wl, "ops_per_sec")
        f = run_stat(by, FK, wl, "ops_per_sec")
        r = ratio(f, z)
        w("| " + " | ".join([
            label, fmt_int(z), fmt_int(f), fmt_ratio(r),
            verdict(r, target, True) if target else "",
            fmt_us(run_stat(by, ZK, wl, "p99_us")), fmt_us(run_stat(by, FK, wl, "p99_us")),
            fmt_us(run_stat(by, ZK, wl, "p999_us")), fmt_us(run_stat(by, FK, wl, "p999_us")),
        ]) + " |")
    w("")
    w("Closed-loop percentiles at saturation mostly measure the queue the client keeps full "
      "(1,024 requests in flight): they follow throughput. Tail latency under the same load "
      "is the open-loop table below.")
    w("")

    w("### (2), (3) Latency under load: open loop, 64 sessions, the same offered rate for both")
    w("")
    w(f"Requests leave at fixed intended times, {fmt_int(rates.get('read'))} getData/s or "
      f"{fmt_int(rates.get('write'))} setData/s in total (80 % of Apache ZooKeeper's "
      "closed-loop throughput, measured at the start of the run), and latency counts from the "
      "intended send time, so a stall is charged to every request it delays (no coordinated "
      "omission).")
    w("")
    w("| workload | ZK p50 | FK p50 | ZK p99 | FK p99 | ratio | target | ZK p99.9 | FK p99.9 | ratio | target | ZK max | FK max |")
    w("|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---|---:|---:|")
    for label, wl in [("getData", "open-read"), ("setData", "open-write")]:
        z99, f99 = run_stat(by, ZK, wl, "p99_us"), run_stat(by, FK, wl, "p99_us")
        z999, f999 = run_stat(by, ZK, wl, "p999_us"), run_stat(by, FK, wl, "p999_us")
        r99, r999 = ratio(f99, z99), ratio(f999, z999)
        w("| " + " | ".join([
            label,
            fmt_us(run_stat(by, ZK, wl, "p50_us")), fmt_us(run_stat(by, FK, wl, "p50_us")),
            fmt_us(z99), fmt_us(f99), fmt_ratio(r99), verdict(r99, 1 / 3, False).replace("0.333333", "1/3"),
            fmt_us(z999), fmt_us(f999), fmt_ratio(r999), verdict(r999, 1 / 5, False).replace("0.2", "1/5"),
            fmt_us(run_stat(by, ZK, wl, "max_us")), fmt_us(run_stat(by, FK, wl, "max_us")),
        ]) + " |")
    w("")

    # Group commit.
    w("### Group commit: fsyncs per second against writes per second")
    w("")
    w("setData from 64 sessions; fsyncs from `mntr`'s `zk_cnt_fsynctime` (Apache ZooKeeper "
      "counts one per `FileTxnLog.commit` with an fsync; Ferrokeeper one per group commit of "
      "its log writer), txns from the zxid `srvr` reports, before and after the run. The "
      "first two rows use the default batching (sync as soon as nothing more is queued); "
      "with one write in flight per session that settles into two alternating halves of the "
      "writers, so about 32 writes per fsync at most. The last row sets Apache ZooKeeper's "
      "own batching knobs (`zookeeper.flushDelay` in ms, `zookeeper.maxBatchSize`) the same "
      "way on both servers, on a fresh server, so that one sync can wait for all 64.")
    w("")
    w("| writers | server | writes/s | fsyncs/s | writes per fsync | target |")
    w("|---|---|---:|---:|---:|---|")
    delay_cfg = meta.get("flush_cfg", "flushDelay=5, maxBatchSize=64")
    for label, wl in [("64 × 1 in flight", "fsync-64x1"), ("64 × 16 in flight", "fsync-64x16"),
                      (f"64 × 1 in flight, {delay_cfg}", "fsync-64x1-delay")]:
        for server in (ZK, FK):
            r = single(by, server, wl)
            if not r:
                continue
            secs = r["wall_ms"] / 1000
            per = r["txns"] / r["fsyncs"] if r["fsyncs"] else None
            target = ""
            if server == FK and per is not None:
                target = f"≥ 50: {'met' if per >= 50 else '**missed**'}"
            w(f"| {label} | {server} | {fmt_int(r['run']['writes_per_sec'])} | "
              f"{fmt_int(r['fsyncs'] / secs)} | {'–' if per is None else f'{per:,.1f}'} | {target} |")
    w("")

    # (5) memory.
    w("### (5) Memory")
    w("")
    n = meta.get("znodes", 0)
    nw = meta.get("watch_sessions", 0) * meta.get("watches_per_session", 0)
    w(f"RSS from `/proc/PID/status`; for Apache ZooKeeper also the heap in use right after a "
      f"full GC (`jcmd PID GC.run`, then `GC.heap_info`). Per znode: the growth from before to "
      f"after loading {n:,} znodes (paths of 26 bytes, 100-byte data, 1,000 children per "
      f"parent). Per watch: {meta.get('watch_sessions', 0):,} sessions each setting "
      f"{meta.get('watches_per_session', 0):,} exists-watches on the loaded znodes ({nw:,} "
      "watches), against the same sessions without watches.")
    w("")
    w("| figure | ZK RSS | ZK heap after GC | FK RSS | ratio (FK RSS ÷ ZK heap) | target |")
    w("|---|---:|---:|---:|---:|---|")

    def delta(server, a, b, key, count):
        x, y = a(server).get(key), b(server).get(key)
        if x is None or y is None or not count:
            return None
        return (y - x) / count

    before = lambda s: mem(by, s, "before-load")
    after = lambda s: mem(by, s, "after-load")
    zr, zh, fr = delta(ZK, before, after, "rss", n), delta(ZK, before, after, "heap", n), delta(FK, before, after, "rss", n)
    r = ratio(fr, zh)
    w(f"| bytes per znode | {fmt_bytes(zr)} | {fmt_bytes(zh)} | {fmt_bytes(fr)} | {fmt_ratio(r)} | {verdict(r, 0.25, False).replace('0.25', '1/4')} |")
    sess = lambda s: hold(by, s, "sessions-for-watches")
    wat = lambda s: hold(by, s, "watches")
    zr, zh, fr = delta(ZK, sess, wat, "rss", nw), delta(ZK, sess, wat, "heap", nw), delta(FK, sess, wat, "rss", nw)
    r = ratio(fr, zh)
    w(f"| bytes per watch | {fmt_bytes(zr)} | {fmt_bytes(zh)} | {fmt_bytes(fr)} | {fmt_ratio(r)} | {verdict(r, 0.25, False).replace('0.25', '1/4')} |")
    za, fa = after(ZK), after(FK)
    w(f"| total with {n:,} znodes | {fmt_bytes(za.get('rss'))} | {fmt_bytes(za.get('heap'))} | {fmt_bytes(fa.get('rss'))} | {fmt_ratio(ratio(fa.get('rss'), za.get('heap')))} | |")
    zi, fi = mem(by, ZK, "idle"), mem(by, FK, "idle")
    w(f"| idle, just started | {fmt_bytes(zi.get('rss'))} | {fmt_bytes(zi.get('heap'))} | {fmt_bytes(fi.get('rss'))} | | |")
    w("")
    w("The ratio compares Ferrokeeper's whole RSS growth with the JVM's live heap growth, "
      "the figure most favourable to Apache ZooKeeper (its RSS also holds free heap and the "
      "JVM itself).")
    w("")
    lz, lf = single(by, ZK, "load"), single(by, FK, "load")
    if lz and lf:
        w(f"Loading the {n:,} znodes (16 sessions × 128 creates in flight) took "
          f"{lz['work_ms'] / 1000:.1f} s on Apache ZooKeeper ({fmt_int(lz['requests_per_sec'])} "
          f"creates/s) and {lf['work_ms'] / 1000:.1f} s on Ferrokeeper "
          f"({fmt_int(lf['requests_per_sec'])} creates/s).")
        w("")

    # (6) restart and disk.
    w(f"### (6) Restart with {n:,} znodes, and the data directory")
    w("")
    w("Restart: from launching the server process until a new session's getData of a loaded "
      "znode succeeds (zk-bench polls every 10 ms). Data directory: `du -sb` once the server "
      "has stopped.")
    w("")
    w("| figure | ZK | FK | ratio | target |")
    w("|---|---:|---:|---:|---|")
    rz, rf = single(by, ZK, "restart"), single(by, FK, "restart")
    tz = rz and rz["since_launch_ms"]
    tf = rf and rf["since_launch_ms"]
    r = ratio(tf, tz)
    w(f"| restart until a read succeeds | {fmt_int(tz)} ms | {fmt_int(tf)} ms | {fmt_ratio(r)} | {verdict(r, 0.2, False).replace('0.2', '1/5')} |")
    dz, df = single(by, ZK, "data-dir"), single(by, FK, "data-dir")
    dz, df = dz and dz["bytes"], df and df["bytes"]
    w(f"| data directory with {n:,} znodes | {fmt_bytes(dz)} | {fmt_bytes(df)} | {fmt_ratio(ratio(df, dz))} | |")
    az, af = mem(by, ZK, "after-restart"), mem(by, FK, "after-restart")
    w(f"| RSS after the restart | {fmt_bytes(az.get('rss'))} | {fmt_bytes(af.get('rss'))} | {fmt_ratio(ratio(af.get('rss'), az.get('rss')))} | |")
    w("")

    # (7) sessions.
    m = meta.get("sessions_many", 0)
    w(f"### (7) {m:,} concurrent sessions")
    w("")
    if m < 20000 and not meta.get("quick"):
        w(f"{m:,} rather than 20,000 sessions: this machine's hard limit on open files is "
          f"{meta.get('fd_limit', '?'):,}, and each session costs one descriptor on each side.")
        w("")
    w("| figure | ZK | FK | ratio |")
    w("|---|---:|---:|---:|")
    sz, sf = single(by, ZK, "sessions"), single(by, FK, "sessions")
    cz, cf = sz and sz["connect_per_sec"], sf and sf["connect_per_sec"]
    w(f"| connect rate (sessions/s, 64 connecting at once) | {fmt_int(cz)} | {fmt_int(cf)} | {fmt_ratio(ratio(cf, cz))} |")
    per = {}
    for s in (ZK, FK):
        b = mem(by, s, "before-sessions")
        h = hold(by, s, "sessions")
        for key in ("rss", "heap"):
            if b.get(key) is not None and h.get(key) is not None and m:
                per[(s, key)] = (h[key] - b[key]) / m
    w(f"| bytes per session (RSS) | {fmt_bytes(per.get((ZK, 'rss')))} | {fmt_bytes(per.get((FK, 'rss')))} | {fmt_ratio(ratio(per.get((FK, 'rss')), per.get((ZK, 'rss'))))} |")
    w(f"| bytes per session (ZK: heap after GC) | {fmt_bytes(per.get((ZK, 'heap')))} | {fmt_bytes(per.get((FK, 'rss')))} | {fmt_ratio(ratio(per.get((FK, 'rss')), per.get((ZK, 'heap'))))} |")
    w("")

    # (8) fan-out.
    fo = meta.get("fanout", 0)
    w(f"### (8) Watch fan-out: {fo:,} sessions watch one node")
    w("")
    w("Every session sets a getData watch on `/zkbench/fan`; another session sets it; the time "
      "from sending setData until the last session has read its notification (median of "
      f"{meta.get('fanout_rounds', '?')} rounds, watches set again each round). The client "
      "reads the notifications on one core, so this is an upper bound for both.")
    w("")
    w("| figure | ZK | FK | ratio |")
    w("|---|---:|---:|---:|")
    fz, ff = single(by, ZK, "fanout"), single(by, FK, "fanout")
    lz_, lf_ = fz and fz["median_last_ms"], ff and ff["median_last_ms"]
    w(f"| setData → last notification | {'–' if lz_ is None else f'{lz_:,.1f} ms'} | {'–' if lf_ is None else f'{lf_:,.1f} ms'} | {fmt_ratio(ratio(lf_, lz_))} |")
    fz1 = fz and med(fz["first_notification_ms"])
    ff1 = ff and med(ff["first_notification_ms"])
    w(f"| setData → first notification | {'–' if fz1 is None else f'{fz1:,.1f} ms'} | {'–' if ff1 is None else f'{ff1:,.1f} ms'} | {fmt_ratio(ratio(ff1, fz1))} |")
    w("")
    tls_overhead(by, meta, w)
    return "\n".join(out)


def negotiated(by, server):
    """The TLS version and suite zk-bench reported for SERVER's TLS runs, or '?'."""
    seen = sorted({r.get("tls") or "?" for wl in ("tls-lat-get-tls", "tls-read-64x16-tls")
                   for r in by.get((server, wl), [])})
    return ", ".join(f"`{t}`" for t in seen) if seen else "–"


def tls_overhead(by, meta, w):
    """The TLS overhead table: getData over plaintext and TLS, against one server run with
    both ports, for each server."""
    w("### TLS overhead: getData over TLS and over plaintext")
    w("")
    w("Each server runs once more, with a second configuration, the same for both: the "
      "plaintext `clientPort` and a `secureClientPort` in one server process, "
      "`serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory` (Apache "
      "ZooKeeper serves TLS only through Netty, so its plaintext figures here are Netty's, not "
      "the NIO factory's of the tables above), a PEM key store holding an RSA 2048 certificate "
      "for 127.0.0.1 made with `openssl` for the run, `ssl.clientAuth=none` (no client "
      "certificate), `ssl.protocol=TLSv1.2` (3.8.0's default, and Ferrokeeper's) and "
      f"`ssl.ciphersuites={meta.get('tls_suite', '?')}` (the first suite of 3.8.0's default "
      "list for an RSA key), pinned so that both servers encrypt the same way (left to "
      "themselves, Apache ZooKeeper picks from its own list and Ferrokeeper follows the "
      "client's preference, which for rustls is AES-256-GCM first). The plaintext "
      "and TLS rows of a server come from the same process, measured alternately after a "
      "warm-up of each path; zk-bench (rustls, on its own core) pays for TLS too. Negotiated: "
      f"Apache ZooKeeper {negotiated(by, ZK)}, Ferrokeeper {negotiated(by, FK)}.")
    w("")
    w("**TLS ÷ plain** is the cost of TLS on that server (above 1 for latency, below 1 for "
      "throughput, is what TLS costs); **FK ÷ ZK** compares the servers over the same "
      "transport. TLS costs per record, each with its own encryption and tag: at 1 × 1 every "
      "request and every reply is a record of its own, while at 64 × 16 a write carries "
      "whatever requests or replies are ready, so several can share a record.")
    w("")
    w("| getData | ZK plain | ZK TLS | ZK TLS ÷ plain | FK plain | FK TLS | FK TLS ÷ plain | FK ÷ ZK plain | FK ÷ ZK TLS |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    rows = [
        ("1 × 1 p50", "tls-lat-get", "p50_us", fmt_us),
        ("1 × 1 p99", "tls-lat-get", "p99_us", fmt_us),
        ("1 × 1 p99.9", "tls-lat-get", "p999_us", fmt_us),
        ("1 × 1 ops/s", "tls-lat-get", "ops_per_sec", fmt_int),
        ("64 × 16 ops/s", "tls-read-64x16", "ops_per_sec", fmt_int),
        ("64 × 16 p99", "tls-read-64x16", "p99_us", fmt_us),
    ]
    for label, wl, key, fmt in rows:
        zp = run_stat(by, ZK, f"{wl}-plain", key)
        zt = run_stat(by, ZK, f"{wl}-tls", key)
        fp = run_stat(by, FK, f"{wl}-plain", key)
        ft = run_stat(by, FK, f"{wl}-tls", key)
        w("| " + " | ".join([
            label,
            fmt(zp), fmt(zt), fmt_ratio(ratio(zt, zp)),
            fmt(fp), fmt(ft), fmt_ratio(ratio(ft, fp)),
            fmt_ratio(ratio(fp, zp)), fmt_ratio(ratio(ft, zt)),
        ]) + " |")
    w("")


METRICS_WORKLOADS = [
    ("lat-get", "getData, 1 × 1"),
    ("read-64x16", "getData, 64 × 16"),
    ("write-64x16", "setData, 64 × 16"),
    ("mix-90-10", "90/10 get/set, 64 × 16"),
]


def metrics_ratios(by):
    """The metrics on/off table (Markdown): medians of each side, on ÷ off, and each side's
    spread over its runs (the noise the ratio must be read against)."""
    def spread(wl, key):
        vals = [r["all"][key] if key.endswith("_us") else r[key] for r in by.get((FK, wl), [])]
        if not vals:
            return "–"
        fmt = fmt_us if key.endswith("_us") else fmt_int
        return f"{fmt(min(vals))}–{fmt(max(vals))}"

    out = []
    w = out.append
    runs = len(by.get((FK, "metrics-lat-get-on"), []))
    w(f"Medians of {runs} runs per side; ratio = on ÷ off (ops/s: below 1 means metrics cost "
      "throughput; p99: above 1 means they cost latency); ranges are the runs' min–max.")
    w("")
    w("| workload | ops/s on | ops/s off | on ÷ off | p99 on | p99 off | on ÷ off "
      "| ops/s range on | ops/s range off |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for wl, label in METRICS_WORKLOADS:
        on, off = f"metrics-{wl}-on", f"metrics-{wl}-off"
        o_on, o_off = run_stat(by, FK, on, "ops_per_sec"), run_stat(by, FK, off, "ops_per_sec")
        p_on, p_off = run_stat(by, FK, on, "p99_us"), run_stat(by, FK, off, "p99_us")
        w("| " + " | ".join([
            label, fmt_int(o_on), fmt_int(o_off), fmt_ratio3(ratio(o_on, o_off)),
            fmt_us(p_on), fmt_us(p_off), fmt_ratio3(ratio(p_on, p_off)),
            spread(on, "ops_per_sec"), spread(off, "ops_per_sec"),
        ]) + " |")
    cpu = {m: single(by, FK, f"metrics-cpu-{m}") or {} for m in ("on", "off")}
    per = {m: (1e6 * c["cpu_s"] / c["requests"]) if c.get("requests") else None
           for m, c in cpu.items()}
    w("")
    w("Server CPU per request over the whole block (user + system time ÷ requests received, "
      "setup included, the same for both): "
      f"on {per['on'] or 0:.2f} µs, off {per['off'] or 0:.2f} µs, "
      f"on ÷ off {fmt_ratio3(ratio(per['on'], per['off']))} "
      f"({cpu['on'].get('requests', 0):,} and {cpu['off'].get('requests', 0):,} requests).")
    scrape = single(by, FK, "metrics-scrape") or {}
    w("")
    w(f"The \"on\" server's page after the runs: `readlatency_count {scrape.get('readlatency_count')}`.")
    return "\n".join(out)


def percentile(values, q):
    """The q-quantile (0..1) of VALUES, nearest rank; None when empty."""
    values = sorted(v for v in values if v is not None)
    if not values:
        return None
    rank = max(1, -(-len(values) * q // 1))
    return values[int(rank) - 1]


def fmt_ms(v):
    return "–" if v is None else f"{v:,.0f} ms"


def ensemble_report(by):
    """The 3-member ensembles section (Markdown)."""
    meta = (by.get(("meta", "run")) or [{}])[-1]
    ens = (by.get(("meta", "ensemble")) or [{}])[-1]
    out = []
    w = out.append
    w("## 3-member ensembles, side by side")
    w("")
    w("Three Apache ZooKeeper members, then three Ferrokeeper members, each set on 127.0.0.1 "
      "with the same `zoo.cfg`: "
      f"`tickTime={ens.get('tick', '?')}`, `initLimit={ens.get('init', '?')}`, "
      f"`syncLimit={ens.get('sync', '?')}` (the defaults users have), fsync on every commit, "
      "data directories on the same disk, logging at WARN. **All three members of a set are "
      "pinned to core 0** (`taskset`), sharing it as the standalone server had it alone; the "
      "client (zk-bench) is on core 1. Apache ZooKeeper: Debian's 3.8 jars, `QuorumPeerMain`, "
      f"`-Xmx{ens.get('heap', '?')}` per member. **Ratio** is Ferrokeeper ÷ Apache ZooKeeper.")
    w("")
    w(f"- Command: `{meta.get('command', 'scripts/bench')}`; date: {meta.get('started', '?')}.")
    w(f"- Machine: {meta.get('cores', '?')} cores ({meta.get('cpu', '?')}), "
      f"kernel {meta.get('kernel', '?')}; {meta.get('java', '?')}; {meta.get('rustc', '?')}, "
      f"release profile; load average {meta.get('load_before', '?')} at the end of the run "
      "(other work shared the cores: compare the two kinds, not the absolute numbers).")
    starts = len(by.get((ZK, "ens-election"), []))
    kills = len(by.get((ZK, "ens-failover"), []))
    w(f"- Election at start: the three processes launched on fresh data directories, then "
      "zk-bench tries a setData of `/` through every member at once (a new session each "
      "attempt, every 10 ms per member) until one succeeds; timed from the launch (median of "
      f"{starts} starts). Also the time until every member's `srvr` says leader or follower "
      "(polled every 100 ms after that write).")
    w(f"- Throughput: 64 sessions × 16 in flight, closed loop, the sessions spread evenly over "
      f"the members (session i on member i mod 3); {meta.get('warmup', '?')} s warm-up then "
      f"{meta.get('duration', '?')} s, median of {meta.get('reps', '?')} run(s); setData or "
      "getData of 100-byte values on 1,000 keys, as in the standalone grid.")
    w(f"- Failover ({kills} kills; the target asks for at least 10): zk-bench opens a session "
      "on each of the two other members and writes through each, then `kill -KILL`s the "
      "member whose `srvr` says leader, waits until the process is gone, and tries a setData "
      "through both members at once (first on the sessions it had, then on new sessions "
      "every 10 ms) until one succeeds. Time from just before the kill to that success. The "
      "killed member is then started again on its data, and the next kill waits until every "
      "member serves (the rejoin time below).")
    w("")
    w("| figure | ZK | FK | ratio | target |")
    w("|---|---:|---:|---:|---|")

    def col(server, workload, get):
        return [get(r) for r in by.get((server, workload), [])]

    def row(label, z, f, fmt, target=None, higher_better=False):
        r = ratio(f, z)
        tcell = verdict(r, target, higher_better).replace("0.5×", "½") if target else ""
        w(f"| {label} | {fmt(z)} | {fmt(f)} | {fmt_ratio(r)} | {tcell} |")

    el = lambda s: col(s, "ens-election", lambda r: r["since_launch_ms"])
    modes = lambda s: col(s, "ens-election", lambda r: r["all_modes_ms"])
    row("election at start: launch → first write (median)", med(el(ZK)), med(el(FK)), fmt_ms)
    row("election at start: launch → every member leader/follower (median)",
        med(modes(ZK)), med(modes(FK)), fmt_ms)
    for label, wl, key, fmt, target in [
        ("setData 64 × 16: ops/s", "ens-write-64x16", "ops_per_sec", fmt_int, 2),
        ("setData 64 × 16: p99", "ens-write-64x16", "p99_us", fmt_us, None),
        ("getData 64 × 16: ops/s", "ens-read-64x16", "ops_per_sec", fmt_int, None),
        ("getData 64 × 16: p99", "ens-read-64x16", "p99_us", fmt_us, None),
    ]:
        z, f = run_stat(by, ZK, wl, key), run_stat(by, FK, wl, key)
        row(label, z, f, fmt, target, higher_better=True)
    fo = lambda s: col(s, "ens-failover", lambda r: r["failover"]["kill_to_write_ms"])
    row("failover: kill -9 of the leader → first write, median", med(fo(ZK)), med(fo(FK)),
        fmt_ms, 0.5)
    row("failover: p90", percentile(fo(ZK), 0.9), percentile(fo(FK), 0.9), fmt_ms)
    spread = lambda vals: "–" if not vals else f"{min(vals):,.0f}–{max(vals):,.0f} ms"
    w(f"| failover: min–max | {spread(fo(ZK))} | {spread(fo(FK))} | | |")
    rj = lambda s: col(s, "ens-failover", lambda r: r["rejoin_ms"])
    row("killed member restarted → every member serving (median)", med(rj(ZK)), med(rj(FK)),
        fmt_ms)
    w("")
    runs = lambda s: ", ".join(f"{v:,.0f}" for v in fo(s)) or "–"
    w(f"Every failover, in ms: Apache ZooKeeper {runs(ZK)}; Ferrokeeper {runs(FK)}.")
    return "\n".join(out)


def replace_block(doc, begin, end, body):
    """Writes BODY between the BEGIN and END markers of DOC (appended the first time)."""
    text = open(doc).read()
    block = f"{begin}\n{body}\n{end}\n"
    if begin in text and end in text:
        head = text[: text.index(begin)]
        tail = text[text.index(end) + len(end):].lstrip("\n")
        text = head + block + (("\n" + tail) if tail else "")
    else:
        text = text.rstrip("\n") + "\n\n" + block
    open(doc, "w").write(text)


def fmt_ratio3(r):
    return "–" if r is None else f"{r:.3f}"


def main():
    if sys.argv[1] == "--metrics-ratios":
        print(metrics_ratios(load(sys.argv[2])))
        return
    if sys.argv[1] == "--ensemble":
        replace_block(sys.argv[3], ENS_BEGIN, ENS_END, ensemble_report(load(sys.argv[2])))
        return
    results, doc = sys.argv[1], sys.argv[2]
    replace_block(doc, BEGIN, END, report(load(results)))


if __name__ == "__main__":
    main()
