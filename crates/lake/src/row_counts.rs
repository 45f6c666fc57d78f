//! Row counts of the lake's tables, for the optimizer's join ordering (`nightshift_core::optimizer`).
//!
//! DataFusion's listing tables know their row counts only once a scan has read the footers, after
//! the logical plan is settled. The catalog reads every footer when it registers a table, so it records
//! the count here, by the table's URL: the same files at the same URL hold the same rows in every
//! session of the process, and a refresh records the new count. These are estimates for planning, never
//! answers.

use std::collections::HashMap;
use std::sync::{LazyLock, RwLock};

use datafusion::catalog::TableProvider;
use datafusion::datasource::listing::ListingTable;

use crate::catalog::GlobTable;

static ROWS: LazyLock<RwLock<HashMap<String, u64>>> = LazyLock::new(Default::default);

/// Records that the listing table `table` holds `rows` rows.
pub(crate) fn record(table: &ListingTable, rows: u64) {
    if let Some(url) = table.table_paths().first()
        && let Ok(mut map) = ROWS.write()
    {
        map.insert(url.as_str().to_string(), rows);
    }
}

/// The number of rows `provider` holds, if known: its own statistics (Delta tables, in-memory tables
/// that have them), or the count the catalog recorded from the footers of a lake table.
pub fn table_rows(provider: &dyn TableProvider) -> Option<u64> {
    if let Some(rows) = provider
        .statistics()
        .and_then(|s| s.num_rows.get_value().copied())
    {
        return u64::try_from(rows).ok();
    }
    let listing = provider
        .downcast_ref::<ListingTable>()
        .or_else(|| provider.downcast_ref::<GlobTable>().map(|g| g.listing().as_ref()))?;
    let url = listing.table_paths().first()?;
    ROWS.read().ok()?.get(url.as_str()).copied()
}
