//! One scrape's body into the storage: labels (target labels, `honor_labels`, metric
//! relabelling), limits, timestamps, staleness markers for series that went away, and the
//! report series. Synchronous and independent of HTTP, so it is tested and benchmarked on
//! its own.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use narthex_exposition::{
    Entry, Format, LabelRef, ParseOptions, Parser, RawSample, Recovery, TextParser,
};
use narthex_model::relabel;
use narthex_model::{Labels, LabelsBuilder, Metadata, MetricType, stale_nan};
use narthex_storage::{Appender, HistogramSample, SeriesRef, StorageError};

use crate::native;
use crate::target::{ScrapeOptions, Target};

/// Why a scrape failed, with Prometheus's error texts.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ScrapeError {
    /// The request failed (connection, timeout, status).
    #[error("{0}")]
    Http(String),
    /// The body did not parse.
    #[error("{0}")]
    Parse(String),
    /// No usable `Content-Type` and no fallback protocol.
    #[error("{0}")]
    ContentType(String),
    /// More samples than `sample_limit` after metric relabelling.
    #[error("sample limit exceeded")]
    SampleLimit,
    /// The body was larger than `body_size_limit`.
    #[error("body size limit exceeded")]
    BodySizeLimit,
    /// A series broke `label_limit`, `label_name_length_limit` or `label_value_length_limit`.
    #[error("{0}")]
    LabelLimit(String),
    /// A native histogram had more buckets than `native_histogram_bucket_limit` even at
    /// the lowest resolution.
    #[error("histogram bucket limit exceeded")]
    BucketLimit,
    /// The storage refused the batch.
    #[error("{0}")]
    Storage(String),
}

/// What a scrape appended, for the report series.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AppendStats {
    /// Samples in the body (`scrape_samples_scraped`).
    pub scraped: u64,
    /// Samples left after metric relabelling (`scrape_samples_post_metric_relabeling`).
    pub post_relabel: u64,
    /// Series not seen in the previous scrape (`scrape_series_added`).
    pub added: u64,
    /// Samples the storage refused as out of order, duplicate or out of bounds.
    pub rejected: u64,
    /// Of those: out of order (older than the series' newest sample).
    pub out_of_order: u64,
    /// Of those: a different value at a timestamp the series has.
    pub duplicate: u64,
    /// Of those: older than the storage accepts (out of bounds, too old).
    pub out_of_bounds: u64,
    /// Stale markers appended for series that disappeared.
    pub stale: u64,
}

struct CacheEntry {
    /// The 128-bit xxh3 of the series' name and labels as exposed (the cache key; a
    /// collision is as likely as a cosmic-ray bit flip, and keeping the hash instead of
    /// the bytes saves memory and the cache misses of comparing them).
    key: u128,
    /// The 128-bit xxh3 of the series' text as the text format last exposed it, with the
    /// TYPE in force (see [`raw_key`]; 0 when unknown): a line with the same text at the
    /// same position as in the previous scrape is appended without parsing its labels.
    raw: u128,
    /// The next slot whose key has the same hash (`NONE` ends the chain).
    next: u32,
    /// Final labels, or `None` when metric relabelling dropped the series.
    labels: Option<Labels>,
    r: SeriesRef,
    /// The scrape that last saw the series.
    seen: u64,
    /// The scrape that saw it before that (restored when a scrape fails).
    prev_seen: u64,
    /// The series had an explicit timestamp (not marked stale unless tracked).
    explicit_ts: bool,
}

/// What a scrape loop remembers between scrapes: each series' final labels and storage
/// reference, keyed by the bytes of its name and labels as exposed, so an unchanged
/// series costs a hash lookup; which series the last scrape saw, for staleness; metadata.
pub struct ScrapeCache {
    /// Entries, in a slab; `None` marks a free slot.
    slots: Vec<Option<CacheEntry>>,
    free: Vec<u32>,
    /// The first slot for each key hash (xxh3); collisions chain through `next`.
    index: HashMap<u64, u32, BuildHasherDefault<KeyHash>>,
    /// The slots in the order the last successful scrape exposed them: targets expose
    /// series in the same order each time, so the slot at the same position is tried
    /// first, which touches memory in order instead of probing a hash table.
    order: Vec<u32>,
    /// The order being built by the current scrape.
    new_order: Vec<u32>,
    /// The number of this scrape (incremented at the start of each).
    iter: u64,
    key: Vec<u8>,
    metadata: HashMap<String, Metadata>,
    report_refs: [SeriesRef; 5],
}

