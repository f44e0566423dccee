//! Each rule caught on a history that breaks it, and generated linearizable histories
//! accepted.

use super::*;
use proptest::prelude::*;

fn write(
    session: i64,
    seq: u64,
    kind: Kind,
    path: &str,
    value: &str,
    t: (u64, u64),
    zxid: i64,
) -> Op {
    Op {
        session,
        seq,
        kind,
        path: path.into(),
        value: (kind != Kind::Delete).then(|| value.to_string()),
        invoke_ns: t.0,
        complete_ns: t.1,
        outcome: Outcome::Ok,
        zxid: Some(zxid),
        observed: None,
    }
}

fn read(
    session: i64,
    seq: u64,
    kind: Kind,
    path: &str,
    seen: Option<(&str, i64)>,
    t: (u64, u64),
    zxid: i64,
) -> Op {
    let observed = match seen {
        Some((v, z)) => Observed::Found {
            value: v.into(),
            mzxid: z,
        },
        None => Observed::NoNode,
    };
    Op {
        value: None,
        observed: Some(observed),
        ..write(session, seq, kind, path, "", t, zxid)
    }
}

fn final_state(node: &str, zxid: i64, data: &[(&str, &str, i64)]) -> FinalState {
    FinalState {
        node: node.into(),
        zxid,
        digest: None,
        data: data
            .iter()
            .map(|(p, v, z)| (p.to_string(), (v.to_string(), *z)))
            .collect(),
    }
}

/// Session 1 creates /a and sets it; session 2 reads it with and without sync.
fn good() -> History {
    History {
        ops: vec![
            write(1, 1, Kind::Create, "/a", "v1", (0, 10), 1),
            write(1, 2, Kind::Set, "/a", "v2", (20, 30), 2),
            read(2, 1, Kind::Get, "/a", Some(("v1", 1)), (25, 35), 1),
            read(2, 2, Kind::SyncGet, "/a", Some(("v2", 2)), (40, 50), 2),
            write(2, 3, Kind::Create, "/b", "b1", (60, 70), 3),
        ],
        finals: vec![
            final_state("n1", 3, &[("/a", "v2", 2), ("/b", "b1", 3)]),
            final_state("n2", 3, &[("/a", "v2", 2), ("/b", "b1", 3)]),
        ],
    }
}

fn only(h: &History) -> Violation {
    let r = check(h);
    assert_eq!(r.violations.len(), 1, "{r}");
    r.violations[0].clone()
}

#[test]
fn a_good_history_passes_and_round_trips_through_jsonl() {
    let h = good();
    let r = check(&h);
    assert!(r.ok(), "{r}");
    assert_eq!((r.ops, r.acked_writes, r.reads), (5, 3, 2));
    let back = History::from_jsonl(&h.to_jsonl()).expect("parse");
    assert_eq!(back, h);
}

#[test]
fn a_lost_acknowledged_write_is_caught() {
    let mut h = good();
    // n2 lost the set of v2: it still shows v1.
    h.finals[1] = final_state("n2", 3, &[("/a", "v1", 1), ("/b", "b1", 3)]);
    let r = check(&h);
    assert!(
        r.violations
            .iter()
            .any(|v| matches!(v, Violation::LostWrite { node, write, .. }
            if node == "n2" && write.value.as_deref() == Some("v2"))),
        "{r}"
    );
    assert!(
        r.violations
            .iter()
            .any(|v| matches!(v, Violation::Diverged { .. })),
        "{r}"
    );
    // A node whose last zxid is below an acknowledged write lost it too.
    let mut h = good();
    h.finals = vec![final_state("n1", 2, &[("/a", "v2", 2)])];
    let r = check(&h);
    assert!(
        r.violations
            .iter()
            .any(|v| matches!(v, Violation::LostWrite { write, .. }
            if write.value.as_deref() == Some("b1"))),
        "{r}"
    );
}

#[test]
fn a_deleted_acknowledged_node_is_a_lost_write() {
    let mut h = good();
    h.finals = vec![final_state("n1", 3, &[("/a", "v2", 2)])];
    assert!(matches!(only(&h), Violation::LostWrite { write, .. } if write.path == "/b"));
}

#[test]
fn a_stale_sync_read_is_caught_and_a_stale_plain_read_is_not() {
    let mut h = good();
    // The sync-read shows v1 although v2 was acknowledged before the sync was invoked.
    h.ops[3] = read(2, 2, Kind::SyncGet, "/a", Some(("v1", 1)), (40, 50), 2);
    match only(&h) {
        Violation::StaleRead { missed, why, .. } => {
            assert_eq!(missed.value.as_deref(), Some("v2"));
            assert!(why.contains("sync"), "{why}");
        }
        v => panic!("{v}"),
    }
    // The same read without sync may lag (a follower behind the leader).
    h.ops[3] = read(2, 2, Kind::Get, "/a", Some(("v1", 1)), (40, 50), 1);
    assert!(check(&h).ok(), "{}", check(&h));
}

