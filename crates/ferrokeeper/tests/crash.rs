//! Acknowledged writes survive `kill -9`.
//!
//! The real binary runs on a temporary data directory with a small `snapCount`, so the kills
//! land before, during and after snapshots. Writers record every create and setData the
//! server acknowledged; the server is SIGKILLed at seeded random moments (20 times); after each
//! restart every acknowledged write must be there with its data and version, and no write may
//! appear twice (each create carries a unique payload).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Child;
use std::time::Duration;

use zookeeper_client as zk;

mod common;

use common::{connect, free_port};

const KILLS: usize = 20;

fn start(dir: &Path, port: u16) -> Child {
    common::start(&common::write_config(dir, port, "snapCount=40\n"))
}

/// splitmix64, so a failure can be replayed with the printed seed.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_kill_9() {
    let seed: u64 = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed);
    println!("crash test seed {seed} (CRASH_SEED={seed} to replay)");
    let mut rng = seed;
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let open = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());

    // path -> (data, version) of every acknowledged write.
    let mut acked: BTreeMap<String, (Vec<u8>, i32)> = BTreeMap::new();
    let mut counter = 0u64;
    let mut server = start(dir.path(), port);
    {
        let c = connect(&addr).await;
        c.create("/crash", b"", &open).await.expect("create /crash");
    }
    for round in 0..KILLS {
        let c = connect(&addr).await;
        let deadline =
            tokio::time::Instant::now() + Duration::from_millis(50 + next(&mut rng) % 400);
        // Keep writing until the kill moment; several requests in flight.
        let mut inflight = Vec::new();
        while tokio::time::Instant::now() < deadline {
            counter += 1;
            let path = format!("/crash/n{counter}");
            let data = format!("w{counter}").into_bytes();
            let (c1, p1, d1, o1) = (c.clone(), path.clone(), data.clone(), open.clone());
            inflight.push(tokio::spawn(async move {
                (
                    p1.clone(),
                    d1.clone(),
                    c1.create(&p1, &d1, &o1).await.is_ok(),
                )
            }));
            if counter.is_multiple_of(3) {
                if let Some((p, (_, v))) = acked
                    .iter()
                    .next_back()
                    .map(|(p, d)| (p.clone(), d.clone()))
                {
                    let new = format!("u{counter}").into_bytes();
                    let (c2, p2, n2) = (c.clone(), p.clone(), new.clone());
                    match c2.set_data(&p2, &n2, Some(v)).await {
                        Ok(stat) => {
                            acked.insert(p, (new, stat.version));
                        }
                        Err(_) => break,
                    }
                }
            }
            if inflight.len() >= 8 {
                let (p, d, ok) = inflight.remove(0).await.expect("writer task");
                if ok {
                    acked.insert(p, (d, 0));
                }
            }
        }
        server.kill().expect("kill -9");
        let _ = server.wait();
        for t in inflight {
            if let Ok((p, d, true)) = t.await {
                acked.insert(p, (d, 0));
            }
        }
        drop(c);
        server = start(dir.path(), port);
        let c = connect(&addr).await;
        let (children, _) = c.get_children("/crash").await.expect("children");
        let mut payloads = BTreeMap::new();
        for name in &children {
            let (data, _) = c.get_data(&format!("/crash/{name}")).await.expect("data");
            *payloads.entry(data).or_insert(0) += 1;
        }
        for (path, (data, version)) in &acked {
            let (got, stat) = c.get_data(path).await.unwrap_or_else(|e| {
                panic!("round {round}: acknowledged {path} lost: {e} (seed {seed})")
            });
            assert_eq!(&got, data, "round {round}: {path} data (seed {seed})");
            assert_eq!(
                stat.version, *version,
                "round {round}: {path} version (seed {seed})"
            );
        }
        assert!(
            payloads.values().all(|n| *n == 1),
            "round {round}: a write appears twice (seed {seed})"
        );
    }
    println!(
        "{} acknowledged writes checked after {KILLS} kills",
        acked.len()
    );
    let _ = server.kill();
    let _ = server.wait();
}
