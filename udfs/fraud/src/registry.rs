//! The per-session model cache the scoring functions plan against.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use datafusion::config::ConfigOptions;

use crate::store::check_name;
use crate::{FraudError, Model, ModelStore};

/// Splits `name` or `name@v2` into the name and the pinned version.
pub fn parse_reference(name_ref: &str) -> Result<(&str, Option<u32>), FraudError> {
    let bad = || FraudError::InvalidReference(name_ref.to_owned());
    let (name, version) = match name_ref.split_once('@') {
        None => (name_ref, None),
        Some((name, v)) => {
            let digits = v
                .strip_prefix('v')
                .or_else(|| v.strip_prefix('V'))
                .ok_or_else(bad)?;
            let n: u32 = digits.parse().map_err(|_| bad())?;
            if n == 0 || digits.starts_with('+') {
                return Err(bad());
            }
            (name, Some(n))
        }
    };
    check_name(name).map_err(|_| bad())?;
    Ok((name, version))
}

/// Models loaded in a session, by `name` (the latest this session knows) and `name@vN`.
///
/// Scoring functions plan against [`get`](Self::get), which never blocks; the session calls
/// [`ensure_loaded`](Self::ensure_loaded) for each model a statement names before planning it.
/// A model is loaded once per session, not per batch.
#[derive(Debug)]
pub struct ModelRegistry {
    store: Option<ModelStore>,
    default_fraud_model: Option<String>,
    models: RwLock<HashMap<String, Arc<Model>>>,
    pins: RwLock<HashMap<String, u32>>,
    lenient: std::sync::atomic::AtomicBool,
}

impl ModelRegistry {
    /// A registry over `store` (None: models only live in the session) with the project's default
    /// fraud model (`[models] fraud = "name"`).
    pub fn new(store: Option<ModelStore>, default_fraud_model: Option<String>) -> Arc<Self> {
        Arc::new(Self {
            store,
            default_fraud_model,
            models: RwLock::new(HashMap::new()),
            pins: RwLock::new(HashMap::new()),
            lenient: Default::default(),
        })
    }

    /// From now on `name` without a version means `name@v{version}`, not the latest: a job run pins
    /// the versions its dependency produced for an interval not newer than its own. Forgets a
    /// different version of `name` cached as its latest.
    pub fn pin(&self, name: &str, version: u32) {
        self.pins
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_owned(), version);
        let mut models = self.models.write().unwrap_or_else(|e| e.into_inner());
        if models.get(name).is_some_and(|m| m.version() != version) {
            models.remove(name);
        }
    }

    /// Plans scoring calls without their model when it is not loaded: for a Ballista scheduler,
    /// which rebuilds plans the client has already checked against the model, and must not load
    /// (and keep) a "latest" version for it. Executors load the shipped version when they score.
    pub fn plan_leniently(&self) {
        self.lenient.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether [`Self::plan_leniently`] is in force.
    pub fn is_lenient(&self) -> bool {
        self.lenient.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The version `name` is pinned to, if any.
    pub fn pinned(&self, name: &str) -> Option<u32> {
        self.pins
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .copied()
    }

    /// The model `name_ref` (`name` or `name@v2`), from the cache or else the store.
    pub async fn ensure_loaded(&self, name_ref: &str) -> Result<Arc<Model>, FraudError> {
        if let Some(m) = self.get(name_ref) {
            return Ok(m);
        }
        let (name, asked) = parse_reference(name_ref)?;
        let version = asked.or_else(|| self.pinned(name));
        let Some(store) = &self.store else {
            return Err(FraudError::NotFound {
                name: name_ref.to_owned(),
                base: name.to_owned(),
            });
        };
        let model = store.load(name, version).await?;
        let mut models = self.models.write().unwrap_or_else(|e| e.into_inner());
        models.insert(model.reference(), model.clone());
        if asked.is_none() {
            models.insert(name.to_owned(), model.clone());
        }
        Ok(model)
    }

    /// The cached model `name_ref`, if loaded.
    pub fn get(&self, name_ref: &str) -> Option<Arc<Model>> {
        let (name, version) = parse_reference(name_ref).ok()?;
        let key = match version {
            Some(v) => format!("{name}@v{v}"),
            None => name.to_owned(),
        };
        self.models
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .cloned()
    }

    /// Caches `model` (after CREATE MODEL) as the latest of its name.
    pub fn insert(&self, model: Arc<Model>) {
        let mut models = self.models.write().unwrap_or_else(|e| e.into_inner());
        models.insert(model.reference(), model.clone());
        models.insert(model.name().to_owned(), model);
    }

    /// Forgets every cached version of `name` (after DROP MODEL).
    pub fn forget(&self, name: &str) {
        let prefix = format!("{name}@");
        self.models
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|k, _| k != name && !k.starts_with(&prefix));
    }

    /// The concrete versions (`name@vN`) this session has loaded or trained, sorted: what a run
    /// scored or trained with, for its manifest.
    pub fn loaded(&self) -> Vec<String> {
        let mut refs: Vec<String> = self
            .models
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .map(|m| m.reference())
            .collect();
        refs.sort();
        refs.dedup();
        refs
    }

    /// What `name` without a version means in this session, for each model it has loaded: the
    /// concrete `name@vN`, sorted. The client ships these with a statement (`nightshift_models.versions`)
    /// so that cluster executors resolve `name` to the same version.
    pub fn planned_versions(&self) -> Vec<String> {
        let mut refs: Vec<String> = self
            .models
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(k, _)| !k.contains('@'))
            .map(|(_, m)| m.reference())
            .collect();
        refs.sort();
        refs
    }

    /// The project's default fraud model name.
    pub fn default_fraud_model(&self) -> Option<&str> {
        self.default_fraud_model.as_deref()
    }

    /// The backing store.
    pub fn store(&self) -> Option<&ModelStore> {
        self.store.as_ref()
    }

    /// The model for a scoring call at execution time: the version the planning client shipped in
    /// the options (`nightshift_models.versions`) for a reference without one, from the cache, else the
    /// store (blocking on it from inside the runtime, for executors that did not plan the
    /// statement: each process loads a version once and keeps it by `name@vN`).
    pub(crate) fn resolve(&self, name_ref: &str, options: &ConfigOptions) -> Result<Arc<Model>, FraudError> {
        let shipped = crate::pins::ModelPins::from_config(options)
            .filter(|_| !name_ref.contains('@'))
            .and_then(|o| o.model_version(name_ref));
        let name_ref = shipped.unwrap_or(name_ref);
        if let Some(m) = self.get(name_ref) {
            return Ok(m);
        }
        let (name, _) = parse_reference(name_ref)?;
        let not_found = || FraudError::NotFound {
            name: name_ref.to_owned(),
            base: name.to_owned(),
        };
        if self.store.is_none() {
            return Err(not_found());
        }
        let handle = tokio::runtime::Handle::try_current().map_err(|_| not_found())?;
        if handle.runtime_flavor() != tokio::runtime::RuntimeFlavor::MultiThread {
            return Err(not_found());
        }
        tokio::task::block_in_place(|| handle.block_on(self.ensure_loaded(name_ref)))
    }
}
