//! Peak memory of a test, measured alone: a test binary runs one of its own (ignored) tests in a
//! child process, so that the child's peak RSS is its own and not that of the tests beside it.

use std::time::Instant;

/// A field of /proc/self/status in bytes (`VmRSS`, `VmHWM`).
pub fn proc_status_bytes(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status
        .lines()
        .find(|l| l.starts_with(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"));
    let kib: u64 = line
        .trim_start_matches(&format!("{field}:"))
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .expect("a number of kB");
    kib << 10
}

/// Runs the ignored test `child` (its full name, `module::test`) of this test binary alone in a
/// child process, and checks that it passed and printed `reports` lines on stderr starting with
/// `prefix` and holding `peak RSS growth N KiB`, each under `limit` bytes.
pub fn run_alone_bounding_peak_growth(child: &str, prefix: &str, reports: usize, limit: u64) {
    let exe = std::env::current_exe().expect("test binary");
    let started = Instant::now();
    let out = std::process::Command::new(exe)
        .args([child, "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .output()
        .expect("run the test binary");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "child failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    // A wrong test name would run nothing and succeed.
    assert!(stdout.contains("1 passed"), "{stdout}");
    let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with(prefix)).collect();
    assert_eq!(lines.len(), reports, "one report per case:\n{stderr}");
    for report in lines {
        eprintln!("{report}");
        let growth: u64 = report
            .split_once("peak RSS growth ")
            .and_then(|(_, rest)| rest.split_once(" KiB"))
            .and_then(|(kib, _)| kib.parse().ok())
            .unwrap_or_else(|| panic!("no peak RSS growth in {report:?}"));
        assert!(
            growth << 10 < limit,
            "the peak RSS grew more than {} MiB: {report}",
            limit >> 20
        );
    }
    eprintln!("{prefix} child {child} took {:?}", started.elapsed());
}
