//! The crate graph proves zk-zab does no IO: `cargo tree -p zk-zab -e normal` must not
//! contain tokio, mio, rocksdb or rustls (DESIGN.md §2, "arrows that must never exist").

use std::process::Command;

#[test]
fn no_io_crates_in_the_normal_dependency_graph() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = Command::new(cargo)
        .args(["tree", "-p", "zk-zab", "-e", "normal", "--prefix", "none"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo tree");
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8(out.stdout).unwrap();
    assert!(tree.contains("zk-proto"), "unexpected tree:\n{tree}");
    let forbidden = [
        "tokio",
        "mio",
        "rocksdb",
        "librocksdb",
        "rustls",
        "zk-core",
        "zk-tree",
        "zk-server",
    ];
    for line in tree.lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        for bad in forbidden {
            assert!(
                !(name == bad || name.starts_with(&format!("{bad}-"))),
                "zk-zab depends on {name}:\n{tree}"
            );
        }
    }
}
