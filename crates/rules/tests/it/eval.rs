//! Group evaluation on `MemStorage`: recording rules, alerts over time, stale markers,
//! restoring `for` state, the API JSON and the scheduler.

use std::sync::Arc;

use narthex_model::{Labels, MatchOp, Matcher, is_stale_nan};
use narthex_promql::Engine;
use narthex_rules::rulefmt::{ParseOptions, parse};
use narthex_rules::{AlertState, Group, GroupOptions, Health, api};
use narthex_storage::{Appendable, MemStorage, Queryable, SeriesRef, ValueType};

const M: i64 = 60_000;

fn add(s: &MemStorage, pairs: &[(&str, &str)], points: &[(i64, f64)]) {
    let l = Labels::from_pairs(pairs.iter().copied());
    let mut app = s.appender();
    for &(t, v) in points {
        app.append(SeriesRef::UNKNOWN, &l, t, v).unwrap();
    }
    app.commit().unwrap();
}

fn group(yaml: &str, opts: &GroupOptions) -> Group {
    let f = parse(yaml, &ParseOptions::default()).unwrap();
    Group::from_def(&f.groups[0], "test.yml", opts)
}

/// Every raw sample of series named `name`: (labels, [(t, v)]).
fn raw(s: &MemStorage, name: &str) -> Vec<(String, Vec<(i64, f64)>)> {
    let q = s.querier(i64::MIN / 2, i64::MAX / 2).unwrap();
    let m = Matcher::new(MatchOp::Equal, "__name__", name).unwrap();
    let mut out = Vec::new();
    for ser in q.select(true, None, &[m]).unwrap() {
        let ser = ser.unwrap();
        let mut it = ser.iter();
        let mut pts = Vec::new();
        while it.next() == ValueType::Float {
            pts.push(it.at());
        }
        out.push((ser.labels().to_string(), pts));
    }
    out
}

#[test]
fn recording_rules_chain_and_label() {
    let s = MemStorage::new();
    add(
        &s,
        &[("__name__", "up"), ("job", "a"), ("instance", "1")],
        &[(0, 1.0)],
    );
    add(
        &s,
        &[("__name__", "up"), ("job", "a"), ("instance", "2")],
        &[(0, 1.0)],
    );
    add(
        &s,
        &[("__name__", "up"), ("job", "b"), ("instance", "3")],
        &[(0, 0.0)],
    );
    let g = group(
        r#"
groups:
  - name: rec
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
        labels:
          source: rules
      - record: job:up:sum:doubled
        expr: job:up:sum * 2
      - record: scalar_rule
        expr: "3"
"#,
        &GroupOptions::default(),
    );
    let e = Engine::default();
    g.eval(&e, &s, &s, 10_000);
    assert_eq!(
        raw(&s, "job:up:sum"),
        vec![
            (
                r#"{__name__="job:up:sum", job="a", source="rules"}"#.to_string(),
                vec![(10_000, 2.0)]
            ),
            (
                r#"{__name__="job:up:sum", job="b", source="rules"}"#.to_string(),
                vec![(10_000, 0.0)]
            ),
        ]
    );
    // The second rule saw the first one's output at the same evaluation.
    let d = raw(&s, "job:up:sum:doubled");
    assert_eq!(d.len(), 2);
    assert_eq!(d[0].1, vec![(10_000, 4.0)]);
    assert_eq!(
        raw(&s, "scalar_rule"),
        vec![(
            r#"{__name__="scalar_rule"}"#.to_string(),
            vec![(10_000, 3.0)]
        )]
    );
    for r in g.rules() {
        assert_eq!(r.status().health, Health::Good, "{}", r.name());
        assert_eq!(r.status().last_evaluation, Some(10_000));
    }
}

