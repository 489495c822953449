//! WAL-only storage for agent mode, after Prometheus's `tsdb/agent`.
//!
//! An [`AgentDb`] keeps no blocks, no head chunks and answers no queries: it keeps each
//! series' labels, a stable reference and the timestamp of its newest sample in memory,
//! and writes every committed batch to a write-ahead log in `<dir>/wal` with the TSDB's
//! record formats, so a remote write sender (`narthex-remote`'s `QueueManager`) can tail
//! it. [`Appender::commit`] returns once the batch is in the WAL (handed to the operating
//! system), so nothing acknowledged is lost when the process is killed; opening replays the
//! checkpoint and the segments, repairing a torn tail.
//!
//! ```
//! use narthex_model::labels;
//! use narthex_storage::{Appendable, SeriesRef, StorageError};
//! use narthex_tsdb::agent::{AgentDb, AgentOptions};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let db = AgentDb::open(dir.path(), AgentOptions::default())?;
//! let up = labels! { "__name__" => "up", "job" => "api" };
//! let mut app = db.appender();
//! let r = app.append(SeriesRef::UNKNOWN, &up, 1_000, 1.0)?;
//! app.commit()?; // in wal/ now
//! let mut app = db.appender();
//! assert_eq!(app.append(r, &up, 1_000, 1.0), Err(StorageError::OutOfOrderSample));
//! # Ok::<(), StorageError>(())
//! ```
//!
//! # Truncation
//! Prometheus's agent truncates every two hours: series whose newest sample is older than
//! a cut-off (the lowest timestamp every remote write queue has sent, minus
//! `min_wal_time`, but never older than `max_wal_time` before now) are dropped from
//! memory; a new segment is started; the oldest two thirds of the closed segments are
//! folded into a checkpoint (`wal/checkpoint.N`, keeping live series, series dropped since
//! the last of those segments, and samples from the cut-off on) and deleted.
//! [`AgentDb::truncate`] does the same and additionally never deletes a segment a queue
//! has not delivered yet (its position file, see `narthex-remote`), unless everything in it
//! is older than `max_wal_time`.
//!
//! # Differences from Prometheus
//! Metadata updates are logged as metadata records (Prometheus's agent drops them), so a
//! remote write 2.0 sender can ship them. Exemplars are logged; a repeat of a series' last
//! exemplar is dropped silently, as Prometheus does.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use narthex_model::{Exemplar, FloatHistogram, Histogram, Labels, LabelsBuilder, Metadata};
use narthex_storage::{Appendable, Appender, HistogramSample, SeriesRef, StorageError};
use parking_lot::{Mutex, RwLock};

use crate::head::wal_err;
use crate::record::{
    self, Record, RefExemplar, RefFloatHistogramSample, RefHistogramSample, RefMetadata, RefSample,
    RefSeries,
};
use crate::refmap::{IntMap, RefTable};
use crate::wlog::{self, RecordReader, Wal, WalError, WalOptions};

/// Prometheus's default `--storage.agent.retention.min-time`: 5 minutes.
pub const DEFAULT_MIN_WAL_TIME: i64 = 5 * 60_000;
/// Prometheus's default `--storage.agent.retention.max-time`: 4 hours.
pub const DEFAULT_MAX_WAL_TIME: i64 = 4 * 3_600_000;
/// Prometheus's default truncation interval: 2 hours.
pub const DEFAULT_TRUNCATE_FREQUENCY: Duration = Duration::from_secs(2 * 3600);

/// Lock stripes of the series maps.
const STRIPES: usize = 256;

/// Options for [`AgentDb::open`].
#[derive(Clone, Debug)]
pub struct AgentOptions {
    /// Maximum WAL segment size in bytes.
    pub wal_segment_size: usize,
    /// Snappy-compress WAL records (`--storage.agent.wal-compression`, on by default).
    pub wal_compression: bool,
    /// Minimum age in milliseconds samples may be before being considered for deletion
    /// when the WAL is truncated (`--storage.agent.retention.min-time`).
    pub min_wal_time: i64,
    /// Maximum age in milliseconds samples may be before being forcibly deleted when the
    /// WAL is truncated (`--storage.agent.retention.max-time`).
    pub max_wal_time: i64,
    /// Do not create or take the `lock` file (`--storage.agent.no-lockfile`).
    pub no_lockfile: bool,
}

impl Default for AgentOptions {
    fn default() -> Self {
        AgentOptions {
            wal_segment_size: wlog::DEFAULT_SEGMENT_SIZE,
            wal_compression: true,
            min_wal_time: DEFAULT_MIN_WAL_TIME,
            max_wal_time: DEFAULT_MAX_WAL_TIME,
            no_lockfile: false,
        }
    }
}

/// What opening found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AgentReplayReport {
    /// Series restored.
    pub series: u64,
    /// Samples (floats and histograms) read back.
    pub samples: u64,
    /// Samples for series the WAL never declared (skipped).
    pub unknown_refs: u64,
    /// The corruption found and repaired, if any.
    pub wal_corruption: Option<String>,
}

/// What a truncation did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AgentTruncation {
    /// Series dropped from memory because their newest sample is older than the cut-off.
    pub series_removed: u64,
    /// The last segment folded into a new checkpoint (and deleted), if any.
    pub checkpoint: Option<u32>,
}

/// Counters and gauges under Prometheus's `prometheus_agent_*` names.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AgentStats {
    /// `prometheus_agent_active_series`.
    pub active_series: u64,
    /// `prometheus_agent_deleted_series`: dropped series whose records are kept until
    /// their last segment is checkpointed.
    pub deleted_series: u64,
    /// `prometheus_agent_samples_appended_total{type="float"}`.
    pub samples_appended: u64,
    /// `prometheus_agent_samples_appended_total{type="histogram"}`.
    pub histograms_appended: u64,
    /// `prometheus_agent_exemplars_appended_total`.
    pub exemplars_appended: u64,
    /// `prometheus_agent_out_of_order_samples_total`.
    pub out_of_order_samples: u64,
    /// `prometheus_agent_checkpoint_creations_total`.
    pub checkpoint_creations: u64,
    /// `prometheus_agent_checkpoint_creations_failed_total`.
    pub checkpoint_creations_failed: u64,
    /// `prometheus_agent_corruptions_total`.
    pub corruptions: u64,
    /// Count and sum of `prometheus_agent_truncate_duration_seconds`.
    pub truncations: u64,
    /// Sum of truncation durations in seconds.
    pub truncate_seconds: f64,
    /// `prometheus_agent_data_replay_duration_seconds`.
    pub replay_seconds: f64,
}

