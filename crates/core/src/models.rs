//! Runs the model statements of [`crate::model_sql`] against the session's model store and registry.
//!
//! Each statement returns a small result table, so that `nightshift sql`, the REPL and jobs print
//! and write it like any other query result.

use std::sync::Arc;
use std::time::Instant;

use datafusion::arrow::array::{ArrayRef, Float64Array, RecordBatch, StringArray, UInt32Array, UInt64Array};
use datafusion::prelude::DataFrame;
use futures::StreamExt;
use nightshift_fraud::{FraudError, HOLDOUT_COLUMN, Model, ModelOptions, TrainProgress, TrainStage};

use crate::error::CoreError;
use crate::model_sql::ModelStatement;
use crate::params::Params;
use crate::session::Session;

/// The parts of a `CREATE MODEL` statement.
struct CreateModel<'a> {
    name: &'a str,
    or_replace: bool,
    if_not_exists: bool,
    options: &'a [(String, String)],
    query: &'a str,
}

impl Session {
    /// Executes a model statement; `sql` is its text, stored with a trained model.
    pub(crate) async fn model_statement(
        &self,
        stmt: ModelStatement,
        sql: &str,
        params: &Params,
    ) -> Result<DataFrame, CoreError> {
        match stmt {
            ModelStatement::Create {
                name,
                or_replace,
                if_not_exists,
                options,
                query,
            } => {
                let stmt = CreateModel {
                    name: &name,
                    or_replace,
                    if_not_exists,
                    options: &options,
                    query: &query,
                };
                self.create_model(stmt, sql, params).await
            }
            ModelStatement::Evaluate { name, query } => self.evaluate_model(&name, &query, params).await,
            ModelStatement::Show => self.show_models().await,
            ModelStatement::Describe { name } => self.describe_model(&name).await,
            ModelStatement::Drop { name, if_exists } => self.drop_model(&name, if_exists).await,
        }
    }

    fn model_store(&self) -> Result<&nightshift_fraud::ModelStore, CoreError> {
        self.models().store().ok_or(CoreError::NoModelStore)
    }

    async fn create_model(
        &self,
        stmt: CreateModel<'_>,
        sql: &str,
        params: &Params,
    ) -> Result<DataFrame, CoreError> {
        let CreateModel {
            name,
            or_replace,
            if_not_exists,
            options: pairs,
            query,
        } = stmt;
        if self.settings().read_only {
            return Err(CoreError::ReadOnly {
                what: "CREATE MODEL".into(),
            });
        }
        if name.contains('@') {
            return Err(CoreError::Model(FraudError::InvalidReference(format!(
                "{name}: CREATE MODEL takes a bare name; versions are numbered by the store"
            ))));
        }
        // Options are checked before anything runs, so a bad option never costs a query.
        let options = ModelOptions::from_pairs(pairs)?;
        let store = self.model_store()?;
        if store.exists(name).await? {
            if if_not_exists {
                let model = self.models().ensure_loaded(name).await?;
                return self.model_summary(&model, "exists");
            }
            if !or_replace {
                return Err(CoreError::Model(FraudError::Training(format!(
                    "model '{name}' already exists; use CREATE OR REPLACE MODEL to train a new version \
                     (old versions stay readable as '{name}@vN'), or DROP MODEL {name}"
                ))));
            }
        }
        let query = match &options.holdout_where {
            Some(expr) => crate::model_sql::with_holdout_column(query, expr, HOLDOUT_COLUMN)
                .map_err(|e| CoreError::ModelSyntax(e.to_string()))?,
            None => query.to_string(),
        };
        let started = Instant::now();
        let df = self.plan_sql(&query, params).await?;
        let stream = df.execute_stream().await?;
        let model_name = name.to_string();
        let progress = Arc::new(move |p: TrainProgress| match p.stage {
            TrainStage::Trees => {
                tracing::debug!(model = %model_name, trees = p.trees_done, of = p.trees_total, "growing trees")
            }
            stage => {
                tracing::info!(model = %model_name, ?stage, rows = p.rows_read, "training")
            }
        });
        let mut model = nightshift_fraud::train(stream, &options, progress).await?;
        model.set_sql(sql.trim().trim_end_matches(';').trim().to_string());
        let saved = store.save(name, model).await?;
        self.models().insert(saved.clone());
        tracing::info!(
            model = %saved.reference(),
            rows = saved.meta().training_rows,
            secs = started.elapsed().as_secs_f64(),
            "model trained and stored"
        );
        self.model_summary(&saved, "created")
    }