#[test]
fn recording_rule_errors() {
    let s = MemStorage::new();
    add(&s, &[("__name__", "up"), ("job", "a")], &[(0, 1.0)]);
    add(&s, &[("__name__", "up2"), ("job", "a")], &[(0, 1.0)]);
    let g = group(
        r#"
groups:
  - name: errs
    limit: 1
    rules:
      - record: dup
        expr: '{__name__=~"up|up2"}'
      - record: too_many
        expr: 'label_replace({job="a"}, "n", "$1", "__name__", "(.*)")'
      - record: string
        expr: '"text"'
"#,
        &GroupOptions::default(),
    );
    g.eval(&Engine::default(), &s, &s, 1000);
    let errs: Vec<Option<String>> = g.rules().iter().map(|r| r.status().last_error).collect();
    assert_eq!(
        errs,
        vec![
            Some(
                "vector contains metrics with the same labelset after applying rule labels".into()
            ),
            Some("exceeded limit of 1 with 2 series".into()),
            Some("rule result is not a vector or scalar".into()),
        ]
    );
    assert!(g.rules().iter().all(|r| r.status().health == Health::Bad));
    assert!(raw(&s, "dup").is_empty());
    // Counted for prometheus_rule_* metrics: one iteration, three rules, all failed.
    let m = g.metrics();
    assert_eq!(
        (
            m.iterations,
            m.rule_evaluations,
            m.rule_failures,
            m.iterations_missed
        ),
        (1, 3, 3, 0)
    );
    g.eval(&Engine::default(), &s, &s, 2000);
    assert_eq!(g.metrics().iterations, 2);
    assert_eq!(g.metrics().rule_failures, 6);
}

#[test]
fn stale_markers_and_query_offset() {
    let s = MemStorage::new();
    add(
        &s,
        &[("__name__", "x"), ("k", "a")],
        &[(0, 1.0), (M, 1.0), (2 * M, 1.0)],
    );
    add(&s, &[("__name__", "x"), ("k", "b")], &[(0, 2.0)]);
    let g = group(
        r#"
groups:
  - name: stale
    query_offset: 10s
    rules:
      - record: y
        expr: x > 0 and x offset 0s
"#,
        &GroupOptions::default(),
    );
    let e = Engine::default();
    g.eval(&e, &s, &s, 10_000 + 60_000);
    // b's last sample is at 0, so at 60s (10s offset) it is still within lookback.
    g.eval(&e, &s, &s, 10_000 + 6 * M);
    let y = raw(&s, "y");
    assert_eq!(y.len(), 2);
    assert_eq!(y[0].1[0], (60_000, 1.0));
    let (t, v) = y[1].1[1];
    assert_eq!(t, 6 * M);
    assert!(is_stale_nan(v), "b went stale at the offset time");
    assert_eq!(y[0].1[1], (6 * M, 1.0));
}

fn alert_group(opts: &GroupOptions) -> Group {
    group(
        r#"
groups:
  - name: alerts
    rules:
      - alert: InstanceDown
        expr: up == 0
        for: 2m
        labels:
          severity: "{{ if eq $labels.job \"db\" }}page{{ else }}ticket{{ end }}"
        annotations:
          summary: "{{ $labels.instance }} down, value {{ $value }}"
"#,
        opts,
    )
}

