//! `/api/v1/query` and `/api/v1/query_range`: exact bodies, errors and status codes.

use crate::common::{enc, mem_server};

const OK: &str = r#"{"status":"success","data":"#;

#[test]
fn instant_vector() {
    let s = mem_server();
    let (code, body) = s.get("/api/v1/query?query=up&time=1700000000");
    assert_eq!(code, 200);
    assert_eq!(
        body,
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"up","instance":"a","job":"api"},"value":[1700000000,"1"]},{"metric":{"__name__":"up","instance":"b","job":"api"},"value":[1700000000,"0"]}]}}"#
    );
    // The default time is now (the pinned clock); values are Go float text.
    let (_, body) = s.get(&format!("/api/v1/query?query={}", enc("dotted")));
    assert_eq!(
        body,
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"dotted","host.name":"x\u003cy"},"value":[1700000000,"1e-07"]}]}}"#
    );
    // Empty results are an empty list.
    let (_, body) = s.get("/api/v1/query?query=nothing&time=1700000000");
    assert_eq!(
        body,
        format!(r#"{OK}{{"resultType":"vector","result":[]}}}}"#)
    );
}

#[test]
fn post_form_and_rfc3339() {
    let s = mem_server();
    let (code, body) = s.post(
        "/api/v1/query",
        &format!(
            "query={}&time=2023-11-14T22:13:20.5Z",
            enc("sum by (job) (up)")
        ),
    );
    assert_eq!(code, 200);
    assert_eq!(
        body,
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"job":"api"},"value":[1700000000.500,"1"]}]}}"#
    );
}

