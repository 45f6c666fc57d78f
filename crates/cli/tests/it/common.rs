use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// What a run of the binary left behind.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    #[track_caller]
    pub fn ok(&self) -> &Self {
        assert_eq!(
            self.code, 0,
            "expected success\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    #[track_caller]
    pub fn fails_with(&self, code: i32, needles: &[&str]) -> &Self {
        assert_eq!(
            self.code, code,
            "wrong exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        for n in needles {
            assert!(self.stderr.contains(n), "stderr lacks {n:?}:\n{}", self.stderr);
        }
        self
    }
}

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_nightshift"))
}

/// The binary with `args` in `cwd`, without this process's NIGHTSHIFT_*, AWS_* and RUST_LOG
/// variables, and with `env`.
pub fn command(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    clean(Command::new(bin()), cwd, args, env)
}

/// `cmd` with `args` in `cwd`, without this process's NIGHTSHIFT_*, AWS_* and RUST_LOG variables,
/// and with `env`.
fn clean(mut cmd: Command, cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    cmd.args(args).current_dir(cwd);
    for (k, _) in std::env::vars() {
        if k.starts_with("NIGHTSHIFT_") || k.starts_with("AWS_") || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
    cmd.envs(env.iter().copied());
    cmd
}

/// Runs the binary in `cwd` with a clean NIGHTSHIFT_* environment.
pub fn run_in(cwd: &Path, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Run {
    finish(command(cwd, args, env), stdin)
}

/// Runs the binary in `cwd` under `prlimit --as=BYTES` (util-linux): its address space capped, as
/// an operator caps a nightly job, so that an allocation beyond it fails instead of swapping.
pub fn run_under_prlimit(cwd: &Path, address_space: u64, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut prlimit = Command::new("prlimit");
    prlimit.arg(format!("--as={address_space}")).arg("--").arg(bin());
    finish(clean(prlimit, cwd, args, env), None)
}

/// Runs `cmd` to its end with `stdin` as its input.
fn finish(mut cmd: Command, stdin: Option<&str>) -> Run {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("start nightshift");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
    }
    let out = child.wait_with_output().expect("wait for nightshift");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs against the shared demo lake.
pub fn run(args: &[&str]) -> Run {
    let lake = demo_lake();
    let mut full = vec!["--lake", lake.to_str().expect("utf-8 path")];
    full.extend_from_slice(args);
    run_in(lake.parent().expect("parent"), &full, &[], None)
}

/// A demo lake made once per test process by `nightshift datasets generate`.
pub fn demo_lake() -> &'static Path {
    static LAKE: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_, p) = LAKE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let lake = dir.path().join("lake");
        run_in(
            dir.path(),
            &[
                "datasets",
                "generate",
                "--out",
                "lake",
                "--reviews",
                "1000",
                "--transactions",
                "4000",
                "--days",
                "4",
            ],
            &[],
            None,
        )
        .ok();
        (dir, lake)
    });
    p
}

/// Writes a small Parquet file with an `id` column of the given type and optional extra column.
pub fn write_parquet(path: &Path, ids: &[i64], as_int32: bool, extra: Option<&str>) {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, Int32Array, Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use arrow::record_batch::RecordBatch;

    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    let id: ArrayRef = if as_int32 {
        Arc::new(Int32Array::from(
            ids.iter().map(|i| *i as i32).collect::<Vec<_>>(),
        ))
    } else {
        Arc::new(Int64Array::from(ids.to_vec()))
    };
    let mut fields = vec![Field::new("id", id.data_type().clone(), false)];
    let mut cols = vec![id];
    if let Some(name) = extra {
        fields.push(Field::new(name, DataType::Utf8, true));
        cols.push(Arc::new(StringArray::from(
            ids.iter().map(|i| Some(format!("n{i}"))).collect::<Vec<_>>(),
        )));
    }
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).expect("batch");
    let file = std::fs::File::create(path).expect("create");
    let mut w = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).expect("writer");
    w.write(&batch).expect("write");
    w.close().expect("close");
}

/// Copies the SQL files of the repository's `queries/` (not `queries/tpch/`) into `dir/queries/`, as
/// the repository's jobs expect.
pub fn copy_repo_queries(dir: &Path) {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    std::fs::create_dir_all(dir.join("queries")).expect("queries folder");
    for e in std::fs::read_dir(repo.join("queries"))
        .expect("repo queries")
        .flatten()
        .filter(|e| e.path().is_file())
    {
        std::fs::copy(e.path(), dir.join("queries").join(e.file_name())).expect("copy a query");
    }
}

