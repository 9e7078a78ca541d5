//! Checkpoints: which units of a job are done, and how many operations of
//! each unfinished unit are acknowledged. Saved atomically (a local file
//! is written beside and renamed over; an S3 object is replaced whole) after
//! every change, so a run killed at any moment resumes from what the
//! target acknowledged. A local file is also fsync'd, with its folder,
//! when a unit is done.

use super::s3::{S3Location, S3};
use crate::app::AppError;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The saved state.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct State {
    pub version: u32,
    /// Fingerprint of the input and the options that shape the output.
    pub job: String,
    /// The instant TTLs were judged at (kept for the resumed run, so units
    /// produce the same operations).
    pub now: i64,
    pub units: u64,
    pub done: BTreeSet<u64>,
    /// Acknowledged operations of unfinished units.
    pub progress: BTreeMap<u64, u64>,
    /// Items written by every run so far (for the summary).
    pub written: u64,
    /// Output files of finished units (exports).
    pub files: BTreeMap<u64, Vec<String>>,
}

enum Place {
    File(PathBuf),
    S3(S3Location, S3),
}

/// A checkpoint being kept.
pub struct Checkpoint {
    place: Option<Place>,
    state: std::sync::Arc<Mutex<(State, Instant)>>,
    /// Minimum time between saves of progress (done units always save).
    interval: Duration,
    /// One save at a time.
    saving: Mutex<()>,
    /// One S3 save at a time (saves from runtime tasks run as tasks).
    s3_saving: std::sync::Arc<tokio::sync::Mutex<()>>,
}

impl Checkpoint {
    /// Open `location` (a path or `s3://bucket/key`), or start a fresh
    /// state. A saved state for another job is an error.
    pub fn open(
        location: Option<&str>,
        job: &str,
        now: i64,
        units: u64,
        s3: impl FnOnce() -> Result<S3, AppError>,
    ) -> Result<Checkpoint, AppError> {
        let place = match location {
            None => None,
            Some(l) if l.starts_with("s3://") => Some(Place::S3(S3Location::parse(l)?, s3()?)),
            Some(l) => Some(Place::File(PathBuf::from(l))),
        };
        let saved: Option<String> = match &place {
            None => None,
            Some(Place::File(p)) => match std::fs::read_to_string(p) {
                Ok(s) => Some(s),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(AppError::Usage(format!("checkpoint {}: {e}", p.display()))),
            },
            Some(Place::S3(loc, s3)) => s3
                .get_optional(loc)?
                .map(|b| String::from_utf8_lossy(&b).to_string()),
        };
        let state = match saved {
            Some(text) => {
                let st: State = serde_json::from_str(&text).map_err(|e| {
                    AppError::Usage(format!(
                        "checkpoint {}: not a checkpoint: {e}",
                        location.unwrap_or("")
                    ))
                })?;
                if st.job != job || st.units != units {
                    return Err(AppError::OtherJob(format!(
                        "checkpoint {} belongs to another job (different input, table or options); \
                         use the same flags, or another checkpoint",
                        location.unwrap_or("")
                    )));
                }
                st
            }
            None => State {
                version: 1,
                job: job.into(),
                now,
                units,
                ..State::default()
            },
        };
        // An S3 checkpoint is rewritten at most once a second (a PUT per
        // batch would cost more than the batch); a file after every change.
        let interval = match &place {
            Some(Place::S3(..)) => Duration::from_secs(1),
            _ => Duration::from_millis(0),
        };
        let ck = Checkpoint {
            place,
            state: std::sync::Arc::new(Mutex::new((state, Instant::now()))),
            s3_saving: std::sync::Arc::new(tokio::sync::Mutex::new(())),
            interval,
            saving: Mutex::new(()),
        };
        ck.save_now()?;
        Ok(ck)
    }

    /// Save progress at most this often (done units always save).
    pub fn with_interval(mut self, d: Duration) -> Self {
        self.interval = d;
        self
    }

    pub fn state(&self) -> State {
        self.state.lock().map(|g| g.0.clone()).unwrap_or_default()
    }

    pub fn is_done(&self, unit: u64) -> bool {
        self.state
            .lock()
            .map(|g| g.0.done.contains(&unit))
            .unwrap_or(false)
    }

    /// Acknowledged operations of `unit` (0 if none).
    pub fn progress(&self, unit: u64) -> u64 {
        self.state
            .lock()
            .map(|g| g.0.progress.get(&unit).copied().unwrap_or(0))
            .unwrap_or(0)
    }

    /// Record `ops` acknowledged operations of `unit`, `items` of them new
    /// writes.
    pub fn set_progress(&self, unit: u64, ops: u64, items: u64) -> Result<(), AppError> {
        let due = {
            let mut g = self
                .state
                .lock()
                .map_err(|_| AppError::Usage("checkpoint lock".into()))?;
            g.0.progress.insert(unit, ops);
            g.0.written += items;
            g.1.elapsed() >= self.interval
        };
        if due {
            self.save_now()?;
        }
        Ok(())
    }

