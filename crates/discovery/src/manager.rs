//! The discovery manager: runs discoverers per provider, merges their groups and hands
//! the state to a consumer at most once per update interval.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use narthex_model::TargetGroup;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::{DiscovererStatus, SdOptions, SdStatus};

/// What the consumer receives: every provider's groups by provider name.
pub type TargetSets = HashMap<String, Vec<TargetGroup>>;

/// Settings of a [`DiscoveryManager`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManagerOptions {
    /// The shortest time between two updates to the consumer, in milliseconds.
    /// Prometheus uses 5s.
    pub update_interval_ms: i64,
}

impl Default for ManagerOptions {
    fn default() -> Self {
        ManagerOptions {
            update_interval_ms: 5_000,
        }
    }
}

/// The health of one provider's discoverers, for status pages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderStatus {
    /// The provider (job or Alertmanager set) name.
    pub name: String,
    /// Per discoverer, in configuration order: its kind and status.
    pub discoverers: Vec<(&'static str, DiscovererStatus)>,
}

/// Runs discoverers for named providers and sends their merged groups to a consumer,
/// Prometheus's discovery manager.
///
/// Every update sent is a map from provider name to that provider's non-empty groups (in
/// configuration order of the discoverers, then by source). A provider that is configured
/// but has no targets maps to an empty list; a provider removed by [`DiscoveryManager::apply`]
/// maps to an empty list once, so the consumer drops its targets, and is absent afterwards.
/// Updates are throttled: at most one per [`ManagerOptions::update_interval_ms`], only when
/// something changed (or after `apply`), always with the state at sending time. When the
/// consumer has not taken the previous update yet, the send is retried at the next tick.
///
/// It needs a Tokio runtime; dropping the manager (or [`DiscoveryManager::stop`]) stops
/// every discoverer.
pub struct DiscoveryManager {
    shared: Arc<Shared>,
    sender: JoinHandle<()>,
}

impl std::fmt::Debug for DiscoveryManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiscoveryManager").finish_non_exhaustive()
    }
}

struct Shared {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    providers: BTreeMap<String, Provider>,
    removed: BTreeSet<String>,
    next_gen: u64,
    dirty: bool,
}

struct Provider {
    options: Vec<SdOptions>,
    generation: u64,
    discoverers: Vec<Running>,
}

struct Running {
    kind: &'static str,
    status: SdStatus,
    groups: BTreeMap<String, TargetGroup>,
    tasks: Vec<JoinHandle<()>>,
}

impl Provider {
    fn stop(&self) {
        for d in &self.discoverers {
            for t in &d.tasks {
                t.abort();
            }
        }
    }

    fn groups(&self) -> Vec<TargetGroup> {
        self.discoverers
            .iter()
            .flat_map(|d| d.groups.values().cloned())
            .collect()
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl DiscoveryManager {
    /// A manager with no providers, and the receiver of its updates. Call
    /// [`DiscoveryManager::apply`] to start providers. Must be called within a Tokio
    /// runtime.
    pub fn new(opts: ManagerOptions) -> (Self, mpsc::Receiver<TargetSets>) {
        let (tx, rx) = mpsc::channel(1);
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
        });
        let interval = Duration::from_millis(opts.update_interval_ms.max(1) as u64);
        let sender = tokio::spawn(send_loop(Arc::downgrade(&shared), tx, interval));
        (DiscoveryManager { shared, sender }, rx)
    }

    /// Sets the providers: each name with its discovery options. Providers whose options
    /// are unchanged keep running (and keep their groups); changed ones restart; names not
    /// in `providers` stop, and the next update maps them to an empty list. Options that
    /// fail to build a discoverer are logged and recorded in [`DiscoveryManager::status`].
    pub fn apply(&self, providers: HashMap<String, Vec<SdOptions>>) {
        let mut st = self.shared.lock();
        let gone: Vec<String> = st
            .providers
            .keys()
            .filter(|n| !providers.contains_key(*n))
            .cloned()
            .collect();
        for name in gone {
            if let Some(p) = st.providers.remove(&name) {
                p.stop();
            }
            st.removed.insert(name);
        }
        for (name, options) in providers {
            if let Some(p) = st.providers.get(&name) {
                if p.options == options {
                    continue;
                }
                p.stop();
            }
            st.next_gen += 1;
            let generation = st.next_gen;
            let discoverers = options
                .iter()
                .enumerate()
                .map(|(i, o)| self.start(&name, generation, i, o))
                .collect();
            st.removed.remove(&name);
            st.providers.insert(
                name,
                Provider {
                    options,
                    generation,
                    discoverers,
                },
            );
        }
        // Consumers expect the full state after a reload.
        st.dirty = true;
    }

