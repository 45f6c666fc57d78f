//! The lake on a real S3-compatible server (moto, from PyPI) on loopback: discovery, hive
//! partitions and queries, with credentials from the environment only and never in a log line.

use std::io::{Read, Write};
use std::net::TcpStream;

use nightshift_test_support::PythonEnv;

use crate::common::{Server, demo_lake, free_port, run_in};

pub(crate) const SECRET: &str = "nightshift-secret-Zq7xK2pW9v";
pub(crate) const KEY_ID: &str = "AKIANIGHTSHIFTTEST01";
pub(crate) const BUCKET: &str = "nightshift-lake";

/// moto's S3 server, from PyPI, in the Python environment the tests provision under the target folder.
const MOTO: &str = "moto[server]>=5,<6";

/// Starts moto's S3 server on a free loopback port, provisioning it first if needed.
pub(crate) fn start_moto() -> Server {
    let python = PythonEnv::require("moto", &[MOTO]);
    let port = free_port();
    let mut command = python.command();
    command.args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()]);
    Server::start("moto's S3 server", command, port)
}

pub(crate) fn http(port: u16, request: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

/// A client of the test bucket on moto at `port`, and a runtime to drive it from a test.
fn test_bucket(port: u16) -> (object_store::aws::AmazonS3, tokio::runtime::Runtime) {
    let store = object_store::aws::AmazonS3Builder::new()
        .with_bucket_name(BUCKET)
        .with_endpoint(format!("http://127.0.0.1:{port}"))
        .with_allow_http(true)
        .with_region("us-east-1")
        .with_access_key_id(KEY_ID)
        .with_secret_access_key(SECRET)
        .build()
        .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    (store, rt)
}

pub(crate) fn upload_demo_lake(port: u16) {
    upload_dir(port, demo_lake(), "lake");
}

/// Creates the bucket if needed and copies the folder `root` to `s3://BUCKET/<prefix>/`.
pub(crate) fn upload_dir(port: u16, root: &std::path::Path, prefix: &str) {
    use object_store::{ObjectStoreExt, PutPayload, path::Path};

    let resp = http(
        port,
        &format!(
            "PUT /{BUCKET} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        ),
    );
    assert!(
        resp.starts_with("HTTP/1.1 200") || resp.contains("BucketAlreadyOwnedByYou"),
        "{resp}"
    );
    let (store, rt) = test_bucket(port);
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_str().unwrap().to_string();
                let bytes = std::fs::read(&p).unwrap();
                rt.block_on(store.put(&Path::from(format!("{prefix}/{rel}")), PutPayload::from(bytes)))
                    .unwrap();
            }
        }
    }
}

#[test]
fn s3_lake_discovery_partitions_queries_and_no_secret_in_logs() {
    let moto = start_moto();
    upload_demo_lake(moto.port);
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        "[lake]\nroot = \"s3://{BUCKET}/lake\"\n[lake.storage]\nendpoint = \"http://127.0.0.1:{}\"\nregion = \"us-east-1\"\nallow_http = true\n",
        moto.port
    );
    std::fs::write(dir.path().join("nightshift.toml"), toml).unwrap();
    let env = [("AWS_ACCESS_KEY_ID", KEY_ID), ("AWS_SECRET_ACCESS_KEY", SECRET)];
    let tables = run_in(
        dir.path(),
        &["--log-level", "trace", "tables", "--format", "csv"],
        &env,
        None,
    );
    tables.ok();
    assert!(
        tables.stdout.contains("transactions,parquet,4000,4,"),
        "{}",
        tables.stdout
    );
    assert!(tables.stdout.contains("tx_date date"), "{}", tables.stdout);
    assert!(
        tables.stdout.contains(&format!("s3://{BUCKET}/lake/reviews/")),
        "{}",
        tables.stdout
    );
    let q = run_in(
        dir.path(),
        &[
            "--log-level",
            "trace",
            "sql",
            "--format",
            "csv",
            "--param",
            "d=2024-06-03",
            "-c",
            "SELECT tx_date, count(*) > 0 AS any FROM transactions WHERE tx_date = $d GROUP BY tx_date",
        ],
        &env,
        None,
    );
    q.ok();
    assert_eq!(q.stdout, "tx_date,any\n2024-06-03,true\n");
    for r in [&tables, &q] {
        assert!(
            r.stderr.len() > 1000,
            "trace logging produced too little to be a meaningful check"
        );
        assert!(!r.stderr.contains(SECRET), "the secret key reached a log line");
    }
}

