//! Time travel in plain SQL: `SELECT * FROM reports."daily_sentiment@v3"` reads version 3 of a Delta
//! table, `reports."daily_sentiment@2024-06-01T02:00:00Z"` the version current at that instant.
//!
//! The lake's schemas that hold Delta tables are wrapped in a [`TimeTravelSchema`]: names it does
//! not know are passed to the schema it wraps, and a Delta table's name with an `@` suffix is
//! opened at that version when a statement names it (DataFusion resolves table names
//! asynchronously before planning, so the log is read then, once per statement).

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::{SchemaProvider, TableProvider};
use datafusion::common::TableReference;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::SessionState;
use datafusion::prelude::SessionContext;
use object_store::ObjectStore;

use crate::delta::{DeltaLocation, TimeTravel, delta_table_provider};
use crate::error::LakeError;

/// A schema whose Delta tables can also be named at a version (`name@v3`) or an instant
/// (`name@2024-06-01T02:00:00Z`).
#[derive(Debug)]
pub struct TimeTravelSchema {
    inner: Arc<dyn SchemaProvider>,
    delta: HashMap<String, DeltaLocation>,
    state: Arc<SessionState>,
}

impl TimeTravelSchema {
    /// Wraps each schema of `ctx`'s default catalog that holds one of `tables` (references and
    /// folder URLs of the lake's Delta tables in `store`).
    pub(crate) fn install(
        ctx: &SessionContext,
        store: Arc<dyn ObjectStore>,
        tables: &[(TableReference, String)],
    ) -> Result<(), LakeError> {
        let state = ctx.state();
        let options = state.config_options();
        let catalog_name = options.catalog.default_catalog.clone();
        let default_schema = options.catalog.default_schema.clone();
        let Some(catalog) = ctx.catalog(&catalog_name) else {
            return Ok(());
        };
        let mut by_schema: HashMap<String, HashMap<String, DeltaLocation>> = HashMap::new();
        for (reference, url) in tables {
            let schema = reference.schema().unwrap_or(&default_schema).to_string();
            by_schema.entry(schema).or_default().insert(
                reference.table().to_string(),
                DeltaLocation::new(Arc::clone(&store), url)?,
            );
        }
        let state = Arc::new(state);
        for (schema, delta) in by_schema {
            let Some(current) = catalog.schema(&schema) else {
                continue;
            };
            // A catalog loaded again into the same session wraps the original schema, not a wrapper.
            let inner = match current.downcast_ref::<TimeTravelSchema>() {
                Some(wrapper) => Arc::clone(&wrapper.inner),
                None => current,
            };
            let wrapper = TimeTravelSchema {
                inner,
                delta,
                state: Arc::clone(&state),
            };
            catalog.register_schema(&schema, Arc::new(wrapper))?;
        }
        Ok(())
    }
}

#[async_trait]
impl SchemaProvider for TimeTravelSchema {
    fn owner_name(&self) -> Option<&str> {
        self.inner.owner_name()
    }

    fn table_names(&self) -> Vec<String> {
        self.inner.table_names()
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        if let Some(table) = self.inner.table(name).await? {
            return Ok(Some(table));
        }
        let Some(split) = TimeTravel::split(name) else {
            return Ok(None);
        };
        let (base, at) = match split {
            Ok(s) => s,
            Err(reason)
                if self
                    .delta
                    .contains_key(name.rsplit_once('@').map_or(name, |(b, _)| b)) =>
            {
                return Err(DataFusionError::Plan(format!("table '{name}': {reason}")));
            }
            Err(_) => return Ok(None),
        };
        let Some(location) = self.delta.get(base) else {
            return Ok(None);
        };
        let table = location.open(Some(at)).await.map_err(DataFusionError::from)?;
        let ctx = SessionContext::new_with_state(self.state.as_ref().clone());
        let provider = delta_table_provider(&ctx, &table)
            .await
            .map_err(DataFusionError::from)?;
        Ok(Some(provider))
    }

    fn register_table(
        &self,
        name: String,
        table: Arc<dyn TableProvider>,
    ) -> DfResult<Option<Arc<dyn TableProvider>>> {
        self.inner.register_table(name, table)
    }

    fn deregister_table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        self.inner.deregister_table(name)
    }

    fn table_exist(&self, name: &str) -> bool {
        self.inner.table_exist(name)
            || matches!(TimeTravel::split(name), Some(Ok((base, _))) if self.delta.contains_key(base))
    }
}