    /// One row: what `CREATE MODEL` did.
    fn model_summary(&self, model: &Model, status: &str) -> Result<DataFrame, CoreError> {
        let meta = model.meta();
        let metric =
            |f: fn(&nightshift_fraud::Metrics) -> f64| Float64Array::from(vec![meta.metrics.as_ref().map(f)]);
        let batch = RecordBatch::try_from_iter(vec![
            (
                "model",
                Arc::new(StringArray::from(vec![meta.name.clone()])) as ArrayRef,
            ),
            ("version", Arc::new(UInt32Array::from(vec![meta.version]))),
            ("status", Arc::new(StringArray::from(vec![status]))),
            (
                "training_rows",
                Arc::new(UInt64Array::from(vec![meta.training_rows])),
            ),
            (
                "holdout_rows",
                Arc::new(UInt64Array::from(vec![meta.holdout_rows])),
            ),
            ("auc_roc", Arc::new(metric(|m| m.auc_roc))),
            ("average_precision", Arc::new(metric(|m| m.average_precision))),
            (
                "duration_secs",
                Arc::new(Float64Array::from(vec![meta.duration_secs])),
            ),
        ])?;
        Ok(local_frame(batch)?)
    }

    async fn evaluate_model(&self, name: &str, query: &str, params: &Params) -> Result<DataFrame, CoreError> {
        let model = self.models().ensure_loaded(name).await?;
        let df = self.plan_sql(query, params).await?;
        let target = model.meta().target.clone();
        let schema = df.schema().clone();
        let mut missing: Vec<String> = model
            .features()
            .iter()
            .map(|f| f.name.clone())
            .chain(std::iter::once(target.clone()))
            .filter(|c| schema.index_of_column_by_name(None, c).is_none())
            .collect();
        if !missing.is_empty() {
            missing.dedup();
            return Err(CoreError::Model(FraudError::Scoring(format!(
                "EVALUATE MODEL {}: the query must return the model's features and its target; missing column(s) {}",
                model.reference(),
                missing.join(", ")
            ))));
        }
        let mut labels = Vec::new();
        let mut scores = Vec::new();
        let mut stream = df.execute_stream().await?;
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            let columns: Vec<ArrayRef> = model
                .features()
                .iter()
                .map(|f| batch.column_by_name(&f.name).cloned().expect("checked above"))
                .collect();
            let s = model.score_batch(&columns)?;
            scores.extend(s.values().iter().copied());
            let label = batch.column_by_name(&target).expect("checked above");
            nightshift_fraud::read_labels(&target, label, labels.len(), &mut labels)
                .map_err(|e| CoreError::Model(FraudError::Scoring(format!("EVALUATE MODEL: {e}"))))?;
        }
        let m = nightshift_fraud::evaluate(&labels, &scores)?;
        let batch = RecordBatch::try_from_iter(vec![
            (
                "model",
                Arc::new(StringArray::from(vec![model.reference()])) as ArrayRef,
            ),
            ("rows", Arc::new(UInt64Array::from(vec![m.rows]))),
            ("positives", Arc::new(UInt64Array::from(vec![m.positives]))),
            ("auc_roc", Arc::new(Float64Array::from(vec![m.auc_roc]))),
            (
                "average_precision",
                Arc::new(Float64Array::from(vec![m.average_precision])),
            ),
            ("log_loss", Arc::new(Float64Array::from(vec![m.log_loss]))),
            ("precision", Arc::new(Float64Array::from(vec![m.precision]))),
            ("recall", Arc::new(Float64Array::from(vec![m.recall]))),
            ("f1", Arc::new(Float64Array::from(vec![m.f1]))),
        ])?;
        Ok(local_frame(batch)?)
    }

    async fn show_models(&self) -> Result<DataFrame, CoreError> {
        let mut infos = self.model_store()?.list().await?;
        infos.sort_by(|a, b| (&a.name, a.version).cmp(&(&b.name, b.version)));
        let batch = RecordBatch::try_from_iter(vec![
            (
                "model",
                Arc::new(StringArray::from_iter_values(
                    infos.iter().map(|i| i.name.as_str()),
                )) as ArrayRef,
            ),
            (
                "version",
                Arc::new(UInt32Array::from_iter_values(infos.iter().map(|i| i.version))),
            ),
            (
                "created_at",
                Arc::new(StringArray::from_iter_values(
                    infos.iter().map(|i| i.created_at.as_str()),
                )),
            ),
            (
                "target",
                Arc::new(StringArray::from_iter_values(
                    infos.iter().map(|i| i.target.as_str()),
                )),
            ),
            (
                "features",
                Arc::new(StringArray::from_iter_values(
                    infos.iter().map(|i| i.features.as_str()),
                )),
            ),
            (
                "trees",
                Arc::new(UInt64Array::from_iter_values(
                    infos.iter().map(|i| i.trees as u64),
                )),
            ),
            (
                "training_rows",
                Arc::new(UInt64Array::from_iter_values(
                    infos.iter().map(|i| i.training_rows),
                )),
            ),
            (
                "auc_roc",
                Arc::new(Float64Array::from_iter(infos.iter().map(|i| i.auc_roc))),
            ),
            (
                "average_precision",
                Arc::new(Float64Array::from_iter(infos.iter().map(|i| i.average_precision))),
            ),
        ])?;
        Ok(local_frame(batch)?)
    }

    async fn describe_model(&self, name: &str) -> Result<DataFrame, CoreError> {
        let model = self.models().ensure_loaded(name).await?;
        let meta = model.meta();
        let mut rows: Vec<(String, String)> = vec![
            ("model".into(), model.reference()),
            ("type".into(), meta.options.kind.sql_name().into()),
            ("target".into(), meta.target.clone()),
            ("created_at".into(), meta.created_at.clone()),
            ("training_rows".into(), meta.training_rows.to_string()),
            ("training_positives".into(), meta.training_positives.to_string()),
            ("holdout_rows".into(), meta.holdout_rows.to_string()),
            ("duration_secs".into(), format!("{:.3}", meta.duration_secs)),
            ("trees".into(), meta.trees.to_string()),
            ("nodes".into(), meta.nodes.to_string()),
            (
                "options".into(),
                serde_json::to_string(&meta.options).unwrap_or_else(|e| format!("<{e}>")),
            ),
        ];
        if let Some(m) = &meta.metrics {
            for (k, v) in [
                ("auc_roc", m.auc_roc),
                ("average_precision", m.average_precision),
                ("log_loss", m.log_loss),
                ("precision", m.precision),
                ("recall", m.recall),
                ("f1", m.f1),
            ] {
                rows.push((format!("holdout.{k}"), format!("{v:.6}")));
            }
        }
        for (i, f) in model.features().iter().enumerate() {
            let mut v = format!("{} {} ({})", f.name, f.kind.sql_name(), f.data_type);
            if !f.categories.is_empty() {
                v.push_str(&format!(", {} categories", f.categories.len()));
            }
            rows.push((format!("feature.{}", i + 1), v));
        }
        if let Some(importance) = &meta.importance {
            // Most important first, as feature_importance('…') lists them.
            let mut sorted: Vec<_> = importance.iter().collect();
            sorted.sort_by(|a, b| b.mean_abs_contribution.total_cmp(&a.mean_abs_contribution));
            for (rank, f) in sorted.iter().enumerate() {
                rows.push((
                    format!("importance.{}", rank + 1),
                    format!(
                        "{}: mean |contribution| {:.6}, split gain {:.4}",
                        f.feature, f.mean_abs_contribution, f.split_gain
                    ),
                ));
            }
        }
        if let Some(sql) = &meta.sql {
            rows.push(("sql".into(), sql.clone()));
        }
        let batch = RecordBatch::try_from_iter(vec![
            (
                "property",
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0.as_str()))) as ArrayRef,
            ),
            (
                "value",
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.1.as_str()))),
            ),
        ])?;
        Ok(local_frame(batch)?)
    }

    async fn drop_model(&self, name: &str, if_exists: bool) -> Result<DataFrame, CoreError> {
        if self.settings().read_only {
            return Err(CoreError::ReadOnly {
                what: "DROP MODEL".into(),
            });
        }
        let dropped = self.model_store()?.drop_model(name).await?;
        if dropped == 0 && !if_exists {
            return Err(CoreError::Model(FraudError::NotFound {
                name: name.to_string(),
                base: name.to_string(),
            }));
        }
        self.models().forget(name);
        let batch = RecordBatch::try_from_iter(vec![
            ("model", Arc::new(StringArray::from(vec![name])) as ArrayRef),
            (
                "versions_dropped",
                Arc::new(UInt64Array::from(vec![dropped as u64])),
            ),
        ])?;
        Ok(local_frame(batch)?)
    }
}

/// A model statement's small result, as a frame that runs in this process even when the session's
/// statements go to a Ballista cluster (which cannot ship an in-memory table to its executors).
fn local_frame(batch: RecordBatch) -> datafusion::error::Result<DataFrame> {
    datafusion::prelude::SessionContext::new().read_batch(batch)
}