#[test]
fn alert_lifecycle() {
    let s = MemStorage::new();
    // Down from 1m to 5m, up again from 6m.
    let pts: Vec<(i64, f64)> = (0..=10)
        .map(|i| (i * M, if (1..=5).contains(&i) { 0.0 } else { 1.0 }))
        .collect();
    add(
        &s,
        &[("__name__", "up"), ("job", "db"), ("instance", "h1")],
        &pts,
    );
    let opts = GroupOptions {
        external_url: "http://prom:9090".into(),
        ..GroupOptions::default()
    };
    let g = alert_group(&opts);
    let e = Engine::default();
    let a = g.rules()[0].as_alerting().unwrap();

    assert!(g.eval(&e, &s, &s, 0).is_empty());
    assert!(a.active_alerts().is_empty());

    assert!(
        g.eval(&e, &s, &s, M).is_empty(),
        "pending alerts are not sent"
    );
    let al = a.active_alerts();
    assert_eq!(al.len(), 1);
    assert_eq!(al[0].state, AlertState::Pending);
    assert_eq!(al[0].active_at, M);
    assert_eq!(
        al[0].labels.to_string(),
        r#"{alertname="InstanceDown", instance="h1", job="db", severity="page"}"#
    );
    assert_eq!(al[0].annotations.get("summary"), Some("h1 down, value 0"));

    g.eval(&e, &s, &s, 2 * M);
    assert_eq!(a.active_alerts()[0].state, AlertState::Pending);
    let sent = g.eval(&e, &s, &s, 3 * M);
    assert_eq!(a.active_alerts()[0].state, AlertState::Firing);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].starts_at, 3 * M);
    assert_eq!(sent[0].ends_at, 3 * M + 4 * M, "valid for 4 resend delays");
    assert_eq!(
        sent[0].generator_url,
        "http://prom:9090/graph?g0.expr=up+%3D%3D+0&g0.tab=1"
    );
    // Not re-sent within the resend delay, re-sent after it.
    assert!(g.eval(&e, &s, &s, 3 * M + 30_000).is_empty());
    assert_eq!(g.eval(&e, &s, &s, 4 * M + 30_001).len(), 1);

    // Resolved at 6m: inactive, a resolved notification.
    let sent = g.eval(&e, &s, &s, 6 * M);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].ends_at, 6 * M);
    assert!(a.active_alerts().is_empty());
    assert_eq!(a.all_alerts()[0].state, AlertState::Inactive);
    // Kept for 15 minutes, then dropped.
    g.eval(&e, &s, &s, 20 * M);
    assert_eq!(a.all_alerts().len(), 1);
    g.eval(&e, &s, &s, 21 * M + 1);
    assert!(a.all_alerts().is_empty());

    // The ALERTS series: pending at 1m and 2m, firing from 3m, stale at 6m.
    let alerts = raw(&s, "ALERTS");
    assert_eq!(alerts.len(), 2);
    assert_eq!(
        alerts[0].0,
        r#"{__name__="ALERTS", alertname="InstanceDown", alertstate="firing", instance="h1", job="db", severity="page"}"#
    );
    let firing: Vec<i64> = alerts[0].1.iter().map(|p| p.0).collect();
    assert_eq!(firing, vec![3 * M, 3 * M + 30_000, 4 * M + 30_001, 6 * M]);
    assert!(is_stale_nan(alerts[0].1[3].1));
    assert!(alerts[1].0.contains(r#"alertstate="pending""#));
    assert_eq!(alerts[1].1[..2], [(M, 1.0), (2 * M, 1.0)]);
    assert!(
        is_stale_nan(alerts[1].1[2].1),
        "pending series stale once firing"
    );
    let fs = raw(&s, "ALERTS_FOR_STATE");
    assert_eq!(
        fs[0].0,
        r#"{__name__="ALERTS_FOR_STATE", alertname="InstanceDown", instance="h1", job="db", severity="page"}"#
    );
    assert_eq!(fs[0].1[0], (M, 60.0));
}

#[test]
fn keep_firing_for() {
    let s = MemStorage::new();
    add(&s, &[("__name__", "bad")], &[(0, 1.0), (M, 1.0)]);
    add(
        &s,
        &[("__name__", "bad")],
        &[(2 * M, 0.0), (3 * M, 0.0), (4 * M, 0.0), (5 * M, 0.0)],
    );
    let g = group(
        "groups:\n  - name: k\n    rules:\n      - alert: K\n        expr: bad > 0\n        keep_firing_for: 2m\n",
        &GroupOptions::default(),
    );
    let e = Engine::default();
    let a = g.rules()[0].as_alerting().unwrap();
    g.eval(&e, &s, &s, 0);
    assert_eq!(
        a.active_alerts()[0].state,
        AlertState::Firing,
        "no `for`: fires at once"
    );
    g.eval(&e, &s, &s, 2 * M);
    assert_eq!(a.active_alerts()[0].state, AlertState::Firing);
    assert_eq!(a.active_alerts()[0].keep_firing_since, Some(2 * M));
    g.eval(&e, &s, &s, 3 * M);
    assert_eq!(a.active_alerts().len(), 1);
    g.eval(&e, &s, &s, 4 * M);
    assert!(
        a.active_alerts().is_empty(),
        "resolved after keep_firing_for"
    );
}

#[test]
fn alert_limit_and_duplicates() {
    let s = MemStorage::new();
    add(&s, &[("__name__", "up"), ("i", "1")], &[(0, 0.0)]);
    add(&s, &[("__name__", "up"), ("i", "2")], &[(0, 0.0)]);
    add(&s, &[("__name__", "down"), ("i", "1")], &[(0, 0.0)]);
    let g = group(
        r#"
groups:
  - name: l
    limit: 1
    rules:
      - alert: L
        expr: up == 0
      - alert: D
        expr: '{__name__=~"up|down", i="1"}'
"#,
        &GroupOptions::default(),
    );
    g.eval(&Engine::default(), &s, &s, 0);
    assert_eq!(
        g.rules()[0].status().last_error.as_deref(),
        Some("exceeded limit of 1 with 2 alerts")
    );
    assert!(
        g.rules()[0]
            .as_alerting()
            .unwrap()
            .active_alerts()
            .is_empty()
    );
    assert_eq!(
        g.rules()[1].status().last_error.as_deref(),
        Some("vector contains metrics with the same labelset after applying alert labels")
    );
}

#[test]
fn restore_for_state_after_restart() {
    let s = MemStorage::new();
    let pts: Vec<(i64, f64)> = (0..=200).map(|i| (i * M, 0.0)).collect();
    add(
        &s,
        &[("__name__", "up"), ("job", "db"), ("instance", "h1")],
        &pts,
    );
    let yaml = "groups:\n  - name: r\n    rules:\n      - alert: Long\n        expr: up == 0\n        for: 30m\n";
    let e = Engine::default();
    // First life: active from 0, evaluated until 10m (20 of 30 minutes left).
    let g1 = group(yaml, &GroupOptions::default());
    for i in 0..=10 {
        g1.eval(&e, &s, &s, i * M);
    }
    // Down for 5 minutes; the new process restores.
    let opts = GroupOptions {
        restore: true,
        ..GroupOptions::default()
    };
    let g2 = group(yaml, &opts);
    let a = g2.rules()[0].as_alerting().unwrap();
    assert!(!a.restored());
    g2.eval(&e, &s, &s, 15 * M);
    assert!(
        raw(&s, "ALERTS")
            .iter()
            .all(|(_, p)| p.last().unwrap().0 <= 10 * M),
        "no ALERTS before restore"
    );
    g2.restore_for_state(&s, 15 * M);
    assert!(a.restored());
    // activeAt shifted by the 5-minute outage.
    assert_eq!(a.active_alerts()[0].active_at, 5 * M);
    g2.eval(&e, &s, &s, 34 * M);
    assert_eq!(a.active_alerts()[0].state, AlertState::Pending);
    g2.eval(&e, &s, &s, 35 * M);
    assert_eq!(a.active_alerts()[0].state, AlertState::Firing);

    // Close to firing when it went down: the grace period applies.
    let g3 = group(yaml, &GroupOptions::default());
    for i in 100..=125 {
        g3.eval(&e, &s, &s, i * M);
    }
    let g4 = group(yaml, &opts);
    g4.eval(&e, &s, &s, 127 * M);
    g4.restore_for_state(&s, 127 * M);
    let a4 = g4.rules()[0].as_alerting().unwrap();
    assert_eq!(a4.active_alerts()[0].active_at, 127 * M + 10 * M - 30 * M);

    // A `for` shorter than the grace period is not restored.
    let short = "groups:\n  - name: r\n    rules:\n      - alert: Short\n        expr: up == 0\n        for: 5m\n";
    let g5 = group(short, &opts);
    g5.eval(&e, &s, &s, 150 * M);
    g5.restore_for_state(&s, 150 * M);
    assert_eq!(
        g5.rules()[0].as_alerting().unwrap().active_alerts()[0].active_at,
        150 * M
    );
}

#[test]
fn eval_timestamps_spread_groups() {
    let g = group(
        "groups:\n  - name: a\n    interval: 1m\n    rules: []\n",
        &GroupOptions::default(),
    );
    let now: i64 = 1_700_000_123_456_789_000;
    let t = g.eval_timestamp(now);
    let interval = 60_000_000_000i64;
    assert!(t <= now && now - t < interval);
    let offset = (g.hash() % interval as u64) as i64;
    assert_eq!((t - offset).rem_euclid(interval), 0);
    let other = group(
        "groups:\n  - name: b\n    interval: 1m\n    rules: []\n",
        &GroupOptions::default(),
    );
    assert_ne!(other.eval_timestamp(now), t);
}

#[test]
fn api_json_shape() {
    let s = MemStorage::new();
    add(
        &s,
        &[("__name__", "up"), ("job", "db"), ("instance", "h1")],
        &[(1_435_065_584_128, 0.0)],
    );
    let g = alert_group(&GroupOptions::default());
    g.eval(&Engine::default(), &s, &s, 1_435_065_584_128);
    let j = api::rules_json([&g]);
    let grp = &j["groups"][0];
    assert_eq!(grp["name"], "alerts");
    assert_eq!(grp["file"], "test.yml");
    assert_eq!(grp["interval"], 60.0);
    let r = &grp["rules"][0];
    assert_eq!(r["type"], "alerting");
    assert_eq!(r["state"], "pending");
    assert_eq!(r["duration"], 120.0);
    assert_eq!(r["health"], "ok");
    assert_eq!(r["lastEvaluation"], "2015-06-23T13:19:44.128Z");
    assert_eq!(r["alerts"][0]["value"], "0e+00");
    assert_eq!(r["alerts"][0]["activeAt"], "2015-06-23T13:19:44.128Z");
    let a = api::alerts_json([&g]);
    assert_eq!(a["alerts"][0]["labels"]["alertname"], "InstanceDown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manager_runs_groups() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.yml");
    std::fs::write(
        &path,
        "groups:\n  - name: fast\n    interval: 100ms\n    rules:\n      - record: one\n        expr: vector(1)\n",
    )
    .unwrap();
    let s = Arc::new(MemStorage::new());
    let m = narthex_rules::RuleManager::new(
        s.clone(),
        s.clone(),
        narthex_rules::ManagerOptions {
            group: GroupOptions::default(),
            engine: Engine::default(),
            notify: None,
        },
    );
    m.update(&[path.to_str().unwrap()]).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(450)).await;
    let gs = m.groups();
    assert_eq!(gs.len(), 1);
    assert!(gs[0].last_evaluation().0.is_some());
    assert!(raw(&s, "one")[0].1.len() >= 2);
    // Unchanged reload keeps the same group; an empty file removes it.
    m.update(&[path.to_str().unwrap()]).unwrap();
    assert!(Arc::ptr_eq(&gs[0], &m.groups()[0]));
    std::fs::write(&path, "").unwrap();
    m.update(&[path.to_str().unwrap()]).unwrap();
    assert!(m.groups().is_empty());
    m.stop().await;
    let pts = &raw(&s, "one")[0].1;
    assert!(
        is_stale_nan(pts.last().unwrap().1),
        "removed group's series marked stale"
    );
}