    fn start(&self, name: &str, generation: u64, index: usize, opts: &SdOptions) -> Running {
        let kind = opts.kind();
        match opts.build() {
            Ok(d) => {
                let status = d.status();
                let (tx, rx) = mpsc::channel(1);
                let run = tokio::spawn(d.run(tx));
                let fwd = tokio::spawn(forward(
                    Arc::downgrade(&self.shared),
                    name.to_string(),
                    generation,
                    index,
                    rx,
                ));
                Running {
                    kind,
                    status,
                    groups: BTreeMap::new(),
                    tasks: vec![run, fwd],
                }
            }
            Err(e) => {
                tracing::error!(provider = %name, mechanism = kind, error = %e, "Cannot create service discovery");
                let status = SdStatus::new();
                status.record_error(e.to_string());
                Running {
                    kind,
                    status,
                    groups: BTreeMap::new(),
                    tasks: Vec::new(),
                }
            }
        }
    }

    /// The current state, as the next update would send it (without removed providers).
    pub fn targets(&self) -> TargetSets {
        let st = self.shared.lock();
        st.providers
            .iter()
            .map(|(n, p)| (n.clone(), p.groups()))
            .collect()
    }

    /// The health of every provider's discoverers, by provider name.
    pub fn status(&self) -> Vec<ProviderStatus> {
        let st = self.shared.lock();
        st.providers
            .iter()
            .map(|(n, p)| ProviderStatus {
                name: n.clone(),
                discoverers: p
                    .discoverers
                    .iter()
                    .map(|d| (d.kind, d.status.get()))
                    .collect(),
            })
            .collect()
    }

    /// Stops every discoverer and the sender; the receiver then sees the channel closed.
    pub fn stop(self) {
        drop(self);
    }
}

impl Drop for DiscoveryManager {
    fn drop(&mut self) {
        self.sender.abort();
        let st = self.shared.lock();
        for p in st.providers.values() {
            p.stop();
        }
    }
}

/// Applies one discoverer's updates to the state while its provider generation is current.
async fn forward(
    shared: Weak<Shared>,
    name: String,
    generation: u64,
    index: usize,
    mut rx: mpsc::Receiver<Vec<TargetGroup>>,
) {
    while let Some(groups) = rx.recv().await {
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let mut st = shared.lock();
        let Some(p) = st.providers.get_mut(&name) else {
            return;
        };
        if p.generation != generation {
            return;
        }
        let Some(d) = p.discoverers.get_mut(index) else {
            return;
        };
        let mut changed = false;
        for g in groups {
            if g.targets.is_empty() {
                changed |= d.groups.remove(&g.source).is_some();
            } else if d.groups.get(&g.source) != Some(&g) {
                d.groups.insert(g.source.clone(), g);
                changed = true;
            }
        }
        if changed {
            st.dirty = true;
        }
    }
}

async fn send_loop(shared: Weak<Shared>, tx: mpsc::Sender<TargetSets>, interval: Duration) {
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let (sets, removed) = {
            let mut st = shared.lock();
            if !st.dirty {
                continue;
            }
            st.dirty = false;
            let removed = std::mem::take(&mut st.removed);
            let mut sets: TargetSets = st
                .providers
                .iter()
                .map(|(n, p)| (n.clone(), p.groups()))
                .collect();
            for n in &removed {
                sets.insert(n.clone(), Vec::new());
            }
            (sets, removed)
        };
        match tx.try_send(sets) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::debug!(
                    "Discovery receiver's channel was full so will retry the next cycle"
                );
                let mut st = shared.lock();
                st.dirty = true;
                for n in removed {
                    if !st.providers.contains_key(&n) {
                        st.removed.insert(n);
                    }
                }
            }
            Err(mpsc::error::TrySendError::Closed(_)) => return,
        }
    }
}
