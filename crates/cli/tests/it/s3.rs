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

pub(crate) fn upload_demo_lake(port: u16) {
    upload_dir(port, demo_lake(), "lake");
}

/// Creates the bucket if needed and copies the folder `root` to `s3://BUCKET/<prefix>/`.
pub(crate) fn upload_dir(port: u16, root: &std::path::Path, prefix: &str) {
    use object_store::aws::AmazonS3Builder;
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
    let store = AmazonS3Builder::new()
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
    use object_store::aws::AmazonS3Builder;
    use object_store::{ObjectStore, ObjectStoreExt};
    let store = AmazonS3Builder::new()
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