impl Default for ScrapeCache {
    fn default() -> Self {
        ScrapeCache {
            slots: Vec::new(),
            free: Vec::new(),
            index: HashMap::default(),
            order: Vec::new(),
            new_order: Vec::new(),
            iter: 0,
            key: Vec::new(),
            metadata: HashMap::new(),
            report_refs: [SeriesRef::UNKNOWN; 5],
        }
    }
}

/// Keys are already xxh3 hashes: the map uses them as they are.
#[derive(Default)]
struct KeyHash(u64);

impl std::hash::Hasher for KeyHash {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

/// The end of a hash chain.
const NONE: u32 = u32::MAX;

/// Scrapes after which an unseen series is forgotten.
const FORGET_AFTER: u64 = 10;

fn make_key(key: &mut Vec<u8>, name: &str, labels: &[LabelRef<'_>]) {
    key.clear();
    key.extend_from_slice(name.as_bytes());
    for l in labels {
        key.push(0xff);
        key.extend_from_slice(l.name.as_bytes());
        key.push(0xfe);
        key.extend_from_slice(l.value.as_bytes());
    }
}

/// The cache's key for a text-format series as written (never 0): the same text under the
/// same TYPE always parses to the same name and labels.
fn raw_key(raw: &RawSample<'_>) -> u128 {
    let seed = raw.type_in_force as u64 + 1;
    xxhash_rust::xxh3::xxh3_128_with_seed(raw.series, seed).max(1)
}

/// Prometheus's `mutateSampleLabels`: target labels onto the scraped ones (conflicts
/// renamed `exported_*` unless `honor_labels`), then metric relabelling.
pub fn sample_labels(
    name: &str,
    scraped: &[LabelRef<'_>],
    target: &Target,
    opts: &ScrapeOptions,
) -> Option<Labels> {
    let mut b = LabelsBuilder::new();
    b.set("__name__", name);
    for l in scraped {
        b.set(&*l.name, &*l.value);
    }
    if opts.honor_labels {
        for l in &target.labels {
            if b.get(&l.name).is_none_or(str::is_empty) {
                b.set(&*l.name, &*l.value);
            }
        }
    } else {
        let mut conflicts: Vec<(String, String)> = Vec::new();
        for l in &target.labels {
            if let Some(v) = b.get(&l.name).filter(|v| !v.is_empty()) {
                conflicts.push((l.name.to_string(), v.to_string()));
            }
            b.set(&*l.name, &*l.value);
        }
        for (name, value) in conflicts {
            let mut new = format!("exported_{name}");
            while b.get(&new).is_some_and(|v| !v.is_empty()) {
                new = format!("exported_{new}");
            }
            b.set(new, value);
        }
    }
    let labels = b.build();
    if opts.metric_relabel.is_empty() {
        return Some(labels);
    }
    relabel::process(&labels, &opts.metric_relabel).filter(|l| !l.is_empty())
}

fn check_label_limits(labels: &Labels, opts: &ScrapeOptions) -> Result<(), ScrapeError> {
    let metric: String = labels
        .metric_name()
        .unwrap_or("")
        .chars()
        .take(50)
        .collect();
    if opts.label_limit > 0 && labels.len() > opts.label_limit {
        return Err(ScrapeError::LabelLimit(format!(
            "label_limit exceeded (metric: {metric}, number of labels: {}, limit: {})",
            labels.len(),
            opts.label_limit
        )));
    }
    for l in labels {
        let short: String = l.name.chars().take(50).collect();
        if opts.label_name_length_limit > 0 && l.name.len() > opts.label_name_length_limit {
            return Err(ScrapeError::LabelLimit(format!(
                "label_name_length_limit exceeded (metric: {metric}, label name: {short}, length: {}, limit: {})",
                l.name.len(),
                opts.label_name_length_limit
            )));
        }
        if opts.label_value_length_limit > 0 && l.value.len() > opts.label_value_length_limit {
            let value: String = l.value.chars().take(50).collect();
            return Err(ScrapeError::LabelLimit(format!(
                "label_value_length_limit exceeded (metric: {metric}, label name: {short}, value: {}, length: {}, limit: {})",
                narthex_model::go_quote(&value),
                l.value.len(),
                opts.label_value_length_limit
            )));
        }
    }
    Ok(())
}

/// Whether an append error only drops the sample (as Prometheus counts and moves on).
fn sample_level(e: &StorageError) -> bool {
    matches!(
        e,
        StorageError::OutOfOrderSample
            | StorageError::DuplicateSampleForTimestamp
            | StorageError::OutOfBounds
            | StorageError::TooOldSample
            | StorageError::InvalidHistogram(_)
    )
}

/// The format to parse a body with: from the `Content-Type`, else the fallback.
pub fn body_format(content_type: &str, fallback: Option<Format>) -> Result<Format, ScrapeError> {
    if let Some(f) = Format::from_content_type(content_type) {
        return Ok(f);
    }
    match fallback {
        Some(f) => Ok(f),
        None if content_type.trim().is_empty() => Err(ScrapeError::ContentType(
            "non-compliant scrape target sending blank Content-Type and no fallback_scrape_protocol specified for target".into(),
        )),
        None => Err(ScrapeError::ContentType(format!(
            "received unsupported Content-Type {} and no fallback_scrape_protocol specified for target",
            narthex_model::go_quote(content_type)
        ))),
    }
}

impl ScrapeCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// Metadata (type, help, unit) of the families the last scrapes exposed.
    pub fn metadata(&self) -> &HashMap<String, Metadata> {
        &self.metadata
    }

    /// Number of series remembered.
    pub fn len(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    /// Whether no series is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends one scrape's body taken at `ts`. On an error nothing of the body should be
    /// committed: the caller rolls back and calls [`ScrapeCache::append_failure`]; the
    /// cache forgets that the failed scrape saw anything.
    pub fn append_body(
        &mut self,
        app: &mut dyn Appender,
        body: &[u8],
        format: Format,
        target: &Target,
        opts: &ScrapeOptions,
        ts: i64,
    ) -> Result<AppendStats, ScrapeError> {
        self.iter += 1;
        let cur = self.iter;
        self.new_order.clear();
        let r = self.append_body_inner(app, body, format, target, opts, ts, cur);
        if r.is_ok() {
            std::mem::swap(&mut self.order, &mut self.new_order);
        } else {
            for e in self.slots.iter_mut().flatten() {
                if e.seen == cur {
                    e.seen = e.prev_seen;
                    if e.seen == 0 {
                        // Created by the rolled-back batch: its reference may not exist.
                        e.r = SeriesRef::UNKNOWN;
                    }
                }
            }
            // The failed scrape counts as a scrape that saw nothing.
            self.iter -= 1;
        }
        r
    }

    #[allow(clippy::too_many_arguments)]
    fn append_body_inner(
        &mut self,
        app: &mut dyn Appender,
        body: &[u8],
        format: Format,
        target: &Target,
        opts: &ScrapeOptions,
        ts: i64,
        cur: u64,
    ) -> Result<AppendStats, ScrapeError> {
        let mut stats = AppendStats::default();
        let popts = ParseOptions {
            recovery: Recovery::Strict,
            family_checks: false,
            classic_histograms: opts.always_scrape_classic_histograms,
            ignore_native_histograms: !opts.native_histograms,
        };
        if format == Format::PrometheusText {
            // The text format's fast path: a sample line whose series text is the one the
            // previous scrape had at this position is appended without parsing its labels
            // (as Prometheus's scrape cache keys series by their bytes).
            let mut parser = TextParser::new(body, popts);
            loop {
                let mut raw = None;
                if let Some(sample) = parser.peek_sample() {
                    let key = raw_key(&sample);
                    let t = match sample.timestamp {
                        Some(t) if opts.honor_timestamps => t,
                        _ => ts,
                    };
                    let explicit_ts = sample.timestamp.is_some() && opts.honor_timestamps;
                    if self.append_known(
                        app,
                        key,
                        t,
                        sample.value,
                        cur,
                        opts,
                        &mut stats,
                        explicit_ts,
                    )? {
                        parser.skip_peeked();
                        continue;
                    }
                    raw = Some(key);
                }
                let Some(entry) = parser.next_entry() else {
                    break;
                };
                let entry = entry.map_err(|e| ScrapeError::Parse(e.to_string()))?;
                if let Some(slot) = self.on_entry(app, entry, target, opts, ts, cur, &mut stats)?
                    && let Some(key) = raw
                    && let Some(e) = self.slots[slot as usize].as_mut()
                {
                    e.raw = key;
                }
            }
        } else {
            let mut parser = format.parser(body, popts);
            while let Some(entry) = parser.next_entry() {
                let entry = entry.map_err(|e| ScrapeError::Parse(e.to_string()))?;
                self.on_entry(app, entry, target, opts, ts, cur, &mut stats)?;
            }
        }
        if opts.sample_limit > 0 && stats.post_relabel > opts.sample_limit as u64 {
            return Err(ScrapeError::SampleLimit);
        }
        stats.stale = self.mark_stale(app, ts, opts)?;
        Ok(stats)
    }

    /// Takes one parsed entry; returns the cache slot a sample went to.
    #[allow(clippy::too_many_arguments)]
    fn on_entry(
        &mut self,
        app: &mut dyn Appender,
        entry: Entry<'_>,
        target: &Target,
        opts: &ScrapeOptions,
        ts: i64,
        cur: u64,
        stats: &mut AppendStats,
    ) -> Result<Option<u32>, ScrapeError> {
        match entry {
            Entry::Sample(s) => {
                stats.scraped += 1;
                let t = match s.timestamp {
                    Some(t) if opts.honor_timestamps => t,
                    _ => ts,
                };
                return self
                    .append_one(
                        app,
                        &s.name,
                        s.labels,
                        target,
                        opts,
                        cur,
                        stats,
                        |app, r, l| app.append(r, l, t, s.value),
                        s.timestamp.is_some() && opts.honor_timestamps,
                    )
                    .map(Some);
            }
            Entry::Histogram(h) => {
                stats.scraped += 1;
                let t = match h.timestamp {
                    Some(t) if opts.honor_timestamps => t,
                    _ => ts,
                };
                let max_schema = native::max_schema(opts.native_histogram_min_bucket_factor);
                let limit = opts.native_histogram_bucket_limit;
                // Checked once the series is known to be kept: a histogram that metric
                // relabelling drops does not count, as in Prometheus.
                let mut over_limit = false;
                let slot = self.append_one(
                    app,
                    &h.name,
                    h.labels,
                    target,
                    opts,
                    cur,
                    stats,
                    |app, r, l| {
                        let fitted = match native::fit(&h.histogram, max_schema, limit) {
                            Ok(f) => f,
                            Err(native::OverLimit) => {
                                // The scrape fails and its appends are rolled back.
                                over_limit = true;
                                return Ok(r);
                            }
                        };
                        let sample = match fitted.as_ref().unwrap_or(&h.histogram) {
                            narthex_exposition::HistogramValue::Int(x) => HistogramSample::Int(x),
                            narthex_exposition::HistogramValue::Float(x) => {
                                HistogramSample::Float(x)
                            }
                        };
                        app.append_histogram(r, l, t, sample)
                    },
                    h.timestamp.is_some() && opts.honor_timestamps,
                )?;
                if over_limit {
                    return Err(ScrapeError::BucketLimit);
                }
                return Ok(Some(slot));
            }
            Entry::Type { name, metric_type } => {
                self.metadata_of(name).metric_type = metric_type;
            }
            Entry::Help { name, help } => {
                self.metadata_of(name).help = help.into_owned();
            }
            Entry::Unit { name, unit } => {
                self.metadata_of(name).unit = unit.into_owned();
            }
            Entry::Comment(_) => {}
        }
        Ok(None)
    }

    /// The metadata recorded for a metric family, created empty.
    fn metadata_of(&mut self, name: std::borrow::Cow<'_, str>) -> &mut Metadata {
        self.metadata
            .entry(name.into_owned())
            .or_insert_with(|| Metadata {
                metric_type: MetricType::Unknown,
                help: String::new(),
                unit: String::new(),
            })
    }

    /// Appends a float sample to the series the previous scrape had at this position, if
    /// its series text was `raw`; returns whether it did.
    #[allow(clippy::too_many_arguments)]
    fn append_known(
        &mut self,
        app: &mut dyn Appender,
        raw: u128,
        t: i64,
        v: f64,
        cur: u64,
        opts: &ScrapeOptions,
        stats: &mut AppendStats,
        explicit_ts: bool,
    ) -> Result<bool, ScrapeError> {
        let Some(slot) = self.guess(|e| e.raw == raw) else {
            return Ok(false);
        };
        stats.scraped += 1;
        self.append_to(
            app,
            slot,
            false,
            opts,
            cur,
            stats,
            |app, r, l| app.append(r, l, t, v),
            explicit_ts,
        )?;
        Ok(true)
    }

    /// Finds (or creates) the cache slot of a parsed sample's series and appends to it;
    /// returns the slot.
    #[allow(clippy::too_many_arguments)]
    fn append_one(
        &mut self,
        app: &mut dyn Appender,
        name: &str,
        labels: &[LabelRef<'_>],
        target: &Target,
        opts: &ScrapeOptions,
        cur: u64,
        stats: &mut AppendStats,
        append: impl FnOnce(&mut dyn Appender, SeriesRef, &Labels) -> Result<SeriesRef, StorageError>,
        explicit_ts: bool,
    ) -> Result<u32, ScrapeError> {
        make_key(&mut self.key, name, labels);
        let key = xxhash_rust::xxh3::xxh3_128(&self.key);
        let mut new = false;
        let slot = match self.guess(|e| e.key == key) {
            Some(i) => i,
            None => match self.lookup(key) {
                Some(i) => i,
                None => {
                    new = true;
                    let final_labels = sample_labels(name, labels, target, opts);
                    if let Some(l) = &final_labels {
                        check_label_limits(l, opts)?;
                    }
                    self.insert(CacheEntry {
                        key,
                        raw: 0,
                        next: NONE,
                        labels: final_labels,
                        r: SeriesRef::UNKNOWN,
                        seen: 0,
                        prev_seen: 0,
                        explicit_ts,
                    })
                }
            },
        };
        self.append_to(app, slot, new, opts, cur, stats, append, explicit_ts)?;
        Ok(slot)
    }

    /// Appends a sample to the series in cache slot `slot` (`new`: created by this
    /// sample), counting it in `stats`.
    #[allow(clippy::too_many_arguments)]
    fn append_to(
        &mut self,
        app: &mut dyn Appender,
        slot: u32,
        new: bool,
        opts: &ScrapeOptions,
        cur: u64,
        stats: &mut AppendStats,
        append: impl FnOnce(&mut dyn Appender, SeriesRef, &Labels) -> Result<SeriesRef, StorageError>,
        explicit_ts: bool,
    ) -> Result<(), ScrapeError> {
        self.new_order.push(slot);
        let Some(entry) = self.slots[slot as usize].as_mut() else {
            return Ok(());
        };
        if entry.seen != cur {
            entry.prev_seen = entry.seen;
        }
        let Some(l) = &entry.labels else {
            entry.seen = cur;
            return Ok(());
        };
        stats.post_relabel += 1;
        if opts.sample_limit > 0 && stats.post_relabel > opts.sample_limit as u64 {
            // Keep counting (the report shows the total); nothing more is appended.
            return Ok(());
        }
        match append(app, entry.r, l) {
            Ok(r) => {
                entry.r = r;
                if new {
                    stats.added += 1;
                }
            }
            Err(e) if sample_level(&e) => {
                stats.rejected += 1;
                match e {
                    StorageError::OutOfOrderSample => stats.out_of_order += 1,
                    StorageError::DuplicateSampleForTimestamp => stats.duplicate += 1,
                    StorageError::OutOfBounds | StorageError::TooOldSample => {
                        stats.out_of_bounds += 1
                    }
                    _ => {}
                }
            }
            Err(e) => return Err(ScrapeError::Storage(e.to_string())),
        }
        entry.seen = cur;
        entry.explicit_ts = explicit_ts;
        Ok(())
    }

    /// The slot the previous scrape had at this position, if its entry passes `is`.
    fn guess(&self, is: impl Fn(&CacheEntry) -> bool) -> Option<u32> {
        self.order.get(self.new_order.len()).copied().filter(|&i| {
            self.slots
                .get(i as usize)
                .and_then(Option::as_ref)
                .is_some_and(&is)
        })
    }

    /// The slot holding the current key, by hash.
    fn lookup(&self, key: u128) -> Option<u32> {
        let mut i = *self.index.get(&(key as u64))?;
        while i != NONE {
            let e = self.slots[i as usize].as_ref()?;
            if e.key == key {
                return Some(i);
            }
            i = e.next;
        }
        None
    }

    /// Stores a new entry and indexes it by its key's hash.
    fn insert(&mut self, mut e: CacheEntry) -> u32 {
        let h = e.key as u64;
        let slot = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(None);
                (self.slots.len() - 1) as u32
            }
        };
        e.next = self.index.insert(h, slot).unwrap_or(NONE);
        self.slots[slot as usize] = Some(e);
        slot
    }

    fn rebuild_index(&mut self) {
        self.index.clear();
        for i in 0..self.slots.len() {
            if let Some(e) = self.slots[i].as_ref() {
                let h = e.key as u64;
                let next = self.index.insert(h, i as u32).unwrap_or(NONE);
                if let Some(e) = self.slots[i].as_mut() {
                    e.next = next;
                }
            }
        }
        // Positions may now name freed or reused slots; the key check catches that.
    }

    /// Stale markers at `ts` for series the previous scrape saw and this one did not;
    /// forgets series unseen for a while.
    fn mark_stale(
        &mut self,
        app: &mut dyn Appender,
        ts: i64,
        opts: &ScrapeOptions,
    ) -> Result<u64, ScrapeError> {
        let cur = self.iter;
        let mut n = 0;
        for e in self.slots.iter_mut().flatten() {
            if e.seen > 0
                && e.seen + 1 == cur
                && (!e.explicit_ts || opts.track_timestamps_staleness)
                && let Some(l) = &e.labels
            {
                match app.append(e.r, l, ts, stale_nan()) {
                    Ok(r) => {
                        e.r = r;
                        n += 1;
                    }
                    Err(err) if sample_level(&err) => {}
                    Err(err) => return Err(ScrapeError::Storage(err.to_string())),
                }
            }
        }
        let mut evicted = false;
        for (i, slot) in self.slots.iter_mut().enumerate() {
            if slot.as_ref().is_some_and(|e| e.seen + FORGET_AFTER < cur) {
                *slot = None;
                self.free.push(i as u32);
                evicted = true;
            }
        }
        if evicted {
            self.rebuild_index();
        }
        Ok(n)
    }

    /// After a failed scrape (rolled back): every series of the last successful scrape
    /// becomes stale at `ts`, as Prometheus does by appending an empty body.
    pub fn append_failure(
        &mut self,
        app: &mut dyn Appender,
        ts: i64,
        opts: &ScrapeOptions,
    ) -> Result<u64, ScrapeError> {
        self.iter += 1;
        self.mark_stale(app, ts, opts)
    }

    /// When the target goes away: stale markers for every series it last exposed and
    /// for its report series.
    pub fn append_end(
        &mut self,
        app: &mut dyn Appender,
        target: &Target,
        ts: i64,
        opts: &ScrapeOptions,
    ) -> Result<u64, ScrapeError> {
        let mut n = self.append_failure(app, ts, opts)?;
        let refs = self.report_refs;
        for (i, name) in REPORT_NAMES.iter().enumerate() {
            let l = report_labels(target, name);
            if app.append(refs[i], &l, ts, stale_nan()).is_ok() {
                n += 1;
            }
        }
        Ok(n)
    }

    /// Appends the report series of a scrape.
    pub fn append_report(
        &mut self,
        app: &mut dyn Appender,
        target: &Target,
        ts: i64,
        up: bool,
        duration_seconds: f64,
        stats: &AppendStats,
    ) -> Result<(), ScrapeError> {
        let values = [
            if up { 1.0 } else { 0.0 },
            duration_seconds,
            stats.scraped as f64,
            stats.post_relabel as f64,
            stats.added as f64,
        ];
        for (i, name) in REPORT_NAMES.iter().enumerate() {
            let l = report_labels(target, name);
            match app.append(self.report_refs[i], &l, ts, values[i]) {
                Ok(r) => self.report_refs[i] = r,
                Err(e) if sample_level(&e) => {}
                Err(e) => return Err(ScrapeError::Storage(e.to_string())),
            }
        }
        Ok(())
    }
}

/// The report series every scrape writes, in order.
pub const REPORT_NAMES: [&str; 5] = [
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
];

fn report_labels(target: &Target, name: &str) -> Labels {
    let mut b = target.labels.builder();
    b.set("__name__", name);
    b.build()
}