#[derive(Default)]
struct Extra {
    metadata: Option<Metadata>,
    exemplar: Option<Exemplar>,
}

struct AgentSeries {
    r: u64,
    labels: Labels,
    /// Timestamp of the newest committed sample (`i64::MIN` before the first).
    last_ts: AtomicI64,
    /// Whether a series record for this reference is in the WAL.
    logged: AtomicBool,
    /// Dropped by a truncation: appenders holding it look the labels up again.
    gone: AtomicBool,
    extra: Mutex<Extra>,
}

/// The WAL writer and the bookkeeping that changes with it (one lock).
struct WalState {
    wal: Option<Wal>,
    /// Newest sample timestamp written to each segment still on disk.
    segment_maxt: BTreeMap<u32, i64>,
    /// Dropped series and the segment their records must be kept to.
    deleted: HashMap<u64, u32>,
}

#[derive(Default)]
struct Counters {
    samples: AtomicU64,
    histograms: AtomicU64,
    exemplars: AtomicU64,
    out_of_order: AtomicU64,
    checkpoints: AtomicU64,
    checkpoints_failed: AtomicU64,
    corruptions: AtomicU64,
    truncations: AtomicU64,
    truncate_micros: AtomicU64,
}

/// WAL-only storage: see the [module documentation](self).
pub struct AgentDb {
    dir: PathBuf,
    wal_dir: PathBuf,
    opts: AgentOptions,
    by_hash: Vec<RwLock<IntMap<Vec<Arc<AgentSeries>>>>>,
    by_ref: RefTable<Arc<AgentSeries>>,
    next_ref: AtomicU64,
    active: AtomicI64,
    state: Mutex<WalState>,
    /// Serialises truncations.
    truncating: Mutex<()>,
    counters: Counters,
    report: AgentReplayReport,
    replay_seconds: f64,
    _lock: Option<File>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StorageError + '_ {
    move |e| StorageError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

impl AgentDb {
    /// Opens (or creates) the agent storage in `dir`: takes the `lock` file unless told
    /// not to, replays `dir/wal` (checkpoint, then segments; a corrupt tail is cut off and
    /// everything before it kept), and starts a new segment.
    pub fn open(dir: &Path, opts: AgentOptions) -> Result<AgentDb, StorageError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let lock = if opts.no_lockfile {
            None
        } else {
            Some(crate::db::lock_dir(dir)?)
        };
        let wal_dir = dir.join("wal");
        std::fs::create_dir_all(&wal_dir).map_err(io(&wal_dir))?;
        let mut db = AgentDb {
            dir: dir.to_path_buf(),
            wal_dir: wal_dir.clone(),
            opts: opts.clone(),
            by_hash: (0..STRIPES).map(|_| RwLock::default()).collect(),
            by_ref: RefTable::default(),
            next_ref: AtomicU64::new(0),
            active: AtomicI64::new(0),
            state: Mutex::new(WalState {
                wal: None,
                segment_maxt: BTreeMap::new(),
                deleted: HashMap::new(),
            }),
            truncating: Mutex::new(()),
            counters: Counters::default(),
            report: AgentReplayReport::default(),
            replay_seconds: 0.0,
            _lock: lock,
        };
        let started = Instant::now();
        let mut report = AgentReplayReport::default();
        let segment_maxt = db.replay(&mut report)?;
        if report.wal_corruption.is_some() {
            db.counters.corruptions.fetch_add(1, Ordering::Relaxed);
        }
        db.report = report;
        db.replay_seconds = started.elapsed().as_secs_f64();
        let wal = Wal::open(
            &wal_dir,
            WalOptions {
                segment_size: opts.wal_segment_size,
                compress: opts.wal_compression,
            },
        )
        .map_err(wal_err)?;
        {
            let mut st = db.state.lock();
            st.wal = Some(wal);
            st.segment_maxt = segment_maxt;
        }
        Ok(db)
    }

    /// Reads the checkpoint and the segments after it; returns the newest sample time of
    /// each segment.
    fn replay(&self, report: &mut AgentReplayReport) -> Result<BTreeMap<u32, i64>, StorageError> {
        let mut seg_maxt = BTreeMap::new();
        // References of the WAL mapped to live series (a series written again under a new
        // reference after it was dropped maps to one series).
        let mut refs: IntMap<u64> = IntMap::default();
        // Live references replaced by newer ones for the same labels.
        let mut moved: IntMap<u64> = IntMap::default();
        let mut sources: Vec<(PathBuf, u32, bool)> = Vec::new();
        match crate::checkpoint::last_checkpoint(&self.wal_dir).map_err(wal_err)? {
            Some((cp, last)) => {
                sources.push((cp, 0, false));
                sources.push((self.wal_dir.clone(), last + 1, true));
            }
            None => sources.push((self.wal_dir.clone(), 0, true)),
        }
        let mut max_ref = 0u64;
        for (dir, from, is_wal) in sources {
            let mut r = RecordReader::open_from(&dir, from).map_err(wal_err)?;
            loop {
                let rec = match r.next_record() {
                    None => break,
                    Some(Ok(rec)) => rec,
                    Some(Err(WalError::Corruption(c))) => {
                        tracing::warn!(segment = %c.path.display(), offset = c.offset, what = %c.what, "agent WAL corrupt; repairing by cutting before the first bad record");
                        report.wal_corruption = Some(c.to_string());
                        wlog::repair(&dir, &c).map_err(wal_err)?;
                        break;
                    }
                    Some(Err(e)) => return Err(wal_err(e)),
                };
                let decoded = match record::decode(rec) {
                    Ok(d) => d,
                    Err(e) => {
                        tracing::warn!(error = %e, "undecodable WAL record skipped");
                        continue;
                    }
                };
                let segment = r.segment().unwrap_or(0);
                let mut maxt = i64::MIN;
                let resolve = |r: u64| {
                    let mut live = *refs.get(&r)?;
                    for _ in 0..64 {
                        match moved.get(&live) {
                            Some(n) => live = *n,
                            None => break,
                        }
                    }
                    self.by_ref(live)
                };
                let mut bump = |r: u64, t: i64, report: &mut AgentReplayReport| match resolve(r) {
                    Some(s) => {
                        s.last_ts.fetch_max(t, Ordering::Relaxed);
                        report.samples += 1;
                        maxt = maxt.max(t);
                    }
                    None => report.unknown_refs += 1,
                };
                match decoded {
                    Record::Series(v) => {
                        for s in v {
                            max_ref = max_ref.max(s.r);
                            if self.by_ref(s.r).is_some() {
                                refs.insert(s.r, s.r);
                                continue;
                            }
                            let (live, created) = self.get_or_create_with(&s.labels, Some(s.r));
                            live.logged.store(true, Ordering::Relaxed);
                            if created {
                                report.series += 1;
                            } else {
                                // The labels came back under a newer reference (the series
                                // was dropped and created again): the newer one wins, as
                                // it did in the process that wrote it.
                                self.move_ref(&live, s.r);
                                moved.insert(live.r, s.r);
                            }
                            refs.insert(s.r, s.r);
                        }
                    }
                    Record::Samples(v) => {
                        for s in v {
                            bump(s.r, s.t, report);
                        }
                    }
                    Record::Histograms(v) => {
                        for s in v {
                            bump(s.r, s.t, report);
                        }
                    }
                    Record::FloatHistograms(v) => {
                        for s in v {
                            bump(s.r, s.t, report);
                        }
                    }
                    Record::Metadata(v) => {
                        for m in v {
                            if let Some(s) = resolve(m.r) {
                                s.extra.lock().metadata = Some(Metadata {
                                    metric_type: m.metric_type,
                                    help: m.help,
                                    unit: m.unit,
                                });
                            }
                        }
                    }
                    Record::Exemplars(_)
                    | Record::Tombstones(_)
                    | Record::MmapMarkers(_)
                    | Record::Unknown(_) => {}
                }
                if is_wal {
                    let e = seg_maxt.entry(segment).or_insert(i64::MIN);
                    *e = (*e).max(maxt);
                }
            }
        }
        self.next_ref.fetch_max(max_ref, Ordering::Relaxed);
        Ok(seg_maxt)
    }

