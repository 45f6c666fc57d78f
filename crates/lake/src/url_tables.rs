//! `SELECT * FROM 'path/file.parquet'`: DataFusion's URL tables, with every Parquet footer validated
//! first, so that a broken file named directly in a query gets the same clear error as a lake table
//! (DataFusion's own reader skips zero-byte files silently and parquet 59 panics on some footers).

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::{DynamicFileCatalog, TableProvider, UrlTableFactory};
use datafusion::datasource::dynamic_file::DynamicListTableFactory;
use datafusion::datasource::listing::ListingTableUrl;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::context::SessionState;
use datafusion::prelude::SessionContext;
use datafusion_session::SessionStore;
use futures::TryStreamExt;

use crate::footer::read_footer;

/// Enables URL tables on `ctx`, as `SessionContext::enable_url_table` does, with footer checks.
pub fn enable_url_tables(ctx: SessionContext) -> SessionContext {
    let current = Arc::clone(ctx.state().catalog_list());
    let inner = Arc::new(DynamicListTableFactory::new(SessionStore::new()));
    let checked = Arc::new(CheckedUrlTables {
        inner: Arc::clone(&inner),
    });
    let catalog_list = Arc::new(DynamicFileCatalog::new(current, checked));
    let session_id = ctx.session_id();
    let ctx: SessionContext = ctx
        .into_state_builder()
        .with_session_id(session_id)
        .with_catalog_list(catalog_list)
        .build()
        .into();
    inner.session_store().with_state(ctx.state_weak_ref());
    ctx
}

#[derive(Debug)]
struct CheckedUrlTables {
    inner: Arc<DynamicListTableFactory>,
}

#[async_trait]
impl UrlTableFactory for CheckedUrlTables {
    async fn try_new(&self, url: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let Ok(table_url) = ListingTableUrl::parse(url) else {
            return Ok(None);
        };
        let state = self
            .inner
            .session_store()
            .get_session()
            .upgrade()
            .and_then(|s| s.read().as_any().downcast_ref::<SessionState>().cloned());
        if let Some(state) = state
            && let Ok(store) = state.runtime_env().object_store(table_url.object_store())
            && let Ok(files) = table_url.list_all_files(&state, store.as_ref(), ".parquet").await
        {
            let files: Vec<_> = files.try_collect().await.unwrap_or_default();
            for meta in &files {
                read_footer(store.as_ref(), &table_url.object_store(), meta)
                    .await
                    .map_err(|e| DataFusionError::External(Box::new(e)))?;
            }
        }
        self.inner.try_new(url).await
    }
}
