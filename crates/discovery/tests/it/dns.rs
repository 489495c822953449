use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use narthex_discovery::{Discoverer, DnsDiscoverer, DnsKind, DnsSdOptions, TargetGroup};
use narthex_model::{Labels, labels};

use crate::group;

const DNSMASQ: &str = "/usr/sbin/dnsmasq";

/// A dnsmasq serving the test zone on 127.0.0.1, killed on drop.
struct Dnsmasq {
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// Starts dnsmasq, or returns `None` (after a loud message) when it is not installed and
/// we are not in CI.
fn dnsmasq() -> Option<Dnsmasq> {
    if !std::path::Path::new(DNSMASQ).exists() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{DNSMASQ} is missing (install Debian's dnsmasq)");
        }
        eprintln!("SKIPPED: DNS discovery tests need {DNSMASQ} (apt-get install dnsmasq)");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    for _attempt in 0..5 {
        let port = UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut cmd = Command::new(DNSMASQ);
        cmd.args([
            "--keep-in-foreground",
            "--no-resolv",
            "--no-hosts",
            "--no-poll",
            &format!("--port={port}"),
            "--listen-address=127.0.0.1",
            "--bind-interfaces",
            &format!("--pid-file={}", dir.path().join("pid").display()),
            "--conf-file=/dev/null",
            "--log-facility=-",
            // Unknown names under test. are NXDOMAIN; anything else is refused.
            "--local=/test/",
            "--address=/web.test/127.0.0.10",
            "--host-record=node1.test,127.0.0.11",
            "--host-record=v6.test,::1",
            "--host-record=v6.test,fd00::2",
            "--srv-host=_prom._tcp.test,node1.test,9100,10",
            "--srv-host=_prom._tcp.test,node2.test,9200,20",
            "--mx-host=mx.test,mail.test,10",
            // NS record for ns.test.: ns1.test. in wire format.
            "--dns-rr=ns.test,2,036e7331047465737400",
        ]);
        if is_root() {
            cmd.args(["--user=root", "--group=root"]);
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start dnsmasq");
        // dnsmasq logs "started" once it listens, or dies on a taken port.
        let stderr = child.stderr.take().unwrap();
        let mut started = false;
        let mut log = String::new();
        let mut lines = BufReader::new(stderr).lines();
        for line in lines.by_ref() {
            let Ok(line) = line else { break };
            log.push_str(&line);
            log.push('\n');
            if line.contains("started") {
                started = true;
                break;
            }
        }
        if started {
            // Keep draining the log so dnsmasq never writes to a closed pipe.
            std::thread::spawn(move || lines.for_each(drop));
            return Some(Dnsmasq {
                child,
                addr: SocketAddr::from(([127, 0, 0, 1], port)),
                _dir: dir,
            });
        }
        let _ = child.kill();
        let _ = child.wait();
        eprintln!("dnsmasq failed to start on port {port}: {log}");
    }
    panic!("dnsmasq did not start");
}

async fn lookup(
    ns: &Dnsmasq,
    names: &[&str],
    kind: DnsKind,
    port: u16,
) -> (Vec<TargetGroup>, DnsDiscoverer) {
    let d = DnsDiscoverer::new(DnsSdOptions {
        names: names.iter().map(|s| s.to_string()).collect(),
        kind,
        port,
        refresh_interval_ms: 60_000,
        nameserver: Some(ns.addr),
    })
    .unwrap();
    let groups = tokio::time::timeout(Duration::from_secs(30), d.lookup_all())
        .await
        .expect("lookup timed out");
    (groups, d)
}

fn sorted(mut v: Vec<Labels>) -> Vec<Labels> {
    v.sort();
    v
}

#[tokio::test]
async fn dns_sd_against_dnsmasq() {
    let Some(ns) = dnsmasq() else { return };

    let (g, _) = lookup(&ns, &["web.test"], DnsKind::A, 9100).await;
    assert_eq!(g.len(), 1);
    assert_eq!(g[0].source, "web.test");
    assert_eq!(g[0].labels, labels! {});
    assert_eq!(
        g[0].targets,
        vec![labels! { "__address__" => "127.0.0.10:9100", "__meta_dns_name" => "web.test" }]
    );

    let (g, _) = lookup(&ns, &["v6.test"], DnsKind::Aaaa, 80).await;
    assert_eq!(
        sorted(g[0].targets.clone()),
        vec![
            labels! { "__address__" => "[::1]:80", "__meta_dns_name" => "v6.test" },
            labels! { "__address__" => "[fd00::2]:80", "__meta_dns_name" => "v6.test" },
        ]
    );

    let (g, _) = lookup(&ns, &["_prom._tcp.test"], DnsKind::Srv, 0).await;
    assert_eq!(
        sorted(g[0].targets.clone()),
        vec![
            labels! {
                "__address__" => "node1.test:9100",
                "__meta_dns_name" => "_prom._tcp.test",
                "__meta_dns_srv_record_port" => "9100",
                "__meta_dns_srv_record_target" => "node1.test.",
            },
            labels! {
                "__address__" => "node2.test:9200",
                "__meta_dns_name" => "_prom._tcp.test",
                "__meta_dns_srv_record_port" => "9200",
                "__meta_dns_srv_record_target" => "node2.test.",
            },
        ]
    );

    let (g, _) = lookup(&ns, &["mx.test"], DnsKind::Mx, 25).await;
    assert_eq!(
        g[0].targets,
        vec![labels! {
            "__address__" => "mail.test:25",
            "__meta_dns_mx_record_target" => "mail.test.",
            "__meta_dns_name" => "mx.test",
        }]
    );

    let (g, _) = lookup(&ns, &["ns.test"], DnsKind::Ns, 53).await;
    assert_eq!(
        g[0].targets,
        vec![labels! {
            "__address__" => "ns1.test:53",
            "__meta_dns_name" => "ns.test",
            "__meta_dns_ns_record_target" => "ns1.test.",
        }]
    );

    // Several names: one group each, in order; a missing name is an empty group (its
    // targets go away), a failing lookup sends nothing for its name and is counted.
    let (g, d) = lookup(
        &ns,
        &["web.test", "missing.test", "refused.example.com"],
        DnsKind::A,
        80,
    )
    .await;
    let sources: Vec<&str> = g.iter().map(|g| g.source.as_str()).collect();
    assert_eq!(sources, ["web.test", "missing.test"], "{g:?}");
    assert!(group(&g, "missing.test").is_empty());
    let st = d.status().get();
    assert_eq!(st.failures, 1, "{st:?}");
    assert!(st.last_error.unwrap().contains("refused.example.com"));
}

#[tokio::test]
async fn dns_sd_runs_and_refreshes() {
    let Some(ns) = dnsmasq() else { return };
    let d = DnsDiscoverer::new(DnsSdOptions {
        names: vec!["web.test".into()],
        kind: DnsKind::A,
        port: 80,
        refresh_interval_ms: 100,
        nameserver: Some(ns.addr),
    })
    .unwrap();
    let mut r = crate::start(Box::new(d));
    let a = r.next(30).await;
    let b = r.next(30).await;
    assert_eq!(a, b);
    assert_eq!(a[0].targets[0].get("__address__"), Some("127.0.0.10:80"));
}

#[test]
fn dns_options_are_checked() {
    let e = DnsDiscoverer::new(DnsSdOptions::default()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "DNS-SD config must contain at least one SRV record name"
    );
    let e = DnsDiscoverer::new(DnsSdOptions {
        names: vec!["x".into()],
        kind: DnsKind::A,
        ..DnsSdOptions::default()
    })
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "a port is required in DNS-SD configs for all record types except SRV"
    );
}