    fn by_ref(&self, r: u64) -> Option<Arc<AgentSeries>> {
        self.by_ref.get(r)
    }

    /// The series with these labels, created (with `want_ref`, or the next reference)
    /// when missing; and whether it was created.
    fn get_or_create_with(
        &self,
        labels: &Labels,
        want_ref: Option<u64>,
    ) -> (Arc<AgentSeries>, bool) {
        let h = labels.hash64();
        let stripe = &self.by_hash[(h % STRIPES as u64) as usize];
        if let Some(s) = stripe
            .read()
            .get(&h)
            .and_then(|v| v.iter().find(|s| s.labels == *labels))
        {
            return (Arc::clone(s), false);
        }
        let mut w = stripe.write();
        let list = w.entry(h).or_default();
        if let Some(s) = list.iter().find(|s| s.labels == *labels) {
            return (Arc::clone(s), false);
        }
        let r = want_ref.unwrap_or_else(|| self.next_ref.fetch_add(1, Ordering::Relaxed) + 1);
        let s = Arc::new(AgentSeries {
            r,
            labels: labels.clone(),
            last_ts: AtomicI64::new(i64::MIN),
            logged: AtomicBool::new(false),
            gone: AtomicBool::new(false),
            extra: Mutex::new(Extra::default()),
        });
        list.push(Arc::clone(&s));
        self.by_ref.insert(r, Arc::clone(&s));
        self.active.fetch_add(1, Ordering::Relaxed);
        (s, true)
    }

