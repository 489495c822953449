//! Series, labels, label values, format/parse_query, status endpoints, health and
//! readiness.

use std::sync::Arc;

use narthex_http_api::{ApiError, ErrorType, Params, ProviderResult, RawJson, StatusProvider};
use narthex_storage::MemStorage;

use crate::common::{Server, enc, load, mem_server, state};
use crate::query::err;

#[test]
fn series() {
    let s = mem_server();
    let (code, body) = s.get(&format!(
        "/api/v1/series?match[]=up&match[]={}",
        enc(r#"{__name__="up",instance="a"}"#)
    ));
    assert_eq!(code, 200);
    assert_eq!(
        body,
        r#"{"status":"success","data":[{"__name__":"up","instance":"a","job":"api"},{"__name__":"up","instance":"b","job":"api"}]}"#
    );
    let (_, body) = s.get("/api/v1/series?match[]=up&limit=1");
    assert_eq!(
        body,
        r#"{"status":"success","data":[{"__name__":"up","instance":"a","job":"api"}],"warnings":["results truncated due to limit"]}"#
    );
    // Outside the data's time range nothing matches.
    let (_, body) = s.get("/api/v1/series?match[]=up&start=0&end=10");
    assert_eq!(body, r#"{"status":"success","data":[]}"#);
    // POST works too.
    let (_, body) = s.post("/api/v1/series", "match[]=other");
    assert_eq!(
        body,
        r#"{"status":"success","data":[{"__name__":"other","instance":"a","job":"api"}]}"#
    );
    assert_eq!(
        s.get("/api/v1/series"),
        err(400, "bad_data", "no match[] parameter provided")
    );
    assert_eq!(
        s.get(&format!("/api/v1/series?match[]={}", enc(r#"{job=~".*"}"#))),
        err(
            400,
            "bad_data",
            r#"invalid parameter "match[]": match[] must contain at least one non-empty matcher"#
        )
    );
    assert_eq!(
        s.get("/api/v1/series?match[]=up&start=x"),
        err(
            400,
            "bad_data",
            r#"invalid parameter "start": invalid time value for 'start': cannot parse "x" to a valid timestamp"#
        )
    );
}

#[test]
fn labels_and_values() {
    let s = mem_server();
    let (_, body) = s.get("/api/v1/labels");
    assert_eq!(
        body,
        r#"{"status":"success","data":["__name__","code","host.name","instance","job"]}"#
    );
    let (_, body) = s.get("/api/v1/labels?match[]=up");
    assert_eq!(
        body,
        r#"{"status":"success","data":["__name__","instance","job"]}"#
    );
    let (_, body) = s.get("/api/v1/labels?match[]=up&match[]=http_requests_total");
    assert_eq!(
        body,
        r#"{"status":"success","data":["__name__","code","instance","job"]}"#
    );
    let (_, body) = s.get("/api/v1/labels?limit=2");
    assert_eq!(
        body,
        r#"{"status":"success","data":["__name__","code"],"warnings":["results truncated due to limit"]}"#
    );
    let (_, body) = s.get("/api/v1/label/__name__/values");
    assert_eq!(
        body,
        r#"{"status":"success","data":["dotted","http_requests_total","latency","other","up"]}"#
    );
    let (_, body) = s.get("/api/v1/label/instance/values?match[]=up");
    assert_eq!(body, r#"{"status":"success","data":["a","b"]}"#);
    let (_, body) = s.get("/api/v1/label/nope/values");
    assert_eq!(body, r#"{"status":"success","data":[]}"#);
    // UTF-8 label names are escaped in the path.
    let (_, body) = s.get("/api/v1/label/U__host_2e_name/values");
    assert_eq!(body, r#"{"status":"success","data":["x\u003cy"]}"#);
    assert_eq!(
        s.get(&format!("/api/v1/labels?match[]={}", enc("up +"))).0,
        400
    );
}

#[test]
fn format_and_parse_query() {
    let s = mem_server();
    let (_, body) = s.get(&format!(
        "/api/v1/format_query?query={}",
        enc("SUM by(job)(rate(x{a='b'}[5m]))")
    ));
    assert_eq!(
        body,
        r#"{"status":"success","data":"sum by (job) (rate(x{a=\"b\"}[5m]))"}"#
    );
    assert_eq!(
        s.get("/api/v1/format_query?query=foo%7B"),
        err(
            400,
            "bad_data",
            r#"invalid parameter "query": 1:5: parse error: unexpected end of input inside braces"#
        )
    );
    let (_, body) = s.get(&format!(
        "/api/v1/parse_query?query={}",
        enc(r#"sum by (job) (rate(x{a="b"}[5m] offset 1m)) > bool 2"#)
    ));
    assert_eq!(
        body,
        concat!(
            r#"{"status":"success","data":{"bool":true,"lhs":{"expr":{"args":[{"anchored":false,"matchers":[{"name":"a","type":"=","value":"b"},{"name":"__name__","type":"=","value":"x"}],"name":"x","offset":60000,"range":300000,"smoothed":false,"startOrEnd":null,"timestamp":null,"type":"matrixSelector"}],"#,
            r#""func":{"argTypes":["matrix"],"name":"rate","returnType":"vector","variadic":0},"type":"call"},"grouping":["job"],"op":"sum","param":null,"type":"aggregation","without":false},"#,
            r#""matching":null,"op":"\u003e","rhs":{"type":"numberLiteral","val":"2"},"type":"binaryExpr"}}"#
        )
    );
}

struct Provider;

impl StatusProvider for Provider {
    fn build_info(&self) -> ProviderResult {
        Ok(Some(RawJson::from(serde_json::json!({"version": "3.0.0"}))))
    }
    fn rules(&self, params: &Params) -> ProviderResult {
        if params.value("type") == "bad" {
            return Err(ApiError::new(ErrorType::BadData, "bad type"));
        }
        Ok(None)
    }
}

#[test]
fn status_endpoints() {
    let db = Arc::new(MemStorage::new());
    load(&*db);
    let s = Server::start(state(db).with_status(Arc::new(Provider)));
    assert_eq!(
        s.get("/api/v1/status/buildinfo").1,
        r#"{"status":"success","data":{"version":"3.0.0"}}"#
    );
    assert_eq!(
        s.get("/api/v1/rules").1,
        r#"{"status":"success","data":{"groups":[]}}"#
    );
    assert_eq!(
        s.get("/api/v1/rules?type=bad"),
        err(400, "bad_data", "bad type")
    );
    assert_eq!(
        s.get("/api/v1/targets").1,
        r#"{"status":"success","data":{"activeTargets":[],"droppedTargets":[],"droppedTargetCounts":{}}}"#
    );
    assert_eq!(
        s.get("/api/v1/alerts").1,
        r#"{"status":"success","data":{"alerts":[]}}"#
    );
    assert_eq!(
        s.get("/api/v1/metadata").1,
        r#"{"status":"success","data":{}}"#
    );
}

#[test]
fn health_and_readiness() {
    let db = Arc::new(MemStorage::new());
    let st = state(db);
    st.ready().set(false);
    let flag = st.ready().clone();
    let s = Server::start(st);
    assert_eq!(
        s.get("/-/healthy"),
        (200, "Prometheus Server is Healthy.\n".into())
    );
    assert_eq!(s.get("/-/ready"), (503, "Service Unavailable".into()));
    assert_eq!(s.get("/api/v1/query?query=1").0, 503);
    flag.set(true);
    assert_eq!(
        s.get("/-/ready"),
        (200, "Prometheus Server is Ready.\n".into())
    );
    assert_eq!(s.get("/api/v1/query?query=1").0, 200);
}

#[test]
fn cors() {
    let s = mem_server();
    let (code, head, _) =
        s.request_full(b"GET /api/v1/labels HTTP/1.0\r\nOrigin: http://grafana\r\n\r\n");
    assert_eq!(code, 200);
    assert!(head.contains("access-control-allow-origin: *"), "{head}");
    assert!(
        head.contains("access-control-allow-methods: get, post, options"),
        "{head}"
    );
    assert!(head.contains("content-type: application/json"), "{head}");
    let (code, head, body) =
        s.request_full(b"OPTIONS /api/v1/query HTTP/1.0\r\nOrigin: http://grafana\r\n\r\n");
    assert_eq!((code, body.as_str()), (204, ""));
    assert!(head.contains("access-control-allow-origin: *"), "{head}");
    // Without an Origin there are no CORS headers.
    let (_, head, _) = s.request_full(b"GET /api/v1/labels HTTP/1.0\r\n\r\n");
    assert!(!head.contains("access-control"), "{head}");
}
