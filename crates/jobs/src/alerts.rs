//! Sending alerts: the event's JSON POSTed to a webhook or given to a command on its standard
//! input, retried on error, never failing the run it reports.

use std::time::Duration;

use tokio::io::AsyncWriteExt;

use crate::spec::AlertTarget;

/// Tries per alert.
const TRIES: u32 = 3;
/// How long one try may take.
const TRY_TIMEOUT: Duration = Duration::from_secs(30);

/// Sends `event` to `target`, retrying with a growing pause; what went wrong is logged, not returned
/// (an alert never changes how its run ended). `true` when it was delivered.
pub(crate) async fn send(target: &AlertTarget, event: &serde_json::Value) -> bool {
    let body = event.to_string();
    let mut pause = Duration::from_millis(500);
    for attempt in 1..=TRIES {
        let outcome = match tokio::time::timeout(TRY_TIMEOUT, try_send(target, &body)).await {
            Ok(r) => r,
            Err(_) => Err(format!("no answer within {} s", TRY_TIMEOUT.as_secs())),
        };
        match outcome {
            Ok(()) => {
                tracing::info!(target = %describe(target), event = %event["event"], "alert sent");
                return true;
            }
            Err(e) if attempt < TRIES => {
                tracing::warn!(target = %describe(target), attempt, error = %e, "alert failed, retrying");
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
            Err(e) => {
                tracing::error!(target = %describe(target), error = %e, "alert not delivered after {TRIES} tries");
            }
        }
    }
    false
}

async fn try_send(target: &AlertTarget, body: &str) -> Result<(), String> {
    match target {
        AlertTarget::Webhook(url) => {
            let url = expand_env(url)?;
            let response = reqwest::Client::new()
                .post(&url)
                .header("content-type", "application/json")
                .body(body.to_string())
                .send()
                .await
                .map_err(|e| e.without_url().to_string())?; // the URL may hold a secret
            if response.status().is_success() {
                Ok(())
            } else {
                Err(format!("the webhook answered {}", response.status()))
            }
        }
        AlertTarget::Command(command) => {
            let mut child = tokio::process::Command::new("sh")
                .arg("-c")
                .arg(command)
                .stdin(std::process::Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| format!("cannot start the command: {e}"))?;
            if let Some(mut stdin) = child.stdin.take() {
                // A command that does not read its input is fine.
                let _ = stdin.write_all(body.as_bytes()).await;
            }
            let status = child.wait().await.map_err(|e| e.to_string())?;
            if status.success() {
                Ok(())
            } else {
                Err(format!("the command exited with {status}"))
            }
        }
    }
}

/// The target for logs: a webhook's scheme and host only (its path may hold a token).
fn describe(target: &AlertTarget) -> String {
    match target {
        AlertTarget::Webhook(url) => match url::Url::parse(url) {
            Ok(u) => format!("{}://{}/…", u.scheme(), u.host_str().unwrap_or("?")),
            Err(_) => "a webhook".into(),
        },
        AlertTarget::Command(c) => format!("command `{c}`"),
    }
}

/// `${NAME}` replaced by the environment variable `NAME`; a missing one is an error naming it.
fn expand_env(text: &str) -> Result<String, String> {
    expand_vars(text, &|name| std::env::var(name).ok())
}

/// `${NAME}` replaced by `var(NAME)`.
fn expand_vars(text: &str, var: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('}') else {
            return Err("an unclosed ${ in the webhook URL".into());
        };
        let name = &rest[start + 2..start + end];
        let value = var(name).ok_or_else(|| {
            format!("the webhook URL needs the environment variable {name}, which is not set")
        })?;
        out.push_str(&value);
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_variables_fill_the_url() {
        let var = |name: &str| (name == "ALERT_TOKEN").then(|| "s3cr3t".to_string());
        assert_eq!(
            expand_vars("https://hooks.example/${ALERT_TOKEN}/x", &var).unwrap(),
            "https://hooks.example/s3cr3t/x"
        );
        let e = expand_vars("https://hooks.example/${NOT_SET}", &var).unwrap_err();
        assert!(e.contains("NOT_SET"), "{e}");
        assert!(expand_vars("https://hooks.example/${OPEN", &var).is_err());
    }
}
