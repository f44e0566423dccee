//! Nothing that ships depends on zk-testkit: every crate of the workspace names it only under
//! `[dev-dependencies]` (DESIGN.md: "anything that ships → zk-testkit" must never exist).

use std::path::Path;

#[test]
fn only_dev_dependencies_name_the_testkit() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut checked = 0;
    let mut users = Vec::new();
    for entry in std::fs::read_dir(&crates).unwrap() {
        let manifest = entry.unwrap().path().join("Cargo.toml");
        let Ok(text) = std::fs::read_to_string(&manifest) else {
            continue;
        };
        checked += 1;
        let mut section = String::new();
        for line in text.lines().map(str::trim) {
            if line.starts_with('[') {
                section = line.to_owned();
            } else if line.starts_with("zk-testkit") {
                assert!(
                    section == "[dev-dependencies]" || section.ends_with(".dev-dependencies]"),
                    "{} names zk-testkit under {section}: only [dev-dependencies] may",
                    manifest.display()
                );
                users.push(manifest.display().to_string());
            } else if section.contains("dependencies.zk-testkit") {
                assert!(
                    section.contains("dev-dependencies"),
                    "{} names zk-testkit under {section}",
                    manifest.display()
                );
            }
        }
    }
    assert!(checked >= 10, "read only {checked} crate manifests");
    // The check would pass vacuously if it could not see the crates that do use the kit.
    assert!(
        users.iter().any(|m| m.contains("zk-server")),
        "zk-server's tests use the kit: {users:?}"
    );
}