    /// Replaces `old` by a series with the same labels and state under reference `r`.
    fn move_ref(&self, old: &Arc<AgentSeries>, r: u64) {
        let h = old.labels.hash64();
        let new = Arc::new(AgentSeries {
            r,
            labels: old.labels.clone(),
            last_ts: AtomicI64::new(old.last_ts.load(Ordering::Relaxed)),
            logged: AtomicBool::new(true),
            gone: AtomicBool::new(false),
            extra: Mutex::new(Extra {
                metadata: old.extra.lock().metadata.clone(),
                exemplar: None,
            }),
        });
        if let Some(list) = self.by_hash[(h % STRIPES as u64) as usize]
            .write()
            .get_mut(&h)
            && let Some(slot) = list.iter_mut().find(|s| s.r == old.r)
        {
            *slot = Arc::clone(&new);
        }
        self.by_ref.remove(old.r);
        self.by_ref.insert(r, new);
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The WAL directory (`<dir>/wal`), for remote write senders.
    pub fn wal_dir(&self) -> &Path {
        &self.wal_dir
    }

    /// The options the storage was opened with.
    pub fn options(&self) -> &AgentOptions {
        &self.opts
    }

    /// What opening found.
    pub fn replay_report(&self) -> &AgentReplayReport {
        &self.report
    }

    /// Series currently tracked.
    pub fn num_series(&self) -> u64 {
        self.active.load(Ordering::Relaxed).max(0) as u64
    }

    /// The newest committed timestamp of the series with these labels, if it is tracked
    /// and has one.
    pub fn last_timestamp(&self, labels: &Labels) -> Option<i64> {
        let h = labels.hash64();
        self.by_hash[(h % STRIPES as u64) as usize]
            .read()
            .get(&h)
            .and_then(|v| v.iter().find(|s| s.labels == *labels))
            .map(|s| s.last_ts.load(Ordering::Relaxed))
            .filter(|t| *t != i64::MIN)
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> AgentStats {
        let c = &self.counters;
        AgentStats {
            active_series: self.num_series(),
            deleted_series: self.state.lock().deleted.len() as u64,
            samples_appended: c.samples.load(Ordering::Relaxed),
            histograms_appended: c.histograms.load(Ordering::Relaxed),
            exemplars_appended: c.exemplars.load(Ordering::Relaxed),
            out_of_order_samples: c.out_of_order.load(Ordering::Relaxed),
            checkpoint_creations: c.checkpoints.load(Ordering::Relaxed),
            checkpoint_creations_failed: c.checkpoints_failed.load(Ordering::Relaxed),
            corruptions: c.corruptions.load(Ordering::Relaxed),
            truncations: c.truncations.load(Ordering::Relaxed),
            truncate_seconds: c.truncate_micros.load(Ordering::Relaxed) as f64 / 1e6,
            replay_seconds: self.replay_seconds,
        }
    }

    /// The truncation cut-off Prometheus's agent uses: the lowest timestamp every remote
    /// write queue has sent (`0` when unknown) minus `min_wal_time`, raised to
    /// `now - max_wal_time` when older.
    pub fn truncation_mint(&self, lowest_sent: i64, now: i64) -> i64 {
        let ts = lowest_sent.saturating_sub(self.opts.min_wal_time).max(0);
        ts.max(now.saturating_sub(self.opts.max_wal_time))
    }

    /// Truncates as Prometheus's agent does (see the [module documentation](self)):
    /// drops series without a sample since `mint`, starts a new segment, checkpoints the
    /// oldest two thirds of the closed segments and deletes them. `unsent_from` is the
    /// oldest segment some remote write queue has not delivered completely (`None` when
    /// no queue needs anything): segments from there on are kept unless every sample in
    /// them is older than `now - max_wal_time`.
    pub fn truncate(
        &self,
        mint: i64,
        unsent_from: Option<u32>,
        now: i64,
    ) -> Result<AgentTruncation, StorageError> {
        let _one = self.truncating.lock();
        let started = Instant::now();
        let mut out = AgentTruncation::default();
        // 1. Drop inactive series and start a new segment, with commits held off so no
        //    batch writes to a series being dropped.
        let (first, last, deleted, seg_maxt) = {
            let mut st = self.state.lock();
            let Some(wal) = st.wal.as_mut() else {
                return Err(StorageError::Closed);
            };
            let current = wal.current_segment();
            let mut dropped = Vec::new();
            for stripe in &self.by_hash {
                let mut w = stripe.write();
                w.retain(|_, list| {
                    list.retain(|s| {
                        if s.last_ts.load(Ordering::Relaxed) < mint {
                            s.gone.store(true, Ordering::Release);
                            dropped.push(s.r);
                            false
                        } else {
                            true
                        }
                    });
                    !list.is_empty()
                });
            }
            for r in &dropped {
                self.by_ref.remove(*r);
                st.deleted.insert(*r, current);
            }
            self.active
                .fetch_sub(dropped.len() as i64, Ordering::Relaxed);
            out.series_removed = dropped.len() as u64;
            let first = wlog::segments(&self.wal_dir)
                .map_err(wal_err)?
                .first()
                .copied()
                .unwrap_or(current);
            if let Some(wal) = st.wal.as_mut() {
                wal.next_segment().map_err(wal_err)?;
            }
            (first, current, st.deleted.clone(), st.segment_maxt.clone())
        };
        // 2. Which segments to fold: the oldest two thirds of the closed ones, as
        //    Prometheus, but none a queue still needs unless it is all older than the
        //    maximum age.
        let Some(closed) = last.checked_sub(1) else {
            return Ok(self.finish(out, started));
        };
        let candidate = first + closed.saturating_sub(first) * 2 / 3;
        let old = now.saturating_sub(self.opts.max_wal_time);
        let mut aged: Option<u32> = None;
        for s in first..=closed {
            if seg_maxt.get(&s).copied().unwrap_or(i64::MIN) < old {
                aged = Some(s);
            } else {
                break;
            }
        }
        let allowed = match unsent_from {
            None => Some(candidate),
            Some(u) => match (u.checked_sub(1), aged) {
                (Some(q), Some(a)) => Some(q.max(a)),
                (q, a) => q.or(a),
            },
        };
        let to = match allowed {
            Some(a) => a.min(candidate),
            None => return Ok(self.finish(out, started)),
        };
        if to <= first {
            return Ok(self.finish(out, started));
        }
        // 3. Checkpoint and delete.
        self.counters.checkpoints.fetch_add(1, Ordering::Relaxed);
        let keep_series =
            |r: u64| self.by_ref(r).is_some() || deleted.get(&r).is_some_and(|s| *s > to);
        if let Err(e) = crate::checkpoint::create(
            &self.wal_dir,
            to,
            &crate::checkpoint::Keep {
                series: &keep_series,
                mint,
            },
        ) {
            self.counters
                .checkpoints_failed
                .fetch_add(1, Ordering::Relaxed);
            if matches!(e, WalError::Corruption(_)) {
                self.counters.corruptions.fetch_add(1, Ordering::Relaxed);
            }
            return Err(wal_err(e));
        }
        {
            let mut st = self.state.lock();
            if let Some(wal) = st.wal.as_mut()
                && let Err(e) = wal.truncate(to + 1)
            {
                // Left-over segments are skipped at the next replay (the checkpoint covers
                // them) and deleted by the next truncation.
                tracing::error!(error = %e, "agent: deleting checkpointed WAL segments failed");
            }
            st.deleted.retain(|_, s| *s > to);
            st.segment_maxt.retain(|s, _| *s > to);
        }
        out.checkpoint = Some(to);
        tracing::info!(first, last = to, "WAL checkpoint complete");
        Ok(self.finish(out, started))
    }

    fn finish(&self, out: AgentTruncation, started: Instant) -> AgentTruncation {
        self.counters.truncations.fetch_add(1, Ordering::Relaxed);
        self.counters
            .truncate_micros
            .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        out
    }

    /// Flushes and fsyncs the WAL and closes it; later commits fail with
    /// [`StorageError::Closed`].
    pub fn close(&self) -> Result<(), StorageError> {
        let wal = self.state.lock().wal.take();
        match wal {
            Some(w) => w.close().map_err(wal_err),
            None => Ok(()),
        }
    }
}

impl Appendable for AgentDb {
    fn appender(&self) -> Box<dyn Appender + '_> {
        Box::new(AgentAppender {
            db: self,
            samples: Vec::new(),
            histograms: Vec::new(),
            float_histograms: Vec::new(),
            exemplars: Vec::new(),
            metadata: Vec::new(),
        })
    }
}

/// One batch of writes to an [`AgentDb`].
struct AgentAppender<'a> {
    db: &'a AgentDb,
    /// (series, time, start timestamp, value).
    samples: Vec<(Arc<AgentSeries>, i64, i64, f64)>,
    histograms: Vec<(Arc<AgentSeries>, i64, i64, Histogram)>,
    float_histograms: Vec<(Arc<AgentSeries>, i64, i64, FloatHistogram)>,
    exemplars: Vec<(Arc<AgentSeries>, Exemplar)>,
    metadata: Vec<(Arc<AgentSeries>, Metadata)>,
}

