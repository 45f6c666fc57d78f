//! Python virtual environments (packages from PyPI) and npm package folders under the cargo target
//! folder, made once.

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};

/// The Python that makes the environments.
const BASE_PYTHON: &str = "python3";

/// The file in a finished environment listing what was installed; written last.
const STAMP: &str = "nightshift-requirements.txt";

/// A Python virtual environment with a set of PyPI packages, in `<target>/py-venv/<name>`.
///
/// ```no_run
/// let env = nightshift_test_support::PythonEnv::require("vader", &["vaderSentiment==3.3.2"]);
/// let status = env.command().args(["-c", "import vaderSentiment"]).status().unwrap();
/// assert!(status.success());
/// ```
#[derive(Debug, Clone)]
pub struct PythonEnv {
    dir: PathBuf,
}

impl PythonEnv {
    /// The environment `name` with `requirements` (pip requirement specifiers) installed.
    ///
    /// The first call makes it with `python3 -m venv` and `pip install`; later calls, in this
    /// process or any other, reuse it. Calls from several processes at once wait for one another
    /// on a lock file beside it. Changing `requirements` remakes it.
    pub fn provision(name: &str, requirements: &[&str]) -> Result<Self, PythonEnvError> {
        let dir = provision_dir("py-venv", name, requirements, |dir, stamp| {
            Self {
                dir: dir.to_path_buf(),
            }
            .make(requirements, stamp)
        })?;
        Ok(Self { dir })
    }

    /// [`provision`](Self::provision) for a test: panics with the whole chain of causes.
    #[track_caller]
    pub fn require(name: &str, requirements: &[&str]) -> Self {
        or_panic(Self::provision(name, requirements))
    }

    /// Makes the environment afresh; the caller holds the lock.
    fn make(&self, requirements: &[&str], stamp: &str) -> Result<(), PythonEnvError> {
        let _ = writeln!(
            io::stderr(),
            "provisioning a Python environment in {} with {} (once; later runs reuse it)",
            self.dir.display(),
            requirements.join(" ")
        );
        let mut venv = Command::new(BASE_PYTHON);
        venv.arg("-m").arg("venv").arg(&self.dir);
        run(venv)?;
        let mut pip = self.command();
        pip.args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check"])
            .args(requirements);
        run(pip)?;
        let stamp_path = self.dir.join(STAMP);
        fs::write(&stamp_path, stamp).map_err(|source| PythonEnvError::io("write", &stamp_path, source))
    }

    /// The environment's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The environment's Python interpreter.
    pub fn python(&self) -> PathBuf {
        if cfg!(windows) {
            self.dir.join("Scripts").join("python.exe")
        } else {
            self.dir.join("bin").join("python")
        }
    }

    /// A command running the environment's Python, e.g. with `-m moto.server`.
    pub fn command(&self) -> Command {
        Command::new(self.python())
    }
}

/// Node.js packages from the npm registry, installed once in `<target>/npm/<name>` (for servers that
/// tests start, such as Azurite).
#[derive(Debug, Clone)]
pub struct NpmPackages {
    dir: PathBuf,
}

impl NpmPackages {
    /// The folder `name` with `packages` (npm specifiers such as `azurite@3.37.0`) installed; made
    /// once and reused like a [`PythonEnv`].
    pub fn provision(name: &str, packages: &[&str]) -> Result<Self, PythonEnvError> {
        let dir = provision_dir("npm", name, packages, |dir, stamp| {
            let _ = writeln!(
                io::stderr(),
                "installing {} from npm in {} (once; later runs reuse it)",
                packages.join(" "),
                dir.display()
            );
            fs::create_dir_all(dir).map_err(|source| PythonEnvError::io("create", dir, source))?;
            let mut npm = Command::new("npm");
            npm.args([
                "install",
                "--no-audit",
                "--no-fund",
                "--loglevel=error",
                "--prefix",
            ])
            .arg(dir)
            .args(packages);
            run(npm)?;
            let stamp_path = dir.join(STAMP);
            fs::write(&stamp_path, stamp).map_err(|source| PythonEnvError::io("write", &stamp_path, source))
        })?;
        Ok(Self { dir })
    }

    /// [`provision`](Self::provision) for a test: panics with the whole chain of causes.
    #[track_caller]
    pub fn require(name: &str, packages: &[&str]) -> Self {
        or_panic(Self::provision(name, packages))
    }

    /// The folder the packages are installed in (`node_modules/` is inside).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A command running the installed executable `bin` (from `node_modules/.bin`).
    pub fn command(&self, bin: &str) -> Command {
        Command::new(self.dir.join("node_modules").join(".bin").join(bin))
    }
}