/// Every object in the test bucket, with its bytes.
fn bucket_objects(port: u16) -> Vec<(String, Vec<u8>)> {
    use futures::TryStreamExt;
    use object_store::{ObjectStore, ObjectStoreExt};
    let (store, rt) = test_bucket(port);
    rt.block_on(async {
        let metas: Vec<_> = store.list(None).try_collect().await.unwrap();
        let mut out = Vec::new();
        for m in metas {
            let bytes = store.get(&m.location).await.unwrap().bytes().await.unwrap();
            out.push((m.location.to_string(), bytes.to_vec()));
        }
        out
    })
}

/// The secret key never reaches a trace-level log, an error message, the run ledger or a Delta commit:
/// on a successful job run, a failing one, and a lake whose bucket does not exist.
#[test]
fn the_secret_key_is_in_no_log_error_ledger_or_commit() {
    let moto = start_moto();
    upload_demo_lake(moto.port);
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let settings = |bucket: &str| {
        format!(
            "[lake]\nroot = \"s3://{bucket}/lake\"\n[lake.storage]\nendpoint = \"http://127.0.0.1:{}\"\n\
             region = \"us-east-1\"\nallow_http = true\n\n\
             [jobs.ok]\nsql = \"ok.sql\"\nschedule = \"daily @ 02:00 UTC\"\noutput = \"reports/ok\"\n\n\
             [jobs.broken]\nsql = \"broken.sql\"\nschedule = \"daily @ 02:00 UTC\"\noutput = \"reports/broken\"\n",
            moto.port
        )
    };
    std::fs::write(
        p.join("ok.sql"),
        "SELECT tx_date, count(*) AS n FROM transactions GROUP BY tx_date",
    )
    .unwrap();
    std::fs::write(p.join("broken.sql"), "SELECT no_such_column FROM transactions").unwrap();
    let env = [("AWS_ACCESS_KEY_ID", KEY_ID), ("AWS_SECRET_ACCESS_KEY", SECRET)];
    std::fs::write(p.join("nightshift.toml"), settings(BUCKET)).unwrap();
    let mut runs = Vec::new();
    for job in ["ok", "broken"] {
        let r = run_in(
            p,
            &[
                "--log-level",
                "trace",
                "run",
                job,
                "--date",
                "2024-06-02",
                "--no-progress",
            ],
            &env,
            None,
        );
        assert_eq!(
            r.code,
            if job == "ok" { 0 } else { 1 },
            "{job}: {}\n{}",
            r.stdout,
            r.stderr
        );
        runs.push(r);
    }
    assert!(runs[1].stdout.contains("no_such_column"), "{}", runs[1].stdout);
    std::fs::write(p.join("nightshift.toml"), settings("no-such-bucket")).unwrap();
    let missing = run_in(p, &["--log-level", "trace", "tables"], &env, None);
    assert_ne!(missing.code, 0, "{}", missing.stdout);
    assert!(missing.stderr.contains("no-such-bucket"), "{}", missing.stderr);
    runs.push(missing);
    for r in &runs {
        assert!(
            r.stderr.len() > 1000,
            "trace logging produced too little to be a meaningful check"
        );
        assert!(
            !r.stderr.contains(SECRET) && !r.stdout.contains(SECRET),
            "the secret key reached the output"
        );
    }
    let objects = bucket_objects(moto.port);
    let written: Vec<_> = objects
        .iter()
        .filter(|(path, _)| path.contains("_nightshift/runs/") || path.contains("_delta_log/"))
        .collect();
    assert!(
        written.len() >= 4,
        "the ledger and the report's log: {:?}",
        objects.iter().map(|o| &o.0).collect::<Vec<_>>()
    );
    for (path, bytes) in &objects {
        assert!(
            !bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()),
            "the secret key is in {path}"
        );
    }
}

