//! The sending side: a [`QueueManager`] per `remote_write` endpoint tails the TSDB's WAL
//! and ships what is appended, in batches, over as many shards as the backlog needs.
//!
//! # Where it starts
//!
//! On a fresh start the manager reads the newest checkpoint and every WAL segment for
//! series records, and sends only samples with a timestamp at or after its start time (as
//! Prometheus's WAL watcher does). While it runs it records, about once a second, the WAL
//! position up to which everything has been acknowledged by the receiver (or dropped as
//! unsendable) in `<wal>/remote-<hash>.pos`, where `<hash>` is the hex xxHash64 of the
//! endpoint's URL and name. The file holds one line, `<segment> <offset>\n`, and is
//! replaced atomically. After a restart the manager resumes from that position, so samples
//! accepted by the TSDB while the sender (or the receiver) was down are sent then,
//! provided their segment still exists. Samples whose segment was checkpointed away in
//! the meantime are lost to the remote end (they are in the TSDB's blocks).
//!
//! # Delivery
//!
//! Each shard sends a batch when it holds `max_samples_per_send` items or its oldest item
//! waited `batch_send_deadline`. 5xx responses, network errors and (with
//! `retry_on_http_429`) 429 are retried forever with exponential backoff from
//! `min_backoff` to `max_backoff` (a `Retry-After` in seconds is honoured); any other
//! non-2xx drops the batch and counts it in [`Stats::failed`]. With a `sample_age_limit`,
//! items older than the limit when a request is built or rebuilt for a retry are dropped
//! and counted in [`Stats::dropped`], as Prometheus does. Items of one series always
//! go to the same shard, so they arrive in order. The reader waits when a shard's queue
//! (`capacity` items) is full, which bounds memory to about `capacity * max_shards`
//! items. Every `reshard_interval` the shard count doubles when each shard holds more than
//! two full batches and halves when the backlog is under half a batch, between
//! `min_shards` and `max_shards`, and never while sends are failing; resharding flushes
//! the old shards before starting the new ones.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use narthex_model::relabel::{self, RelabelConfig};
use narthex_model::{Exemplar, Labels, LabelsBuilder, Metadata, Sample};
use narthex_tsdb::record::{self, Record};
use reqwest::StatusCode;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::codec::{self, HistogramSample, HistogramValue, Protocol, TimeSeries, WriteRequest};
use crate::tail::{Next, Tailer, WalPosition};

/// Queue tuning, as Prometheus's `queue_config`.
#[derive(Clone, Debug)]
pub struct QueueConfig {
    /// Items (samples, histograms, exemplars) buffered per shard before the WAL reader
    /// waits.
    pub capacity: usize,
    /// Most shards.
    pub max_shards: usize,
    /// Fewest shards (also the number to start with).
    pub min_shards: usize,
    /// Largest batch per request.
    pub max_samples_per_send: usize,
    /// Longest a sample waits in a shard before its partial batch is sent.
    pub batch_send_deadline: Duration,
    /// First retry delay.
    pub min_backoff: Duration,
    /// Longest retry delay.
    pub max_backoff: Duration,
    /// Whether 429 responses are retried (otherwise the batch is dropped).
    pub retry_on_http_429: bool,
    /// How often the shard count is reconsidered (Narthex's knob; Prometheus uses 10s).
    pub reshard_interval: Duration,
    /// `sample_age_limit`: items older than this when a request is built (or rebuilt for
    /// a retry) are dropped instead of sent, and counted in [`Stats::dropped`]
    /// (Prometheus's `samples_dropped_total{reason="too_old"}`). Zero: no limit.
    pub sample_age_limit: Duration,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            capacity: 10_000,
            max_shards: 50,
            min_shards: 1,
            max_samples_per_send: 2_000,
            batch_send_deadline: Duration::from_secs(5),
            min_backoff: Duration::from_millis(30),
            max_backoff: Duration::from_secs(5),
            retry_on_http_429: true,
            reshard_interval: Duration::from_secs(10),
            sample_age_limit: Duration::ZERO,
        }
    }
}

/// One `remote_write` endpoint.
#[derive(Clone, Debug)]
pub struct RemoteWriteOptions {
    /// Where to POST.
    pub url: String,
    /// A name for logs and the position file (Prometheus's `name`); may be empty.
    pub name: String,
    /// Extra request headers (`headers`).
    pub headers: Vec<(String, String)>,
    /// The HTTP client settings: TLS, credentials, `http_headers`, redirects, proxy.
    /// (Prometheus's remote write turns HTTP/2 off by default; the configuration does.)
    pub http: narthex_http::HttpSettings,
    /// Applied to each series' labels before sending; dropped series are counted.
    pub write_relabel_configs: Vec<RelabelConfig>,
    /// Labels added to every series unless it has them (Prometheus's external labels).
    pub external_labels: Labels,
    /// Queue tuning.
    pub queue_config: QueueConfig,
    /// Which message to send (`protobuf_message`).
    pub protocol: Protocol,
    /// Timeout of one request.
    pub remote_timeout: Duration,
    /// Whether exemplars are sent.
    pub send_exemplars: bool,
    /// Whether native histograms are sent.
    pub send_native_histograms: bool,
    /// How long [`QueueManager::stop`] keeps trying to deliver what is queued.
    pub flush_deadline: Duration,
    /// 1.0 only: how often metric metadata is sent (`metadata_config.send_interval`);
    /// `None` turns it off (`metadata_config.send: false`). 2.0 sends metadata with each
    /// series instead.
    pub metadata_send_interval: Option<Duration>,
    /// 1.0 only: most families per metadata request (`metadata_config.max_samples_per_send`).
    pub metadata_max_samples_per_send: usize,
}