/// The versions committed to the Delta table in `dir` (the numbers of `_delta_log/<n>.json`), oldest
/// first; empty when there is no table.
pub fn delta_versions(dir: &Path) -> Vec<u64> {
    let Ok(entries) = std::fs::read_dir(dir.join("_delta_log")) else {
        return Vec::new();
    };
    let mut versions: Vec<u64> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".json")?.parse().ok()
        })
        .collect();
    versions.sort();
    versions
}

/// What nightshift recorded about its run in the commit info of version `version` of the Delta
/// table in `dir` (`commitInfo.nightshift`).
pub fn run_info(dir: &Path, version: u64) -> serde_json::Value {
    let path = dir.join("_delta_log").join(format!("{version:020}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find_map(|a| a.get("commitInfo").map(|c| c["nightshift"].clone()))
        .unwrap_or_else(|| panic!("no commitInfo in {}", path.display()))
}

/// Whether a run published anything to the Delta table in `dir`: a version after the one that
/// created the table.
pub fn published(dir: &Path) -> bool {
    delta_versions(dir).iter().any(|v| *v > 0)
}

/// A free loopback port (bound and released; a server started right after takes it).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind a loopback port")
        .local_addr()
        .expect("its address")
        .port()
}

/// A test server process on a loopback port, killed when dropped.
pub struct Server {
    child: std::process::Child,
    /// Its port.
    pub port: u16,
}

impl Server {
    /// Spawns `command` (its output dropped) and waits up to 60 s until it accepts connections on
    /// `port`.
    pub fn start(name: &str, mut command: Command, port: u16) -> Self {
        use std::time::{Duration, Instant};
        let shown = format!("{command:?}");
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({shown}): {e}"));
        let mut server = Server { child, port };
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("{name} exited ({status}) before listening on port {port}; `{shown}` shows why");
            }
            assert!(
                Instant::now() < deadline,
                "{name} did not listen on port {port} within 60 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A test filesystem, unmounted when dropped.
pub struct Mounted(PathBuf);

impl Mounted {
    /// Grows or shrinks the filesystem in place.
    pub fn resize(&self, size: &str) {
        let resized = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(
            resized.success(),
            "cannot resize the tmpfs at {}",
            self.0.display()
        );
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Mounts a tmpfs of `size` (such as `"2m"`) on the existing folder `at`. `None` where this process
/// may not mount (no root, or a container without CAP_SYS_ADMIN): the caller skips, which is not a
/// failure of nightshift; docs/reliability.md says where the test last ran.
pub fn mount_tmpfs(at: &Path, size: &str) -> Option<Mounted> {
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(at)
        .status();
    if mounted.is_ok_and(|s| s.success()) {
        Some(Mounted(at.to_path_buf()))
    } else {
        eprintln!("skipped: cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN)");
        None
    }
}

/// The latest day that a `daily @ 02:00 UTC` schedule has due now: a day's run fires at 02:00 the
/// next day, so before 02:00 it is the day before yesterday.
pub fn latest_due_day() -> chrono::NaiveDate {
    (chrono::Utc::now() - chrono::Duration::hours(2)).date_naive() - chrono::Duration::days(1)
}

/// Replaces `from` by `to` in the file at `path` (which must hold `from`).
#[track_caller]
pub fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{} lacks {from:?}", path.display());
    std::fs::write(path, text.replace(from, to)).unwrap();
}

/// Appends `text` to the file at `path`.
pub fn append(path: &Path, text: &str) {
    let old = std::fs::read_to_string(path).unwrap();
    std::fs::write(path, format!("{old}{text}")).unwrap();
}

/// A project with an empty lake and one job `daily` (`daily @ 02:00 UTC`, output `reports/daily`)
/// running `sql`, with `keys` added to its table.
pub fn one_job_project(keys: &str, sql: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::create_dir_all(p.join("lake")).unwrap();
    std::fs::write(
        p.join("nightshift.toml"),
        format!(
            "[lake]\nroot = \"lake\"\n\n[jobs.daily]\nsql = \"daily.sql\"\nschedule = \"daily @ 02:00 UTC\"\n\
             output = \"reports/daily\"\n{keys}\n"
        ),
    )
    .unwrap();
    std::fs::write(p.join("daily.sql"), sql).unwrap();
    dir
}
