use std::time::Duration;

use narthex_discovery::{Discoverer, DnsDiscoverer, DnsKind, DnsSdOptions, TargetGroup};
use narthex_model::{Labels, labels};

use crate::dnsmasq::Dnsmasq;
use crate::group;

/// dnsmasq with the records these tests look up.
fn dnsmasq() -> Option<Dnsmasq> {
    crate::dnsmasq::start(&[
        "--address=/web.test/127.0.0.10",
        "--host-record=node1.test,127.0.0.11",
        "--host-record=v6.test,::1",
        "--host-record=v6.test,fd00::2",
        "--srv-host=_prom._tcp.test,node1.test,9100,10",
        "--srv-host=_prom._tcp.test,node2.test,9200,20",
        "--mx-host=mx.test,mail.test,10",
        // NS record for ns.test.: ns1.test. in wire format.
        "--dns-rr=ns.test,2,036e7331047465737400",
    ])
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