impl RemoteWriteOptions {
    /// Options for `url` with Prometheus's defaults.
    pub fn new(url: impl Into<String>) -> Self {
        RemoteWriteOptions {
            url: url.into(),
            name: String::new(),
            headers: Vec::new(),
            http: narthex_http::HttpSettings::default(),
            write_relabel_configs: Vec::new(),
            external_labels: Labels::empty(),
            queue_config: QueueConfig::default(),
            protocol: Protocol::V1,
            remote_timeout: Duration::from_secs(30),
            send_exemplars: false,
            send_native_histograms: false,
            flush_deadline: Duration::from_secs(60),
            metadata_send_interval: Some(Duration::from_secs(60)),
            metadata_max_samples_per_send: 2_000,
        }
    }

    /// The hash naming this endpoint's position file.
    pub fn hash(&self) -> u64 {
        let mut h = xxhash_rust::xxh64::Xxh64::new(0);
        h.update(self.url.as_bytes());
        h.update(&[0xff]);
        h.update(self.name.as_bytes());
        h.digest()
    }
}

/// Why a queue manager could not start.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The HTTP client could not be built.
    #[error("building the HTTP client: {0}")]
    Client(String),
    /// Reading the WAL or the position file failed.
    #[error("{path}: {source}", path = path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The options are inconsistent.
    #[error("invalid queue options: {0}")]
    Options(String),
    /// No tokio runtime is running.
    #[error("QueueManager::start must be called within a tokio runtime")]
    NoRuntime,
}

/// A snapshot of a queue manager's counters (Prometheus's
/// `prometheus_remote_storage_*` metrics for one queue).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Float samples delivered (`samples_total` counting successes).
    pub samples_sent: u64,
    /// Histograms delivered.
    pub histograms_sent: u64,
    /// Exemplars delivered.
    pub exemplars_sent: u64,
    /// Items that failed with an unrecoverable error and were dropped
    /// (`samples_failed_total`).
    pub failed: u64,
    /// Items in batches that were retried, counted per retry (`samples_retried_total`).
    pub retried: u64,
    /// Items dropped before sending: relabelled away, of an unknown series, or older than
    /// `sample_age_limit` (`samples_dropped_total`).
    pub dropped: u64,
    /// Requests sent successfully.
    pub requests_sent: u64,
    /// Compressed bytes sent successfully (`bytes_total`).
    pub bytes_sent: u64,
    /// Newest sample timestamp read from the WAL (`highest_timestamp_in_seconds`, in ms).
    pub highest_timestamp: i64,
    /// Newest sample timestamp delivered (`queue_highest_sent_timestamp_seconds`, in ms).
    pub highest_sent_timestamp: i64,
    /// Metric families whose metadata was delivered (1.0 metadata requests).
    pub metadata_sent: u64,
    /// Items queued in shards, not yet delivered (`samples_pending`).
    pub pending: u64,
    /// Current number of shards (`shards`).
    pub shards: u64,
    /// Series the WAL reader keeps labels for.
    pub series: u64,
    /// WAL position up to which everything is acknowledged.
    pub acked_position: WalPosition,
}

#[derive(Default)]
struct Counters {
    samples_sent: AtomicU64,
    histograms_sent: AtomicU64,
    exemplars_sent: AtomicU64,
    failed: AtomicU64,
    retried: AtomicU64,
    dropped: AtomicU64,
    requests_sent: AtomicU64,
    bytes_sent: AtomicU64,
    highest_timestamp: AtomicI64,
    highest_sent_timestamp: AtomicI64,
    pending: AtomicU64,
    shards: AtomicUsize,
    metadata_sent: AtomicU64,
    series: AtomicUsize,
    /// Unix ms of the last failed send attempt.
    last_failure: AtomicI64,
}

/// Tracks which WAL records are fully delivered, so the acknowledged position only moves
/// past a record once every item from it is sent or dropped.
struct Tracker {
    next_seq: u64,
    /// (sequence, position after the record, items outstanding).
    queue: VecDeque<(u64, WalPosition, usize)>,
    acked: WalPosition,
}

impl Tracker {
    fn record(&mut self, pos: WalPosition, items: usize) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        if items == 0 && self.queue.is_empty() {
            self.acked = pos;
        } else {
            self.queue.push_back((seq, pos, items));
        }
        seq
    }

    fn done(&mut self, seq: u64) {
        let front = self.queue.front().map(|f| f.0).unwrap_or(0);
        if let Some(e) = seq
            .checked_sub(front)
            .and_then(|i| self.queue.get_mut(i as usize))
        {
            e.2 = e.2.saturating_sub(1);
        }
        while let Some(&(_, pos, 0)) = self.queue.front() {
            self.acked = pos;
            self.queue.pop_front();
        }
    }
}

