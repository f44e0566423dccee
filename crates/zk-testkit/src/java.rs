//! Compiling and running the small Java programs of `compat-tests/` against Apache
//! ZooKeeper's own jars, as the golden tests do.
//!
//! The JDK is looked up in `$JAVA_HOME/bin`, then on `PATH`; the jars in
//! `$FERROKEEPER_ZK_JARS`, else Debian's `/usr/share/java`. When either is missing a test
//! prints a loud notice and passes ([`available`]), unless `FERROKEEPER_REQUIRE_JAVA=1` is
//! set (scripts/test sets it), in which case it fails. A compile error is never a skip: it is
//! our bug.
//!
//! ```no_run
//! use std::path::Path;
//! use zk_testkit::java::{Compat, Program};
//!
//! static JUTE_GOLDEN: Compat = Compat::new(
//!     "JuteGolden",
//!     "jute-golden/JuteGolden.java",
//!     "java_golden",
//!     "Byte compatibility with Apache ZooKeeper was NOT checked.",
//! );
//!
//! fn golden() -> Option<&'static Program> {
//!     // An integration test passes env!("CARGO_TARGET_TMPDIR").
//!     JUTE_GOLDEN.get(&std::env::temp_dir())
//! }
//! ```

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};

/// Set to `1` to make a missing JDK or missing jars a test failure instead of a skip.
pub const REQUIRE_JAVA: &str = "FERROKEEPER_REQUIRE_JAVA";

/// True when `FERROKEEPER_REQUIRE_JAVA=1`.
pub fn java_required() -> bool {
    std::env::var(REQUIRE_JAVA).as_deref() == Ok("1")
}