/// `<target>/<kind>/<name>`, made by `make(dir, stamp)` unless its stamp already lists
/// `requirements`. Calls from several processes at once wait for one another on a lock file beside
/// it.
fn provision_dir(
    kind: &str,
    name: &str,
    requirements: &[&str],
    make: impl FnOnce(&Path, &str) -> Result<(), PythonEnvError>,
) -> Result<PathBuf, PythonEnvError> {
    let root = target_dir().join(kind);
    fs::create_dir_all(&root).map_err(|source| PythonEnvError::io("create", &root, source))?;
    let lock_path = root.join(format!("{name}.lock"));
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|source| PythonEnvError::io("open", &lock_path, source))?;
    lock.lock()
        .map_err(|source| PythonEnvError::io("lock", &lock_path, source))?;
    let dir = root.join(name);
    let wanted = stamp_text(requirements);
    if fs::read_to_string(dir.join(STAMP)).ok() == Some(wanted.clone()) {
        return Ok(dir);
    }
    if dir.exists() {
        fs::remove_dir_all(&dir).map_err(|source| PythonEnvError::io("remove", &dir, source))?;
    }
    make(&dir, &wanted)?;
    drop(lock);
    Ok(dir)
}

/// The value of a provisioning, or a panic with the whole chain of causes.
#[track_caller]
fn or_panic<T>(r: Result<T, PythonEnvError>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => {
            let mut message = e.to_string();
            let mut cause = std::error::Error::source(&e);
            while let Some(c) = cause {
                message.push_str(&format!(": {c}"));
                cause = c.source();
            }
            panic!("{message}")
        }
    }
}

/// What the stamp of an environment with `requirements` says.
fn stamp_text(requirements: &[&str]) -> String {
    requirements.iter().map(|r| format!("{r}\n")).collect()
}

/// Runs `command` to its end, its output kept for the error if it fails.
fn run(mut command: Command) -> Result<(), PythonEnvError> {
    let shown = show(&command);
    let output = command.output().map_err(|source| PythonEnvError::Spawn {
        command: shown.clone(),
        source,
    })?;
    if output.status.success() {
        return Ok(());
    }
    Err(PythonEnvError::Failed {
        command: shown,
        status: output.status,
        output: format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    })
}

/// `command` as one would type it.
fn show(command: &Command) -> String {
    let mut words = vec![command.get_program().to_string_lossy().into_owned()];
    words.extend(command.get_args().map(|a| a.to_string_lossy().into_owned()));
    words.join(" ")
}

/// The cargo target folder of this build: found from the running test binary,
/// `<target>/<profile>/deps/<binary>`, else an absolute `$CARGO_TARGET_DIR`, else the workspace's
/// `target/`.
fn target_dir() -> PathBuf {
    let from_binary = std::env::current_exe().ok().and_then(|exe| {
        let deps = exe.parent()?;
        if deps.file_name()? != "deps" {
            return None;
        }
        Some(deps.parent()?.parent()?.to_path_buf())
    });
    if let Some(dir) = from_binary {
        return dir;
    }
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from)
        && dir.is_absolute()
    {
        return dir;
    }
    // This crate is tests/support, two levels below the workspace root.
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target")
}

/// Why a Python environment could not be made.
#[derive(Debug)]
pub enum PythonEnvError {
    /// A file or folder of the environment could not be handled.
    Io {
        /// What was done, e.g. `lock`.
        action: &'static str,
        /// On what.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// A command could not be started at all (e.g. no `python3` on the PATH).
    Spawn {
        /// The command line.
        command: String,
        /// The cause.
        source: io::Error,
    },
    /// A command ran and failed (e.g. no venv module, or pip could not reach PyPI).
    Failed {
        /// The command line.
        command: String,
        /// How it ended.
        status: ExitStatus,
        /// What it printed.
        output: String,
    },
}

impl PythonEnvError {
    fn io(action: &'static str, path: &Path, source: io::Error) -> Self {
        Self::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}

impl fmt::Display for PythonEnvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { action, path, .. } => write!(f, "cannot {action} {}", path.display()),
            Self::Spawn { command, .. } => write!(f, "cannot run `{command}`: {}", needs(command)),
            Self::Failed {
                command,
                status,
                output,
            } => write!(
                f,
                "`{command}` failed ({status}); {}:\n{}",
                needs(command),
                output.trim_end()
            ),
        }
    }
}

/// What the tests need to run `command`.
fn needs(command: &str) -> &'static str {
    if command.starts_with("npm") {
        "the tests need Node.js and npm with access to the npm registry (Debian: apt-get install nodejs npm)"
    } else {
        "the tests need python3 with its venv module and pip access to PyPI (Debian: apt-get install \
         python3 python3-venv)"
    }
}

impl std::error::Error for PythonEnvError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } | Self::Spawn { source, .. } => Some(source),
            Self::Failed { .. } => None,
        }
    }
}
