use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use narthex_discovery::{
    DiscoveryManager, HttpDiscoverer, HttpSdOptions, ManagerOptions, SdOptions,
};
use narthex_model::labels;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What the test server answers: status line, content type, body.
#[derive(Clone)]
struct Reply {
    status: &'static str,
    content_type: &'static str,
    body: String,
}

/// A one-route HTTP server; returns its URL, the reply it sends and the request heads it saw.
async fn server(reply: Reply) -> (String, Arc<Mutex<Reply>>, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/sd", listener.local_addr().unwrap());
    let reply = Arc::new(Mutex::new(reply));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (r, s) = (reply.clone(), seen.clone());
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let (r, s) = (r.clone(), s.clone());
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                s.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&buf).into_owned());
                let rep = r.lock().unwrap().clone();
                let resp = format!(
                    "HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
                    rep.status,
                    rep.content_type,
                    rep.body.len(),
                    rep.body
                );
                let _ = sock.write_all(resp.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    (url, reply, seen)
}

const TWO_GROUPS: &str =
    r#"[{"targets": ["a:1", "b:2"], "labels": {"dc": "x"}}, {"targets": ["c:3"]}]"#;

fn ok(body: &str) -> Reply {
    Reply {
        status: "200 OK",
        content_type: "application/json; charset=utf-8",
        body: body.into(),
    }
}

#[tokio::test]
async fn http_sd_fetches_and_reports_errors() {
    let (url, reply, seen) = server(ok(TWO_GROUPS)).await;
    let mut d = HttpDiscoverer::new(HttpSdOptions {
        url: url.clone(),
        refresh_interval_ms: 1_500,
        ..HttpSdOptions::default()
    })
    .unwrap();

    let g = d.fetch().await.unwrap();
    assert_eq!(g.len(), 2);
    assert_eq!(g[0].source, format!("{url}:0"));
    assert_eq!(
        g[0].targets,
        vec![
            labels! { "__address__" => "a:1" },
            labels! { "__address__" => "b:2" }
        ]
    );
    assert_eq!(
        g[0].labels,
        labels! { "__meta_url" => url.as_str(), "dc" => "x" }
    );
    assert_eq!(g[1].source, format!("{url}:1"));
    assert_eq!(g[1].labels, labels! { "__meta_url" => url.as_str() });
    let head = seen.lock().unwrap()[0].to_ascii_lowercase();
    assert!(head.starts_with("get /sd "), "{head}");
    assert!(
        head.contains("x-prometheus-refresh-interval-seconds: 1.5\r\n"),
        "{head}"
    );
    assert!(head.contains("accept: application/json\r\n"), "{head}");

    *reply.lock().unwrap() = Reply {
        content_type: "text/plain",
        ..ok(TWO_GROUPS)
    };
    assert_eq!(
        d.fetch().await.unwrap_err(),
        r#"unsupported content type "text/plain""#
    );

    *reply.lock().unwrap() = Reply {
        status: "500 Internal Server Error",
        ..ok("oops")
    };
    assert_eq!(
        d.fetch().await.unwrap_err(),
        "server returned HTTP status 500 Internal Server Error"
    );

    *reply.lock().unwrap() = ok("[{\"targets\": ");
    assert!(d.fetch().await.is_err());
    *reply.lock().unwrap() = ok("[null]");
    assert_eq!(d.fetch().await.unwrap_err(), "nil target group item found");

    // Fewer groups than last time: the missing source is sent empty.
    *reply.lock().unwrap() = ok(r#"[{"targets": ["z:9"]}]"#);
    let g = d.fetch().await.unwrap();
    assert_eq!(g.len(), 2);
    assert_eq!(g[0].targets, vec![labels! { "__address__" => "z:9" }]);
    assert_eq!(g[1].source, format!("{url}:1"));
    assert!(g[1].is_empty());
}

#[tokio::test]
async fn http_sd_failures_keep_last_good_groups() {
    let (url, reply, _) = server(ok(TWO_GROUPS)).await;
    let (m, mut rx) = DiscoveryManager::new(ManagerOptions {
        update_interval_ms: 50,
    });
    m.apply(HashMap::from([(
        "job".to_string(),
        vec![SdOptions::Http(Box::new(HttpSdOptions {
            url,
            refresh_interval_ms: 50,
            ..HttpSdOptions::default()
        }))],
    )]));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let sets = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .unwrap()
            .unwrap();
        if sets["job"].len() == 2 {
            break;
        }
    }
    for bad in [
        Reply {
            status: "500 Internal Server Error",
            ..ok("")
        },
        Reply {
            content_type: "text/html",
            ..ok(TWO_GROUPS)
        },
        ok("not json"),
    ] {
        let before = m.status()[0].discoverers[0].1.failures;
        *reply.lock().unwrap() = bad;
        while m.status()[0].discoverers[0].1.failures < before + 2 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "no failures recorded"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(m.targets()["job"].len(), 2, "last good groups kept");
    }
    let st = &m.status()[0].discoverers[0];
    assert_eq!(st.0, "http");
    assert!(st.1.last_error.is_some());
}

#[test]
fn http_options_are_checked() {
    let e = HttpDiscoverer::new(HttpSdOptions {
        url: "ftp://x/".into(),
        ..HttpSdOptions::default()
    })
    .unwrap_err();
    assert_eq!(e.to_string(), "URL scheme must be 'http' or 'https'");
}