    /// Mark `unit` done (with its output files, for exports).
    pub fn set_done(&self, unit: u64, files: Vec<String>, items: u64) -> Result<(), AppError> {
        {
            let mut g = self
                .state
                .lock()
                .map_err(|_| AppError::Usage("checkpoint lock".into()))?;
            g.0.done.insert(unit);
            g.0.progress.remove(&unit);
            g.0.written += items;
            if !files.is_empty() {
                g.0.files.insert(unit, files);
            }
        }
        self.save(true)
    }

    /// Write the state now.
    pub fn save_now(&self) -> Result<(), AppError> {
        self.save(false)
    }

    /// Write the state; a local file also to disk when `durable` (a unit
    /// done: the export files it lists are on disk already, so the record
    /// that they are must not be lost to a crash of the machine, nor come
    /// back older). Progress is saved without: losing it only repeats
    /// acknowledged, idempotent writes.
    fn save(&self, durable: bool) -> Result<(), AppError> {
        if let (Some(Place::S3(loc, s3)), Ok(h)) =
            (&self.place, tokio::runtime::Handle::try_current())
        {
            // On a runtime worker (a writer task): never block it; save in a
            // task that writes the state as it is when the task runs.
            let (loc, s3, state, lock) = (
                loc.clone(),
                s3.clone(),
                self.state.clone(),
                self.s3_saving.clone(),
            );
            h.spawn(async move {
                let _g = lock.lock().await;
                let text = match state.lock() {
                    Ok(mut g) => {
                        g.1 = Instant::now();
                        serde_json::to_string_pretty(&g.0).unwrap_or_default()
                    }
                    Err(_) => return,
                };
                if let Err(e) = s3.put_async(&loc, text.into_bytes()).await {
                    eprintln!("warning: checkpoint {loc}: {e}");
                }
            });
            return Ok(());
        }
        let _saving = self
            .saving
            .lock()
            .map_err(|_| AppError::Usage("checkpoint lock".into()))?;
        let text = {
            let mut g = self
                .state
                .lock()
                .map_err(|_| AppError::Usage("checkpoint lock".into()))?;
            g.1 = Instant::now();
            serde_json::to_string_pretty(&g.0).map_err(std::io::Error::other)?
        };
        match &self.place {
            None => Ok(()),
            Some(Place::File(p)) => {
                let tmp = p.with_extension(format!(
                    "{}.tmp",
                    p.extension()
                        .map(|e| e.to_string_lossy().to_string())
                        .unwrap_or_default()
                ));
                let err =
                    |e: std::io::Error| AppError::Usage(format!("checkpoint {}: {e}", p.display()));
                if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(err)?;
                }
                let mut f = std::fs::File::create(&tmp).map_err(err)?;
                std::io::Write::write_all(&mut f, text.as_bytes()).map_err(err)?;
                if durable {
                    f.sync_all().map_err(err)?;
                }
                drop(f);
                std::fs::rename(&tmp, p).map_err(err)?;
                if durable {
                    sync_dir(p).map_err(err)?;
                }
                Ok(())
            }
            Some(Place::S3(loc, s3)) => {
                // Under the same lock as the saves started from tasks, and
                // with the state as it is once the lock is held, so a save
                // still in flight can never land after this one.
                let lock = self.s3_saving.clone();
                let state = self.state.clone();
                drop(text);
                s3.block(async {
                    let _g = lock.lock().await;
                    let text = state
                        .lock()
                        .map(|g| serde_json::to_string_pretty(&g.0).unwrap_or_default())
                        .unwrap_or_default();
                    s3.put_async(loc, text.into_bytes()).await
                })
            }
        }
    }
}

/// Make the last rename into `path`'s folder durable: fsync the folder
/// (a no-op where folders cannot be opened as files).
pub fn sync_dir(path: &std::path::Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => std::path::Path::new("."),
        };
        std::fs::File::open(dir)?.sync_all()?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resume_and_reject_other_jobs() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ck.json");
        let loc = p.to_str().unwrap();
        let no_s3 = || Err(AppError::Usage("no s3".into()));
        let ck = Checkpoint::open(Some(loc), "job-a", 100, 4, no_s3).unwrap();
        ck.set_progress(1, 50, 50).unwrap();
        ck.set_done(2, vec!["f".into()], 10).unwrap();
        assert!(!dir.path().join("ck.json.tmp").exists());
        drop(ck);
        let ck = Checkpoint::open(Some(loc), "job-a", 999, 4, no_s3).unwrap();
        let st = ck.state();
        assert_eq!(st.now, 100, "the first run's instant is kept");
        assert_eq!(ck.progress(1), 50);
        assert!(ck.is_done(2) && !ck.is_done(1));
        assert_eq!(st.written, 60);
        for (job, units) in [("job-b", 4), ("job-a", 5)] {
            let e = Checkpoint::open(Some(loc), job, 100, units, no_s3).err();
            assert!(matches!(e, Some(AppError::OtherJob(_))), "{job} {units}");
        }
    }

    /// The folder of a bare file name is the current one.
    #[test]
    fn sync_dir_of_paths_with_and_without_a_folder() {
        let dir = tempfile::tempdir().unwrap();
        sync_dir(&dir.path().join("f")).unwrap();
        sync_dir(std::path::Path::new("f")).unwrap();
        assert!(sync_dir(&dir.path().join("missing/f")).is_err() || cfg!(not(unix)));
    }
}
