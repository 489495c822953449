use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use narthex_discovery::{
    BoxFuture, Discoverer, DiscovererConfig, DiscoveryError, DiscoveryManager, FileSdOptions,
    ManagerOptions, SdOptions, SdStatus, StaticConfig, TargetGroup, TargetSets, UpdateSender,
};
use narthex_model::{Labels, labels};
use tokio::sync::mpsc;

fn static_opts(targets: &[&str]) -> Vec<SdOptions> {
    vec![SdOptions::Static(vec![StaticConfig {
        targets: targets.iter().map(|t| t.to_string()).collect(),
        labels: Labels::empty(),
    }])]
}

async fn next(rx: &mut mpsc::Receiver<TargetSets>) -> TargetSets {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("no update in time")
        .expect("manager stopped")
}

fn addresses(groups: &[TargetGroup]) -> Vec<String> {
    groups
        .iter()
        .flat_map(|g| g.targets.iter())
        .map(|t| t.get("__address__").unwrap().to_string())
        .collect()
}

/// A discoverer that sends `updates` groups quickly, counting how often it is built.
#[derive(Clone)]
struct Burst {
    id: u32,
    updates: usize,
    builds: Arc<AtomicUsize>,
}

impl std::fmt::Debug for Burst {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Burst({}, {})", self.id, self.updates)
    }
}

impl DiscovererConfig for Burst {
    fn kind(&self) -> &'static str {
        "burst"
    }

    fn build(&self) -> Result<Box<dyn Discoverer>, DiscoveryError> {
        self.builds.fetch_add(1, Ordering::SeqCst);
        Ok(Box::new(self.clone()))
    }
}

impl Discoverer for Burst {
    fn status(&self) -> SdStatus {
        SdStatus::new()
    }

