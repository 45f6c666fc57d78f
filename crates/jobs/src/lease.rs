//! Leases in the lake: at most one process runs a job interval at a time, across processes and hosts.
//!
//! A lease is a sequence of generations `_nightshift/leases/<job>/<run date>/<generation>.json`, each
//! created with a create-only put, so exactly one process wins each generation. The highest generation
//! is the lease in force. A holder renews by creating the next generation; another process may take
//! over only a generation that has expired (its holder crashed or hung), again by creating the next
//! one; and a holder checks before publishing that the highest generation is still its own, so a
//! holder that was taken over can no longer publish. A lease also names its process (host, boot, pid
//! namespace, pid and start time): a process on the same host whose holder has ended (killed,
//! crashed) takes the lease over at once instead of waiting for it to expire.

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
    /// The holding process, where it can be told apart (Linux); records of older versions lack it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    process: Option<ProcessId>,
}

/// A process, told apart from every other process that shares the lake: the host, its boot, its
/// pid namespace, and the pid with the process's start time (pids are reused).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct ProcessId {
    host: String,
    boot_id: String,
    pid_namespace: String,
    pid: u32,
    start_ticks: u64,
}

impl ProcessId {
    /// This process; `None` where /proc does not tell (not Linux).
    pub(crate) fn current() -> Option<Self> {
        let read = |p: &str| std::fs::read_to_string(p).ok().map(|s| s.trim().to_string());
        let pid = std::process::id();
        Some(Self {
            host: read("/proc/sys/kernel/hostname")?,
            boot_id: read("/proc/sys/kernel/random/boot_id")?,
            pid_namespace: std::fs::read_link("/proc/self/ns/pid")
                .ok()?
                .to_string_lossy()
                .into_owned(),
            pid,
            start_ticks: start_ticks(pid)?,
        })
    }

    /// Whether this process has certainly ended: it ran on this host, boot and pid namespace (so
    /// its pid means the same here), and no process with its pid and start time exists any more.
    /// Any doubt (another host, a container elsewhere) answers `false`: its lease then expires.
    pub(crate) fn is_gone(&self) -> bool {
        let Some(me) = Self::current() else {
            return false;
        };
        me.host == self.host
            && me.boot_id == self.boot_id
            && me.pid_namespace == self.pid_namespace
            && start_ticks(self.pid) != Some(self.start_ticks)
    }
}

/// Field 22 of /proc/PID/stat: when the process started, in clock ticks after boot.
fn start_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
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

/// Creates generation `g`; `Ok(true)` if this call created it. A put whose outcome is unknown (or
/// that "already exists", possibly by its own retry) is settled by reading the generation back.
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
    // A create-only put is safe to repeat: if an earlier try landed after all, the next one finds it
    // and reads it back as this holder's.
    let mut tries = 0;
    loop {
        tries += 1;
        match store
            .put_opts(&path, PutPayload::from(body.clone()), opts.clone())
            .await
        {
            Ok(_) => return Ok(true),
            // "Already exists" may be this very put: it landed, its reply was lost, and the
            // client's retry found it. Read it back either way.
            Err(e) => match store.get(&path).await {
                Ok(got) => {
                    let bytes = got.bytes().await.map_err(|e| store_err(&path, e))?;
                    let theirs: Result<LeaseRecord, _> = serde_json::from_slice(&bytes);
                    return Ok(theirs.is_ok_and(|r| r.holder == record.holder));
                }
                Err(_) if matches!(e, object_store::Error::AlreadyExists { .. }) => return Ok(false),
                Err(_) if tries < 5 => {
                    tracing::debug!(error = %e, tries, "lease put failed, trying again");
                    tokio::time::sleep(std::time::Duration::from_millis(200 << tries)).await;
                }
                Err(_) => return Err(store_err(&path, e)),
            },
        }
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
            Some((g, r)) if r.process.as_ref().is_some_and(ProcessId::is_gone) => {
                tracing::warn!(job, run_date, previous = %r.holder,
                    "taking over the lease of a process on this host that has ended (killed or crashed)");
                g + 1
            }
            Some(_) => return Ok(None),
        };
        let record = LeaseRecord {
            holder: holder.to_string(),
            expires_at: now + ttl,
            released: false,
            process: ProcessId::current(),
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
                    process: r.process,
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

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_is_alive_and_an_ended_one_is_gone() {
        let me = ProcessId::current().expect("Linux has /proc");
        assert!(!me.is_gone());
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        let ticks = start_ticks(pid);
        child.wait().unwrap();
        let ended = ProcessId {
            pid,
            start_ticks: ticks.unwrap_or(0),
            ..me.clone()
        };
        assert!(ended.is_gone());
        // Elsewhere (another host or container): never presumed gone.
        let elsewhere = ProcessId {
            host: format!("{}-other", me.host),
            ..ended
        };
        assert!(!elsewhere.is_gone());
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn the_lease_of_an_ended_process_on_this_host_is_taken_over_at_once() {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let root = Path::from("lake");
        let ttl = std::time::Duration::from_secs(600);
        let now = t("2024-06-02T02:00:00Z");
        let me = ProcessId::current().unwrap();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = ProcessId {
            pid: child.id(),
            start_ticks: start_ticks(child.id()).unwrap_or(0),
            ..me.clone()
        };
        child.wait().unwrap();
        let dir = root
            .clone()
            .join("_nightshift")
            .join("leases")
            .join("j")
            .join("2024-06-01");
        for (g, process) in [(1, me.clone()), (2, dead)] {
            let record = LeaseRecord {
                holder: format!("run{g}"),
                expires_at: now + chrono::Duration::minutes(10),
                released: false,
                process: Some(process),
            };
            if g == 1 {
                // A live holder (this process) keeps its lease.
                create(store.as_ref(), &dir, g, &record).await.unwrap();
                assert!(
                    Lease::acquire(store.clone(), &root, "j", "2024-06-01", "b", ttl, now)
                        .await
                        .unwrap()
                        .is_none()
                );
            } else {
                create(store.as_ref(), &dir, g, &record).await.unwrap();
            }
        }
        let b = Lease::acquire(store.clone(), &root, "j", "2024-06-01", "b", ttl, now)
            .await
            .unwrap()
            .expect("the holder has ended");
        assert!(b.is_held(now).await);
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
