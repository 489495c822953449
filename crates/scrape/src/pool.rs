//! Scrape loops, pools (one per job) and the manager that keeps them in step with the
//! configuration and with discovery.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use narthex_exposition::Format;
use narthex_model::{Labels, Metadata, TargetGroup};
use narthex_storage::Appendable;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::append::{AppendStats, ScrapeCache, ScrapeError};
use crate::metrics::{Counters, IntervalObserver, ScrapeMetrics};
use crate::scraper::Scraper;
use crate::target::{ScrapeOptions, Target, populate};

/// The storage scrapes append to.
pub type SharedStorage = Arc<dyn Appendable + Send + Sync>;

/// A target's health, as the targets API reports it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Health {
    /// Not scraped yet.
    #[default]
    Unknown,
    /// The last scrape succeeded.
    Up,
    /// The last scrape failed.
    Down,
}

impl Health {
    /// `"unknown"`, `"up"` or `"down"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Up => "up",
            Health::Down => "down",
        }
    }
}

/// What the last scrape of a target did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TargetStatus {
    /// Health.
    pub health: Health,
    /// The last error, empty after a success.
    pub last_error: String,
    /// When the last scrape started, in milliseconds since the epoch.
    pub last_scrape: Option<i64>,
    /// How long it took, in seconds.
    pub last_duration: f64,
    /// Samples it appended after metric relabelling.
    pub last_samples: u64,
}

/// An active target with its status.
#[derive(Clone, Debug)]
pub struct ActiveTarget {
    /// The job.
    pub scrape_pool: String,
    /// The target.
    pub target: Target,
    /// Its last scrape.
    pub status: TargetStatus,
}

/// A target relabelling dropped (kept for the targets API).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DroppedTarget {
    /// The job.
    pub scrape_pool: String,
    /// The labels discovery produced.
    pub discovered: Labels,
}

struct LoopHandle {
    target: Target,
    status: Arc<Mutex<TargetStatus>>,
    metadata: Arc<Mutex<HashMap<String, Metadata>>>,
    stop: watch::Sender<Stop>,
    join: JoinHandle<()>,
}

/// What a loop is told.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    /// Keep scraping.
    Run,
    /// The target went away: end its series with stale markers.
    Removed,
    /// The server is shutting down: stop without stale markers, so a restart continues
    /// the series (as Prometheus does).
    Shutdown,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Where in its interval a target is scraped: Prometheus spreads targets by a hash, so
/// that every target keeps a fixed phase across restarts.
fn offset(target: &Target, seed: u64) -> Duration {
    let interval = (target.interval.max(1) as u64) * 1_000_000;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let base = interval - now % interval;
    let off = (target.hash() ^ seed) % interval;
    let mut next = base + off;
    if next > interval {
        next -= interval;
    }
    Duration::from_nanos(next)
}

struct LoopCtx {
    target: Target,
    opts: Arc<ScrapeOptions>,
    scraper: Scraper,
    storage: SharedStorage,
    status: Arc<Mutex<TargetStatus>>,
    metadata: Arc<Mutex<HashMap<String, Metadata>>>,
    counters: Arc<Counters>,
}

