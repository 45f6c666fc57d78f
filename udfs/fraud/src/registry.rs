//! The per-session model cache the scoring functions plan against.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::{FraudError, Model, ModelStore};

/// Models loaded in a session, by `name` (the latest loaded) and `name@vN`.
#[derive(Debug)]
pub struct ModelRegistry {
    store: Option<ModelStore>,
    default_fraud_model: Option<String>,
    models: RwLock<HashMap<String, Arc<Model>>>,
}

impl ModelRegistry {
    /// A registry over `store` (None: models only live in the session) with the project's default
    /// fraud model (`[models] fraud = "name"`).
    pub fn new(store: Option<ModelStore>, default_fraud_model: Option<String>) -> Arc<Self> {
        Arc::new(Self {
            store,
            default_fraud_model,
            models: RwLock::new(HashMap::new()),
        })
    }

    /// The model `name_ref` (`name` or `name@v2`), from the cache or else the store.
    pub async fn ensure_loaded(&self, name_ref: &str) -> Result<Arc<Model>, FraudError> {
        let _ = name_ref;
        unimplemented!()
    }

    /// The cached model `name_ref`, if loaded.
    pub fn get(&self, name_ref: &str) -> Option<Arc<Model>> {
        let _ = name_ref;
        unimplemented!()
    }

    /// Caches `model` (after CREATE MODEL) as the latest of its name.
    pub fn insert(&self, model: Arc<Model>) {
        let _ = (model, &self.models);
        unimplemented!()
    }

    /// Forgets every cached version of `name` (after DROP MODEL).
    pub fn forget(&self, name: &str) {
        let _ = name;
        unimplemented!()
    }

    /// The project's default fraud model name.
    pub fn default_fraud_model(&self) -> Option<&str> {
        self.default_fraud_model.as_deref()
    }

    /// The backing store.
    pub fn store(&self) -> Option<&ModelStore> {
        self.store.as_ref()
    }
}