#[test]
fn a_sync_read_that_misses_a_creation_is_caught() {
    let mut h = good();
    h.ops
        .push(read(3, 1, Kind::SyncGet, "/b", None, (80, 90), 4));
    assert!(matches!(only(&h), Violation::StaleRead { missed, .. } if missed.path == "/b"));
    // Unless a delete of unknown outcome was in flight: it may have taken zxid 4.
    let mut del = write(4, 1, Kind::Delete, "/b", "", (75, 200), 0);
    del.outcome = Outcome::Unknown;
    del.zxid = None;
    h.ops.push(del);
    h.finals.iter_mut().for_each(|f| {
        f.data.remove("/b");
        f.zxid = 4;
    });
    let r = check(&h);
    assert!(r.ok(), "{r}");
    // Not a delete invoked only after the read completed.
    if let Some(d) = h.ops.last_mut() {
        d.invoke_ns = 95;
    }
    let r = check(&h);
    assert!(
        matches!(&r.violations[..], [Violation::StaleRead { .. }]),
        "{r}"
    );
}

#[test]
fn reading_your_own_writes_is_required() {
    let mut h = good();
    // Session 1 reads /a after its own acknowledged set and sees the older value.
    h.ops
        .push(read(1, 3, Kind::Get, "/a", Some(("v1", 1)), (31, 32), 2));
    assert!(matches!(only(&h), Violation::StaleRead { why, .. } if why.contains("session")));
}

#[test]
fn a_session_going_back_in_time_is_caught() {
    let mut h = good();
    // Session 2 was answered at zxid 2, then a read answered at zxid 1 (a lagging server).
    h.ops.push(read(2, 4, Kind::Get, "/x", None, (71, 72), 1));
    assert!(matches!(only(&h), Violation::SessionBackInTime { later, .. } if later.path == "/x"));
}

#[test]
fn out_of_order_writes_are_caught() {
    let mut h = good();
    // /b was invoked after v2 was acknowledged, yet got a smaller zxid.
    h.ops[4].zxid = Some(1);
    h.finals = Vec::new();
    let r = check(&h);
    assert!(
        r.violations
            .iter()
            .any(|v| matches!(v, Violation::WriteOrder { .. })),
        "{r}"
    );
    assert!(
        r.violations
            .iter()
            .any(|v| matches!(v, Violation::DuplicateZxid { .. })),
        "{r}"
    );
}

#[test]
fn phantom_values_are_caught() {
    for (seen, what) in [
        (("v9", 2), "never written"),
        (("b1", 3), "written to /b"),
        (("v2", 7), "mzxid"),
    ] {
        let mut h = good();
        h.ops[3] = read(2, 2, Kind::SyncGet, "/a", Some(seen), (40, 50), 9);
        let r = check(&h);
        assert!(
            r.violations
                .iter()
                .any(|v| matches!(v, Violation::PhantomRead { why, .. } if why.contains(what))),
            "{what}: {r}"
        );
    }
    // A failed write's value, and a value read before it was written.
    let mut h = good();
    let mut failed = write(3, 1, Kind::Set, "/a", "v3", (1, 2), 9);
    failed.outcome = Outcome::Fail;
    h.ops.push(failed);
    h.ops
        .push(read(3, 2, Kind::Get, "/a", Some(("v3", 9)), (3, 4), 9));
    let r = check(&h);
    assert!(
        r.violations
            .iter()
            .any(|v| matches!(v, Violation::PhantomRead { why, .. } if why.contains("failed"))),
        "{r}"
    );
    let mut h = good();
    h.ops[2] = read(2, 1, Kind::Get, "/a", Some(("v2", 2)), (15, 19), 2);
    let r = check(&h);
    assert!(
        r.violations.iter().any(
            |v| matches!(v, Violation::PhantomRead { why, .. } if why.contains("after the read"))
        ),
        "{r}"
    );
}

#[test]
fn an_unknown_write_that_took_effect_is_learnt_from_reads() {
    let mut h = good();
    let mut lost = write(3, 1, Kind::Set, "/a", "v3", (80, 500), 0);
    lost.outcome = Outcome::Unknown;
    lost.zxid = None;
    h.ops.push(lost);
    h.ops.push(read(
        2,
        4,
        Kind::SyncGet,
        "/a",
        Some(("v3", 4)),
        (600, 610),
        4,
    ));
    h.finals = vec![final_state("n1", 4, &[("/a", "v3", 4), ("/b", "b1", 3)])];
    let r = check(&h);
    assert!(r.ok(), "{r}");
    assert_eq!(r.unknown_writes, (1, 1));
    // Seen at two different zxids is a phantom.
    h.ops
        .push(read(2, 5, Kind::Get, "/a", Some(("v3", 5)), (620, 630), 5));
    assert!(matches!(only(&h), Violation::PhantomRead { .. }));
}