/// One scrape of `ctx.target`: fetch, append (or mark everything stale), report. Returns
/// the scrape's timestamp.
async fn scrape_once(ctx: &LoopCtx, cache: &mut ScrapeCache) -> i64 {
    let ts = now_ms();
    let started = Instant::now();
    let fetched = ctx.scraper.fetch(&ctx.target).await;
    let duration = started.elapsed().as_secs_f64();
    let mut app = ctx.storage.appender();
    let result = fetched
        .and_then(|f| cache.append_body(&mut *app, &f.body, f.format, &ctx.target, &ctx.opts, ts));
    let (stats, err) = match result {
        Ok(stats) => (stats, None),
        Err(e) => {
            let _ = app.rollback();
            app = ctx.storage.appender();
            let _ = cache.append_failure(&mut *app, ts, &ctx.opts);
            (AppendStats::default(), Some(e))
        }
    };
    ctx.counters.scrape(&stats, err.as_ref());
    let up = err.is_none();
    let mut report_err = cache
        .append_report(&mut *app, &ctx.target, ts, up, duration, &stats)
        .err();
    if let Err(e) = app.commit() {
        report_err = Some(ScrapeError::Storage(e.to_string()));
    }
    let err = err.or(report_err);
    if let Some(e) = &err {
        tracing::debug!(target = %ctx.target.url, error = %e, "scrape failed");
    }
    *ctx.metadata.lock().unwrap_or_else(|p| p.into_inner()) = cache.metadata().clone();
    let mut st = ctx.status.lock().unwrap_or_else(|p| p.into_inner());
    *st = TargetStatus {
        health: if up { Health::Up } else { Health::Down },
        last_error: err.map(|e| e.to_string()).unwrap_or_default(),
        last_scrape: Some(ts),
        last_duration: duration,
        last_samples: stats.post_relabel,
    };
    ts
}

async fn run_loop(ctx: LoopCtx, seed: u64, mut stop: watch::Receiver<Stop>) {
    let mut cache = ScrapeCache::new();
    let first = offset(&ctx.target, seed);
    tokio::select! {
        _ = tokio::time::sleep(first) => {}
        _ = stop.changed() => return,
    }
    let mut ticker = tokio::time::interval(Duration::from_millis(ctx.target.interval as u64));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut last = i64::MIN;
    let mut previous: Option<Instant> = None;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.changed() => break,
        }
        let now = Instant::now();
        if let Some(p) = previous.replace(now) {
            ctx.counters.interval(ctx.target.interval, now - p);
        }
        last = scrape_once(&ctx, &mut cache).await;
    }
    if *stop.borrow() != Stop::Removed || last == i64::MIN {
        return;
    }
    // The target went away: its series end now rather than fading out after the
    // lookback delta (after its last scrape, even within the same millisecond).
    let mut app = ctx.storage.appender();
    let _ = cache.append_end(&mut *app, &ctx.target, now_ms().max(last + 1), &ctx.opts);
    let _ = app.commit();
}

/// The targets of one job and their loops.
pub struct ScrapePool {
    opts: Arc<ScrapeOptions>,
    scraper: Scraper,
    storage: SharedStorage,
    seed: u64,
    loops: HashMap<u64, LoopHandle>,
    /// Loops told to stop that may still be writing their stale markers.
    stopping: Vec<JoinHandle<()>>,
    dropped: Vec<DroppedTarget>,
    /// Targets that could not be made (no address, bad interval...), with the reason.
    invalid: Vec<(Labels, String)>,
    /// Set when more targets than `target_limit` were found.
    limit_error: Option<String>,
    counters: Arc<Counters>,
}

impl ScrapePool {
    /// A pool for a job; no targets until [`ScrapePool::sync`].
    pub fn new(
        opts: ScrapeOptions,
        fallback: Option<Format>,
        storage: SharedStorage,
        seed: u64,
    ) -> Result<ScrapePool, ScrapeError> {
        Ok(ScrapePool {
            scraper: Scraper::new(&opts, fallback)?,
            opts: Arc::new(opts),
            storage,
            seed,
            loops: HashMap::new(),
            stopping: Vec::new(),
            dropped: Vec::new(),
            invalid: Vec::new(),
            limit_error: None,
            counters: Arc::default(),
        })
    }

    /// The job's options.
    pub fn options(&self) -> &ScrapeOptions {
        &self.opts
    }

