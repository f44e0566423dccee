//! `zk-history FILE.jsonl`: checks a history recorded by clients (see
//! `zk_testkit::history`); prints what was checked and every violation, and exits 1 on any
//! (2 when the file cannot be read).

use std::process::ExitCode;

use zk_testkit::history::{check, History};

fn main() -> ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: zk-history FILE.jsonl");
        return ExitCode::from(2);
    };
    let history = match std::fs::read_to_string(&path)
        .map_err(|e| e.to_string())
        .and_then(|t| History::from_jsonl(&t))
    {
        Ok(h) => h,
        Err(e) => {
            eprintln!("zk-history: {path}: {e}");
            return ExitCode::from(2);
        }
    };
    let report = check(&history);
    print!("{report}");
    if report.ok() {
        ExitCode::SUCCESS
    } else {
        println!("rejected history: {path}");
        ExitCode::from(1)
    }
}
