//! [`RuleManager`]: groups evaluated on Prometheus's schedule as tokio tasks.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use narthex_promql::Engine;
use narthex_storage::{Appendable, Queryable};
use parking_lot::Mutex;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::error::Error;
use crate::group::{Group, GroupOptions, load_files};
use crate::rule::Notification;

/// Receives the notifications of each evaluation of an alerting group.
pub type NotifyFn = Arc<dyn Fn(Vec<Notification>) + Send + Sync>;

/// Settings of a [`RuleManager`].
#[derive(Clone)]
pub struct ManagerOptions {
    /// Group defaults, templates, restore settings.
    pub group: GroupOptions,
    /// The PromQL engine rules run on.
    pub engine: Engine,
    /// Where notifications go (none: dropped).
    pub notify: Option<NotifyFn>,
}

impl std::fmt::Debug for ManagerOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManagerOptions")
            .field("group", &self.group)
            .field("engine", &self.engine)
            .finish_non_exhaustive()
    }
}

/// What a group task is told: keep running, stop, or stop and mark its series stale.
const RUN: u8 = 0;
const STOP: u8 = 1;
const REMOVE: u8 = 2;

struct Running {
    group: Arc<Group>,
    stop: watch::Sender<u8>,
    task: JoinHandle<()>,
}

/// Runs rule groups: one tokio task per group, evaluating at
/// [`Group::eval_timestamp`]-aligned times, restoring `for` state after the second
/// evaluation when [`GroupOptions::restore`] is set. Must be used inside a tokio runtime.
pub struct RuleManager {
    queryable: Arc<dyn Queryable>,
    appendable: Arc<dyn Appendable>,
    opts: ManagerOptions,
    running: Mutex<Vec<Running>>,
    stopping: Mutex<Vec<JoinHandle<()>>>,
    /// Whether rules were loaded once: groups that appear on later updates start
    /// restored (Prometheus restores `for` state only for the rules present at startup).
    loaded: AtomicBool,
}

impl std::fmt::Debug for RuleManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleManager")
            .field("groups", &self.running.lock().len())
            .finish_non_exhaustive()
    }
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

impl RuleManager {
    /// A manager reading from `queryable` and writing to `appendable`, with no groups.
    pub fn new(
        queryable: Arc<dyn Queryable>,
        appendable: Arc<dyn Appendable>,
        opts: ManagerOptions,
    ) -> Self {
        RuleManager {
            queryable,
            appendable,
            opts,
            running: Mutex::new(Vec::new()),
            stopping: Mutex::new(Vec::new()),
            loaded: AtomicBool::new(false),
        }
    }

    /// Loads the rule files matching `globs` and replaces the running groups: unchanged
    /// groups keep running, changed groups take over their predecessor's state, removed
    /// groups stop and mark their series stale. On error nothing changes. Only the
    /// groups of the first successful update restore their `for` state (when
    /// [`GroupOptions::restore`] is set), as in Prometheus.
    pub fn update(&self, globs: &[impl AsRef<str>]) -> Result<(), Vec<Error>> {
        let mut opts = self.opts.group.clone();
        opts.restore &= !self.loaded.load(Ordering::Relaxed);
        let new = load_files(globs, &opts)?;
        self.loaded.store(true, Ordering::Relaxed);
        let mut running = self.running.lock();
        let mut old: Vec<Running> = std::mem::take(&mut *running);
        for g in new {
            if let Some(i) = old
                .iter()
                .position(|r| r.group.name() == g.name() && r.group.file() == g.file())
            {
                let prev = old.remove(i);
                if prev.group.same_definition(&g) {
                    running.push(prev);
                    continue;
                }
                g.copy_state(&prev.group);
                let _ = prev.stop.send(STOP);
                self.stopping.lock().push(prev.task);
            }
            running.push(self.spawn(Arc::new(g), opts.restore));
        }
        for r in old {
            // The task marks the group's series stale once its current evaluation ends.
            let _ = r.stop.send(REMOVE);
            self.stopping.lock().push(r.task);
        }
        Ok(())
    }

    /// The running groups, sorted by file and name.
    pub fn groups(&self) -> Vec<Arc<Group>> {
        let mut v: Vec<Arc<Group>> = self
            .running
            .lock()
            .iter()
            .map(|r| r.group.clone())
            .collect();
        v.sort_by(|a, b| (a.file(), a.name()).cmp(&(b.file(), b.name())));
        v
    }

    /// Stops every group and waits for their tasks (and for groups removed by
    /// [`RuleManager::update`] to finish marking their series stale).
    pub async fn stop(&self) {
        let running: Vec<Running> = std::mem::take(&mut *self.running.lock());
        for r in &running {
            let _ = r.stop.send(STOP);
        }
        let mut tasks: Vec<JoinHandle<()>> = std::mem::take(&mut *self.stopping.lock());
        tasks.extend(running.into_iter().map(|r| r.task));
        for t in tasks {
            let _ = t.await;
        }
    }

    fn spawn(&self, group: Arc<Group>, restore: bool) -> Running {
        let (tx, mut rx) = watch::channel(RUN);
        let g = group.clone();
        let q = self.queryable.clone();
        let a = self.appendable.clone();
        let engine = self.opts.engine.clone();
        let notify = self.opts.notify.clone();
        let task = tokio::spawn(async move {
            let interval_ns = g.interval() * 1_000_000;
            let mut eval_ns = g.eval_timestamp(now_ns()) + interval_ns;
            // Prometheus restores after the second evaluation: by then recording rules
            // and scrapes have written what alert expressions may depend on.
            let mut evaluations = 0u32;
            loop {
                let wait = Duration::from_nanos((eval_ns - now_ns()).max(0) as u64);
                if rx.borrow().eq(&RUN) {
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = rx.changed() => {}
                    }
                }
                let cmd = *rx.borrow();
                if cmd != RUN {
                    if cmd == REMOVE {
                        let (g2, a2) = (g.clone(), a.clone());
                        let _ = tokio::task::spawn_blocking(move || {
                            if let Err(e) = g2.mark_stale(&*a2, now_ns() / 1_000_000) {
                                tracing::warn!(err = %e, "marking removed group's series stale failed");
                            }
                        })
                        .await;
                    }
                    return;
                }
                let (g2, q2, a2, e2) = (g.clone(), q.clone(), a.clone(), engine.clone());
                let ts = eval_ns / 1_000_000;
                let do_restore = restore && evaluations == 1;
                let notes = tokio::task::spawn_blocking(move || {
                    let n = g2.eval(&e2, &*q2, &*a2, ts);
                    if do_restore {
                        g2.restore_for_state(&*q2, now_ns() / 1_000_000);
                    }
                    n
                })
                .await
                .unwrap_or_default();
                evaluations = evaluations.saturating_add(1);
                if let Some(f) = &notify
                    && !notes.is_empty()
                {
                    f(notes);
                }
                let since = now_ns() - eval_ns;
                let missed = (since / interval_ns - 1).max(0);
                if missed > 0 {
                    tracing::warn!(group = g.name(), missed, "rule group missed iterations");
                    g.count_missed(missed as u64);
                }
                eval_ns += (missed + 1) * interval_ns;
            }
        });
        Running {
            group,
            stop: tx,
            task,
        }
    }
}
