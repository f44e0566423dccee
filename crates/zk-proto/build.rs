//! Generates the Jute records from `jute-schemas/*.jute` into `$OUT_DIR/records.rs`.

use std::path::PathBuf;
use std::{env, fs};

fn main() {
    let manifest =
        PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let schemas = manifest.join("../../jute-schemas");
    println!("cargo:rerun-if-changed={}", schemas.display());
    let mut files: Vec<PathBuf> = fs::read_dir(&schemas)
        .unwrap_or_else(|e| panic!("reading {}: {e}", schemas.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "jute"))
        .collect();
    files.sort();
    let mut modules = Vec::new();
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
        let src = fs::read_to_string(f).unwrap_or_else(|e| panic!("reading {}: {e}", f.display()));
        let parsed = zk_jute::idl::parse(&src).unwrap_or_else(|e| panic!("{}:{e}", f.display()));
        modules.extend(parsed);
    }
    // Order modules as Apache ZooKeeper's schema does, so RECORD_NAMES reads naturally.
    let order = ["data", "proto", "quorum", "persistence", "txn"];
    modules.sort_by_key(|m| {
        let last = m.name.rsplit('.').next().unwrap_or("");
        order.iter().position(|o| *o == last).unwrap_or(order.len())
    });
    let code = zk_jute::codegen::generate(&modules).unwrap_or_else(|e| panic!("jute codegen: {e}"));
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("records.rs");
    fs::write(&out, code).unwrap_or_else(|e| panic!("writing {}: {e}", out.display()));
}