#[test]
fn scalar_string_and_matrix_results() {
    let s = mem_server();
    let (_, body) = s.get(&format!(
        "/api/v1/query?query={}&time=1700000000.25",
        enc("1+1")
    ));
    assert_eq!(
        body,
        format!(r#"{OK}{{"resultType":"scalar","result":[1700000000.250,"2"]}}}}"#)
    );
    let (_, body) = s.get(&format!(
        "/api/v1/query?query={}&time=1700000000",
        enc("\"a<b\"")
    ));
    assert_eq!(
        body,
        format!(r#"{OK}{{"resultType":"string","result":[1700000000,"a\u003cb"]}}}}"#)
    );
    let (_, body) = s.get(&format!(
        "/api/v1/query?query={}&time=1700000000",
        enc(r#"up{instance="a"}[30s]"#)
    ));
    assert_eq!(
        body,
        format!(
            r#"{OK}{{"resultType":"matrix","result":[{{"metric":{{"__name__":"up","instance":"a","job":"api"}},"values":[[1699999985,"1"],[1700000000,"1"]]}}]}}}}"#
        )
    );
    let (_, body) = s.get(&format!(
        "/api/v1/query?query={}&time=1700000000",
        enc("NaN")
    ));
    assert_eq!(
        body,
        format!(r#"{OK}{{"resultType":"scalar","result":[1700000000,"NaN"]}}}}"#)
    );
}

#[test]
fn range_query() {
    let s = mem_server();
    let (code, body) = s.get(&format!(
        "/api/v1/query_range?query={}&start=1699999940&end=1700000000&step=30s",
        enc("sum(http_requests_total) * 2")
    ));
    assert_eq!(code, 200);
    assert_eq!(
        body,
        format!(
            r#"{OK}{{"resultType":"matrix","result":[{{"metric":{{}},"values":[[1699999940,"96"],[1699999970,"108"],[1700000000,"120"]]}}]}}}}"#
        )
    );
    // A scalar range query is a matrix with one unnamed series; float seconds for step.
    let (_, body) = s.get("/api/v1/query_range?query=1&start=0&end=1&step=0.5");
    assert_eq!(
        body,
        format!(
            r#"{OK}{{"resultType":"matrix","result":[{{"metric":{{}},"values":[[0,"1"],[0.500,"1"],[1,"1"]]}}]}}}}"#
        )
    );
}

#[test]
fn native_histograms() {
    let s = mem_server();
    let (_, body) = s.get("/api/v1/query?query=latency&time=1700000000");
    assert_eq!(
        body,
        format!(
            r#"{OK}{{"resultType":"vector","result":[{{"metric":{{"__name__":"latency","job":"api"}},"histogram":[1700000000,{{"count":"10","sum":"18.4","buckets":[[1,"-1","-0.5","1"],[3,"-0.001","0.001","2"],[0,"0.5","1","3"],[0,"1","2","4"]]}}]}}]}}}}"#
        )
    );
    let (_, body) =
        s.get("/api/v1/query_range?query=latency&start=1700000000&end=1700000015&step=15");
    assert!(
        body.contains(r#""histograms":[[1700000000,{"count":"10","sum":"18.4","buckets":"#),
        "{body}"
    );
    assert!(!body.contains(r#""values""#), "{body}");
}

#[test]
fn limit_and_stats() {
    let s = mem_server();
    let (_, body) = s.get("/api/v1/query?query=up&time=1700000000&limit=1");
    assert_eq!(
        body,
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"up","instance":"a","job":"api"},"value":[1700000000,"1"]}]},"warnings":["results truncated due to limit"]}"#
    );
    let (_, body) = s.get("/api/v1/query?query=up&time=1700000000&stats=all");
    assert!(
        body.contains(r#""stats":{"timings":{"evalTotalTime":"#),
        "{body}"
    );
    assert!(
        body.contains(r#""samples":{"totalQueryableSamples":"#),
        "{body}"
    );
    let (code, body) = s.get("/api/v1/query?query=up&limit=-1");
    assert_eq!(code, 400);
    assert_eq!(
        body,
        r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"limit\": limit must be positive"}"#
    );
}

#[test]
fn annotations() {
    let s = mem_server();
    let (_, body) = s.get(&format!(
        "/api/v1/query?query={}&time=1700000000",
        enc("rate(up[5m])")
    ));
    // `up` does not end in _total: Prometheus adds an info annotation.
    assert!(body.contains(r#""infos":["PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: \"up\" (1:6)"]"#), "{body}");
}

pub(crate) fn err(code: u16, typ: &str, msg: &str) -> (u16, String) {
    let m = msg.replace('\\', "\\\\").replace('"', "\\\"");
    (
        code,
        format!(r#"{{"status":"error","errorType":"{typ}","error":"{m}"}}"#),
    )
}

#[test]
fn errors() {
    let s = mem_server();
    let q = |query: &str, rest: &str| s.get(&format!("/api/v1/query?query={}{rest}", enc(query)));
    let r =
        |query: &str, rest: &str| s.get(&format!("/api/v1/query_range?query={}{rest}", enc(query)));
    assert_eq!(
        q("rate(up)", ""),
        err(
            400,
            "bad_data",
            r#"invalid parameter "query": 1:6: parse error: expected type range vector in call to function "rate", got instant vector"#
        )
    );
    assert_eq!(
        q("sum(up", ""),
        err(
            400,
            "bad_data",
            r#"invalid parameter "query": 1:7: parse error: unclosed left parenthesis"#
        )
    );
    assert_eq!(
        q("up", "&time=abc"),
        err(
            400,
            "bad_data",
            r#"invalid parameter "time": invalid time value for 'time': cannot parse "abc" to a valid timestamp"#
        )
    );
    assert_eq!(
        q("up", "&timeout=x"),
        err(
            400,
            "bad_data",
            r#"invalid parameter "timeout": cannot parse "x" to a valid duration"#
        )
    );
    assert_eq!(
        r("up", "&end=10&step=1"),
        err(
            400,
            "bad_data",
            r#"invalid parameter "start": cannot parse "" to a valid timestamp"#
        )
    );
    assert_eq!(
        r("up", "&start=10&end=5&step=1"),
        err(
            400,
            "bad_data",
            r#"invalid parameter "end": end timestamp must not be before start time"#
        )
    );
    assert_eq!(
        r("up", "&start=0&end=5&step=abc"),
        err(
            400,
            "bad_data",
            r#"invalid parameter "step": cannot parse "abc" to a valid duration"#
        )
    );
    assert_eq!(
        r("up", "&start=0&end=5&step=0"),
        err(
            400,
            "bad_data",
            r#"invalid parameter "step": zero or negative query resolution step widths are not accepted. Try a positive integer"#
        )
    );
    assert_eq!(
        r("up", "&start=0&end=11001&step=1"),
        err(
            400,
            "bad_data",
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"
        )
    );
    assert_eq!(r("up", "&start=0&end=11000&step=1").0, 200);
    assert_eq!(
        r("up[5m]", "&start=0&end=10&step=1"),
        err(
            400,
            "bad_data",
            r#"invalid parameter "query": invalid expression type "range vector" for range query, must be Scalar or instant Vector"#
        )
    );
    // An evaluation error is `execution`, 422.
    assert_eq!(
        q(
            r#"-{__name__=~"up|other",instance="a"}"#,
            "&time=1700000000"
        ),
        err(
            422,
            "execution",
            "vector cannot contain metrics with the same labelset"
        )
    );
    // A zero timeout times out.
    let (code, body) = q("up", "&timeout=0s");
    assert_eq!(code, 503, "{body}");
    assert!(body.contains(r#""errorType":"timeout""#), "{body}");
}

#[test]
fn concurrency_limit_queues_queries() {
    use std::sync::Arc;

    use narthex_http_api::ApiOptions;
    use narthex_storage::MemStorage;

    use crate::common::{Server, load, state};

    let db = Arc::new(MemStorage::new());
    load(&*db);
    let st = state(db).with_options(ApiOptions {
        max_concurrency: 1,
        ..ApiOptions::default()
    });
    let s = Arc::new(Server::start(st));
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let s = s.clone();
            std::thread::spawn(move || {
                s.get(&format!(
                    "/api/v1/query_range?query={}&start=1699990000&end=1700000000&step={}",
                    enc("sum(rate(http_requests_total[1m]))"),
                    10 + i
                ))
            })
        })
        .collect();
    for t in threads {
        let (code, body) = t.join().unwrap();
        assert_eq!(code, 200, "{body}");
        assert!(body.starts_with(r#"{"status":"success","data":{"resultType":"matrix""#));
    }
}

#[test]
fn query_observer_is_told_every_evaluation() {
    use std::sync::{Arc, Mutex};

    use narthex_http_api::{ApiOptions, QueryObserver, QueryTimings};

    let db = Arc::new(narthex_storage::MemStorage::new());
    crate::common::load(&*db);
    let seen: Arc<Mutex<Vec<QueryTimings>>> = Arc::default();
    let sink = Arc::clone(&seen);
    let st = crate::common::state(db).with_options(ApiOptions {
        on_query: Some(QueryObserver(Arc::new(move |t| {
            sink.lock().unwrap().push(t.clone())
        }))),
        ..ApiOptions::default()
    });
    assert_eq!(st.queries_running(), 0);
    let s = crate::common::Server::start(st);
    assert_eq!(s.get("/api/v1/query?query=up&time=1700000000").0, 200);
    assert_eq!(
        s.get("/api/v1/query_range?query=up&start=1699999800&end=1700000000&step=15")
            .0,
        200
    );
    // Fails in the engine (an invalid regex in label_replace): still told, as failed.
    let bad = crate::common::enc(r#"label_replace(up, "x", "$1", "instance", "(")"#);
    let (code, body) = s.get(&format!("/api/v1/query?query={bad}&time=1700000000"));
    assert!(code >= 400, "{code} {body}");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert!(!seen[0].failed && !seen[1].failed && seen[2].failed);
    assert!(seen[0].samples > 0);
    assert!(seen[1].samples > seen[0].samples);
    assert!(seen.iter().all(|t| t.eval > std::time::Duration::ZERO));
}
