//! The body-to-appends core against the in-memory storage.

use narthex_exposition::Format;
use narthex_model::relabel::{Action, Regex, RelabelConfig};
use narthex_model::{Labels, labels};
use narthex_scrape::{ScrapeCache, ScrapeError, ScrapeOptions, Target, populate};
use narthex_storage::{Appendable, MemStorage, Queryable, ValueType};

fn target(opts: &ScrapeOptions) -> Target {
    let (_, t) = populate(
        &labels! { "__address__" => "127.0.0.1:9100" },
        &labels! { "env" => "test" },
        opts,
    );
    t.expect("valid").expect("kept")
}

fn opts() -> ScrapeOptions {
    ScrapeOptions {
        job: "node".into(),
        interval: 15_000,
        timeout: 10_000,
        ..ScrapeOptions::default()
    }
}

/// Every sample in the storage as `labels -> [(t, v)]`, stale markers as the text "stale".
fn dump(s: &MemStorage) -> Vec<(String, Vec<(i64, String)>)> {
    let q = s.querier(i64::MIN, i64::MAX).expect("querier");
    let mut out = Vec::new();
    for series in q.select(true, None, &[]).expect("select") {
        let series = series.expect("series");
        let mut it = series.iter();
        let mut v = Vec::new();
        while it.next() == ValueType::Float {
            let (t, x) = it.at();
            let text = if narthex_model::is_stale_nan(x) {
                "stale".to_string()
            } else {
                x.to_string()
            };
            v.push((t, text));
        }
        out.push((format!("{:?}", series.labels()), v));
    }
    out
}

fn scrape(
    s: &MemStorage,
    cache: &mut ScrapeCache,
    body: &str,
    opts: &ScrapeOptions,
    ts: i64,
) -> Result<narthex_scrape::AppendStats, ScrapeError> {
    let t = target(opts);
    let mut app = s.appender();
    match cache.append_body(
        &mut *app,
        body.as_bytes(),
        Format::PrometheusText,
        &t,
        opts,
        ts,
    ) {
        Ok(stats) => {
            cache
                .append_report(&mut *app, &t, ts, true, 0.5, &stats)
                .expect("report");
            app.commit().expect("commit");
            Ok(stats)
        }
        Err(e) => {
            app.rollback().expect("rollback");
            let mut app = s.appender();
            cache.append_failure(&mut *app, ts, opts).expect("stale");
            cache
                .append_report(&mut *app, &t, ts, false, 0.5, &Default::default())
                .expect("report");
            app.commit().expect("commit");
            Err(e)
        }
    }
}

fn only(d: &[(String, Vec<(i64, String)>)], name: &str) -> Vec<(String, Vec<(i64, String)>)> {
    d.iter()
        .filter(|(l, _)| l.starts_with(&format!("{{__name__=\"{name}\"")))
        .cloned()
        .collect()
}

#[test]
fn target_labels_win_and_conflicts_become_exported() {
    let s = MemStorage::new();
    let mut c = ScrapeCache::new();
    let o = opts();
    scrape(
        &s,
        &mut c,
        "m{job=\"app\",exported_job=\"x\",a=\"1\"} 7\n",
        &o,
        1000,
    )
    .expect("ok");
    assert_eq!(
        only(&dump(&s), "m"),
        vec![(
            r#"{__name__="m", a="1", env="test", exported_exported_job="app", exported_job="x", instance="127.0.0.1:9100", job="node"}"#.to_string(),
            vec![(1000, "7".to_string())]
        )]
    );
    let s = MemStorage::new();
    let mut c = ScrapeCache::new();
    let o = ScrapeOptions {
        honor_labels: true,
        ..opts()
    };
    scrape(&s, &mut c, "m{job=\"app\"} 7\n", &o, 1000).expect("ok");
    assert_eq!(
        only(&dump(&s), "m")[0].0,
        r#"{__name__="m", env="test", instance="127.0.0.1:9100", job="app"}"#
    );
}

#[test]
fn report_series_and_series_added() {
    let s = MemStorage::new();
    let mut c = ScrapeCache::new();
    let o = opts();
    let st = scrape(&s, &mut c, "a 1\nb 2\n", &o, 1000).expect("ok");
    assert_eq!((st.scraped, st.post_relabel, st.added), (2, 2, 2));
    let st = scrape(&s, &mut c, "a 1\nb 2\nc 3\n", &o, 2000).expect("ok");
    assert_eq!((st.scraped, st.post_relabel, st.added), (3, 3, 1));
    let d = dump(&s);
    assert_eq!(
        only(&d, "up")[0].1,
        vec![(1000, "1".into()), (2000, "1".into())]
    );
    assert_eq!(
        only(&d, "scrape_series_added")[0].1,
        vec![(1000, "2".into()), (2000, "1".into())]
    );
    assert_eq!(
        only(&d, "scrape_samples_scraped")[0].1[1],
        (2000, "3".into())
    );
    assert_eq!(
        only(&d, "scrape_duration_seconds")[0].1[0],
        (1000, "0.5".into())
    );
}

