//! Where the shared corpora are, and what a test that reads them does when they are absent.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The variable naming the shared folder (by default `shared/` beside the repository).
pub const SHARED_VAR: &str = "NIGHTSHIFT_SHARED";

/// The variable that, set to `1`, makes a missing shared file a test failure instead of a skip.
pub const REQUIRE_SHARED_VAR: &str = "NIGHTSHIFT_REQUIRE_SHARED";

/// The shared folder: `$NIGHTSHIFT_SHARED`, else `shared/` beside the repository (`../shared`).
///
/// The corpora there are never copied into the repository, so a fresh clone has no such folder.
pub fn shared_dir() -> PathBuf {
    match std::env::var_os(SHARED_VAR) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => beside_repository(),
    }
}

/// `shared/` beside the repository: this crate is `tests/support`, so the repository's parent is three
/// levels up.
fn beside_repository() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    match manifest.ancestors().nth(3) {
        Some(parent) => parent.join("shared"),
        None => manifest.join("../../../shared"),
    }
}

/// The file `relative` of the shared folder (e.g. `datasets/vader/tweets.parquet`) when it exists.
///
/// When it does not, the caller skips: this prints which file is missing and where the shared folder
/// was looked for on stderr (past the test harness's capture, so that a skip is seen) and returns
/// `None`. With `NIGHTSHIFT_REQUIRE_SHARED=1` (CI sets it) it panics with that message instead.
#[track_caller]
pub fn shared_file(relative: &str) -> Option<PathBuf> {
    let path = shared_dir().join(relative);
    if path.is_file() {
        return Some(path);
    }
    let origin = match std::env::var_os(SHARED_VAR) {
        Some(dir) if !dir.is_empty() => format!("{SHARED_VAR}={}", Path::new(&dir).display()),
        _ => format!("{SHARED_VAR} is unset, so shared/ beside the repository is used"),
    };
    let message = format!(
        "shared corpus file {} is missing ({origin}); point {SHARED_VAR} at the folder that holds \
         the shared corpora",
        path.display()
    );
    if required() {
        panic!("{message} ({REQUIRE_SHARED_VAR}=1 forbids skipping the tests that read it)");
    }
    let test = std::thread::current()
        .name()
        .map_or_else(String::new, |name| format!(" {name}"));
    // Straight to stderr: the harness captures `eprintln!` of passing tests, and a skip must show.
    let _ = writeln!(
        std::io::stderr(),
        "skipped{test}: {message}; {REQUIRE_SHARED_VAR}=1 makes this a failure"
    );
    None
}

/// Whether `NIGHTSHIFT_REQUIRE_SHARED=1`.
fn required() -> bool {
    std::env::var(REQUIRE_SHARED_VAR).is_ok_and(|value| value == "1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_folder_is_beside_the_repository() {
        let repository = Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2).unwrap();
        assert_eq!(beside_repository(), repository.parent().unwrap().join("shared"));
    }
}