/// `request` with its `Host` header naming `127.0.0.1:port`.
fn with_host(request: &[u8], port: u16) -> Vec<u8> {
    let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") else {
        return request.to_vec();
    };
    let head = String::from_utf8_lossy(&request[..end]);
    let mut out: Vec<u8> = head
        .split("\r\n")
        .map(|line| {
            if line.to_ascii_lowercase().starts_with("host:") {
                format!("Host: 127.0.0.1:{port}")
            } else {
                line.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\r\n")
        .into_bytes();
    out.extend_from_slice(&request[end..]);
    out
}

/// The seed of the fault-injecting proxy: `NIGHTSHIFT_FAULT_SEED`, or a fixed one.
pub(crate) fn fault_seed() -> u64 {
    std::env::var("NIGHTSHIFT_FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_261_206)
}

/// The repository's project with `lake` as its lake settings plus retry settings for a faulty
/// store, in `p`: runs `daily_sentiment` for three days, each of which must succeed within its
/// retries. Returns the days.
pub(crate) fn run_days_through_faults(
    p: &std::path::Path,
    lake: &str,
    env: &[(&str, &str)],
) -> [&'static str; 3] {
    crate::common::copy_repo_queries(p);
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let toml = std::fs::read_to_string(repo.join("nightshift.toml"))
        .unwrap()
        .replace(
            "root = \"datasets/lake\"",
            &format!("{lake}\nmax_retries = 12\nrequest_timeout_seconds = 2\nretry_timeout_seconds = 120"),
        );
    std::fs::write(p.join("nightshift.toml"), toml).unwrap();
    let dates = ["2024-06-01", "2024-06-02", "2024-06-03"];
    for date in dates {
        let r = run_in(
            p,
            &["run", "daily_sentiment", "--date", date, "--no-progress"],
            env,
            None,
        );
        assert_eq!(r.code, 0, "{date}: {}\n{}", r.stdout, r.stderr);
        // The store's retries absorb most faults; a request the store may not repeat (a create-only
        // put whose connection dropped) fails its attempt, and the job's retry runs it again.
        eprintln!("{}", r.stdout.lines().next().unwrap_or_default());
    }
    dates
}

/// A loopback HTTP proxy in front of moto that injects faults, seeded: `fail` percent of requests
/// get `503 Slow Down` without reaching moto, `lose` percent reach moto (and take effect) but their
/// reply is dropped, `slow` percent are held 3 s before they are forwarded (past the client's request
/// timeout). Each connection carries one request.
pub(crate) struct FaultyProxy {
    pub(crate) port: u16,
    /// Requests forwarded, failed, lost and slowed.
    pub(crate) counts: std::sync::Arc<std::sync::Mutex<[u64; 4]>>,
}

pub(crate) fn start_faulty_proxy(upstream: u16, fail: u64, lose: u64, slow: u64, seed: u64) -> FaultyProxy {
    use std::sync::{Arc, Mutex};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let counts = Arc::new(Mutex::new([0u64; 4]));
    let rng = Arc::new(Mutex::new(seed | 1));
    let shared = Arc::clone(&counts);
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut client) = conn else { continue };
            let (counts, rng) = (Arc::clone(&shared), Arc::clone(&rng));
            std::thread::spawn(move || {
                let Some(request) = read_http_message(&mut client, true, false) else {
                    return;
                };
                let head_only = request.starts_with(b"HEAD ");
                let roll = {
                    let mut x = rng.lock().unwrap();
                    *x ^= *x << 13;
                    *x ^= *x >> 7;
                    *x ^= *x << 17;
                    *x % 100
                };
                if roll < fail {
                    counts.lock().unwrap()[1] += 1;
                    let body = "<Error><Code>SlowDown</Code><Message>injected</Message></Error>";
                    let _ = client.write_all(
                        format!(
                            "HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\
                             Connection: close\r\n\r\n{body}",
                            body.len()
                        )
                        .as_bytes(),
                    );
                    return;
                }
                if roll < fail + slow {
                    counts.lock().unwrap()[3] += 1;
                    std::thread::sleep(std::time::Duration::from_secs(3));
                }
                let Ok(mut up) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    return;
                };
                // As a transparent proxy would: the upstream sees its own address (fake-gcs-server
                // takes any other host for a virtual-hosted bucket).
                let request = with_host(&request, upstream);
                if up.write_all(&request).is_err() {
                    return;
                }
                let Some(reply) = read_http_message(&mut up, false, head_only) else {
                    return;
                };
                if roll >= fail + slow && roll < fail + slow + lose {
                    counts.lock().unwrap()[2] += 1;
                    return; // the request took effect; its reply is lost
                }
                counts.lock().unwrap()[0] += 1;
                let _ = client.write_all(&reply);
            });
        }
    });
    FaultyProxy { port, counts }
}

