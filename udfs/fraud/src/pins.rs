//! The model versions a statement was planned with, shipped to wherever it runs: the
//! `nightshift_models.*` session options.

use std::any::Any;

use datafusion::common::config::{ConfigEntry, ConfigExtension, ExtensionOptions};
use datafusion::common::{Result, config_err};
use datafusion::config::ConfigOptions;

/// The concrete model versions (`name@vN`) the client resolved "latest" to when it planned a
/// statement, and the client's default fraud model: a DataFusion config extension, so on a Ballista
/// cluster they travel with every task and every executor scores with the versions the client planned
/// with, not with whatever is newest when the task runs. nightshift sets them before each statement;
/// they are not meant to be set by hand.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModelPins {
    versions: String,
    fraud_model: String,
}

const VERSIONS: &str = "versions";
const FRAUD_MODEL: &str = "fraud_model";

impl ModelPins {
    /// Pins `versions` (`name@vN` each) with `fraud_model` as the default fraud model's name.
    pub fn new(versions: &[String], fraud_model: Option<&str>) -> Self {
        Self {
            versions: versions.join(","),
            fraud_model: fraud_model.unwrap_or_default().to_string(),
        }
    }

    /// The version planned for model `name` (`name@vN`), if the client pinned one.
    pub fn model_version(&self, name: &str) -> Option<&str> {
        self.versions
            .split(',')
            .find(|r| r.split_once('@').is_some_and(|(n, _)| n == name))
    }

    /// The client's default fraud model, if it shipped one.
    pub fn fraud_model(&self) -> Option<&str> {
        Some(self.fraud_model.as_str()).filter(|s| !s.is_empty())
    }

    /// The extension installed in `options`, if any.
    pub fn from_config(options: &ConfigOptions) -> Option<&Self> {
        options.extensions.get::<Self>()
    }
}

impl ConfigExtension for ModelPins {
    const PREFIX: &'static str = "nightshift_models";
}

impl ExtensionOptions for ModelPins {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn cloned(&self) -> Box<dyn ExtensionOptions> {
        Box::new(self.clone())
    }

    fn set(&mut self, key: &str, value: &str) -> Result<()> {
        match key {
            VERSIONS => {
                for r in value.split(',').filter(|r| !r.is_empty()) {
                    if !r
                        .split_once('@')
                        .is_some_and(|(n, v)| !n.is_empty() && v.starts_with('v'))
                    {
                        return config_err!(
                            "{}.{VERSIONS} = '{value}': expected name@vN, comma-separated",
                            Self::PREFIX
                        );
                    }
                }
                self.versions = value.to_string();
                Ok(())
            }
            FRAUD_MODEL => {
                self.fraud_model = value.to_string();
                Ok(())
            }
            _ => {
                let p = Self::PREFIX;
                config_err!("unknown option {p}.{key}: the options are {p}.{VERSIONS} and {p}.{FRAUD_MODEL}")
            }
        }
    }

    fn entries(&self) -> Vec<ConfigEntry> {
        vec![
            ConfigEntry {
                key: format!("{}.{VERSIONS}", Self::PREFIX),
                value: Some(self.versions.clone()),
                description: "The model versions (name@vN, comma-separated) the statement was planned with; \
                              set by nightshift before each statement so that cluster executors score with them",
            },
            ConfigEntry {
                key: format!("{}.{FRAUD_MODEL}", Self::PREFIX),
                value: Some(self.fraud_model.clone()),
                description: "The default fraud model fraud_score() uses; set by nightshift from [models] fraud",
            },
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_are_set_through_config_options_and_checked() {
        let mut options = ConfigOptions::new();
        options.extensions.insert(ModelPins::default());
        options
            .set("nightshift_models.versions", "m@v3,fraud@v12")
            .unwrap();
        options.set("nightshift_models.fraud_model", "fraud").unwrap();
        let err = options.set("nightshift_models.versions", "m3").unwrap_err();
        assert!(err.to_string().contains("name@vN"), "{err}");
        let err = options.set("nightshift_models.other", "1").unwrap_err();
        assert!(err.to_string().contains("nightshift_models.versions"), "{err}");
        let pinned = ModelPins::from_config(&options).unwrap();
        assert_eq!(pinned.model_version("fraud"), Some("fraud@v12"));
        assert_eq!(pinned.model_version("m"), Some("m@v3"));
        assert_eq!(pinned.model_version("fra"), None);
        assert_eq!(pinned.fraud_model(), Some("fraud"));
        assert_eq!(
            ModelPins::new(&["a@v1".into(), "b@v2".into()], None),
            ModelPins {
                versions: "a@v1,b@v2".into(),
                fraud_model: String::new()
            }
        );
    }
}
