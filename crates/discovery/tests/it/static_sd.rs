use narthex_discovery::{StaticConfig, StaticDiscoverer};
use narthex_model::labels;

use crate::start;

#[tokio::test]
async fn static_groups_are_numbered_and_sent_once() {
    let configs = vec![
        StaticConfig {
            targets: vec!["a:9100".into(), "b:9100".into()],
            labels: labels! { "env" => "prod" },
        },
        StaticConfig {
            targets: vec!["c:80".into()],
            labels: labels! {},
        },
    ];
    let mut r = start(Box::new(StaticDiscoverer::new(&configs)));
    let groups = r.next(5).await;
    assert_eq!(groups.len(), 2);
    assert_eq!(groups[0].source, "0");
    assert_eq!(
        groups[0].targets,
        vec![
            labels! { "__address__" => "a:9100" },
            labels! { "__address__" => "b:9100" }
        ]
    );
    assert_eq!(groups[0].labels, labels! { "env" => "prod" });
    assert_eq!(groups[1].source, "1");
    assert_eq!(groups[1].targets, vec![labels! { "__address__" => "c:80" }]);
    // Nothing more: the discoverer finished and closed its channel.
    assert!(r.rx.recv().await.is_none());
}