    fn run(self: Box<Self>, tx: UpdateSender) -> BoxFuture {
        Box::pin(async move {
            for i in 0..self.updates {
                let g = TargetGroup {
                    targets: vec![labels! { "__address__" => format!("h:{i}") }],
                    labels: Labels::empty(),
                    source: "burst".into(),
                };
                if tx.send(vec![g]).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            // Stay running, like a real discoverer.
            std::future::pending::<()>().await;
        })
    }
}

#[tokio::test]
async fn updates_are_throttled() {
    let builds = Arc::new(AtomicUsize::new(0));
    let (m, mut rx) = DiscoveryManager::new(ManagerOptions {
        update_interval_ms: 150,
    });
    let burst = Burst {
        id: 1,
        updates: 30,
        builds,
    };
    m.apply(HashMap::from([(
        "job".to_string(),
        vec![SdOptions::Custom(Arc::new(burst))],
    )]));
    // 30 updates over ~300ms+; collect everything sent within 2s (at most ~13 ticks).
    let mut received = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_millis(2000);
    while let Ok(Some(u)) = tokio::time::timeout_at(deadline, rx.recv()).await {
        received.push(u);
    }
    assert!(!received.is_empty());
    assert!(
        received.len() <= 14,
        "{} updates for 30 changes",
        received.len()
    );
    assert_eq!(addresses(&received.last().unwrap()["job"]), ["h:29"]);
}

#[tokio::test]
async fn removed_provider_is_sent_empty_then_dropped() {
    let (m, mut rx) = DiscoveryManager::new(ManagerOptions {
        update_interval_ms: 50,
    });
    m.apply(HashMap::from([
        ("a".to_string(), static_opts(&["a1:80"])),
        ("b".to_string(), static_opts(&["b1:80", "b2:80"])),
    ]));
    let mut sets = next(&mut rx).await;
    while sets.get("b").is_none_or(|g| g.is_empty()) || sets.get("a").is_none_or(|g| g.is_empty()) {
        sets = next(&mut rx).await;
    }
    assert_eq!(addresses(&sets["b"]), ["b1:80", "b2:80"]);
    assert_eq!(sets["b"][0].source, "0");

    m.apply(HashMap::from([("a".to_string(), static_opts(&["a1:80"]))]));
    let sets = next(&mut rx).await;
    assert_eq!(sets["b"], vec![], "removed provider must be sent empty");
    assert_eq!(addresses(&sets["a"]), ["a1:80"]);
    assert_eq!(m.targets().len(), 1);

    // The next full update no longer mentions it.
    m.apply(HashMap::from([("a".to_string(), static_opts(&["a1:80"]))]));
    let sets = next(&mut rx).await;
    assert!(!sets.contains_key("b"));
    assert_eq!(addresses(&sets["a"]), ["a1:80"]);
}

#[tokio::test]
async fn unchanged_provider_keeps_running_and_changed_restarts() {
    let builds = Arc::new(AtomicUsize::new(0));
    let burst = |id| Burst {
        id,
        updates: 1,
        builds: builds.clone(),
    };
    let (m, mut rx) = DiscoveryManager::new(ManagerOptions {
        update_interval_ms: 30,
    });
    let cfg = |id| {
        HashMap::from([(
            "job".to_string(),
            vec![SdOptions::Custom(Arc::new(burst(id)))],
        )])
    };
    m.apply(cfg(1));
    let sets = next(&mut rx).await;
    assert_eq!(builds.load(Ordering::SeqCst), 1);
    let _ = sets;
    m.apply(cfg(1));
    m.apply(cfg(1));
    let sets = next(&mut rx).await;
    assert_eq!(
        builds.load(Ordering::SeqCst),
        1,
        "unchanged provider was restarted"
    );
    assert_eq!(addresses(&sets["job"]), ["h:0"], "kept its groups");
    m.apply(cfg(2));
    assert_eq!(
        builds.load(Ordering::SeqCst),
        2,
        "changed provider was not restarted"
    );
}

#[tokio::test]
async fn no_discoverers_and_bad_options() {
    let (m, mut rx) = DiscoveryManager::new(ManagerOptions {
        update_interval_ms: 30,
    });
    m.apply(HashMap::from([
        ("empty".to_string(), vec![]),
        (
            "bad".to_string(),
            vec![SdOptions::File(FileSdOptions {
                files: vec!["x.txt".into()],
                ..FileSdOptions::default()
            })],
        ),
    ]));
    let sets = next(&mut rx).await;
    assert_eq!(sets["empty"], vec![]);
    assert_eq!(sets["bad"], vec![]);
    let st = m.status();
    let bad = st.iter().find(|p| p.name == "bad").unwrap();
    assert_eq!(bad.discoverers[0].0, "file");
    assert_eq!(
        bad.discoverers[0].1.last_error.as_deref(),
        Some(r#"path name "x.txt" is not valid for file discovery"#)
    );
    m.stop();
    assert!(
        rx.recv().await.is_none(),
        "channel closes when the manager stops"
    );
}

#[tokio::test]
async fn deleted_file_drops_the_providers_targets() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.yaml");
    std::fs::write(&path, "- targets: ['x:1', 'y:2']\n").unwrap();
    let (m, mut rx) = DiscoveryManager::new(ManagerOptions {
        update_interval_ms: 30,
    });
    m.apply(HashMap::from([(
        "job".to_string(),
        vec![SdOptions::File(FileSdOptions {
            files: vec![format!("{}/*.yaml", dir.path().display())],
            refresh_interval_ms: 3_600_000,
        })],
    )]));
    let mut sets = next(&mut rx).await;
    while sets["job"].is_empty() {
        sets = next(&mut rx).await;
    }
    assert_eq!(addresses(&sets["job"]), ["x:1", "y:2"]);
    std::fs::remove_file(&path).unwrap();
    while !sets["job"].is_empty() {
        sets = next(&mut rx).await;
    }
    assert!(m.targets()["job"].is_empty());
}