/// Reads one HTTP/1.1 message (head and a Content-Length body; none for the reply to a HEAD) and gives
/// it back with its `Connection` header set to `close`.
fn read_http_message(s: &mut TcpStream, is_request: bool, no_body: bool) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 65536];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = s.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let length = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("content-length")
            .then(|| v.trim().parse::<usize>().ok())?
    });
    let chunked = head.to_ascii_lowercase().contains("transfer-encoding: chunked");
    match (length, chunked) {
        _ if no_body || head.starts_with("HTTP/1.1 204") || head.starts_with("HTTP/1.1 304") => {}
        (Some(n), _) => {
            while buf.len() < head_end + n {
                let got = s.read(&mut chunk).ok()?;
                if got == 0 {
                    return None;
                }
                buf.extend_from_slice(&chunk[..got]);
            }
        }
        (None, true) | (None, false) if !is_request => {
            // Until the end of the connection (the upstream closes after one reply).
            loop {
                let got = s.read(&mut chunk).ok()?;
                if got == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..got]);
            }
        }
        _ => {}
    }
    let mut out: Vec<u8> = head
        .split("\r\n")
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:") && !l.is_empty())
        .flat_map(|l| format!("{l}\r\n").into_bytes())
        .collect();
    out.extend_from_slice(b"Connection: close\r\n\r\n");
    out.extend_from_slice(&buf[head_end..]);
    Some(out)
}

/// Store faults at about a fifth of requests (503s, replies lost after the request took effect,
/// requests slower than the request timeout), on every request of three job runs on S3: each run
/// succeeds within its retries and publishes exactly one commit, and the report holds the right rows. The retries and timeouts come from nightshift.toml. `NIGHTSHIFT_FAULT_SEED` picks
/// other faults.
#[test]
fn store_faults_at_a_fifth_of_requests_cost_retries_not_data() {
    let moto = start_moto();
    upload_demo_lake(moto.port);
    let proxy = start_faulty_proxy(moto.port, 15, 4, 2, fault_seed());
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let env = [("AWS_ACCESS_KEY_ID", KEY_ID), ("AWS_SECRET_ACCESS_KEY", SECRET)];
    let dates = run_days_through_faults(
        p,
        &format!(
            "root = \"s3://{BUCKET}/lake\"\n[lake.storage]\nendpoint = \"http://127.0.0.1:{}\"\n\
             region = \"us-east-1\"\nallow_http = true",
            proxy.port
        ),
        &env,
    );
    let [forwarded, failed, lost, slowed] = *proxy.counts.lock().unwrap();
    assert!(
        failed > 5 && lost > 0 && forwarded > 50,
        "{forwarded} {failed} {lost} {slowed}"
    );
    // Exactly one commit per run: versions 1 to 3 after the table's creation, one run each.
    let log: Vec<String> = bucket_objects(moto.port)
        .into_iter()
        .filter(|(path, _)| path.contains("reports/daily_sentiment/_delta_log/") && path.ends_with(".json"))
        .map(|(path, bytes)| format!("{path} {}", String::from_utf8_lossy(&bytes)))
        .collect();
    assert_eq!(log.len(), 4, "{log:#?}");
    for date in dates {
        assert_eq!(
            log.iter()
                .filter(|c| c.contains(&format!("\"run_date\":\"{date}\"")))
                .count(),
            1,
            "{date}: {log:#?}"
        );
    }
    // The report's rows agree with its input, read without the proxy.
    let direct = std::fs::read_to_string(p.join("nightshift.toml"))
        .unwrap()
        .replace(&format!(":{}\"", proxy.port), &format!(":{}\"", moto.port));
    std::fs::write(p.join("nightshift.toml"), direct).unwrap();
    let q = run_in(
        p,
        &[
            "sql",
            "--format",
            "csv",
            "-c",
            "SELECT (SELECT sum(reviews) FROM reports.daily_sentiment) = \
             (SELECT count(*) FROM reviews WHERE review_date BETWEEN DATE '2024-06-01' AND DATE '2024-06-03') AS same",
        ],
        &env,
        None,
    );
    q.ok();
    assert_eq!(q.stdout, "same\ntrue\n");
}