#[test]
fn vanished_series_and_failed_scrapes_get_stale_markers() {
    let s = MemStorage::new();
    let mut c = ScrapeCache::new();
    let o = opts();
    scrape(&s, &mut c, "a 1\nb 2\n", &o, 1000).expect("ok");
    scrape(&s, &mut c, "a 1\n", &o, 2000).expect("ok");
    let d = dump(&s);
    assert_eq!(
        only(&d, "b")[0].1,
        vec![(1000, "2".into()), (2000, "stale".into())]
    );
    // A failing scrape: everything the last one saw goes stale, and up is 0.
    let e = scrape(&s, &mut c, "a 1\nthis is { not valid\n", &o, 3000).expect_err("parse error");
    assert!(matches!(e, ScrapeError::Parse(_)), "{e}");
    let d = dump(&s);
    assert_eq!(
        only(&d, "a")[0].1,
        vec![
            (1000, "1".into()),
            (2000, "1".into()),
            (3000, "stale".into())
        ]
    );
    assert_eq!(only(&d, "up")[0].1[2], (3000, "0".into()));
    // Recovery: no second stale marker, the series comes back.
    scrape(&s, &mut c, "a 5\n", &o, 4000).expect("ok");
    assert_eq!(only(&dump(&s), "a")[0].1[3], (4000, "5".into()));
}

#[test]
fn explicit_timestamps_are_honored_and_not_marked_stale() {
    let s = MemStorage::new();
    let mut c = ScrapeCache::new();
    let o = opts();
    scrape(&s, &mut c, "a 1 500\nb 2\n", &o, 1000).expect("ok");
    scrape(&s, &mut c, "", &o, 2000).expect("ok");
    let d = dump(&s);
    assert_eq!(only(&d, "a")[0].1, vec![(500, "1".into())]);
    assert_eq!(
        only(&d, "b")[0].1,
        vec![(1000, "2".into()), (2000, "stale".into())]
    );
    let s = MemStorage::new();
    let mut c = ScrapeCache::new();
    let o = ScrapeOptions {
        honor_timestamps: false,
        ..opts()
    };
    scrape(&s, &mut c, "a 1 500\n", &o, 1000).expect("ok");
    assert_eq!(only(&dump(&s), "a")[0].1, vec![(1000, "1".into())]);
}

#[test]
fn limits_fail_the_scrape_with_prometheus_texts() {
    let s = MemStorage::new();
    let mut c = ScrapeCache::new();
    let o = ScrapeOptions {
        sample_limit: 2,
        ..opts()
    };
    let e = scrape(&s, &mut c, "a 1\nb 1\nc 1\n", &o, 1000).expect_err("limit");
    assert_eq!(e.to_string(), "sample limit exceeded");
    assert!(
        only(&dump(&s), "a").is_empty(),
        "nothing of the body was kept"
    );
    let o = ScrapeOptions {
        label_limit: 4,
        ..opts()
    };
    let e = scrape(
        &s,
        &mut ScrapeCache::new(),
        "a{x=\"1\",y=\"2\"} 1\n",
        &o,
        1000,
    )
    .expect_err("labels");
    assert_eq!(
        e.to_string(),
        "label_limit exceeded (metric: a, number of labels: 6, limit: 4)"
    );
    let o = ScrapeOptions {
        label_value_length_limit: 3,
        ..opts()
    };
    let e = scrape(&s, &mut ScrapeCache::new(), "a{x=\"long\"} 1\n", &o, 1000).expect_err("value");
    assert!(
        e.to_string()
            .starts_with("label_value_length_limit exceeded (metric: a, label name: "),
        "{e}"
    );
}

