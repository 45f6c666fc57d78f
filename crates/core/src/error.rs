//! The core's error type: settings, the lake, engine set-up, parameters, read-only refusals, models.

use std::path::PathBuf;

use datafusion::error::DataFusionError;
use nightshift_lake::LakeError;

use crate::settings::{ConfigError, EngineSettings};

/// Errors of the nightshift core.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CoreError {
    /// The settings are invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The lake could not be loaded.
    #[error(transparent)]
    Lake(#[from] LakeError),
    /// The sentiment lexicon overrides file is unreadable or has a bad line.
    #[error("bad sentiment lexicon (udfs.sentiment.lexicon): {0}")]
    Lexicon(#[from] nightshift_sentiment::LexiconError),
    /// A parameter is missing or malformed.
    #[error("parameter '{name}': {message}")]
    Parameter {
        /// The parameter.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// A statement was refused in read-only mode.
    #[error("read-only mode: {what} is not allowed (drop --read-only / read_only = true to allow it)")]
    ReadOnly {
        /// What was refused.
        what: String,
    },
    /// A `datafusion.*` option of the settings could not be applied (a usage error: exit code 2).
    #[error("engine setup failed: {key} = {value}: {}", .source.strip_backtrace())]
    EngineOption {
        /// The option.
        key: String,
        /// The value it was given.
        value: String,
        /// DataFusion's reason.
        #[source]
        source: DataFusionError,
    },
    /// The spill folder (`[engine] spill_dir`) cannot be created.
    #[error("engine setup failed: cannot create spill folder '{}': {source}", .path.display())]
    SpillDir {
        /// The folder.
        path: PathBuf,
        /// The file system's reason.
        #[source]
        source: std::io::Error,
    },
    /// The runtime (memory pool, disk manager) could not be built.
    #[error("engine setup failed: {}", .0.strip_backtrace())]
    Runtime(#[source] DataFusionError),
    /// A model statement needs the lake's model store, and this session has none.
    #[error("this session has no model store")]
    NoModelStore,
    /// A model statement could not be parsed.
    #[error("model statement: {0}")]
    ModelSyntax(String),
    /// Training, storing, loading or scoring a model failed.
    #[error(transparent)]
    Model(#[from] nightshift_fraud::FraudError),
    /// A query failed.
    #[error(transparent)]
    DataFusion(#[from] DataFusionError),
}

impl From<CoreError> for DataFusionError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::DataFusion(e) => e,
            other => DataFusionError::External(Box::new(other)),
        }
    }
}

impl From<datafusion::arrow::error::ArrowError> for CoreError {
    fn from(e: datafusion::arrow::error::ArrowError) -> Self {
        CoreError::DataFusion(DataFusionError::from(e))
    }
}

/// The text of a caught panic's payload (`panic!` gives a `&str` or a `String`).
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_string())
}

/// What to do about an engine error that ran into a resource limit: the setting to raise, with its
/// value, or where the disk filled up. `None` for every other error. DataFusion names its own
/// configuration keys; nightshift users set `[engine]` keys, environment variables and flags.
pub fn resource_hint(message: &str, engine: &EngineSettings) -> Option<String> {
    let spill_dir = || match &engine.spill_dir {
        Some(d) => format!("'{}' (engine.spill_dir)", d.display()),
        None => format!(
            "the OS temp folder '{}' (set engine.spill_dir to use another disk)",
            std::env::temp_dir().display()
        ),
    };
    if message.contains("No space left on device") || message.contains("os error 28") {
        return Some(format!(
            "no space left on a disk the statement writes to; spill files go to {}: free space there and run it again",
            spill_dir()
        ));
    }
    if message.contains("max_temp_directory_size") {
        let cap = engine
            .max_spill_size
            .map_or("100 GiB, the default".to_string(), human_size);
        return Some(format!(
            "the statement's spill files reached engine.max_spill_size ({cap}) in {}: raise it \
             (NIGHTSHIFT_MAX_SPILL_SIZE) or engine.memory_limit",
            spill_dir()
        ));
    }
    if !message.contains("Resources exhausted") {
        return None;
    }
    let limit = engine.memory_limit.map_or("unset".to_string(), human_size);
    Some(format!(
        "the statement needs more memory than engine.memory_limit ({limit}) allows for what cannot \
         spill: raise it (--memory-limit, NIGHTSHIFT_MEMORY_LIMIT) or lower engine.target_partitions"
    ))
}

fn human_size(bytes: u64) -> String {
    const UNITS: [(&str, u64); 3] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    for (unit, size) in UNITS {
        if bytes >= size && bytes.is_multiple_of(size) {
            return format!("{}{unit}", bytes / size);
        }
    }
    format!("{bytes} bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_errors_name_the_nightshift_setting_and_its_value() {
        let engine = EngineSettings {
            memory_limit: Some(16 << 20),
            max_spill_size: Some(1 << 20),
            spill_dir: Some("/spill".into()),
            ..Default::default()
        };
        let disk = "External error: IO error: The used disk space during the spilling process has exceeded \
                    the allowable limit of 1.0 MB. Please try increasing the config: \
                    `datafusion.runtime.max_temp_directory_size`.";
        let hint = resource_hint(disk, &engine).unwrap();
        assert!(
            hint.contains("engine.max_spill_size (1MiB)") && hint.contains("'/spill'"),
            "{hint}"
        );
        let memory = "Resources exhausted: Failed to allocate additional 8.0 MB for SortPreservingMergeExec";
        let hint = resource_hint(memory, &engine).unwrap();
        assert!(hint.contains("engine.memory_limit (16MiB)"), "{hint}");
        let full = "IO error: No space left on device (os error 28)";
        assert!(resource_hint(full, &engine).unwrap().contains("'/spill'"));
        assert_eq!(resource_hint("table 'x' not found", &engine), None);
    }
}