impl AgentAppender<'_> {
    /// The series by reference, or by labels (created when missing).
    fn series(&self, r: SeriesRef, labels: &Labels) -> Result<Arc<AgentSeries>, StorageError> {
        if r != SeriesRef::UNKNOWN
            && let Some(s) = self.db.by_ref(r.0)
        {
            return Ok(s);
        }
        // As Prometheus: labels with empty values are dropped before the checks.
        let cleaned;
        let labels = if labels.iter().any(|l| l.value.is_empty()) {
            let mut b = LabelsBuilder::new();
            for l in labels.iter().filter(|l| !l.value.is_empty()) {
                b.set(&l.name, &l.value);
            }
            cleaned = b.build();
            &cleaned
        } else {
            labels
        };
        if labels.is_empty() {
            return Err(StorageError::InvalidLabels("empty labelset".into()));
        }
        Ok(self.db.get_or_create_with(labels, None).0)
    }

    /// Rejects a sample not newer than the series' newest committed one.
    fn check_order(&self, s: &AgentSeries, t: i64) -> Result<(), StorageError> {
        if t <= s.last_ts.load(Ordering::Relaxed) {
            self.db
                .counters
                .out_of_order
                .fetch_add(1, Ordering::Relaxed);
            return Err(StorageError::OutOfOrderSample);
        }
        Ok(())
    }
}

