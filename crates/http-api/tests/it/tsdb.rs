//! The same API over the TSDB.

use std::sync::Arc;

use narthex_tsdb::{Db, Options};

use crate::common::{Server, enc, load, state};

#[test]
fn queries_over_the_tsdb() {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(Db::open(dir.path(), Options::default()).unwrap());
    load(&*db);
    let s = Server::start(state(db));
    let (_, body) = s.get("/api/v1/query?query=up&time=1700000000");
    assert_eq!(
        body,
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"up","instance":"a","job":"api"},"value":[1700000000,"1"]},{"metric":{"__name__":"up","instance":"b","job":"api"},"value":[1700000000,"0"]}]}}"#
    );
    let (_, body) = s.get(&format!(
        "/api/v1/query_range?query={}&start=1699999940&end=1700000000&step=30s",
        enc("sum(http_requests_total) * 2")
    ));
    assert_eq!(
        body,
        r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1699999940,"96"],[1699999970,"108"],[1700000000,"120"]]}]}}"#
    );
    let (_, body) = s.get("/api/v1/series?match[]=up");
    assert_eq!(
        body,
        r#"{"status":"success","data":[{"__name__":"up","instance":"a","job":"api"},{"__name__":"up","instance":"b","job":"api"}]}"#
    );
    let (_, body) = s.get("/api/v1/label/job/values");
    assert_eq!(body, r#"{"status":"success","data":["api"]}"#);
    let (_, body) = s.get("/api/v1/query?query=latency&time=1700000000");
    assert!(
        body.contains(
            r#""histogram":[1700000000,{"count":"10","sum":"18.4","buckets":[[1,"-1","-0.5","1"]"#
        ),
        "{body}"
    );
}