/// A loopback server standing in for an object store that refuses or hangs: with `answer`, every
/// request gets that HTTP response; without, connections are accepted and never answered.
fn start_stub_store(answer: Option<String>) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming() {
            let Ok(mut client) = conn else { continue };
            match answer.clone() {
                Some(response) => {
                    std::thread::spawn(move || {
                        if read_http_message(&mut client, true, false).is_some() {
                            let _ = client.write_all(response.as_bytes());
                        }
                    });
                }
                None => held.push(client),
            }
        }
    });
    port
}

/// R10: runs that fail on authentication (the store answers 403 InvalidAccessKeyId) and on a timeout
/// (the store never answers) end with exit 1 and an error that says which, within the retry
/// settings; and at trace level the secret key is in no line of their output.
#[test]
fn authentication_failures_and_timeouts_fail_cleanly_without_the_secret() {
    let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>InvalidAccessKeyId</Code>\
        <Message>The AWS access key id you provided does not exist.</Message></Error>";
    let denied = format!(
        "HTTP/1.1 403 Forbidden\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    let denied = start_stub_store(Some(denied));
    let silent = start_stub_store(None);
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::write(
        p.join("ok.sql"),
        "SELECT tx_date, count(*) AS n FROM transactions GROUP BY tx_date",
    )
    .unwrap();
    let env = [("AWS_ACCESS_KEY_ID", KEY_ID), ("AWS_SECRET_ACCESS_KEY", SECRET)];
    for (port, expected) in [(denied, "InvalidAccessKeyId"), (silent, "timed out")] {
        std::fs::write(
            p.join("nightshift.toml"),
            format!(
                "[lake]\nroot = \"s3://{BUCKET}/lake\"\n[lake.storage]\nendpoint = \"http://127.0.0.1:{port}\"\n\
                 region = \"us-east-1\"\nallow_http = true\nmax_retries = 1\nretry_timeout_seconds = 3\n\
                 request_timeout_seconds = 1\nconnect_timeout_seconds = 1\n\n\
                 [jobs.ok]\nsql = \"ok.sql\"\nschedule = \"daily @ 02:00 UTC\"\noutput = \"reports/ok\"\nretries = 0\n"
            ),
        )
        .unwrap();
        for args in [
            &["--log-level", "trace", "tables"][..],
            &[
                "--log-level",
                "trace",
                "run",
                "ok",
                "--date",
                "2024-06-02",
                "--no-progress",
            ],
        ] {
            let started = std::time::Instant::now();
            let r = run_in(p, args, &env, None);
            assert_ne!(r.code, 0, "{args:?} on a refusing store succeeded:\n{}", r.stdout);
            let all = format!("{}{}", r.stdout, r.stderr);
            assert!(all.contains(expected), "{args:?}: no {expected:?} in:\n{all}");
            assert!(
                all.len() > 1000,
                "trace logging produced too little to be a meaningful check"
            );
            assert!(
                !all.contains(SECRET),
                "the secret key reached the output of {args:?}"
            );
            assert!(
                started.elapsed() < std::time::Duration::from_secs(60),
                "{args:?} took {:?}: the retry settings were not applied",
                started.elapsed()
            );
        }
    }
}

/// The bucket's unfinished multipart uploads, as moto lists them (`GET /bucket?uploads`).
pub(crate) fn unfinished_uploads(port: u16) -> String {
    let listing = http(
        port,
        &format!("GET /{BUCKET}?uploads HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"),
    );
    assert!(listing.starts_with("HTTP/1.1 200"), "{listing}");
    listing
}

/// R1, the abort: a run whose report file is large enough for a multipart upload (a first row group
/// of 512 Ki rows of hashes, about 30 MB) and which fails after writing it (a division by zero in its last rows) leaves no
/// unfinished upload in the bucket and no report. A killed run cannot abort its upload: docs/lake.md
/// gives the bucket lifecycle rule that does.
#[test]
fn a_failed_run_aborts_its_multipart_upload() {
    let moto = start_moto();
    let empty = tempfile::tempdir().unwrap();
    upload_dir(moto.port, empty.path(), "unused");
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::write(
        p.join("nightshift.toml"),
        format!(
            "[lake]\nroot = \"s3://{BUCKET}/big\"\n[lake.storage]\nendpoint = \"http://127.0.0.1:{}\"\n\
             region = \"us-east-1\"\nallow_http = true\n\n[engine]\ntarget_partitions = 1\n\n\
             [jobs.big]\nsql = \"big.sql\"\nschedule = \"daily @ 02:00 UTC\"\noutput = \"reports/big\"\nretries = 0\n",
            moto.port
        ),
    )
    .unwrap();
    std::fs::write(
        p.join("big.sql"),
        "SELECT $run_date AS day, value AS v, \
         md5(CAST(value AS VARCHAR)) || md5(CAST(value * 7 AS VARCHAR)) || md5(CAST(value * 13 AS VARCHAR)) AS h, \
         1 / (CASE WHEN value = 690000 THEN 0 ELSE 1 END) AS one FROM generate_series(1, 700000)",
    )
    .unwrap();
    let env = [("AWS_ACCESS_KEY_ID", KEY_ID), ("AWS_SECRET_ACCESS_KEY", SECRET)];
    // A killed run leaves its upload unfinished: that the listing sees it shows the report reaches
    // a multipart upload at all (the bucket's lifecycle rule is what removes such uploads).
    let mut killed =
        crate::common::command(p, &["run", "big", "--date", "2024-06-02", "--no-progress"], &env)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
    let started = std::time::Instant::now();
    while !unfinished_uploads(moto.port).contains("<Upload>") {
        assert!(
            started.elapsed().as_secs() < 120 && killed.try_wait().unwrap().is_none(),
            "the run never started a multipart upload"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    killed.kill().unwrap();
    killed.wait().unwrap();
    // Abort what the killed run left, as the lifecycle rule would. A request the run sent just
    // before it died can still be in moto's hands, so list again until the bucket stays clean.
    let mut clean_listings = 0;
    for _ in 0..50 {
        let orphans = unfinished_uploads(moto.port);
        if !orphans.contains("<Upload>") {
            clean_listings += 1;
            if clean_listings == 3 {
                break;
            }
        } else {
            clean_listings = 0;
            for upload in orphans.split("<Upload>").skip(1) {
                let (key, id) = (
                    between(upload, "<Key>", "</Key>"),
                    between(upload, "<UploadId>", "</UploadId>"),
                );
                let aborted = http(
                    moto.port,
                    &format!(
                        "DELETE /{BUCKET}/{key}?uploadId={id} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\
                         Content-Length: 0\r\nConnection: close\r\n\r\n",
                        moto.port
                    ),
                );
                assert!(aborted.starts_with("HTTP/1.1 204"), "aborting {key}: {aborted}");
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let orphans = unfinished_uploads(moto.port);
    assert!(
        !orphans.contains("<Upload>"),
        "the killed run's uploads stay: {orphans}"
    );

    let r = run_in(
        p,
        &["run", "big", "--date", "2024-06-01", "--no-progress"],
        &env,
        None,
    );
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("Divide by zero"), "{}", r.stdout);
    let started = bucket_objects(moto.port);
    assert!(
        !started
            .iter()
            .any(|(path, _)| path.contains("reports/big/") && path.ends_with(".parquet")),
        "a data file of the failed run is in the bucket"
    );
    let left = unfinished_uploads(moto.port);
    assert!(
        !left.contains("<Upload>"),
        "the failed run left a multipart upload: {left}"
    );
}

/// The text between the first `open` and the next `close` in `s`.
pub(crate) fn between<'a>(s: &'a str, open: &str, close: &str) -> &'a str {
    s.split(open)
        .nth(1)
        .and_then(|r| r.split(close).next())
        .unwrap_or_else(|| panic!("no {open} in {s}"))
}