/// A sample on its way; histograms and exemplars boxed, so that the float samples that
/// make up most traffic stay small to move.
enum Value {
    Float(f64),
    Histogram(Box<HistogramValue>),
    Exemplar(Box<Exemplar>),
}

struct Item {
    /// The series' WAL reference (what requests group samples by).
    r: u64,
    labels: Labels,
    metadata: Option<Arc<Metadata>>,
    t: i64,
    /// The sample's start timestamp (0: unknown), sent as 2.0's created timestamp.
    st: i64,
    value: Value,
    seq: u64,
}

struct Shared {
    options: RemoteWriteOptions,
    client: reqwest::Client,
    counters: Counters,
    tracker: parking_lot_free::Mutex<Tracker>,
    stop: AtomicBool,
    hard_stop: AtomicBool,
    pos_file: PathBuf,
}

/// A tiny alias module so the code reads the same if `parking_lot` is adopted later.
mod parking_lot_free {
    pub(super) struct Mutex<T>(std::sync::Mutex<T>);
    impl<T> Mutex<T> {
        pub(super) fn new(t: T) -> Self {
            Mutex(std::sync::Mutex::new(t))
        }
        pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, T> {
            self.0.lock().unwrap_or_else(|e| e.into_inner())
        }
    }
}

/// Ships what is appended to a TSDB's WAL to one remote write endpoint.
///
/// Started with [`QueueManager::start`] inside a tokio runtime; the WAL is read on a
/// dedicated thread and requests are sent from tokio tasks, one per shard. Stop it with
/// [`QueueManager::stop`] to flush and record the position.
pub struct QueueManager {
    shared: Arc<Shared>,
    watcher: Option<std::thread::JoinHandle<Vec<JoinHandle<()>>>>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The position file of an endpoint in `wal_dir`.
pub fn position_file(wal_dir: &Path, options: &RemoteWriteOptions) -> PathBuf {
    wal_dir.join(format!("remote-{:016x}.pos", options.hash()))
}

fn read_position(p: &Path) -> Option<WalPosition> {
    let s = std::fs::read_to_string(p).ok()?;
    let mut it = s.split_whitespace();
    let segment = it.next()?.parse().ok()?;
    let offset = it.next()?.parse().ok()?;
    Some(WalPosition { segment, offset })
}

fn write_position(p: &Path, pos: WalPosition) -> std::io::Result<()> {
    let tmp = p.with_extension("pos.tmp");
    std::fs::write(&tmp, format!("{} {}\n", pos.segment, pos.offset))?;
    std::fs::rename(&tmp, p)
}

impl QueueManager {
    /// Starts shipping the WAL in `wal_dir` (a TSDB's `<data>/wal`) to `options.url`.
    /// Must be called from within a tokio runtime.
    pub fn start(
        wal_dir: impl AsRef<Path>,
        options: RemoteWriteOptions,
    ) -> Result<Self, SendError> {
        let wal_dir = wal_dir.as_ref().to_path_buf();
        let q = &options.queue_config;
        if q.min_shards == 0 || q.max_shards < q.min_shards {
            return Err(SendError::Options(format!(
                "need 1 <= min_shards ({}) <= max_shards ({})",
                q.min_shards, q.max_shards
            )));
        }
        if q.capacity == 0 || q.max_samples_per_send == 0 {
            return Err(SendError::Options(
                "capacity and max_samples_per_send must be positive".into(),
            ));
        }
        let rt = tokio::runtime::Handle::try_current().map_err(|_| SendError::NoRuntime)?;
        let mut b = narthex_http::client_builder(&options.http)
            .map_err(|e| SendError::Client(e.to_string()))?
            .timeout(options.remote_timeout);
        let mut headers = reqwest::header::HeaderMap::new();
        for (k, v) in &options.headers {
            let name = reqwest::header::HeaderName::from_bytes(k.as_bytes())
                .map_err(|e| SendError::Options(format!("header {k:?}: {e}")))?;
            let value = reqwest::header::HeaderValue::from_str(v)
                .map_err(|e| SendError::Options(format!("header {k:?}: {e}")))?;
            headers.insert(name, value);
        }
        b = b.default_headers(headers);
        let client = b.build().map_err(|e| SendError::Client(e.to_string()))?;
        let pos_file = position_file(&wal_dir, &options);
        let resume = read_position(&pos_file);
        let shared = Arc::new(Shared {
            options,
            client,
            counters: Counters::default(),
            tracker: parking_lot_free::Mutex::new(Tracker {
                next_seq: 0,
                queue: VecDeque::new(),
                acked: resume.unwrap_or_default(),
            }),
            stop: AtomicBool::new(false),
            hard_stop: AtomicBool::new(false),
            pos_file,
        });
        let sh = shared.clone();
        let start_ms = now_ms();
        let watcher = std::thread::Builder::new()
            .name("remote-wal-watcher".into())
            .spawn(move || Watcher::new(sh, wal_dir, rt, resume, start_ms).run())
            .map_err(|e| SendError::Io {
                path: PathBuf::from("<thread>"),
                source: e,
            })?;
        Ok(QueueManager {
            shared,
            watcher: Some(watcher),
        })
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        let c = &self.shared.counters;
        Stats {
            samples_sent: c.samples_sent.load(Ordering::Relaxed),
            histograms_sent: c.histograms_sent.load(Ordering::Relaxed),
            exemplars_sent: c.exemplars_sent.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
            retried: c.retried.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
            requests_sent: c.requests_sent.load(Ordering::Relaxed),
            bytes_sent: c.bytes_sent.load(Ordering::Relaxed),
            highest_timestamp: c.highest_timestamp.load(Ordering::Relaxed),
            highest_sent_timestamp: c.highest_sent_timestamp.load(Ordering::Relaxed),
            pending: c.pending.load(Ordering::Relaxed),
            shards: c.shards.load(Ordering::Relaxed) as u64,
            metadata_sent: c.metadata_sent.load(Ordering::Relaxed),
            series: c.series.load(Ordering::Relaxed) as u64,
            acked_position: self.shared.tracker.lock().acked,
        }
    }