    /// Brings the loops in line with the discovered groups: new targets start, targets
    /// no longer discovered stop (their series marked stale), unchanged ones keep going.
    /// Must be called within a Tokio runtime.
    pub fn sync(&mut self, groups: &[TargetGroup]) {
        let mut wanted: HashMap<u64, Target> = HashMap::new();
        self.dropped.clear();
        self.invalid.clear();
        for g in groups {
            for t in &g.targets {
                let (discovered, r) = populate(t, &g.labels, &self.opts);
                match r {
                    Ok(Some(target)) => {
                        wanted.insert(target.hash(), target);
                    }
                    Ok(None) => self.dropped.push(DroppedTarget {
                        scrape_pool: self.opts.job.clone(),
                        discovered,
                    }),
                    Err(e) => {
                        tracing::warn!(job = %self.opts.job, error = %e, "invalid target");
                        self.invalid.push((discovered, e.to_string()));
                    }
                }
            }
        }
        self.limit_error = (self.opts.target_limit > 0 && wanted.len() > self.opts.target_limit)
            .then(|| {
                format!(
                    "target_limit exceeded (number of targets: {}, limit: {})",
                    wanted.len(),
                    self.opts.target_limit
                )
            });
        if let Some(e) = &self.limit_error {
            self.counters.target_limit_exceeded();
            tracing::warn!(job = %self.opts.job, error = %e, "not scraping the job");
            wanted.clear();
        }
        let gone: Vec<u64> = self
            .loops
            .keys()
            .filter(|h| !wanted.contains_key(h))
            .copied()
            .collect();
        self.stopping.retain(|j| !j.is_finished());
        for h in gone {
            if let Some(l) = self.loops.remove(&h) {
                let _ = l.stop.send(Stop::Removed);
                self.stopping.push(l.join);
            }
        }
        for (h, target) in wanted {
            if self.loops.contains_key(&h) {
                continue;
            }
            let status = Arc::new(Mutex::new(TargetStatus::default()));
            let metadata = Arc::new(Mutex::new(HashMap::new()));
            let (stop, rx) = watch::channel(Stop::Run);
            let ctx = LoopCtx {
                target: target.clone(),
                opts: Arc::clone(&self.opts),
                scraper: self.scraper.clone(),
                storage: Arc::clone(&self.storage),
                status: Arc::clone(&status),
                metadata: Arc::clone(&metadata),
                counters: Arc::clone(&self.counters),
            };
            let join = tokio::spawn(run_loop(ctx, self.seed, rx));
            self.loops.insert(
                h,
                LoopHandle {
                    target,
                    status,
                    metadata,
                    stop,
                    join,
                },
            );
        }
    }

    /// The active targets with their status, sorted by URL.
    pub fn active_targets(&self) -> Vec<ActiveTarget> {
        let mut v: Vec<ActiveTarget> = self
            .loops
            .values()
            .map(|l| ActiveTarget {
                scrape_pool: self.opts.job.clone(),
                target: l.target.clone(),
                status: l.status.lock().unwrap_or_else(|p| p.into_inner()).clone(),
            })
            .collect();
        v.sort_by(|a, b| a.target.url.cmp(&b.target.url));
        v
    }

    /// Targets relabelling dropped.
    pub fn dropped_targets(&self) -> &[DroppedTarget] {
        &self.dropped
    }

    /// Targets that could not be built, with the reason.
    pub fn invalid_targets(&self) -> &[(Labels, String)] {
        &self.invalid
    }

    /// The metadata a target's last scrape exposed.
    pub fn target_metadata(&self, target_hash: u64) -> HashMap<String, Metadata> {
        self.loops
            .get(&target_hash)
            .map(|l| l.metadata.lock().unwrap_or_else(|p| p.into_inner()).clone())
            .unwrap_or_default()
    }

    /// Stops every loop. With `stale`, the targets' series end with stale markers (the
    /// job was removed); without, they are left to continue after a restart (shutdown).
    /// Waits for the loops, and for removed targets' loops still writing their markers.
    pub async fn stop(mut self, stale: bool) {
        let loops: Vec<LoopHandle> = self.loops.drain().map(|(_, l)| l).collect();
        let how = if stale { Stop::Removed } else { Stop::Shutdown };
        for l in &loops {
            let _ = l.stop.send(how);
        }
        for l in loops {
            let _ = l.join.await;
        }
        for j in self.stopping.drain(..) {
            let _ = j.await;
        }
    }
}

