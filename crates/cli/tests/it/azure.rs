//! The lake on Azure Blob Storage, served by Azurite (Microsoft's emulator, from npm) on loopback:
//! discovery, a job publishing its Delta report, time travel, and the report read by the outside
//! Delta readers (deltalake and Polars from PyPI) with the same rows.

use std::path::Path;
use std::process::Command;

use nightshift_test_support::{NpmPackages, PythonEnv};

use crate::common::{Server, demo_lake, free_port, run_in};
use crate::delta::{DELTALAKE, publish_two_days, same_in_deltalake, sql_rows};

/// Azurite and the Azure SDK that creates the container and uploads the demo lake (the last release
/// that runs on Node.js 20).
const PACKAGES: &[&str] = &["azurite@3.37.0", "@azure/storage-blob@12.30.0"];
/// Azurite's well-known development account (public, documented by Microsoft).
const ACCOUNT: &str = "devstoreaccount1";
const KEY: &str = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
const CONTAINER: &str = "warehouse";

/// Creates the container `argv[2]` at the account endpoint `argv[1]` and copies the folder `argv[3]`
/// to `argv[4]/` in it.
const UPLOAD: &str = r#"
const { BlobServiceClient, StorageSharedKeyCredential } = require("@azure/storage-blob");
const fs = require("fs"), path = require("path");
const [endpoint, container, root, prefix] = process.argv.slice(1);
const svc = new BlobServiceClient(endpoint, new StorageSharedKeyCredential(process.env.ACCOUNT, process.env.KEY));
const walk = (d) => fs.readdirSync(d, { withFileTypes: true })
  .flatMap((e) => (e.isDirectory() ? walk(path.join(d, e.name)) : [path.join(d, e.name)]));
(async () => {
  const c = svc.getContainerClient(container);
  await c.createIfNotExists();
  for (const f of walk(root)) {
    const rel = path.relative(root, f).split(path.sep).join("/");
    await c.getBlockBlobClient(`${prefix}/${rel}`).uploadFile(f);
  }
})().catch((e) => { console.error(e); process.exit(1); });
"#;

/// Starts Azurite's blob service on a free loopback port, in memory.
fn start_azurite(npm: &NpmPackages, workdir: &Path) -> Server {
    let port = free_port();
    let mut command = npm.command("azurite-blob");
    command
        .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
        .args(["--inMemoryPersistence", "--skipApiVersionCheck", "--silent"])
        .current_dir(workdir);
    Server::start("Azurite", command, port)
}

/// Azurite with the demo lake under `lake/` in the container, and its account endpoint.
fn azurite_with_demo_lake(npm: &NpmPackages, p: &Path) -> (Server, String) {
    let azurite = start_azurite(npm, p);
    let endpoint = format!("http://127.0.0.1:{}/{ACCOUNT}", azurite.port);
    let upload = Command::new("node")
        .arg("-e")
        .arg(UPLOAD)
        .args([&endpoint, CONTAINER, demo_lake().to_str().unwrap(), "lake"])
        .env("NODE_PATH", npm.dir().join("node_modules"))
        .env("ACCOUNT", ACCOUNT)
        .env("KEY", KEY)
        .output()
        .expect("run node");
    assert!(
        upload.status.success(),
        "{}",
        String::from_utf8_lossy(&upload.stderr)
    );
    (azurite, endpoint)
}

/// Credentials only in the environment, as for a real account.
const CREDS: [(&str, &str); 2] = [
    ("AZURE_STORAGE_ACCOUNT_NAME", ACCOUNT),
    ("AZURE_STORAGE_ACCOUNT_KEY", KEY),
];