#[test]
fn recording_rules_write_native_histograms() {
    let s = MemStorage::new();
    let h = narthex_model::FloatHistogram {
        count: 4.0,
        sum: 10.0,
        zero_count: 4.0,
        zero_threshold: 0.001,
        ..Default::default()
    };
    let l = Labels::from_pairs([("__name__", "lat"), ("job", "a")]);
    let mut app = s.appender();
    app.append_histogram(
        SeriesRef::UNKNOWN,
        &l,
        0,
        narthex_storage::HistogramSample::Float(&h),
    )
    .unwrap();
    app.commit().unwrap();
    let g = group(
        "groups:\n  - name: h\n    rules:\n      - record: job:lat:sum\n        expr: sum by (job) (lat)\n",
        &GroupOptions::default(),
    );
    let e = Engine::default();
    g.eval(&e, &s, &s, 1000);
    assert_eq!(g.rules()[0].status().health, Health::Good);
    let r = e
        .instant_query(&s, "histogram_count(job:lat:sum)", 1000)
        .unwrap();
    let narthex_promql::Value::Vector(v) = r.value else {
        panic!("vector")
    };
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].f, 4.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manager_delivers_notifications() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.yml");
    std::fs::write(
        &path,
        "groups:\n  - name: alerting\n    interval: 50ms\n    rules:\n      - alert: Always\n        expr: vector(1)\n",
    )
    .unwrap();
    let s = Arc::new(MemStorage::new());
    let (tx, rx) = std::sync::mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let m = narthex_rules::RuleManager::new(
        s.clone(),
        s.clone(),
        narthex_rules::ManagerOptions {
            group: GroupOptions {
                external_url: "http://x".into(),
                ..GroupOptions::default()
            },
            engine: Engine::default(),
            notify: Some(Arc::new(move |n| {
                let _ = tx.lock().unwrap().send(n);
            })),
        },
    );
    m.update(&[path.to_str().unwrap()]).unwrap();
    let notes = rx.recv_timeout(std::time::Duration::from_secs(5)).unwrap();
    assert_eq!(notes[0].labels.get("alertname"), Some("Always"));
    assert_eq!(
        notes[0].generator_url,
        "http://x/graph?g0.expr=vector%281%29&g0.tab=1"
    );
    let j = api::alerts_json(m.groups().iter().map(|g| &**g));
    assert_eq!(j["alerts"][0]["state"], "firing");
    m.stop().await;
}