/// A JDK tool (`java`, `javac`, `keytool`) from `$JAVA_HOME/bin`, else from `PATH`.
pub fn find_tool(name: &str) -> Option<PathBuf> {
    if let Some(home) = std::env::var_os("JAVA_HOME") {
        let p = Path::new(&home).join("bin").join(name);
        if p.is_file() {
            return Some(p);
        }
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Where the ZooKeeper jars are: `$FERROKEEPER_ZK_JARS`, else `/usr/share/java`.
pub fn jars_dir() -> PathBuf {
    std::env::var_os("FERROKEEPER_ZK_JARS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/share/java"))
}

/// The jar `name` in [`jars_dir`], or why not.
pub fn jar(name: &str) -> Result<PathBuf, String> {
    let p = jars_dir().join(name);
    if p.is_file() {
        Ok(p)
    } else {
        Err(format!("missing {}", p.display()))
    }
}

/// What a ZooKeeper client program needs: zookeeper.jar, zookeeper-jute.jar, slf4j-api.jar,
/// and slf4j-nop.jar when there is one (it silences slf4j's "no binding" notice).
pub fn client_jars() -> Result<Vec<PathBuf>, String> {
    let mut cp = vec![
        jar("zookeeper.jar")?,
        jar("zookeeper-jute.jar")?,
        jar("slf4j-api.jar")?,
    ];
    if let Ok(nop) = jar("slf4j-nop.jar") {
        cp.push(nop);
    }
    Ok(cp)
}

/// What an Apache ZooKeeper server JVM needs (`QuorumPeerMain`, logging through log4j 1.2),
/// plus Netty's jars (Debian's `libnetty-java`, a dependency of its `zookeeper` package)
/// when they are here: a leader with `sslQuorum` or `portUnification` tells TLS peers
/// from plaintext ones with Netty's `SslHandler`, and fails on every learner without it.
pub fn server_jars() -> Result<Vec<PathBuf>, String> {
    let mut jars = vec![
        jar("zookeeper.jar")?,
        jar("zookeeper-jute.jar")?,
        jar("slf4j-log4j12.jar")?,
        jar("log4j-1.2.jar")?,
    ];
    for netty in [
        "netty-handler.jar",
        "netty-codec.jar",
        "netty-buffer.jar",
        "netty-common.jar",
        "netty-transport.jar",
        "netty-resolver.jar",
    ] {
        if let Ok(j) = jar(netty) {
            jars.push(j);
        }
    }
    Ok(jars)
}

/// `parts` joined into one class path.
pub fn classpath(parts: &[PathBuf]) -> Result<String, String> {
    std::env::join_paths(parts)
        .map(|p| p.to_string_lossy().into_owned())
        .map_err(|e| e.to_string())
}

/// A Java source file under the repository's `compat-tests/`, e.g.
/// `"jute-golden/JuteGolden.java"`.
pub fn compat_source(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../compat-tests")
        .join(relative)
}

/// A compiled program, ready to run on the client class path.
#[derive(Debug, Clone)]
pub struct Program {
    /// The `java` launcher.
    pub java: PathBuf,
    /// The compiled classes, then [`client_jars`].
    pub classpath: String,
    /// The main class.
    pub main: String,
}

impl Program {
    /// Compiles `source` (whose main class is `main`) into `out` against [`client_jars`],
    /// passing `javac_args` before the usual ones. `Err` (why) when the JDK or a jar is
    /// missing; a compile error fails the test.
    pub fn compile(
        main: &str,
        source: &Path,
        out: &Path,
        javac_args: &[&str],
    ) -> Result<Program, String> {
        Self::compile_with(main, source, out, javac_args, &[])
    }

    /// [`Program::compile`] with the jars named in `more` (in [`jars_dir`], such as
    /// `curator-recipes.jar`) on the class path too; `Err` when one is missing.
    pub fn compile_with(
        main: &str,
        source: &Path,
        out: &Path,
        javac_args: &[&str],
        more: &[&str],
    ) -> Result<Program, String> {
        let javac = find_tool("javac").ok_or("no javac on PATH or in $JAVA_HOME/bin")?;
        let java = find_tool("java").ok_or("no java on PATH or in $JAVA_HOME/bin")?;
        let mut cp = client_jars()?;
        for name in more {
            cp.push(jar(name)?);
        }
        std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
        let status = Command::new(&javac)
            .args(javac_args)
            .arg("-d")
            .arg(out)
            .arg("-cp")
            .arg(classpath(&cp)?)
            .arg(source)
            .status()
            .map_err(|e| format!("running {}: {e}", javac.display()))?;
        // A compile error is our bug, not a missing prerequisite: never skip it.
        assert!(status.success(), "javac failed on {}", source.display());
        cp.insert(0, out.to_path_buf());
        Ok(Program {
            java,
            classpath: classpath(&cp)?,
            main: main.to_owned(),
        })
    }

    /// `java -cp <classpath> <main>`, to add arguments to.
    pub fn command(&self) -> Command {
        let mut c = Command::new(&self.java);
        c.arg("-cp").arg(&self.classpath).arg(&self.main);
        c
    }

    /// One JVM launch: feeds `input` on stdin and returns stdout; fails the test if the
    /// program fails (showing its stderr).
    pub fn run(&self, input: &str) -> String {
        let mut child = self
            .command()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let input = input.to_owned();
        // Write from another thread so a full stdout pipe cannot deadlock us.
        let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
        let out = child.wait_with_output().unwrap();
        writer.join().unwrap().unwrap();
        assert!(
            out.status.success(),
            "{} failed ({}):\n{}",
            self.main,
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

/// A program of `compat-tests/`, compiled at most once per test binary (the first [`get`]).
///
/// [`get`]: Compat::get
pub struct Compat {
    main: &'static str,
    source: &'static str,
    test: &'static str,
    unchecked: &'static str,
    built: OnceLock<Result<Program, String>>,
}

impl Compat {
    /// The program whose main class is `main`, from `compat-tests/<source>`; `test` and
    /// `unchecked` name the test and what goes unchecked when it is skipped (see
    /// [`available`]).
    pub const fn new(
        main: &'static str,
        source: &'static str,
        test: &'static str,
        unchecked: &'static str,
    ) -> Compat {
        Compat {
            main,
            source,
            test,
            unchecked,
            built: OnceLock::new(),
        }
    }

    /// The compiled program (classes under `tmp/<main>`), or `None` after the skip notice.
    pub fn get(&self, tmp: &Path) -> Option<&Program> {
        let built = self.built.get_or_init(|| {
            let out = tmp.join(self.main);
            Program::compile(self.main, &compat_source(self.source), &out, &[])
        });
        available(built, self.test, self.unchecked)
    }
}

/// `Some` when `built` is ready. Otherwise fails the test under `FERROKEEPER_REQUIRE_JAVA=1`,
/// else prints a loud notice (once per `test` in this process) saying that `unchecked` was
/// not checked, and returns `None`: the test returns early and passes.
pub fn available<'a, T>(
    built: &'a Result<T, String>,
    test: &str,
    unchecked: &str,
) -> Option<&'a T> {
    match built {
        Ok(t) => Some(t),
        Err(why) => {
            skip(test, why, unchecked);
            None
        }
    }
}

/// The JDK tool `name` (see [`find_tool`]), or `None` after the skip notice of [`available`].
pub fn require_tool(name: &str, unchecked: &str) -> Option<PathBuf> {
    let found = find_tool(name).ok_or_else(|| format!("no {name} on PATH or in $JAVA_HOME/bin"));
    available(&found, name, unchecked).cloned()
}

fn skip(test: &str, why: &str, unchecked: &str) {
    if java_required() {
        panic!("{REQUIRE_JAVA}=1 but the {test} test cannot run: {why}");
    }
    static SHOWN: Mutex<Option<HashSet<String>>> = Mutex::new(None);
    let first = SHOWN
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get_or_insert_with(HashSet::new)
        .insert(test.to_owned());
    if first {
        // Straight to stderr: libtest captures eprintln! of passing tests, and this notice
        // must be seen.
        let _ = writeln!(
            std::io::stderr(),
            "\n**********************************************************************\n\
             SKIPPED {test}: {why}\n\
             {unchecked}\n\
             Install a JDK and libzookeeper-java, or set {REQUIRE_JAVA}=1.\n\
             **********************************************************************\n"
        );
    }
}

/// The `java` launcher and Apache ZooKeeper's server class path ([`server_jars`]), or `None`
/// after the skip notice of [`available`] for `test`.
pub fn server_launcher(test: &str, unchecked: &str) -> Option<&'static (PathBuf, String)> {
    static BUILT: OnceLock<Result<(PathBuf, String), String>> = OnceLock::new();
    let built = BUILT.get_or_init(|| {
        let java = find_tool("java").ok_or("no java on PATH or in $JAVA_HOME/bin")?;
        Ok((java, classpath(&server_jars()?)?))
    });
    available(built, test, unchecked)
}

/// A running `QuorumPeerMain` (an ensemble member), killed on drop.
pub struct QuorumPeerProcess {
    child: std::process::Child,
    dir: PathBuf,
    client_port: u16,
}

impl QuorumPeerProcess {
    /// Starts server `sid` under `dir`: `dir/data` gets `myid` and the data, `dir/zoo.cfg`
    /// is `zoo_cfg` with `dataDir` added, the log goes to `dir/zk.log`. `client_port` is the
    /// `clientPort` in `zoo_cfg` (for [`QuorumPeerProcess::four_letter`]).
    pub fn start(
        launcher: &(PathBuf, String),
        dir: &Path,
        sid: i64,
        zoo_cfg: &str,
        client_port: u16,
    ) -> std::io::Result<QuorumPeerProcess> {
        let (java, cp) = launcher;
        let data = dir.join("data");
        std::fs::create_dir_all(&data)?;
        std::fs::write(data.join("myid"), sid.to_string())?;
        let cfg = format!("dataDir={}\n{zoo_cfg}", data.display());
        std::fs::write(dir.join("zoo.cfg"), cfg)?;
        let log4j = format!(
            "log4j.rootLogger=INFO, F\nlog4j.appender.F=org.apache.log4j.FileAppender\n\
             log4j.appender.F.File={}\nlog4j.appender.F.layout=org.apache.log4j.PatternLayout\n\
             log4j.appender.F.layout.ConversionPattern=%d{{HH:mm:ss,SSS}} %-5p [%t] %c{{1}} - %m%n\n\
             log4j.logger.org.apache.zookeeper.server.NIOServerCnxn=WARN\n",
            dir.join("zk.log").display()
        );
        std::fs::write(dir.join("log4j.properties"), log4j)?;
        let out = |name: &str| std::fs::File::create(dir.join(name)).map(Stdio::from);
        let child = Command::new(java)
            .args(["-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"])
            .arg(format!(
                "-Dlog4j.configuration=file:{}",
                dir.join("log4j.properties").display()
            ))
            .arg("-cp")
            .arg(cp)
            .arg("org.apache.zookeeper.server.quorum.QuorumPeerMain")
            .arg(dir.join("zoo.cfg"))
            .stdin(Stdio::null())
            .stdout(out("stdout")?)
            .stderr(out("stderr")?)
            .spawn()?;
        Ok(QuorumPeerProcess {
            child,
            dir: dir.to_path_buf(),
            client_port,
        })
    }

    /// A four-letter word's answer on 127.0.0.1 ("" while the port is not open).
    pub fn four_letter(&self, cmd: &str) -> String {
        use std::io::Read;
        use std::time::Duration;
        let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.client_port)) else {
            return String::new();
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        if s.write_all(cmd.as_bytes()).is_err() {
            return String::new();
        }
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    }

    /// The last `n` lines of the server's log, for failure messages.
    pub fn log_tail(&self, n: usize) -> String {
        let log = std::fs::read_to_string(self.dir.join("zk.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Kills the process and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for QuorumPeerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