/// Every job's pool, kept in step with the configuration and discovery.
pub struct ScrapeManager {
    storage: SharedStorage,
    seed: u64,
    pools: HashMap<String, ScrapePool>,
    groups: HashMap<String, Vec<TargetGroup>>,
    counters: Arc<Counters>,
}

impl ScrapeManager {
    /// A manager appending to `storage`. `seed` varies the phase of scrapes between
    /// servers (Prometheus derives it from the hostname and external labels).
    pub fn new(storage: SharedStorage, seed: u64) -> ScrapeManager {
        ScrapeManager {
            storage,
            seed,
            pools: HashMap::new(),
            groups: HashMap::new(),
            counters: Arc::default(),
        }
    }

    /// Counts of refused samples, exceeded limits and pool (re)loads since the manager
    /// was made.
    pub fn metrics(&self) -> ScrapeMetrics {
        self.counters.snapshot()
    }

    /// Sets the callback told every scrape interval as it happened (once; later calls
    /// are ignored).
    pub fn on_interval(&self, f: IntervalObserver) {
        let _ = self.counters.on_interval.set(f);
    }

    /// Applies a configuration: pools of removed jobs stop, new jobs start, jobs whose
    /// options changed restart; unchanged jobs keep their loops.
    pub async fn apply(
        &mut self,
        jobs: Vec<(ScrapeOptions, Option<Format>)>,
    ) -> Result<(), ScrapeError> {
        let names: Vec<String> = jobs.iter().map(|(o, _)| o.job.clone()).collect();
        let removed: Vec<String> = self
            .pools
            .keys()
            .filter(|k| !names.contains(k))
            .cloned()
            .collect();
        for k in removed {
            if let Some(p) = self.pools.remove(&k) {
                p.stop(true).await;
            }
            self.groups.remove(&k);
        }
        for (opts, fallback) in jobs {
            let unchanged = self
                .pools
                .get(&opts.job)
                .is_some_and(|p| same_options(p.options(), &opts));
            if unchanged {
                continue;
            }
            let reload = match self.pools.remove(&opts.job) {
                Some(p) => {
                    // New options, same job: the series continue under the new loops.
                    p.stop(false).await;
                    true
                }
                None => false,
            };
            let job = opts.job.clone();
            let made = ScrapePool::new(opts, fallback, Arc::clone(&self.storage), self.seed);
            if reload {
                self.counters.pool_reloaded(made.is_ok());
            } else {
                self.counters.pool_created(made.is_ok());
            }
            let mut pool = made?;
            pool.counters = Arc::clone(&self.counters);
            if let Some(g) = self.groups.get(&job) {
                pool.sync(g);
            }
            self.pools.insert(job, pool);
        }
        Ok(())
    }

    /// New target groups for a job (discovery's latest view of it).
    pub fn sync(&mut self, job: &str, groups: Vec<TargetGroup>) {
        if let Some(p) = self.pools.get_mut(job) {
            p.sync(&groups);
        }
        self.groups.insert(job.to_string(), groups);
    }

    /// The pools by job.
    pub fn pools(&self) -> impl Iterator<Item = &ScrapePool> {
        self.pools.values()
    }

    /// Stops every pool for shutdown: no stale markers, so series continue after a
    /// restart, as Prometheus does.
    pub async fn stop(self) {
        for (_, p) in self.pools {
            p.stop(false).await;
        }
    }
}

fn same_options(a: &ScrapeOptions, b: &ScrapeOptions) -> bool {
    // Secrets print as `<secret>`: a changed password is a change too.
    a.http == b.http && format!("{a:?}") == format!("{b:?}")
}