#[test]
fn metric_relabelling_drops_and_rewrites() {
    let s = MemStorage::new();
    let mut c = ScrapeCache::new();
    let drop = RelabelConfig {
        source_labels: vec!["__name__".into()],
        regex: Regex::new("go_.*").expect("regex"),
        action: Action::Drop,
        ..RelabelConfig::default()
    };
    let rename = RelabelConfig {
        source_labels: vec!["x".into()],
        target_label: "y".into(),
        ..RelabelConfig::default()
    };
    let o = ScrapeOptions {
        metric_relabel: vec![drop, rename],
        ..opts()
    };
    let st = scrape(&s, &mut c, "go_goroutines 5\nkeep{x=\"v\"} 1\n", &o, 1000).expect("ok");
    assert_eq!((st.scraped, st.post_relabel), (2, 1));
    let d = dump(&s);
    assert!(only(&d, "go_goroutines").is_empty());
    assert_eq!(
        only(&d, "keep")[0].0,
        r#"{__name__="keep", env="test", instance="127.0.0.1:9100", job="node", x="v", y="v"}"#
    );
    let _ = Labels::empty();
}

mod raw_fast_path {
    //! The text format's fast path (lines whose series text repeats the previous scrape's at
    //! the same position are appended without parsing labels) against scrapes that never
    //! take it: the same bodies with a different number of blanks inside each label set in
    //! every scrape, so no series text ever repeats. Storage and statistics must agree.

    use proptest::prelude::*;

    use super::*;

    /// Series the bodies pick from: names (one quoted), label sets with a `}` and an escaped
    /// quote inside values, and `le` values that a histogram TYPE line rewrites.
    const POOL: &[(&str, &[&str])] = &[
        ("a", &[]),
        ("a", &["x=\"1\""]),
        ("a", &["x=\"1\"", "y=\"}\""]),
        ("h_bucket", &["le=\"1\""]),
        ("h_bucket", &["le=\"+Inf\""]),
        ("b", &["z=\"q\\\"uote\""]),
        ("\"dotted.name\"", &[]),
        ("\"dotted.name\"", &["w=\"2\""]),
    ];

    /// One body: the histogram TYPE line or not, then the picked series with their values.
    /// `pad` blanks go after each `{`; `None` writes label-less legacy names bare.
    fn body(with_type: bool, picks: &[(usize, u8)], pad: Option<usize>) -> String {
        let mut out = String::new();
        if with_type {
            out.push_str("# TYPE h histogram\n");
        }
        for (i, v) in picks {
            let (name, labels) = POOL[*i];
            let gap = " ".repeat(pad.unwrap_or(0));
            let mut items: Vec<&str> = Vec::new();
            let quoted = name.starts_with('"');
            if quoted {
                items.push(name);
            }
            items.extend_from_slice(labels);
            let set = if items.is_empty() && pad.is_none() {
                String::new()
            } else {
                format!("{{{gap}{}}}", items.join(","))
            };
            let bare = if quoted { "" } else { name };
            out.push_str(&format!("{bare}{set} {v}\n"));
        }
        out
    }

    fn scrapes() -> impl Strategy<Value = Vec<(bool, Vec<(usize, u8)>)>> {
        let one = (
            any::<bool>(),
            proptest::sample::subsequence((0..POOL.len()).collect::<Vec<_>>(), 0..=POOL.len())
                .prop_shuffle(),
            proptest::collection::vec(any::<u8>(), POOL.len()),
        )
            .prop_map(|(t, picks, values)| {
                (t, picks.into_iter().map(|i| (i, values[i])).collect())
            });
        proptest::collection::vec(one, 1..7)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn fast_path_stores_what_parsing_stores(seq in scrapes()) {
            let o = opts();
            let (fast, slow) = (MemStorage::new(), MemStorage::new());
            let (mut cf, mut cs) = (ScrapeCache::new(), ScrapeCache::new());
            for (n, (with_type, picks)) in seq.iter().enumerate() {
                let ts = 1000 * (n as i64 + 1);
                let a = scrape(&fast, &mut cf, &body(*with_type, picks, None), &o, ts);
                let b = scrape(&slow, &mut cs, &body(*with_type, picks, Some(n + 1)), &o, ts);
                prop_assert_eq!(a, b);
            }
            prop_assert_eq!(dump(&fast), dump(&slow));
        }
    }

    #[test]
    fn a_type_line_changes_what_the_same_text_means() {
        let s = MemStorage::new();
        let mut c = ScrapeCache::new();
        let o = opts();
        scrape(
            &s,
            &mut c,
            "# TYPE h histogram\nh_bucket{le=\"1\"} 1\n",
            &o,
            1000,
        )
        .expect("ok");
        scrape(&s, &mut c, "h_bucket{le=\"1\"} 2\n", &o, 2000).expect("ok");
        let d = only(&dump(&s), "h_bucket");
        let les: Vec<&str> = d
            .iter()
            .map(|(l, _)| if l.contains("le=\"1.0\"") { "1.0" } else { "1" })
            .collect();
        assert_eq!(les, vec!["1", "1.0"], "{d:?}");
    }
}