    /// The endpoint's options.
    pub fn options(&self) -> &RemoteWriteOptions {
        &self.shared.options
    }

    /// Stops reading the WAL, delivers what is queued (giving up after the options'
    /// `flush_deadline`), and records the acknowledged position.
    pub async fn stop(mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let Some(w) = self.watcher.take() else { return };
        let shards = tokio::task::spawn_blocking(move || w.join().unwrap_or_default())
            .await
            .unwrap_or_default();
        let deadline = tokio::time::Instant::now() + self.shared.options.flush_deadline;
        for mut h in shards {
            if tokio::time::timeout_at(deadline, &mut h).await.is_err() {
                self.shared.hard_stop.store(true, Ordering::SeqCst);
                let _ = h.await;
            }
        }
        let acked = self.shared.tracker.lock().acked;
        if let Err(e) = write_position(&self.shared.pos_file, acked) {
            tracing::warn!(error = %e, "remote write: could not record the WAL position");
        }
    }
}

impl Drop for QueueManager {
    fn drop(&mut self) {
        // Without `stop`, tasks end at once; the last recorded position stays valid.
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.hard_stop.store(true, Ordering::SeqCst);
    }
}

// ---------------------------------------------------------------------------------------
// The WAL reader thread.

struct Watcher {
    shared: Arc<Shared>,
    wal_dir: PathBuf,
    rt: tokio::runtime::Handle,
    resume: Option<WalPosition>,
    start_ms: i64,
    /// Series ref to the segment it was last seen in and the labels to send under
    /// (`None`: relabelled away).
    series: HashMap<u64, (u32, Option<Labels>)>,
    /// The newest checkpoint whose series were garbage-collected.
    last_checkpoint: Option<u32>,
    /// Series ref to its metadata (from WAL metadata records; sent with 2.0 only).
    meta: HashMap<u64, Arc<Metadata>>,
    senders: Vec<mpsc::Sender<Item>>,
    handles: Vec<JoinHandle<()>>,
}

impl Watcher {
    fn new(
        shared: Arc<Shared>,
        wal_dir: PathBuf,
        rt: tokio::runtime::Handle,
        resume: Option<WalPosition>,
        start_ms: i64,
    ) -> Self {
        Watcher {
            shared,
            wal_dir,
            rt,
            resume,
            start_ms,
            series: HashMap::new(),
            last_checkpoint: None,
            meta: HashMap::new(),
            senders: Vec::new(),
            handles: Vec::new(),
        }
    }

    fn start_shards(&mut self, n: usize) {
        let cap = self.shared.options.queue_config.capacity;
        for _ in 0..n {
            let (tx, rx) = mpsc::channel(cap);
            self.senders.push(tx);
            let sh = self.shared.clone();
            self.handles.push(self.rt.spawn(run_shard(sh, rx)));
        }
        self.shared.counters.shards.store(n, Ordering::Relaxed);
    }

