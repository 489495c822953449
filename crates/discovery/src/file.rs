//! `file_sd_configs`: target groups read from JSON and YAML files, re-read when the files
//! change and every refresh interval.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use narthex_model::TargetGroup;
use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;

use crate::parse::{parse_groups_json, parse_groups_yaml, with_label};
use crate::{BoxFuture, Discoverer, DiscoveryError, SdStatus, UpdateSender};

/// The label naming the file a group was read from.
pub const FILEPATH_LABEL: &str = "__meta_filepath";

/// One `file_sd_configs` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileSdOptions {
    /// Paths of the files to read; the last path segment may contain `*` wildcards. Each
    /// must end in `.json`, `.yml` or `.yaml`.
    pub files: Vec<String>,
    /// How often to re-read every file in addition to watching them, in milliseconds
    /// (Prometheus's default: 5m).
    pub refresh_interval_ms: i64,
}

impl Default for FileSdOptions {
    fn default() -> Self {
        FileSdOptions {
            files: Vec::new(),
            refresh_interval_ms: 5 * 60 * 1000,
        }
    }
}

impl FileSdOptions {
    /// Checks every pattern as Prometheus does
    /// (`^[^*]*(\*[^/]*)?\.(json|yml|yaml|JSON|YML|YAML)$`).
    pub fn validate(&self) -> Result<(), DiscoveryError> {
        for f in &self.files {
            if !valid_pattern(f) {
                return Err(DiscoveryError::Config(format!(
                    "path name {f:?} is not valid for file discovery"
                )));
            }
        }
        Ok(())
    }
}

fn valid_pattern(p: &str) -> bool {
    let Some(stem) = [".json", ".yml", ".yaml", ".JSON", ".YML", ".YAML"]
        .iter()
        .find_map(|ext| p.strip_suffix(ext))
    else {
        return false;
    };
    match stem.find('*') {
        None => true,
        Some(i) => !stem[i..].contains('/'),
    }
}

/// The source of the `i`-th group of `path`: `<path>:<i>`.
pub fn file_source(path: &str, i: usize) -> String {
    format!("{path}:{i}")
}

/// Reads target groups from files, as Prometheus's file discovery.
///
/// Each file is a list of groups (JSON for `.json`, YAML otherwise); every group gets the
/// label `__meta_filepath` and the source `<path>:<index>`. A file that cannot be read or
/// parsed keeps its previous groups and counts as a failure in [`FileDiscoverer::status`];
/// a file that disappears, or has fewer groups than before, has its missing sources sent
/// as empty groups. The directories of the patterns are watched, and everything is
/// re-read every refresh interval too.
#[derive(Debug)]
pub struct FileDiscoverer {
    opts: FileSdOptions,
    status: SdStatus,
    /// Groups per file at the last successful read.
    last: HashMap<String, usize>,
}

impl FileDiscoverer {
    /// A discoverer for `opts`, after checking the patterns.
    pub fn new(opts: FileSdOptions) -> Result<Self, DiscoveryError> {
        opts.validate()?;
        Ok(FileDiscoverer {
            opts,
            status: SdStatus::new(),
            last: HashMap::new(),
        })
    }

    fn list_files(&self) -> Vec<String> {
        let mut out = BTreeSet::new();
        for p in &self.opts.files {
            match glob::glob(p) {
                Ok(paths) => {
                    for path in paths.flatten() {
                        out.insert(path.to_string_lossy().into_owned());
                    }
                }
                Err(e) => tracing::error!(pattern = %p, error = %e, "Error expanding glob"),
            }
        }
        out.into_iter().collect()
    }

    /// Reads every file once and returns the updates: the groups of every file read, and
    /// empty groups for the sources that disappeared.
    pub fn refresh(&mut self) -> Vec<TargetGroup> {
        let mut updates = Vec::new();
        let mut now: HashMap<String, usize> = HashMap::new();
        for path in self.list_files() {
            match read_file(&path) {
                Ok(groups) => {
                    self.status.record_ok();
                    now.insert(path, groups.len());
                    updates.extend(groups);
                }
                Err(e) => {
                    tracing::error!(path = %path, error = %e, "Error reading file");
                    self.status.record_error(format!("{path}: {e}"));
                    // Keep the previous groups.
                    now.insert(path.clone(), self.last.get(&path).copied().unwrap_or(0));
                }
            }
        }
        for (path, &n) in &self.last {
            let m = now.get(path).copied().unwrap_or(0);
            for i in m..n {
                updates.push(TargetGroup::empty(file_source(path, i)));
            }
        }
        self.last = now;
        updates
    }

    fn watch_dirs(&self) -> BTreeSet<PathBuf> {
        self.opts
            .files
            .iter()
            .map(|p| match Path::new(p).parent() {
                Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
                _ => PathBuf::from("."),
            })
            .collect()
    }

    async fn run_loop(mut self, updates: UpdateSender) {
        let (ev_tx, mut ev_rx) = mpsc::unbounded_channel::<()>();
        let mut watcher = match notify::recommended_watcher(move |res: notify::Result<_>| {
            let _: notify::Event = match res {
                Ok(ev) => ev,
                Err(_) => return,
            };
            let _ = ev_tx.send(());
        }) {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::error!(error = %e, "Error adding file watcher");
                self.status.record_error(format!("file watcher: {e}"));
                None
            }
        };
        let mut watched: BTreeSet<PathBuf> = BTreeSet::new();
        let interval = Duration::from_millis(self.opts.refresh_interval_ms.max(1) as u64);
        loop {
            // Watch directories that exist now (they may appear later).
            if let Some(w) = watcher.as_mut() {
                for d in self.watch_dirs() {
                    if watched.contains(&d) {
                        continue;
                    }
                    match w.watch(&d, RecursiveMode::NonRecursive) {
                        Ok(()) => {
                            watched.insert(d);
                        }
                        Err(e) => {
                            tracing::error!(dir = %d.display(), error = %e, "Error adding file watch")
                        }
                    }
                }
            }
            let groups = self.refresh();
            if !groups.is_empty() && updates.send(groups).await.is_err() {
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                Some(()) = ev_rx.recv() => {
                    // Let a burst of events (create, write, close) settle, then read once.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    while ev_rx.try_recv().is_ok() {}
                }
                _ = updates.closed() => return,
            }
        }
    }
}

/// Reads one file's groups, adding `__meta_filepath` and the sources.
fn read_file(path: &str) -> Result<Vec<TargetGroup>, String> {
    let content = std::fs::read(path).map_err(|e| e.to_string())?;
    let ext = Path::new(path)
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let groups = if ext == "json" {
        parse_groups_json(&content)
    } else {
        let text = String::from_utf8(content).map_err(|e| e.to_string())?;
        parse_groups_yaml(&text)
    }
    .map_err(|e| e.to_string())?;
    Ok(groups
        .into_iter()
        .enumerate()
        .map(|(i, mut g)| {
            g.labels = with_label(&g.labels, FILEPATH_LABEL, path);
            g.source = file_source(path, i);
            g
        })
        .collect())
}

impl Discoverer for FileDiscoverer {
    fn status(&self) -> SdStatus {
        self.status.clone()
    }

    fn run(self: Box<Self>, updates: UpdateSender) -> BoxFuture {
        Box::pin(self.run_loop(updates))
    }
}
