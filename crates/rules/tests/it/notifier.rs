//! The notifier against small fake Alertmanagers: external labels and relabelling, retries,
//! the bounded queue, per-set `alert_relabel_configs`, timeouts and credentials, and the
//! per-Alertmanager counters.

use std::sync::Arc;
use std::time::{Duration, Instant};

use narthex_http::Secret;
use narthex_model::labels;
use narthex_model::relabel::{Action, Regex, RelabelConfig};
use narthex_rules::{AlertmanagerSet, Notification, Notifier, NotifierOptions};
use parking_lot::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A request a fake Alertmanager received: its head (request line and headers) and body.
#[derive(Clone, Debug)]
struct Request {
    head: String,
    body: String,
}

/// A fake Alertmanager on 127.0.0.1: answers the `n`th request (from 0) with
/// `answer(n)`, a status line and a delay. Returns its alert endpoint and what it received.
async fn fake_alertmanager(
    answer: impl Fn(usize) -> (&'static str, Duration) + Send + Sync + 'static,
) -> (String, Arc<Mutex<Vec<Request>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let got = Arc::new(Mutex::new(Vec::<Request>::new()));
    let answer = Arc::new(answer);
    let received = got.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let (got, answer) = (got.clone(), answer.clone());
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                let req = loop {
                    let k = sock.read(&mut chunk).await.unwrap_or(0);
                    if k == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..k]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    let Some((head, body)) = text.split_once("\r\n\r\n") else {
                        continue;
                    };
                    let len: usize = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length: ")
                                .map(|v| v.trim().parse().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if body.len() >= len {
                        break Request {
                            head: head.to_ascii_lowercase(),
                            body: body.to_string(),
                        };
                    }
                };
                let n = {
                    let mut g = got.lock();
                    g.push(req);
                    g.len() - 1
                };
                let (status, delay) = answer(n);
                tokio::time::sleep(delay).await;
                let _ = sock
                    .write_all(
                        format!(
                            "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        )
                        .as_bytes(),
                    )
                    .await;
            });
        }
    });
    (format!("http://127.0.0.1:{port}/api/v2/alerts"), received)
}

fn ok(_: usize) -> (&'static str, Duration) {
    ("200 OK", Duration::ZERO)
}

fn alert(name: &str) -> Notification {
    Notification {
        labels: labels! { "alertname" => name },
        annotations: labels! {},
        starts_at: 1_700_000_000_000,
        ends_at: 0,
        generator_url: "http://x/graph".into(),
    }
}

fn drop_alert(name: &str) -> RelabelConfig {
    RelabelConfig {
        source_labels: vec!["alertname".into()],
        regex: Regex::new(name).unwrap(),
        action: Action::Drop,
        ..Default::default()
    }
}

/// Polls `f` every 20 ms for up to 10 s.
async fn until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// External labels and relabelling applied, a 500 retried, a full queue dropping the
/// oldest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifier_relabels_retries_and_bounds_its_queue() {
    // The first request fails: the notifier must retry.
    let (url, got) = fake_alertmanager(|n| {
        if n == 0 {
            ("500 Internal Server Error", Duration::ZERO)
        } else {
            ok(n)
        }
    })
    .await;
    let n = Notifier::new(NotifierOptions {
        queue_capacity: 2,
        external_labels: labels! { "site" => "lab" },
        relabel: vec![drop_alert("Dropped")],
        ..Default::default()
    });
    // Three kept alerts into a queue of two: the oldest is dropped.
    n.send(vec![alert("A"), alert("Dropped"), alert("B"), alert("C")]);
    assert_eq!(n.stats().dropped, 1);
    assert_eq!(n.stats().queue_length, 2);
    assert_eq!(n.stats().queue_capacity, 2);
    let task = tokio::spawn(n.clone().run());
    n.set_alertmanagers(vec![url.clone()]);
    until("two alerts sent", || n.stats().sent >= 2).await;
    task.abort();
    let got = got.lock().clone();
    assert_eq!(got.len(), 2, "one failure, one retry");
    let last = &got[1].body;
    assert!(
        last.contains("\"alertname\":\"B\"") && last.contains("\"alertname\":\"C\""),
        "{last}"
    );
    assert!(
        last.contains("\"site\":\"lab\"") && !last.contains("Dropped") && !last.contains("\"A\""),
        "{last}"
    );
    assert_eq!(n.stats().errors, 0);
    let per_am = n.alertmanager_stats();
    assert_eq!(per_am.len(), 1);
    assert_eq!((per_am[0].url.as_str(), per_am[0].sent), (url.as_str(), 2));
    assert_eq!(per_am[0].latency_count, 1);
}

