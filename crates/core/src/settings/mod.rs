//! `nightshift.toml`: strict, layered settings (defaults < file < `NIGHTSHIFT_*` env < flags).

mod datafusion_options;
mod environment;
mod file;
mod flags;
mod lake;
mod types;
mod values;

use std::path::{Path, PathBuf};

pub use self::flags::Overrides;
pub use self::types::{
    ClusterSettings, DEFAULT_CONFIG_FILE, DEFAULT_LAKE_ROOT, EngineSettings, JobsSource, ModelSettings,
    Settings, UdfSettings,
};
pub use self::values::{parse_size, parse_sql_type};
pub use crate::config_error::{ConfigError, ConfigIssue};

use self::datafusion_options::{Origins, validate_datafusion};
use self::environment::apply_env;
use self::file::parse_file;
use self::flags::apply_flags;
use crate::config_error::IssueOrigin;

impl Settings {
    /// Loads settings: defaults, then the file (`path`, or `./nightshift.toml` if present), then the
    /// `NIGHTSHIFT_*` variables read through `env`, then `flags`. Every problem is reported at once.
    pub fn load(
        path: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
        flags: &Overrides,
    ) -> Result<Self, ConfigError> {
        let mut issues = Vec::new();
        let mut origins = Origins::new();
        let mut settings = Settings::default();
        let file = match path {
            Some(p) => Some(p.to_path_buf()),
            None => Some(PathBuf::from(DEFAULT_CONFIG_FILE)).filter(|p| p.is_file()),
        };
        if let Some(file) = &file {
            let whole_file = |message| ConfigIssue {
                origin: IssueOrigin::File(file.clone()),
                key: String::new(),
                message,
            };
            match std::fs::read(file) {
                Ok(bytes) => match String::from_utf8(bytes) {
                    Ok(text) => parse_file(&text, file, &mut settings, &mut origins, &mut issues),
                    Err(e) => issues.push(whole_file(format!(
                        "the file is not UTF-8 (byte {})",
                        e.utf8_error().valid_up_to()
                    ))),
                },
                Err(e) => issues.push(whole_file(format!("cannot read the settings file: {e}"))),
            }
            settings.source = Some(file.clone());
        }
        apply_env(env, &mut settings, &mut issues);
        apply_flags(flags, &mut settings, &mut origins, &mut issues);
        validate_datafusion(&settings.engine.datafusion, &origins, &mut issues);
        if !issues.is_empty() {
            return Err(ConfigError { issues });
        }
        settings.resolve_root();
        Ok(settings)
    }

    /// Parses settings from TOML text alone (no env, no flags); `name` is used in messages.
    pub fn from_toml(text: &str, name: &Path) -> Result<Self, ConfigError> {
        let mut settings = Settings::default();
        let mut issues = Vec::new();
        let mut origins = Origins::new();
        parse_file(text, name, &mut settings, &mut origins, &mut issues);
        validate_datafusion(&settings.engine.datafusion, &origins, &mut issues);
        if issues.is_empty() {
            settings.source = Some(name.to_path_buf());
            settings.resolve_root();
            Ok(settings)
        } else {
            Err(ConfigError { issues })
        }
    }

    /// A relative local root is relative to the settings file's folder (or the current folder), and
    /// so are other paths the file names.
    fn resolve_root(&mut self) {
        if let Some(p) = &self.udfs.sentiment_lexicon
            && p.is_relative()
        {
            self.udfs.sentiment_lexicon = Some(self.base_dir().join(p));
        }
        let root = &self.lake.root;
        if root.contains("://") || Path::new(root).is_absolute() {
            return;
        }
        let joined = self.base_dir().join(root);
        let abs = std::path::absolute(&joined).unwrap_or(joined);
        self.lake.root = normalize(&abs).display().to_string();
    }

    /// The settings file's folder, or the current folder.
    fn base_dir(&self) -> PathBuf {
        self.source
            .as_ref()
            .and_then(|s| s.parent().map(Path::to_path_buf))
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from("."))
    }
}

/// Removes `.` and resolves `..` lexically.
pub(crate) fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_env_and_flags() {
        let env = |k: &str| match k {
            "NIGHTSHIFT_MEMORY_LIMIT" => Some("1GiB".to_string()),
            "NIGHTSHIFT_TARGET_PARTITIONS" => Some("3".to_string()),
            _ => None,
        };
        let flags = Overrides {
            target_partitions: Some(7),
            ..Default::default()
        };
        let s = Settings::load(Some(Path::new("/definitely/missing.toml")), &env, &flags);
        assert!(
            s.unwrap_err()
                .to_string()
                .contains("cannot read the settings file")
        );
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("n.toml");
        std::fs::write(&file, "[engine]\nmemory_limit = \"512MiB\"\nbatch_size = 100\n").unwrap();
        let s = Settings::load(Some(&file), &env, &flags).unwrap();
        assert_eq!(s.engine.memory_limit, Some(1 << 30));
        assert_eq!(s.engine.target_partitions, Some(7));
        assert_eq!(s.engine.batch_size, Some(100));
    }

    #[test]
    fn an_unreadable_file_is_named_without_a_line() {
        let err = Settings::load(
            Some(Path::new("/definitely/missing.toml")),
            &|_| None,
            &Overrides::default(),
        )
        .unwrap_err();
        assert_eq!(
            err.issues[0].origin,
            IssueOrigin::File("/definitely/missing.toml".into())
        );
        assert!(
            err.to_string().starts_with(
                "invalid settings (1 problem):\n  /definitely/missing.toml: cannot read the settings file: "
            ),
            "{err}"
        );
    }

    #[test]
    fn relative_paths_are_relative_to_the_file() {
        let s = Settings::from_toml(
            "[lake]\nroot = \"./a/../lake\"\n[udfs.sentiment]\nlexicon = \"words.tsv\"\n",
            Path::new("/p/nightshift.toml"),
        )
        .unwrap();
        assert_eq!(s.lake.root, "/p/lake");
        assert_eq!(s.udfs.sentiment_lexicon, Some(PathBuf::from("/p/words.tsv")));
    }
}
