//! How a command fails: the `Failure` kinds, their exit codes, and the error text on stderr.

use std::process::ExitCode;

/// Exit codes: 0 success, 1 a failed query or job, 2 a usage or config error, 3 a partially succeeded
/// job, 4 a job whose input was not ready, 5 a job its checks blocked.
pub enum Failure {
    /// A query, file or job failed.
    Query(anyhow::Error),
    /// Bad settings or arguments.
    Usage(anyhow::Error),
    /// Jobs ran and their summaries were printed; exit with this code (1 failed, 3 partially
    /// succeeded, 4 input not ready, 5 blocked).
    Exit(u8),
}

impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure::Query(e.into())
    }
}

impl Failure {
    /// A usage or config error (exit code 2).
    pub fn usage(e: impl Into<anyhow::Error>) -> Self {
        Failure::Usage(e.into())
    }

    /// What went wrong, for a message that does not end the process (the REPL).
    pub fn message(&self) -> String {
        match self {
            Failure::Query(e) | Failure::Usage(e) => render(e),
            Failure::Exit(code) => format!("exit code {code}"),
        }
    }
}

/// A panic caught at the top of a command: exit 1 with what to report.
pub fn panicked(payload: &(dyn std::any::Any + Send)) -> Failure {
    let message = nightshift_core::panic_message(payload);
    Failure::Query(anyhow::anyhow!(
        "nightshift panicked: {message}\n  this is a bug: please report it with the command and the SQL that ran"
    ))
}

/// The exit code of a command's outcome, after printing its error. A broken pipe (the reader of
/// stdout went away, as with `| head`) is success.
pub fn exit_code(outcome: Result<(), Failure>) -> ExitCode {
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Query(e)) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(Failure::Query(e)) => {
            eprintln!("error: {}", render(&e));
            ExitCode::from(1)
        }
        Err(Failure::Usage(e)) => {
            eprintln!("error: {}", render(&e));
            ExitCode::from(2)
        }
        Err(Failure::Exit(code)) => ExitCode::from(code),
    }
}

/// The error and each cause that adds something, one per line.
fn render(e: &anyhow::Error) -> String {
    let mut s = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !s.contains(&c) {
            s.push_str(&format!("\n  caused by: {c}"));
        }
    }
    s
}

/// Whether `e` is a write to a closed pipe (the reader went away, as `| head` does): the one rule
/// is that this is success, for the exit code and for the REPL alike. Errors that crossed Arrow or
/// DataFusion carry it only in their text.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || c.to_string().contains("Broken pipe")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_pipe_is_found_through_wrappers_and_text() {
        let io = std::io::Error::new(std::io::ErrorKind::BrokenPipe, "gone");
        assert!(is_broken_pipe(&anyhow::Error::new(io).context("cannot write")));
        let arrow = arrow::error::ArrowError::IoError(
            "Broken pipe (os error 32)".into(),
            std::io::ErrorKind::BrokenPipe.into(),
        );
        assert!(is_broken_pipe(&anyhow::Error::new(arrow)));
        assert!(!is_broken_pipe(&anyhow::anyhow!("no table 'x'")));
    }
}
