//! Rule file parsing and validation tables.

use narthex_model::NameValidation;
use narthex_rules::rulefmt::{ParseOptions, parse};

fn errors(yaml: &str) -> Vec<String> {
    let opts = ParseOptions {
        name_validation: NameValidation::Legacy,
    };
    match parse(yaml, &opts) {
        Ok(_) => Vec::new(),
        Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
    }
}

#[test]
fn parses_groups_and_rules() {
    let yaml = r#"
groups:
  - name: g
    interval: 30s
    query_offset: 1m
    limit: 5
    labels:
      team: a
    rules:
      - record: r:sum
        expr: sum(up)
        labels:
          x: "1"
      - alert: A
        expr: up == 0
        for: 5m
        keep_firing_for: 2m
        labels:
          severity: page
        annotations:
          summary: down
"#;
    let g = parse(yaml, &ParseOptions::default()).unwrap();
    let g = &g.groups[0];
    assert_eq!(g.name, "g");
    assert_eq!(g.interval, Some(30_000));
    assert_eq!(g.query_offset, Some(60_000));
    assert_eq!(g.limit, 5);
    assert_eq!(g.labels, vec![("team".to_string(), "a".to_string())]);
    assert_eq!(g.rules[0].record.as_deref(), Some("r:sum"));
    assert_eq!(g.rules[1].alert.as_deref(), Some("A"));
    assert_eq!(g.rules[1].for_, 300_000);
    assert_eq!(g.rules[1].keep_firing_for, 120_000);
    assert_eq!(g.rules[1].line, 14);
}

#[test]
fn validation_table() {
    let cases: &[(&str, &[&str])] = &[
        (
            "groups:\n  - name: g\n    rules:\n      - record: r\n        alert: A\n        expr: up\n",
            &[
                r#"4:17: 5:16: group "g", rule 1, "A": only one of 'record' and 'alert' must be set"#,
            ],
        ),
        (
            "groups:\n  - name: g\n    rules:\n      - expr: up\n",
            &[r#"0:0: 0:0: group "g", rule 1, "": one of 'record' or 'alert' must be set"#],
        ),
        (
            "groups:\n  - name: g\n    rules:\n      - alert: A\n",
            &[r#"0:0: group "g", rule 1, "A": field 'expr' must be set in rule"#],
        ),
        (
            "groups:\n  - name: g\n    rules:\n      - record: r\n        expr: sum(up\n",
            &[
                r#"5:15: group "g", rule 1, "r": could not parse expression: 1:7: parse error: unclosed left parenthesis"#,
            ],
        ),
        (
            "groups:\n  - name: g\n    rules:\n      - record: 1x\n        expr: up\n        for: 1m\n",
            &[
                r#"4:17: group "g", rule 1, "1x": invalid field 'for' in recording rule"#,
                r#"4:17: group "g", rule 1, "1x": invalid recording rule name: 1x"#,
            ],
        ),
        (
            "groups:\n  - name: g\n    rules: []\n  - name: g\n    rules: []\n",
            &[r#"4:5: groupname: "g" is repeated in the same file"#],
        ),
        (
            "groups:\n  - name: g\n    rules:\n      - record: 'x{a=\"b\"}'\n        expr: up\n",
            &[
                r#"4:17: group "g", rule 1, "x{a=\"b\"}": invalid recording rule name: x{a="b"}"#,
                r#"4:17: group "g", rule 1, "x{a=\"b\"}": braces present in the recording rule name; should it be in expr?: x{a="b"}"#,
            ],
        ),
        (
            "groups:\n  - name: g\n    labels:\n      __name__: x\n    rules: []\n",
            &["invalid label name: __name__"],
        ),
        (
            "groups:\n  - name: \"\"\n",
            &["2:5: Groupname must not be empty"],
        ),
        (
            "groups:\n  - name: g\n    rules:\n      - record: r\n        expr: up\n        bogus: 1\n",
            &["yaml: unmarshal errors:\n  line 6: field bogus not found in type rulefmt.RuleNode"],
        ),
        (
            "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up\n        for: 5x\n",
            &[r#"not a valid duration string: "5x""#],
        ),
        (
            "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up\n        annotations:\n          s: \"{{ $labels.x\"\n",
            &[r#"group "g", rule 1, "A": annotation "s": template: __alert_A:1: unclosed action"#],
        ),
        (
            "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up\n        labels:\n          s: \"{{ foo }}\"\n",
            &[
                r#"group "g", rule 1, "A": label "s": template: __alert_A:1: function "foo" not defined"#,
            ],
        ),
    ];
    for (yaml, want) in cases {
        assert_eq!(errors(yaml), *want, "{yaml}");
    }
}

#[test]
fn error_positions_are_structured() {
    let e = parse(
        "groups:\n  - name: g\n    rules:\n      - alert: A\n",
        &ParseOptions::default(),
    )
    .unwrap_err();
    assert_eq!(e[0].rule, Some(1));
    assert_eq!(e[0].group.as_deref(), Some("g"));
    assert_eq!(e[0].line, 4);
}

#[test]
fn utf8_names_by_default() {
    let yaml = "groups:\n  - name: g\n    rules:\n      - record: \"my.metric\"\n        expr: up\n        labels:\n          \"a-b\": x\n";
    assert!(parse(yaml, &ParseOptions::default()).is_ok());
    assert_eq!(errors(yaml).len(), 2);
}