#[test]
fn unusable_histories_are_refused() {
    let mut h = good();
    h.ops[1].value = Some("v1".into());
    assert!(matches!(only(&h), Violation::BadHistory(why) if why.contains("twice")));
    let mut h = good();
    h.ops[1].zxid = None;
    assert!(matches!(only(&h), Violation::BadHistory(_)));
    assert!(History::from_jsonl("{\"type\":\"op\"}").is_err());
}

/// A linearizable system run by `clients` sequential clients: each op takes effect at a
/// point inside its interval; writes get consecutive zxids; some writes lose their answer
/// (after taking effect, or without).
fn linearizable(ops_per_client: &[Vec<(u8, u8, u8, u8)>]) -> History {
    struct Pending {
        lin: u64,
        op: Op,
        effect: bool,
    }
    let mut pending = Vec::new();
    let mut n = 0u64;
    for (c, ops) in ops_per_client.iter().enumerate() {
        let mut t = 1u64;
        for (seq, &(what, path, d, fate)) in ops.iter().enumerate() {
            let invoke = t;
            let lin = invoke + u64::from(d % 7);
            let complete = lin + u64::from(d / 7 % 7);
            t = complete + 1;
            n += 1;
            let kind = match what % 5 {
                0 => Kind::Create,
                1 => Kind::Set,
                2 => Kind::Delete,
                3 => Kind::Get,
                _ => Kind::SyncGet,
            };
            pending.push(Pending {
                lin,
                op: Op {
                    session: c as i64 + 1,
                    seq: seq as u64,
                    kind,
                    path: format!("/k{}", path % 3),
                    value: (matches!(kind, Kind::Create | Kind::Set)).then(|| format!("c{c}-{n}")),
                    invoke_ns: invoke,
                    complete_ns: complete,
                    outcome: Outcome::Ok,
                    zxid: None,
                    observed: None,
                },
                // 1 in 8 writes loses its answer; half of those took effect.
                effect: fate % 16 != 0,
            });
            if fate % 16 < 2 && kind.is_write() {
                if let Some(p) = pending.last_mut() {
                    p.op.outcome = Outcome::Unknown;
                }
            }
        }
    }
    pending.sort_by_key(|p| p.lin);
    let mut state: BTreeMap<String, (String, i64)> = BTreeMap::new();
    let mut zxid = 0i64;
    let mut ops = Vec::new();
    for mut p in pending {
        let op = &mut p.op;
        let exists = state.contains_key(&op.path);
        let applies = match op.kind {
            Kind::Create => !exists,
            Kind::Set | Kind::Delete => exists,
            Kind::Get | Kind::SyncGet => false,
        };
        if op.kind.is_write() {
            if op.outcome == Outcome::Unknown {
                if applies && p.effect {
                    zxid += 1;
                    apply(&mut state, op, zxid);
                }
            } else if applies {
                zxid += 1;
                apply(&mut state, op, zxid);
                op.zxid = Some(zxid);
            } else {
                op.outcome = Outcome::Fail;
            }
        } else {
            op.zxid = Some(zxid);
            op.observed = Some(match state.get(&op.path) {
                Some((v, z)) => Observed::Found {
                    value: v.clone(),
                    mzxid: *z,
                },
                None => Observed::NoNode,
            });
        }
        ops.push(p.op);
    }
    let f = FinalState {
        node: "n1".into(),
        zxid,
        digest: None,
        data: state,
    };
    History {
        ops,
        finals: vec![
            f.clone(),
            FinalState {
                node: "n2".into(),
                ..f
            },
        ],
    }
}

fn apply(state: &mut BTreeMap<String, (String, i64)>, op: &Op, zxid: i64) {
    match op.kind {
        Kind::Delete => {
            state.remove(&op.path);
        }
        _ => {
            state.insert(
                op.path.clone(),
                (op.value.clone().unwrap_or_default(), zxid),
            );
        }
    }
}

fn clients() -> impl Strategy<Value = Vec<Vec<(u8, u8, u8, u8)>>> {
    prop::collection::vec(
        prop::collection::vec(any::<(u8, u8, u8, u8)>(), 1..40),
        1..6,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn linearizable_histories_pass(c in clients()) {
        let h = linearizable(&c);
        let r = check(&h);
        prop_assert!(r.ok(), "{}\n{}", r, h.to_jsonl());
    }

    /// Dropping the newest acknowledged write from one node's final state is always caught.
    #[test]
    fn dropping_the_last_acknowledged_write_is_caught(c in clients()) {
        let mut h = linearizable(&c);
        let last = h.ops.iter()
            .filter(|o| o.outcome == Outcome::Ok && o.zxid.is_some() && o.kind != Kind::Delete && o.kind.is_write())
            .max_by_key(|o| o.zxid)
            .cloned();
        prop_assume!(last.is_some());
        let last = last.unwrap();
        let newest = h.finals[1].zxid;
        prop_assume!(last.zxid == Some(newest));
        h.finals[1].data.remove(&last.path);
        let r = check(&h);
        prop_assert!(
            r.violations.iter().any(|v| matches!(v, Violation::LostWrite { node, .. } if node == "n2")),
            "{}", r
        );
    }
}
