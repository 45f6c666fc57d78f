//! Alerts: a run that ends badly POSTs its record to a webhook (with a secret from the
//! environment in the URL) or gives it to a command; a missed deadline alerts once; an alert
//! that cannot be delivered is retried and never changes how the run ended.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::common::{append, edit, run_in};
use crate::ready::project;

/// A webhook on loopback that answers 503 to its first request and 200 after; it keeps each
/// request's path and body.
struct Hook {
    port: u16,
    got: Arc<Mutex<Vec<(String, String)>>>,
}

impl Hook {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let got = Arc::new(Mutex::new(Vec::new()));
        let seen = got.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { break };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
                let mut length = 0;
                loop {
                    let mut header = String::new();
                    reader.read_line(&mut header).unwrap();
                    if header.trim().is_empty() {
                        break;
                    }
                    if let Some(v) = header.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap();
                    }
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                let first = {
                    let mut got = seen.lock().unwrap();
                    got.push((path, String::from_utf8(body).unwrap()));
                    got.len() == 1
                };
                let status = if first {
                    "503 Service Unavailable"
                } else {
                    "200 OK"
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
            }
        });
        Self { port, got }
    }

    fn requests(&self) -> Vec<(String, serde_json::Value)> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .map(|(p, b)| (p.clone(), serde_json::from_str(b).unwrap()))
            .collect()
    }
}

fn add_to_job(p: &Path, keys: &str) {
    append(&p.join("nightshift.toml"), &format!("{keys}\n"));
}

#[test]
fn a_run_that_ends_badly_alerts_its_webhook_or_command_once() {
    let hook = Hook::start();
    let dir = project("");
    let p = dir.path();
    add_to_job(
        p,
        &format!(
            "on_input_missing = \"http://127.0.0.1:{}/hook/${{ALERT_TOKEN}}\"\non_failure = \"cat > failure.json\"",
            hook.port
        ),
    );
    let env = [("ALERT_TOKEN", "t0ken")];
    let r = run_in(
        p,
        &["run", "daily", "--date", "2024-06-02", "--no-progress"],
        &env,
        None,
    );
    assert_eq!(r.code, 4, "{}\n{}", r.stdout, r.stderr);
    // Answered 503 first: sent again, the same body.
    let got = hook.requests();
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0], got[1]);
    let (path, body) = &got[1];
    assert_eq!(path, "/hook/t0ken");
    assert_eq!(body["event"], "input_missing");
    assert_eq!(body["job"], "daily");
    assert_eq!(body["run_date"], "2024-06-02");
    assert_eq!(body["run"]["state"], "input_missing");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("ready_when was still false"),
        "{body}"
    );
    // The token is in no log line.
    assert!(!r.stderr.contains("t0ken"), "{}", r.stderr);
    assert!(
        !p.join("failure.json").exists(),
        "an input-missing run alerted on_failure too"
    );

    // A failure goes to the command, with the record on its standard input.
    edit(
        &p.join("nightshift.toml"),
        "SELECT count(*) > 0 FROM events",
        "SELECT count(*) FROM events",
    );
    let r = run_in(
        p,
        &["run", "daily", "--date", "2024-06-02", "--no-progress"],
        &env,
        None,
    );
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let alert: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p.join("failure.json")).unwrap()).unwrap();
    assert_eq!(alert["event"], "failure");
    assert!(
        alert["message"]
            .as_str()
            .unwrap()
            .contains("must return one boolean"),
        "{alert}"
    );
    assert_eq!(hook.requests().len(), 2, "a failure alerted on_input_missing");

    // An alert that cannot be delivered is retried, logged, and the run ends as it would have.
    std::fs::remove_file(p.join("failure.json")).unwrap();
    edit(
        &p.join("nightshift.toml"),
        "on_failure = \"cat > failure.json\"",
        "on_failure = \"exit 7\"",
    );
    let r = run_in(
        p,
        &["run", "daily", "--date", "2024-06-02", "--no-progress"],
        &env,
        None,
    );
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("alert not delivered after 3 tries"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_missed_deadline_alerts_once() {
    let dir = project("");
    let p = dir.path();
    add_to_job(
        p,
        "deadline = \"00:00 UTC\"\non_deadline = \"cat >> deadline.jsonl && echo >> deadline.jsonl\"",
    );
    // The newest day whose deadline has passed: day D of a `daily @ 02:00 UTC` job fires at 02:00
    // on D + 1, so its 00:00 UTC deadline is D + 2 at 00:00.
    let expected = (chrono::Utc::now().date_naive() - chrono::Duration::days(2)).to_string();
    for _ in 0..2 {
        run_in(p, &["schedule", "--once"], &[], None).ok();
    }
    let text = std::fs::read_to_string(p.join("deadline.jsonl")).unwrap();
    let alerts: Vec<serde_json::Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(alerts.len(), 1, "{text}");
    assert_eq!(alerts[0]["event"], "deadline");
    assert_eq!(alerts[0]["run_date"], expected);
    assert!(
        alerts[0]["message"]
            .as_str()
            .unwrap()
            .contains("was not published by its deadline"),
        "{text}"
    );
}