#[test]
fn a_report_published_on_azure_reads_the_same_in_nightshift_deltalake_and_polars() {
    let npm = NpmPackages::require("azurite", PACKAGES);
    let env = PythonEnv::require("deltalake", DELTALAKE);
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let (_azurite, endpoint) = azurite_with_demo_lake(&npm, p);
    let creds = CREDS;
    let (latest, earlier) = publish_two_days(
        p,
        &format!(
            "root = \"az://{CONTAINER}/lake\"\n[lake.storage]\nendpoint = \"{endpoint}\"\nallow_http = true"
        ),
        &creds,
    );
    let tables = run_in(p, &["tables", "--format", "csv"], &creds, None);
    tables.ok();
    assert!(
        tables.stdout.contains("reports.daily_sentiment,delta v2,")
            && tables.stdout.contains("reviews,parquet,1000,"),
        "{}",
        tables.stdout
    );
    let reviews = sql_rows(
        p,
        &creds,
        "SELECT count(*) AS n FROM reviews WHERE review_date = DATE '2024-06-02'",
    );
    let counted: i64 = latest
        .iter()
        .filter(|r| r["review_date"] == "2024-06-02")
        .map(|r| r["reviews"].as_i64().unwrap())
        .sum();
    assert_eq!(reviews[0]["n"].as_i64(), Some(counted), "{latest:?}");

    let options = [
        ("account_name", ACCOUNT.to_string()),
        ("account_key", KEY.to_string()),
        ("endpoint", endpoint.clone()),
        ("allow_http", "true".to_string()),
    ];
    same_in_deltalake(
        &env,
        &format!("az://{CONTAINER}/lake/reports/daily_sentiment"),
        &options,
        &latest,
        &earlier,
    );
}

/// R2 on Azure: the fault-injecting proxy of the S3 test in front of Azurite (503s, replies lost
/// after the request took effect, requests held past the timeout, at about a fifth of requests). Each
/// run succeeds within its retries, the report has exactly one version per run, and its rows agree
/// with its input, read without the proxy.
#[test]
fn store_faults_on_azure_cost_retries_not_data() {
    let npm = NpmPackages::require("azurite", PACKAGES);
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let (azurite, endpoint) = azurite_with_demo_lake(&npm, p);
    let proxy = crate::s3::start_faulty_proxy(azurite.port, 15, 4, 2, crate::s3::fault_seed());
    let lake = |port: u16| {
        format!(
            "root = \"az://{CONTAINER}/lake\"\n[lake.storage]\nendpoint = \"http://127.0.0.1:{port}/{ACCOUNT}\"\n\
             allow_http = true"
        )
    };
    let dates = crate::s3::run_days_through_faults(p, &lake(proxy.port), &CREDS);
    let [forwarded, failed, lost, slowed] = *proxy.counts.lock().unwrap();
    assert!(
        failed > 5 && lost > 0 && forwarded > 50,
        "{forwarded} {failed} {lost} {slowed}"
    );
    let direct = std::fs::read_to_string(p.join("nightshift.toml"))
        .unwrap()
        .replace(&lake(proxy.port), &lake(azurite.port));
    assert!(direct.contains(&endpoint));
    std::fs::write(p.join("nightshift.toml"), direct).unwrap();
    let tables = run_in(p, &["tables", "--format", "csv"], &CREDS, None);
    tables.ok();
    assert!(
        tables.stdout.contains("reports.daily_sentiment,delta v3,"),
        "one version per run after the table's creation:\n{}",
        tables.stdout
    );
    let runs = sql_rows(
        p,
        &CREDS,
        "SELECT count(*) AS n FROM nightshift.runs WHERE job = 'daily_sentiment' AND state = 'succeeded'",
    );
    assert_eq!(runs[0]["n"].as_i64(), Some(dates.len() as i64), "{runs:?}");
    let same = sql_rows(
        p,
        &CREDS,
        "SELECT (SELECT sum(reviews) FROM reports.daily_sentiment) = \
         (SELECT count(*) FROM reviews WHERE review_date BETWEEN DATE '2024-06-01' AND DATE '2024-06-03') AS same",
    );
    assert_eq!(same[0]["same"], true, "{same:?}");
}
