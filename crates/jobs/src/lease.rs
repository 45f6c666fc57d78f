//! Leases in the lake: at most one process runs a job interval at a time, across processes and hosts.
//!
//! A lease is a sequence of generations `_nightshift/leases/<job>/<run date>/<generation>.json`, each
//! created with a create-only put, so exactly one process wins each generation. The highest generation
//! is the lease in force. A holder renews by creating the next generation; another process may take
//! over only a generation that has expired (its holder crashed or hung), again by creating the next
//! one; and a holder checks before publishing that the highest generation is still its own, so a
//! holder that was taken over can no longer publish.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};

use crate::error::JobError;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct LeaseRecord {
    holder: String,
    expires_at: DateTime<Utc>,
    released: bool,
}

/// A lease this process holds.
#[derive(Debug, Clone)]
pub struct Lease {
    store: Arc<dyn ObjectStore>,
    dir: Path,
    holder: String,
    ttl: chrono::Duration,
}

fn store_err(path: &Path, source: object_store::Error) -> JobError {
    JobError::Store {
        path: path.to_string(),
        source,
    }
}

async fn current(store: &dyn ObjectStore, dir: &Path) -> Result<Option<(u64, LeaseRecord)>, JobError> {
    let metas: Vec<_> = store
        .list(Some(dir))
        .try_collect()
        .await
        .map_err(|e| store_err(dir, e))?;
    let Some((generation, path)) = metas
        .iter()
        .filter_map(|m| {
            let g = m
                .location
                .filename()?
                .strip_suffix(".json")?
                .parse::<u64>()
                .ok()?;
            Some((g, m.location.clone()))
        })
        .max_by_key(|(g, _)| *g)
    else {
        return Ok(None);
    };
    let bytes = store
        .get(&path)
        .await
        .map_err(|e| store_err(&path, e))?
        .bytes()
        .await
        .map_err(|e| store_err(&path, e))?;
    let record = serde_json::from_slice(&bytes).map_err(|source| JobError::Corrupt {
        path: path.to_string(),
        what: "lease",
        source,
    })?;
    Ok(Some((generation, record)))
}

/// Creates generation `g`; `Ok(true)` if this call created it. A put whose outcome is unknown is
/// settled by reading the generation back.
async fn create(store: &dyn ObjectStore, dir: &Path, g: u64, record: &LeaseRecord) -> Result<bool, JobError> {
    let path = dir.clone().join(format!("{g:020}.json"));
    let body = serde_json::to_vec(record).map_err(|source| JobError::Encode {
        what: "lease",
        source,
    })?;
    let opts = PutOptions {
        mode: PutMode::Create,
        ..Default::default()
    };
    match store.put_opts(&path, PutPayload::from(body), opts).await {
        Ok(_) => Ok(true),
        Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
        Err(e) => match store.get(&path).await {
            Ok(got) => {
                let bytes = got.bytes().await.map_err(|e| store_err(&path, e))?;
                let theirs: Result<LeaseRecord, _> = serde_json::from_slice(&bytes);
                Ok(theirs.is_ok_and(|r| r.holder == record.holder))
            }
            Err(_) => Err(store_err(&path, e)),
        },
    }
}

impl Lease {
    /// Tries to take the lease of `job`'s interval `run_date` for `holder` (unique per run). `None`
    /// when another holder's unexpired lease is in force.
    pub async fn acquire(
        store: Arc<dyn ObjectStore>,
        lake_prefix: &Path,
        job: &str,
        run_date: &str,
        holder: &str,
        ttl: std::time::Duration,
        now: DateTime<Utc>,
    ) -> Result<Option<Lease>, JobError> {
        let dir = lake_prefix
            .clone()
            .join("_nightshift")
            .join("leases")
            .join(job)
            .join(run_date);
        let ttl = chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::minutes(10));
        let next = match current(store.as_ref(), &dir).await? {
            None => 1,
            Some((g, r)) if r.released || r.expires_at <= now => {
                if !r.released {
                    tracing::warn!(job, run_date, previous = %r.holder, "taking over an expired lease");
                }
                g + 1
            }
            Some(_) => return Ok(None),
        };
        let record = LeaseRecord {
            holder: holder.to_string(),
            expires_at: now + ttl,
            released: false,
        };
        if !create(store.as_ref(), &dir, next, &record).await? {
            return Ok(None);
        }
        Ok(Some(Lease {
            store,
            dir,
            holder: holder.to_string(),
            ttl,
        }))
    }

    /// Whether the lease in force is still this one (and unexpired at `now`).
    pub async fn is_held(&self, now: DateTime<Utc>) -> bool {
        matches!(current(self.store.as_ref(), &self.dir).await, Ok(Some((_, r))) if r.holder == self.holder && !r.released && r.expires_at > now)
    }

    /// Extends the lease by its time to live; `false` if it was lost.
    pub async fn renew(&self, now: DateTime<Utc>) -> Result<bool, JobError> {
        self.write_next(now + self.ttl, false, now).await
    }

    /// Gives the lease up, so another process may run the interval (it will find it committed).
    pub async fn release(&self, now: DateTime<Utc>) -> Result<bool, JobError> {
        self.write_next(now, true, now).await
    }

    async fn write_next(
        &self,
        expires_at: DateTime<Utc>,
        released: bool,
        now: DateTime<Utc>,
    ) -> Result<bool, JobError> {
        match current(self.store.as_ref(), &self.dir).await? {
            Some((g, r)) if r.holder == self.holder && !r.released && r.expires_at > now => {
                let record = LeaseRecord {
                    holder: self.holder.clone(),
                    expires_at,
                    released,
                };
                create(self.store.as_ref(), &self.dir, g + 1, &record).await
            }
            _ => Ok(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::memory::InMemory;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[tokio::test]
    async fn one_holder_then_takeover_after_expiry_fences_the_old_holder() {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let root = Path::from("lake");
        let ttl = std::time::Duration::from_secs(60);
        let now = t("2024-06-02T02:00:00Z");
        let a = Lease::acquire(store.clone(), &root, "j", "2024-06-01", "a", ttl, now)
            .await
            .unwrap()
            .unwrap();
        assert!(
            Lease::acquire(store.clone(), &root, "j", "2024-06-01", "b", ttl, now)
                .await
                .unwrap()
                .is_none()
        );
        // Another interval is independent.
        assert!(
            Lease::acquire(store.clone(), &root, "j", "2024-06-02", "b", ttl, now)
                .await
                .unwrap()
                .is_some()
        );
        assert!(a.renew(t("2024-06-02T02:00:30Z")).await.unwrap());
        // Renewed: still busy after the first expiry.
        let later = t("2024-06-02T02:01:10Z");
        assert!(
            Lease::acquire(store.clone(), &root, "j", "2024-06-01", "b", ttl, later)
                .await
                .unwrap()
                .is_none()
        );
        // a stops renewing (crashed or hung): b takes over, and a can no longer publish or renew.
        let much_later = t("2024-06-02T02:05:00Z");
        let b = Lease::acquire(store.clone(), &root, "j", "2024-06-01", "b", ttl, much_later)
            .await
            .unwrap()
            .unwrap();
        assert!(!a.is_held(much_later).await);
        assert!(!a.renew(much_later).await.unwrap());
        assert!(b.is_held(much_later).await);
        assert!(b.release(much_later).await.unwrap());
        assert!(
            Lease::acquire(store.clone(), &root, "j", "2024-06-01", "c", ttl, much_later)
                .await
                .unwrap()
                .is_some()
        );
    }
}