    /// Flushes every shard and starts `n` new ones (ordering per series is kept because
    /// the old shards finish before the new ones start).
    fn reshard(&mut self, n: usize) {
        tracing::info!(
            from = self.senders.len(),
            to = n,
            "remote write: resharding"
        );
        self.senders.clear();
        // Wait for the old shards to flush, unless asked to stop meanwhile (then `stop`
        // waits for them with its deadline).
        while self.handles.iter().any(|h| !h.is_finished()) {
            if self.shared.stop.load(Ordering::SeqCst) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.handles.clear();
        self.start_shards(n);
    }

    fn add_series(&mut self, r: u64, labels: Labels, segment: u32) {
        let o = &self.shared.options;
        let mut l = labels;
        if !o.external_labels.is_empty() {
            let mut b = LabelsBuilder::new();
            for e in &o.external_labels {
                b.set(&e.name, &e.value);
            }
            for x in &l {
                b.set(&x.name, &x.value);
            }
            l = b.build();
        }
        let out = if o.write_relabel_configs.is_empty() {
            Some(l)
        } else {
            relabel::process(&l, &o.write_relabel_configs)
        };
        self.series
            .insert(r, (segment, out.filter(|l| !l.is_empty())));
        self.shared
            .counters
            .series
            .store(self.series.len(), Ordering::Relaxed);
    }

    /// Forgets series the TSDB dropped: when a checkpoint newer than the last one seen
    /// exists and the reader is past it, series last seen at or before the checkpoint
    /// and absent from it are removed (Prometheus's `SeriesReset`), so the map follows
    /// the head instead of growing with churn.
    fn collect_series(&mut self, current_segment: u32) {
        let Ok(Some((dir, n))) = narthex_tsdb::checkpoint::last_checkpoint(&self.wal_dir) else {
            return;
        };
        if self.last_checkpoint.is_some_and(|l| l >= n) || current_segment <= n {
            return;
        }
        let mut keep = std::collections::HashSet::new();
        let Ok(mut rr) = narthex_tsdb::wlog::RecordReader::open(&dir) else {
            return;
        };
        while let Some(rec) = rr.next_record() {
            match rec {
                Ok(rec) => {
                    if let Ok(Record::Series(s)) = record::decode(rec) {
                        keep.extend(s.into_iter().map(|s| s.r));
                    }
                }
                // A checkpoint being deleted under us: try again at the next segment.
                Err(_) => return,
            }
        }
        let before = self.series.len();
        self.series
            .retain(|r, (seg, _)| *seg > n || keep.contains(r));
        self.meta.retain(|r, _| self.series.contains_key(r));
        self.last_checkpoint = Some(n);
        self.shared
            .counters
            .series
            .store(self.series.len(), Ordering::Relaxed);
        tracing::debug!(
            checkpoint = n,
            removed = before - self.series.len(),
            "remote write: series garbage-collected"
        );
    }

    fn run(mut self) -> Vec<JoinHandle<()>> {
        let min = self.shared.options.queue_config.min_shards;
        self.start_shards(min);
        // Series from the newest checkpoint.
        let mut first_seg = 0u32;
        if let Ok(Some((dir, n))) = narthex_tsdb::checkpoint::last_checkpoint(&self.wal_dir) {
            first_seg = n + 1;
            self.last_checkpoint = Some(n);
            if let Ok(mut rr) = narthex_tsdb::wlog::RecordReader::open(&dir) {
                while let Some(Ok(rec)) = rr.next_record() {
                    if let Ok(Record::Series(s)) = record::decode(rec) {
                        for s in s {
                            self.add_series(s.r, s.labels, n);
                        }
                    }
                }
            }
        }
        if let Ok(segs) = narthex_tsdb::wlog::segments(&self.wal_dir)
            && let Some(f) = segs.first()
        {
            first_seg = first_seg.max(*f);
        }
        let mut tailer = Tailer::new(
            &self.wal_dir,
            WalPosition {
                segment: first_seg,
                offset: 0,
            },
        );
        let mut caught_up = false;
        let mut last_persist = Instant::now();
        let mut last_reshard = Instant::now();
        let mut last_metadata = Instant::now();
        let mut persisted = self.shared.tracker.lock().acked;
        while !self.shared.stop.load(Ordering::SeqCst) {
            let before = tailer.position();
            match tailer.next() {
                Ok(Next::Record(rec, at)) => {
                    if !self.process(rec, at, caught_up) {
                        break;
                    }
                }
                Ok(Next::Wait) => {
                    let now = tailer.position();
                    if now == before {
                        caught_up = true;
                        std::thread::sleep(Duration::from_millis(20));
                    } else if now.segment != before.segment {
                        self.collect_series(now.segment);
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "remote write: reading the WAL");
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
            if last_persist.elapsed() >= Duration::from_secs(1) {
                last_persist = Instant::now();
                let acked = self.shared.tracker.lock().acked;
                if acked != persisted && write_position(&self.shared.pos_file, acked).is_ok() {
                    persisted = acked;
                }
            }
            if let Some(every) = self.shared.options.metadata_send_interval
                && self.shared.options.protocol == Protocol::V1
                && last_metadata.elapsed() >= every
            {
                last_metadata = Instant::now();
                self.send_metadata();
            }
            let every = self.shared.options.queue_config.reshard_interval;
            if last_reshard.elapsed() >= every {
                last_reshard = Instant::now();
                if let Some(n) = self.desired_shards(every) {
                    self.reshard(n);
                }
            }
        }
        self.senders.clear();
        std::mem::take(&mut self.handles)
    }

    /// 1.0 only: sends the metadata of every family seen in the WAL's metadata records as
    /// metadata-only requests (family name = the series' metric name), in a background
    /// task with a few retries, as Prometheus's periodic metadata sends.
    fn send_metadata(&self) {
        let mut fams: std::collections::BTreeMap<String, Metadata> = Default::default();
        for (r, m) in &self.meta {
            if let Some((_, Some(l))) = self.series.get(r)
                && let Some(name) = l.metric_name()
            {
                fams.entry(name.to_string())
                    .or_insert_with(|| (**m).clone());
            }
        }
        if fams.is_empty() {
            return;
        }
        let all: Vec<codec::FamilyMetadata> = fams
            .into_iter()
            .map(|(family, metadata)| codec::FamilyMetadata { family, metadata })
            .collect();
        let shared = self.shared.clone();
        self.rt.spawn(async move {
            let per_send = shared.options.metadata_max_samples_per_send.max(1);
            for chunk in all.chunks(per_send) {
                let req = WriteRequest {
                    timeseries: Vec::new(),
                    metadata: chunk.to_vec(),
                };
                let body = codec::encode_compressed(&req, Protocol::V1);
                let mut backoff = shared.options.queue_config.min_backoff;
                for _ in 0..3 {
                    match attempt(&shared, &body).await {
                        Outcome::Sent => {
                            shared
                                .counters
                                .metadata_sent
                                .fetch_add(chunk.len() as u64, Ordering::Relaxed);
                            break;
                        }
                        Outcome::Drop(why) => {
                            tracing::warn!(error = %why, "remote write: metadata dropped");
                            break;
                        }
                        Outcome::Retry(_) => {
                            tokio::time::sleep(backoff).await;
                            backoff = (backoff * 2).min(shared.options.queue_config.max_backoff);
                        }
                    }
                }
            }
        });
    }

    /// A simple dynamic sharding rule: double the shards when each holds more than two
    /// full batches, halve them when the whole backlog fits in half a batch; never while
    /// sends are failing (more shards would not help a down receiver).
    fn desired_shards(&self, every: Duration) -> Option<usize> {
        let q = &self.shared.options.queue_config;
        let c = &self.shared.counters;
        if now_ms() - c.last_failure.load(Ordering::Relaxed) < 2 * every.as_millis() as i64 {
            return None;
        }
        let n = self.senders.len();
        let backlog = c.pending.load(Ordering::Relaxed) as usize;
        if backlog > 2 * q.max_samples_per_send * n && n < q.max_shards {
            Some((n * 2).min(q.max_shards))
        } else if backlog < q.max_samples_per_send / 2 && n > q.min_shards {
            Some((n / 2).max(q.min_shards))
        } else {
            None
        }
    }

    /// Handles one record. Returns false when stopping while waiting for room.
    fn process(&mut self, rec: &[u8], at: WalPosition, caught_up: bool) -> bool {
        let rec = match record::decode(rec) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, segment = at.segment, "remote write: undecodable WAL record skipped");
                self.shared.tracker.lock().record(at, 0);
                return true;
            }
        };
        let rec = match rec {
            Record::Series(s) => {
                for s in s {
                    self.add_series(s.r, s.labels, at.segment);
                }
                self.shared.tracker.lock().record(at, 0);
                return true;
            }
            Record::Metadata(m) => {
                let o = &self.shared.options;
                if o.protocol == Protocol::V2 || o.metadata_send_interval.is_some() {
                    for m in m {
                        self.meta.insert(
                            m.r,
                            Arc::new(Metadata {
                                metric_type: m.metric_type,
                                help: m.help,
                                unit: m.unit,
                            }),
                        );
                    }
                }
                self.shared.tracker.lock().record(at, 0);
                return true;
            }
            other => other,
        };
        // Before the resume position only series matter; on a fresh start samples older
        // than the start are not sent until the reader has caught up.
        let replaying = self.resume.is_some_and(|r| at <= r);
        let min_t = if self.resume.is_none() && !caught_up {
            self.start_ms
        } else {
            i64::MIN
        };
        let o = &self.shared.options;
        let mut items: Vec<(usize, Item)> = Vec::new();
        let mut dropped = 0u64;
        if self.senders.is_empty() {
            return false; // stopping during a reshard
        }
        let shards = self.senders.len();
        let with_meta = o.protocol == Protocol::V2;
        let meta = &self.meta;
        let mut push = |series: &HashMap<u64, (u32, Option<Labels>)>,
                        r: u64,
                        t: i64,
                        st: i64,
                        value: Value| {
            if replaying || t < min_t {
                return;
            }
            match series.get(&r) {
                Some((_, Some(l))) => {
                    // By reference, as Prometheus shards: cheap and stable per series.
                    let shard = (r % shards as u64) as usize;
                    items.push((
                        shard,
                        Item {
                            r,
                            labels: l.clone(),
                            metadata: if with_meta {
                                meta.get(&r).cloned()
                            } else {
                                None
                            },
                            t,
                            st: if with_meta { st } else { 0 },
                            value,
                            seq: 0,
                        },
                    ));
                }
                _ => dropped += 1,
            }
        };
        match rec {
            Record::Samples(s) => {
                for s in s {
                    push(&self.series, s.r, s.t, s.st, Value::Float(s.v));
                }
            }
            Record::Histograms(h) if o.send_native_histograms => {
                for h in h {
                    push(
                        &self.series,
                        h.r,
                        h.t,
                        h.st,
                        Value::Histogram(Box::new(HistogramValue::Int(h.h))),
                    );
                }
            }
            Record::FloatHistograms(h) if o.send_native_histograms => {
                for h in h {
                    push(
                        &self.series,
                        h.r,
                        h.t,
                        h.st,
                        Value::Histogram(Box::new(HistogramValue::Float(h.h))),
                    );
                }
            }
            Record::Exemplars(e) if o.send_exemplars => {
                for e in e {
                    let ex = Exemplar {
                        labels: e.labels,
                        value: e.v,
                        timestamp: Some(e.t),
                    };
                    push(&self.series, e.r, e.t, 0, Value::Exemplar(Box::new(ex)));
                }
            }
            _ => {}
        }
        let c = &self.shared.counters;
        if dropped > 0 {
            c.dropped.fetch_add(dropped, Ordering::Relaxed);
        }
        let seq = self.shared.tracker.lock().record(at, items.len());
        for (shard, mut item) in items {
            item.seq = seq;
            if !matches!(item.value, Value::Exemplar(_)) {
                c.highest_timestamp.fetch_max(item.t, Ordering::Relaxed);
            }
            c.pending.fetch_add(1, Ordering::Relaxed);
            let mut item = item;
            loop {
                match self.senders[shard].try_send(item) {
                    Ok(()) => break,
                    Err(mpsc::error::TrySendError::Full(i)) => {
                        if self.shared.stop.load(Ordering::SeqCst) {
                            c.pending.fetch_sub(1, Ordering::Relaxed);
                            return false;
                        }
                        item = i;
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => {
                        c.pending.fetch_sub(1, Ordering::Relaxed);
                        return false;
                    }
                }
            }
        }
        true
    }
}

// ---------------------------------------------------------------------------------------
// Shards.

async fn run_shard(shared: Arc<Shared>, mut rx: mpsc::Receiver<Item>) {
    let q = shared.options.queue_config.clone();
    let mut batch: Vec<Item> = Vec::with_capacity(q.max_samples_per_send);
    let mut deadline: Option<tokio::time::Instant> = None;
    loop {
        let got = match deadline {
            // `None` when the deadline passed.
            Some(d) => tokio::time::timeout_at(d, rx.recv()).await.ok(),
            None => Some(rx.recv().await),
        };
        match got {
            Some(Some(item)) => {
                if batch.is_empty() {
                    deadline = Some(tokio::time::Instant::now() + q.batch_send_deadline);
                }
                batch.push(item);
                if batch.len() >= q.max_samples_per_send {
                    send_batch(&shared, &mut batch).await;
                    deadline = None;
                }
            }
            Some(None) => {
                if !batch.is_empty() {
                    send_batch(&shared, &mut batch).await;
                }
                return;
            }
            None => {
                send_batch(&shared, &mut batch).await;
                deadline = None;
            }
        }
    }
}

/// Mixes a series reference for the request builder's map (SipHash over a `u64` cost more
/// than building the request).
#[derive(Default)]
struct RefHasher(u64);

impl std::hash::Hasher for RefHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// Groups a batch into series. A series whose samples have start timestamps (sent as
/// 2.0's per-series created timestamp) gets one entry per start timestamp; exemplars
/// join the series' latest entry.
fn build_request(batch: &[Item]) -> WriteRequest {
    let mut index: HashMap<u64, usize, std::hash::BuildHasherDefault<RefHasher>> =
        HashMap::default();
    let mut req = WriteRequest::default();
    for it in batch {
        let new_entry = |req: &mut WriteRequest| {
            req.timeseries.push(TimeSeries {
                labels: it.labels.clone(),
                created_timestamp: it.st,
                ..Default::default()
            });
            req.timeseries.len() - 1
        };
        let i = match index.get(&it.r) {
            Some(&i)
                if matches!(it.value, Value::Exemplar(_))
                    || req.timeseries[i].created_timestamp == it.st =>
            {
                i
            }
            _ => {
                let i = new_entry(&mut req);
                index.insert(it.r, i);
                i
            }
        };
        let ts = &mut req.timeseries[i];
        if ts.metadata.is_none()
            && let Some(m) = &it.metadata
        {
            ts.metadata = Some((**m).clone());
        }
        match &it.value {
            Value::Float(v) => ts.samples.push(Sample {
                timestamp: it.t,
                value: *v,
            }),
            Value::Histogram(h) => ts.histograms.push(HistogramSample {
                timestamp: it.t,
                value: (**h).clone(),
            }),
            Value::Exemplar(e) => ts.exemplars.push((**e).clone()),
        }
    }
    req
}

enum Outcome {
    Sent,
    Retry(Option<Duration>),
    Drop(String),
}

async fn attempt(shared: &Shared, body: &[u8]) -> Outcome {
    let o = &shared.options;
    let mut rb = shared
        .client
        .post(&o.url)
        .header(reqwest::header::CONTENT_ENCODING, codec::CONTENT_ENCODING)
        .header(reqwest::header::CONTENT_TYPE, o.protocol.content_type())
        .header(codec::VERSION_HEADER, o.protocol.version())
        .header(
            reqwest::header::USER_AGENT,
            concat!("Narthex/", env!("CARGO_PKG_VERSION")),
        )
        .body(body.to_vec());
    rb = match o.http.authorize(rb) {
        Ok(rb) => rb,
        Err(e) => {
            tracing::warn!(error = %e, url = %o.url, "remote write: request not sent");
            return Outcome::Retry(None);
        }
    };
    let resp = match rb.send().await {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(error = %e, url = %o.url, "remote write: request failed");
            return Outcome::Retry(None);
        }
    };
    let status = resp.status();
    if status.is_success() {
        return Outcome::Sent;
    }
    let retry_after = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let text = resp.text().await.unwrap_or_default();
    if status.is_server_error()
        || (status == StatusCode::TOO_MANY_REQUESTS && o.queue_config.retry_on_http_429)
    {
        tracing::debug!(%status, body = %text.trim(), "remote write: recoverable error");
        return Outcome::Retry(retry_after);
    }
    Outcome::Drop(format!("{status}: {}", text.trim()))
}

/// Drops the items of `batch` older than `sample_age_limit`, as delivered-by-dropping:
/// counted, no longer pending, acknowledged. Returns how many.
fn drop_too_old(shared: &Shared, batch: &mut Vec<Item>) -> usize {
    let limit = shared.options.queue_config.sample_age_limit;
    if limit.is_zero() {
        return 0;
    }
    let cutoff = now_ms().saturating_sub(i64::try_from(limit.as_millis()).unwrap_or(i64::MAX));
    let before = batch.len();
    let mut t = shared.tracker.lock();
    batch.retain(|it| {
        let keep = it.t >= cutoff;
        if !keep {
            t.done(it.seq);
        }
        keep
    });
    drop(t);
    let n = before - batch.len();
    if n > 0 {
        let c = &shared.counters;
        c.dropped.fetch_add(n as u64, Ordering::Relaxed);
        c.pending.fetch_sub(n as u64, Ordering::Relaxed);
        tracing::debug!(url = %shared.options.url, items = n, "remote write: items older than sample_age_limit dropped");
    }
    n
}

async fn send_batch(shared: &Shared, batch: &mut Vec<Item>) {
    drop_too_old(shared, batch);
    if batch.is_empty() {
        return;
    }
    let o = &shared.options;
    let c = &shared.counters;
    let mut body = codec::encode_compressed(&build_request(batch), o.protocol);
    let mut backoff = o.queue_config.min_backoff;
    let delivered = loop {
        if shared.hard_stop.load(Ordering::SeqCst) {
            break None;
        }
        let n = batch.len() as u64;
        match attempt(shared, &body).await {
            Outcome::Sent => break Some(true),
            Outcome::Drop(why) => {
                tracing::error!(url = %o.url, error = %why, items = n, "remote write: non-recoverable error, batch dropped");
                break Some(false);
            }
            Outcome::Retry(after) => {
                c.retried.fetch_add(n, Ordering::Relaxed);
                c.last_failure.store(now_ms(), Ordering::Relaxed);
                let wait = after
                    .unwrap_or(backoff)
                    .min(o.queue_config.max_backoff.max(backoff));
                let until = tokio::time::Instant::now() + wait;
                while tokio::time::Instant::now() < until {
                    if shared.hard_stop.load(Ordering::SeqCst) {
                        break;
                    }
                    tokio::time::sleep_until(
                        until.min(tokio::time::Instant::now() + Duration::from_millis(50)),
                    )
                    .await;
                }
                backoff = (backoff * 2).min(o.queue_config.max_backoff);
                // What aged past the limit while retrying is dropped, not sent late.
                if drop_too_old(shared, batch) > 0 {
                    if batch.is_empty() {
                        return;
                    }
                    body = codec::encode_compressed(&build_request(batch), o.protocol);
                }
            }
        }
    };
    let n = batch.len() as u64;
    match delivered {
        // Hard stop: not acknowledged, so it is sent again after a restart.
        None => {}
        Some(ok) => {
            if ok {
                c.requests_sent.fetch_add(1, Ordering::Relaxed);
                c.bytes_sent.fetch_add(body.len() as u64, Ordering::Relaxed);
                let mut hi = i64::MIN;
                for it in batch.iter() {
                    match it.value {
                        Value::Float(_) => {
                            c.samples_sent.fetch_add(1, Ordering::Relaxed);
                            hi = hi.max(it.t);
                        }
                        Value::Histogram(_) => {
                            c.histograms_sent.fetch_add(1, Ordering::Relaxed);
                            hi = hi.max(it.t);
                        }
                        Value::Exemplar(_) => {
                            c.exemplars_sent.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                c.highest_sent_timestamp.fetch_max(hi, Ordering::Relaxed);
            } else {
                c.failed.fetch_add(n, Ordering::Relaxed);
            }
            let mut t = shared.tracker.lock();
            for it in batch.iter() {
                t.done(it.seq);
            }
        }
    }
    c.pending.fetch_sub(n, Ordering::Relaxed);
    batch.clear();
}