impl Appender for AgentAppender<'_> {
    fn append(
        &mut self,
        r: SeriesRef,
        labels: &Labels,
        t: i64,
        v: f64,
    ) -> Result<SeriesRef, StorageError> {
        self.append_with_st(r, labels, t, 0, v)
    }

    /// Start timestamps are logged (version 2 records), so remote write can send them.
    fn append_with_st(
        &mut self,
        r: SeriesRef,
        labels: &Labels,
        t: i64,
        st: i64,
        v: f64,
    ) -> Result<SeriesRef, StorageError> {
        let s = self.series(r, labels)?;
        self.check_order(&s, t)?;
        let out = SeriesRef(s.r);
        self.samples.push((s, t, st, v));
        Ok(out)
    }

    fn append_histogram(
        &mut self,
        r: SeriesRef,
        labels: &Labels,
        t: i64,
        h: HistogramSample<'_>,
    ) -> Result<SeriesRef, StorageError> {
        self.append_histogram_with_st(r, labels, t, 0, h)
    }

    fn append_histogram_with_st(
        &mut self,
        r: SeriesRef,
        labels: &Labels,
        t: i64,
        st: i64,
        h: HistogramSample<'_>,
    ) -> Result<SeriesRef, StorageError> {
        match h {
            HistogramSample::Int(h) => h.validate(),
            HistogramSample::Float(h) => h.validate(),
        }
        .map_err(|e| StorageError::InvalidHistogram(e.to_string()))?;
        let s = self.series(r, labels)?;
        self.check_order(&s, t)?;
        let out = SeriesRef(s.r);
        match h {
            HistogramSample::Int(h) => self.histograms.push((s, t, st, h.clone())),
            HistogramSample::Float(h) => self.float_histograms.push((s, t, st, h.clone())),
        }
        Ok(out)
    }

    fn append_exemplar(
        &mut self,
        r: SeriesRef,
        labels: &Labels,
        e: &Exemplar,
    ) -> Result<SeriesRef, StorageError> {
        crate::head::appender::check_exemplar_labels(e)?;
        let s = self.series(r, labels)?;
        let out = SeriesRef(s.r);
        let dup = s.extra.lock().exemplar.as_ref() == Some(e)
            || self.exemplars.iter().any(|(x, p)| x.r == s.r && p == e);
        if !dup {
            self.exemplars.push((s, e.clone()));
        }
        Ok(out)
    }

    fn update_metadata(
        &mut self,
        r: SeriesRef,
        labels: &Labels,
        m: &Metadata,
    ) -> Result<SeriesRef, StorageError> {
        let s = self.series(r, labels)?;
        let out = SeriesRef(s.r);
        if s.extra.lock().metadata.as_ref() != Some(m) {
            self.metadata.push((s, m.clone()));
        }
        Ok(out)
    }

    fn commit(mut self: Box<Self>) -> Result<(), StorageError> {
        if self.samples.is_empty()
            && self.histograms.is_empty()
            && self.float_histograms.is_empty()
            && self.exemplars.is_empty()
            && self.metadata.is_empty()
        {
            return Ok(());
        }
        let db = self.db;
        let mut st = db.state.lock();
        if st.wal.is_none() {
            return Err(StorageError::Closed);
        }
        // Series dropped by a truncation since they were appended to come back (under the
        // same labels; a new reference and series record if needed).
        let live = |s: &mut Arc<AgentSeries>| {
            if s.gone.load(Ordering::Acquire) {
                *s = db.get_or_create_with(&s.labels, None).0;
            }
        };
        self.samples.iter_mut().for_each(|(s, ..)| live(s));
        self.histograms.iter_mut().for_each(|(s, ..)| live(s));
        self.float_histograms.iter_mut().for_each(|(s, ..)| live(s));
        self.exemplars.iter_mut().for_each(|(s, _)| live(s));
        self.metadata.iter_mut().for_each(|(s, _)| live(s));
        let mut unlogged: Vec<RefSeries> = self
            .samples
            .iter()
            .map(|(s, ..)| s)
            .chain(self.histograms.iter().map(|(s, ..)| s))
            .chain(self.float_histograms.iter().map(|(s, ..)| s))
            .chain(self.exemplars.iter().map(|(s, _)| s))
            .chain(self.metadata.iter().map(|(s, _)| s))
            .filter(|s| !s.logged.load(Ordering::Acquire))
            .map(|s| RefSeries {
                r: s.r,
                labels: s.labels.clone(),
            })
            .collect();
        unlogged.sort_by_key(|s| s.r);
        unlogged.dedup_by_key(|s| s.r);
        let mut recs: Vec<Vec<u8>> = Vec::new();
        if !unlogged.is_empty() {
            let mut b = Vec::new();
            record::encode_series(&unlogged, &mut b);
            recs.push(b);
        }
        let mut maxt = i64::MIN;
        if !self.samples.is_empty() {
            let v: Vec<RefSample> = self
                .samples
                .iter()
                .map(|(s, t, st, v)| RefSample {
                    r: s.r,
                    t: *t,
                    st: *st,
                    v: *v,
                })
                .collect();
            let mut b = Vec::new();
            record::encode_samples_any(&v, &mut b);
            recs.push(b);
        }
        if !self.histograms.is_empty() {
            let v: Vec<RefHistogramSample> = self
                .histograms
                .iter()
                .map(|(s, t, st, h)| RefHistogramSample {
                    r: s.r,
                    t: *t,
                    st: *st,
                    h: h.clone(),
                })
                .collect();
            recs.extend(record::encode_histograms_any(&v));
        }
        if !self.float_histograms.is_empty() {
            let v: Vec<RefFloatHistogramSample> = self
                .float_histograms
                .iter()
                .map(|(s, t, st, h)| RefFloatHistogramSample {
                    r: s.r,
                    t: *t,
                    st: *st,
                    h: h.clone(),
                })
                .collect();
            recs.extend(record::encode_float_histograms_any(&v));
        }
        if !self.exemplars.is_empty() {
            let v: Vec<RefExemplar> = self
                .exemplars
                .iter()
                .map(|(s, e)| RefExemplar {
                    r: s.r,
                    t: e.timestamp.unwrap_or(0),
                    v: e.value,
                    labels: e.labels.clone(),
                })
                .collect();
            let mut b = Vec::new();
            record::encode_exemplars(&v, &mut b);
            recs.push(b);
        }
        if !self.metadata.is_empty() {
            let v: Vec<RefMetadata> = self
                .metadata
                .iter()
                .map(|(s, m)| RefMetadata {
                    r: s.r,
                    metric_type: m.metric_type,
                    unit: m.unit.clone(),
                    help: m.help.clone(),
                })
                .collect();
            let mut b = Vec::new();
            record::encode_metadata(&v, &mut b);
            recs.push(b);
        }
        let refs: Vec<&[u8]> = recs.iter().map(Vec::as_slice).collect();
        let Some(wal) = st.wal.as_mut() else {
            return Err(StorageError::Closed);
        };
        let seg_before = wal.current_segment();
        wal.log(&refs).map_err(wal_err)?;
        let seg_after = wal.current_segment();
        // In the WAL: now visible to the ordering checks.
        for r in &unlogged {
            if let Some(s) = db.by_ref(r.r) {
                s.logged.store(true, Ordering::Release);
            }
        }
        for (s, t, ..) in &self.samples {
            s.last_ts.fetch_max(*t, Ordering::Relaxed);
            maxt = maxt.max(*t);
        }
        for (s, t, ..) in &self.histograms {
            s.last_ts.fetch_max(*t, Ordering::Relaxed);
            maxt = maxt.max(*t);
        }
        for (s, t, ..) in &self.float_histograms {
            s.last_ts.fetch_max(*t, Ordering::Relaxed);
            maxt = maxt.max(*t);
        }
        for seg in seg_before..=seg_after {
            let e = st.segment_maxt.entry(seg).or_insert(i64::MIN);
            *e = (*e).max(maxt);
        }
        drop(st);
        let c = &db.counters;
        c.samples
            .fetch_add(self.samples.len() as u64, Ordering::Relaxed);
        c.histograms.fetch_add(
            (self.histograms.len() + self.float_histograms.len()) as u64,
            Ordering::Relaxed,
        );
        c.exemplars
            .fetch_add(self.exemplars.len() as u64, Ordering::Relaxed);
        for (s, e) in self.exemplars.drain(..) {
            s.extra.lock().exemplar = Some(e);
        }
        for (s, m) in self.metadata.drain(..) {
            s.extra.lock().metadata = Some(m);
        }
        Ok(())
    }

    fn rollback(self: Box<Self>) -> Result<(), StorageError> {
        // Series created by this batch stay in memory, unlogged: the first commit that
        // uses one logs its record first.
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use narthex_model::labels;

    use super::*;

    fn series(i: usize) -> Labels {
        labels! { "__name__" => "m", "i" => i.to_string() }
    }

    /// The samples of WAL segments `from_segment` and up as (series, t, value bits), with
    /// series resolved through the checkpoint and every segment (a panic when one is not).
    fn wal_samples(wal_dir: &Path, from_segment: u32) -> BTreeSet<(String, i64, u64)> {
        let mut names: HashMap<u64, String> = HashMap::new();
        let mut samples = Vec::new();
        let mut dirs = Vec::new();
        if let Some((cp, _)) = crate::checkpoint::last_checkpoint(wal_dir).unwrap() {
            dirs.push(cp);
        }
        dirs.push(wal_dir.to_path_buf());
        for (k, d) in dirs.iter().enumerate() {
            let in_wal = k + 1 == dirs.len();
            let mut r = RecordReader::open(d).unwrap();
            while let Some(rec) = r.next_record() {
                let rec = record::decode(rec.unwrap()).unwrap();
                let seg = r.segment().unwrap();
                match rec {
                    Record::Series(v) => {
                        for s in v {
                            names.insert(s.r, s.labels.get("i").unwrap_or("").to_string());
                        }
                    }
                    Record::Samples(v) if in_wal && seg >= from_segment => samples.extend(v),
                    _ => {}
                }
            }
        }
        samples
            .into_iter()
            .map(|s| (names[&s.r].clone(), s.t, s.v.to_bits()))
            .collect()
    }

    fn small() -> AgentOptions {
        AgentOptions {
            wal_segment_size: wlog::PAGE_SIZE,
            wal_compression: false,
            ..AgentOptions::default()
        }
    }

    #[test]
    fn replays_series_and_last_timestamps_after_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut refs = Vec::new();
        {
            let db = AgentDb::open(dir.path(), AgentOptions::default()).unwrap();
            let mut app = db.appender();
            for i in 0..10 {
                refs.push(
                    app.append(SeriesRef::UNKNOWN, &series(i), 1_000 + i as i64, 1.0)
                        .unwrap(),
                );
            }
            app.commit().unwrap();
            let mut app = db.appender();
            app.append(refs[3], &series(3), 5_000, 2.0).unwrap();
            app.commit().unwrap();
            db.close().unwrap();
        }
        let db = AgentDb::open(dir.path(), AgentOptions::default()).unwrap();
        assert_eq!(db.replay_report().series, 10);
        assert_eq!(db.replay_report().samples, 11);
        assert_eq!(db.num_series(), 10);
        assert_eq!(db.last_timestamp(&series(3)), Some(5_000));
        assert_eq!(db.last_timestamp(&series(4)), Some(1_004));
        // References are stable across restarts, and new series get fresh ones.
        let mut app = db.appender();
        assert_eq!(
            app.append(SeriesRef::UNKNOWN, &series(3), 6_000, 3.0)
                .unwrap(),
            refs[3]
        );
        let new = app
            .append(SeriesRef::UNKNOWN, &series(99), 6_000, 3.0)
            .unwrap();
        assert!(!refs.contains(&new), "{new:?} reused");
        assert!(new.0 > refs.iter().map(|r| r.0).max().unwrap());
        // Old samples are out of order after the restart too.
        assert_eq!(
            app.append(refs[3], &series(3), 5_000, 9.0),
            Err(StorageError::OutOfOrderSample)
        );
        app.commit().unwrap();
        // Nothing but the WAL (and the lock file) in the directory.
        let mut entries: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        entries.sort();
        assert_eq!(entries, ["lock", "wal"]);
    }

    #[test]
    fn start_timestamps_are_logged_in_version_2_records_only_when_present() {
        let dir = tempfile::tempdir().unwrap();
        let db = AgentDb::open(dir.path(), AgentOptions::default()).unwrap();
        let h = Histogram {
            count: 1,
            zero_count: 1,
            ..Histogram::default()
        };
        let mut app = db.appender();
        app.append_with_st(SeriesRef::UNKNOWN, &series(1), 2_000, 1_500, 1.0)
            .unwrap();
        app.append(SeriesRef::UNKNOWN, &series(2), 2_000, 1.0)
            .unwrap();
        app.append_histogram_with_st(
            SeriesRef::UNKNOWN,
            &series(3),
            2_000,
            1_000,
            HistogramSample::Int(&h),
        )
        .unwrap();
        app.commit().unwrap();
        let mut app = db.appender();
        app.append(SeriesRef::UNKNOWN, &series(2), 3_000, 2.0)
            .unwrap();
        app.commit().unwrap();
        db.close().unwrap();
        let mut kinds = Vec::new();
        let mut sts = Vec::new();
        let mut r = RecordReader::open(&dir.path().join("wal")).unwrap();
        while let Some(rec) = r.next_record() {
            let rec = rec.unwrap();
            kinds.push(rec[0]);
            match record::decode(rec).unwrap() {
                Record::Samples(v) => sts.extend(v.iter().map(|s| (s.t, s.st))),
                Record::Histograms(v) => sts.extend(v.iter().map(|s| (s.t, s.st))),
                _ => {}
            }
        }
        use record::RecordType as T;
        assert_eq!(
            kinds,
            [T::Series, T::SamplesV2, T::HistogramSamplesV2, T::Samples].map(|t| t as u8)
        );
        assert_eq!(
            sts,
            [(2_000, 1_500), (2_000, 0), (2_000, 1_000), (3_000, 0)]
        );
    }

    #[test]
    fn rejects_out_of_order_and_duplicate_timestamps() {
        let dir = tempfile::tempdir().unwrap();
        let db = AgentDb::open(dir.path(), AgentOptions::default()).unwrap();
        let s = series(1);
        let mut app = db.appender();
        let r = app.append(SeriesRef::UNKNOWN, &s, 10_000, 1.0).unwrap();
        app.commit().unwrap();
        let mut app = db.appender();
        assert_eq!(
            app.append(r, &s, 9_999, 1.0),
            Err(StorageError::OutOfOrderSample)
        );
        // The agent rejects a repeated timestamp too (Prometheus's `t <= lastTs`).
        assert_eq!(
            app.append(r, &s, 10_000, 1.0),
            Err(StorageError::OutOfOrderSample)
        );
        assert_eq!(app.append(r, &s, 10_001, 2.0), Ok(r));
        app.commit().unwrap();
        assert_eq!(db.stats().out_of_order_samples, 2);
        assert_eq!(db.stats().samples_appended, 2);
        assert_eq!(db.last_timestamp(&s), Some(10_001));
        // A rolled-back batch changes nothing.
        let mut app = db.appender();
        app.append(r, &s, 20_000, 1.0).unwrap();
        app.rollback().unwrap();
        assert_eq!(db.last_timestamp(&s), Some(10_001));
        let mut app = db.appender();
        assert!(
            app.append(SeriesRef::UNKNOWN, &Labels::default(), 1, 1.0)
                .is_err()
        );
    }

    #[test]
    fn survives_a_kill_without_close_and_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let opts = AgentOptions {
            no_lockfile: true,
            ..AgentOptions::default()
        };
        let db = AgentDb::open(dir.path(), opts.clone()).unwrap();
        for t in 1..=50 {
            let mut app = db.appender();
            for i in 0..20 {
                app.append(SeriesRef::UNKNOWN, &series(i), t * 1000, t as f64)
                    .unwrap();
            }
            app.commit().unwrap();
        }
        // No close, no destructor: what commit acknowledged is in the files already.
        std::mem::forget(db);
        let seg = *wlog::segments(&dir.path().join("wal"))
            .unwrap()
            .last()
            .unwrap();
        let path = dir.path().join("wal").join(wlog::segment_name(seg));
        let mut bytes = std::fs::read(&path).unwrap();
        let good = bytes.len();
        bytes.extend_from_slice(&[1, 0, 40, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3]);
        std::fs::write(&path, &bytes).unwrap();
        let db = AgentDb::open(dir.path(), opts).unwrap();
        assert!(db.replay_report().wal_corruption.is_some());
        assert_eq!(db.replay_report().samples, 1000);
        assert_eq!(std::fs::metadata(&path).unwrap().len() as usize, good);
        for i in 0..20 {
            assert_eq!(db.last_timestamp(&series(i)), Some(50_000));
        }
        assert_eq!(db.stats().corruptions, 1);
    }

    /// Writes `batches` batches of `n` series, each batch a second apart from `t0`.
    fn fill(db: &AgentDb, t0: i64, batches: i64, n: usize) {
        for b in 0..batches {
            let mut app = db.appender();
            for i in 0..n {
                app.append(
                    SeriesRef::UNKNOWN,
                    &series(i),
                    t0 + b * 1000,
                    (b * 7 + i as i64) as f64,
                )
                .unwrap();
            }
            app.commit().unwrap();
        }
    }

    #[test]
    fn truncation_keeps_segments_a_queue_has_not_sent() {
        let dir = tempfile::tempdir().unwrap();
        let wal = dir.path().join("wal");
        let db = AgentDb::open(dir.path(), small()).unwrap();
        let now = 1_700_000_000_000;
        fill(&db, now - 600_000, 400, 100);
        let segs = wlog::segments(&wal).unwrap();
        assert!(segs.len() >= 8, "{segs:?}");
        let before = wal_samples(&wal, 2);
        assert!(!before.is_empty());
        // A queue still needs segment 2 onwards: only 0 and 1 may go.
        let mint = db.truncation_mint(now - 1_000_000, now);
        let t = db.truncate(mint, Some(2), now).unwrap();
        assert_eq!(t.checkpoint, Some(1));
        assert_eq!(wlog::segments(&wal).unwrap().first(), Some(&2));
        // Every sample of the kept segments is still there, and the checkpoint keeps
        // the series they refer to: a restarted sender can still resolve them.
        assert_eq!(wal_samples(&wal, 2), before);
        assert_eq!(db.num_series(), 100);
        // With nothing unsent, the oldest two thirds go, as in Prometheus.
        let last_closed = wlog::segments(&wal).unwrap().last().copied().unwrap();
        let t = db.truncate(mint, None, now).unwrap();
        let cp = t.checkpoint.unwrap();
        assert!(cp > 1 && cp < last_closed, "{cp} {last_closed}");
        // Reopening reads the checkpoint and the rest.
        db.close().unwrap();
        drop(db);
        let db = AgentDb::open(dir.path(), small()).unwrap();
        assert_eq!(db.num_series(), 100);
        assert_eq!(db.last_timestamp(&series(0)), Some(now - 600_000 + 399_000));
    }

    #[test]
    fn truncation_drops_unsent_segments_older_than_max_time() {
        let dir = tempfile::tempdir().unwrap();
        let wal = dir.path().join("wal");
        let db = AgentDb::open(dir.path(), small()).unwrap();
        let now = 1_700_000_000_000;
        // Everything is five hours old: past the 4h maximum even though never sent.
        fill(&db, now - 5 * 3_600_000, 300, 50);
        let n = wlog::segments(&wal).unwrap().len() as u32;
        let mint = db.truncation_mint(0, now);
        assert_eq!(mint, now - DEFAULT_MAX_WAL_TIME);
        let t = db.truncate(mint, Some(0), now).unwrap();
        // Every series is inactive since the cut-off: dropped from memory.
        assert_eq!(t.series_removed, 50);
        assert_eq!(db.num_series(), 0);
        assert_eq!(db.stats().deleted_series, 50);
        // Segments 0..n-1 existed, n-1 being written: the oldest two thirds of the closed
        // ones go although no queue delivered them, because they are past the maximum age.
        assert_eq!(t.checkpoint, Some((n - 2) * 2 / 3));
        // Samples before the cut-off are not carried into the checkpoint.
        let (cp_dir, _) = crate::checkpoint::last_checkpoint(&wal).unwrap().unwrap();
        let mut r = RecordReader::open(&cp_dir).unwrap();
        while let Some(rec) = r.next_record() {
            assert!(!matches!(
                record::decode(rec.unwrap()).unwrap(),
                Record::Samples(v) if !v.is_empty()
            ));
        }
        // New samples for those labels start a new series with a new reference, logged
        // again so replay and senders can resolve it.
        let mut app = db.appender();
        let r = app
            .append(SeriesRef::UNKNOWN, &series(1), now, 1.0)
            .unwrap();
        app.commit().unwrap();
        db.close().unwrap();
        drop(db);
        let db = AgentDb::open(dir.path(), small()).unwrap();
        assert_eq!(db.last_timestamp(&series(1)), Some(now));
        let mut app = db.appender();
        assert_eq!(
            app.append(SeriesRef::UNKNOWN, &series(1), now + 1, 1.0)
                .unwrap(),
            r
        );
    }

    #[test]
    fn a_series_dropped_between_append_and_commit_is_logged_again() {
        let dir = tempfile::tempdir().unwrap();
        let db = AgentDb::open(dir.path(), AgentOptions::default()).unwrap();
        let s = series(7);
        let mut app = db.appender();
        app.append(SeriesRef::UNKNOWN, &s, 1_000, 1.0).unwrap();
        app.commit().unwrap();
        let mut app = db.appender();
        app.append(SeriesRef::UNKNOWN, &s, 2_000, 2.0).unwrap();
        // A truncation drops it (newest committed sample 1_000 < 1_500) before commit.
        db.truncate(1_500, None, 0).unwrap();
        assert_eq!(db.num_series(), 0);
        app.commit().unwrap();
        assert_eq!(db.num_series(), 1);
        assert_eq!(db.last_timestamp(&s), Some(2_000));
        db.close().unwrap();
        drop(db);
        let db = AgentDb::open(dir.path(), AgentOptions::default()).unwrap();
        assert_eq!(db.last_timestamp(&s), Some(2_000));
        assert_eq!(db.replay_report().unknown_refs, 0);
    }

    #[test]
    fn metadata_and_exemplars_are_logged_once() {
        let dir = tempfile::tempdir().unwrap();
        let db = AgentDb::open(dir.path(), AgentOptions::default()).unwrap();
        let s = series(1);
        let m = Metadata {
            metric_type: narthex_model::MetricType::Counter,
            help: "h".into(),
            unit: String::new(),
        };
        let e = Exemplar {
            labels: labels! { "trace_id" => "abc" },
            value: 1.0,
            timestamp: Some(1_000),
        };
        for t in [1_000, 2_000] {
            let mut app = db.appender();
            let r = app.append(SeriesRef::UNKNOWN, &s, t, 1.0).unwrap();
            app.update_metadata(r, &s, &m).unwrap();
            app.append_exemplar(r, &s, &e).unwrap();
            app.commit().unwrap();
        }
        assert_eq!(db.stats().exemplars_appended, 1);
        let mut counts = (0, 0);
        let mut r = RecordReader::open(&dir.path().join("wal")).unwrap();
        while let Some(rec) = r.next_record() {
            match record::decode(rec.unwrap()).unwrap() {
                Record::Metadata(v) => counts.0 += v.len(),
                Record::Exemplars(v) => counts.1 += v.len(),
                _ => {}
            }
        }
        assert_eq!(counts, (1, 1));
        let long = Exemplar {
            labels: labels! { "trace_id" => "x".repeat(200) },
            value: 1.0,
            timestamp: Some(3_000),
        };
        let mut app = db.appender();
        assert_eq!(
            app.append_exemplar(SeriesRef::UNKNOWN, &s, &long),
            Err(StorageError::ExemplarLabelsTooLong)
        );
    }
}