/// Each set relabels with its own `alert_relabel_configs` and sends its credentials and
/// headers; the global relabelling ran before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_alertmanager_set_relabels_and_authenticates_on_its_own() {
    let (url_a, got_a) = fake_alertmanager(ok).await;
    let (url_b, got_b) = fake_alertmanager(ok).await;
    let n = Notifier::new(NotifierOptions::default());
    let task = tokio::spawn(n.clone().run());
    let team = RelabelConfig {
        target_label: "team".into(),
        replacement: "db".into(),
        action: Action::Replace,
        ..Default::default()
    };
    n.set_alertmanager_sets(vec![
        AlertmanagerSet {
            urls: vec![url_a.clone()],
            relabel: vec![drop_alert("Noisy")],
            http: narthex_http::HttpSettings {
                basic_auth: Some(narthex_http::BasicAuth {
                    username: Secret::Inline("am".into()),
                    password: Some(Secret::Inline("secret".into())),
                }),
                ..Default::default()
            },
            ..Default::default()
        },
        AlertmanagerSet {
            urls: vec![url_b.clone()],
            relabel: vec![team],
            http: narthex_http::HttpSettings {
                authorization: Some(narthex_http::Authorization {
                    kind: "Bearer".into(),
                    credentials: Some(Secret::Inline("tok".into())),
                }),
                headers: vec![("X-Scope".into(), Secret::Inline("tenant1".into()))],
                ..Default::default()
            },
            ..Default::default()
        },
    ]);
    n.send(vec![alert("Quiet"), alert("Noisy")]);
    let sent = |u: &str| {
        let stats = n.alertmanager_stats();
        stats.iter().find(|s| s.url == u).map(|s| s.sent)
    };
    // Counted once the answers came back.
    until("both Alertmanagers served", || {
        (sent(&url_a), sent(&url_b)) == (Some(1), Some(2))
    })
    .await;
    task.abort();
    let a = got_a.lock()[0].clone();
    let b = got_b.lock()[0].clone();
    assert!(
        a.body.contains("Quiet") && !a.body.contains("Noisy") && !a.body.contains("team"),
        "{}",
        a.body
    );
    // base64("am:secret")
    assert!(
        a.head.contains("authorization: basic yw06c2vjcmv0"),
        "{}",
        a.head
    );
    assert!(
        b.body.contains("Quiet") && b.body.contains("Noisy"),
        "{}",
        b.body
    );
    assert_eq!(b.body.matches("\"team\":\"db\"").count(), 2, "{}", b.body);
    assert!(b.head.contains("authorization: bearer tok"), "{}", b.head);
    assert!(b.head.contains("x-scope: tenant1"), "{}", b.head);
    assert_eq!(n.stats().dropped, 0);
}

/// A set's timeout bounds its requests: a slow Alertmanager counts errors while a fast
/// one of another set takes the batch; when every Alertmanager fails the batch is
/// dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_count_errors_and_batches_nobody_took_are_dropped() {
    let (slow, _) = fake_alertmanager(|_| ("200 OK", Duration::from_secs(5))).await;
    let (fast, _) = fake_alertmanager(ok).await;
    let n = Notifier::new(NotifierOptions::default());
    let task = tokio::spawn(n.clone().run());
    let slow_set = AlertmanagerSet {
        urls: vec![slow.clone()],
        timeout_ms: 200,
        ..Default::default()
    };
    n.set_alertmanager_sets(vec![
        slow_set.clone(),
        AlertmanagerSet {
            urls: vec![fast.clone()],
            ..Default::default()
        },
    ]);
    let started = Instant::now();
    n.send(vec![alert("A")]);
    until("the slow request timing out", || n.stats().errors == 1).await;
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "the 200ms timeout did not cut the 5s answer short"
    );
    let stats = n.alertmanager_stats();
    let find = |u: &str| stats.iter().find(|s| s.url == u).cloned().unwrap();
    assert_eq!((find(&slow).sent, find(&slow).errors), (1, 1));
    assert_eq!((find(&fast).sent, find(&fast).errors), (1, 0));
    assert!(find(&slow).latency_sum >= 0.2, "{:?}", find(&slow));
    assert_eq!(n.stats().dropped, 0, "the fast Alertmanager took it");

    // Only the slow one left: the next batch fails everywhere and is dropped; the fast
    // Alertmanager's counters are forgotten.
    n.set_alertmanager_sets(vec![slow_set]);
    n.send(vec![alert("B"), alert("C")]);
    until("the batch dropped", || n.stats().dropped == 2).await;
    task.abort();
    assert_eq!(n.stats().errors, 3);
    assert_eq!(n.alertmanager_stats().len(), 1);
    assert_eq!(n.alertmanagers(), vec![slow]);
}
