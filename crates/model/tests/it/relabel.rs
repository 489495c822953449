//! Relabelling: the cases of Prometheus's `model/relabel` tests as data, Go's template
//! expansion rules, validation messages, and a no-panic property.

use narthex_model::relabel::{
    Action, Regex, RelabelConfig, RelabelError, process, process_builder, process_with,
};
use narthex_model::{Labels, LabelsBuilder, NameValidation, labels};
use proptest::prelude::*;

fn re(p: &str) -> Regex {
    Regex::new(p).unwrap()
}

fn rule(action: Action) -> RelabelConfig {
    RelabelConfig {
        action,
        ..RelabelConfig::default()
    }
}

fn src(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// A `replace` rule with the given source labels, regex, target and replacement.
fn replace(sources: &[&str], regex: &str, target: &str, replacement: &str) -> RelabelConfig {
    RelabelConfig {
        source_labels: src(sources),
        regex: re(regex),
        target_label: target.into(),
        replacement: replacement.into(),
        ..rule(Action::Replace)
    }
}

fn with_regex(action: Action, sources: &[&str], regex: &str) -> RelabelConfig {
    RelabelConfig {
        source_labels: src(sources),
        regex: re(regex),
        ..rule(action)
    }
}

fn to_target(action: Action, sources: &[&str], target: &str) -> RelabelConfig {
    RelabelConfig {
        source_labels: src(sources),
        target_label: target.into(),
        ..rule(action)
    }
}

fn hashmod(sources: &[&str], target: &str, modulus: u64) -> RelabelConfig {
    RelabelConfig {
        modulus,
        ..to_target(Action::HashMod, sources, target)
    }
}

fn labelmap(regex: &str, replacement: &str) -> RelabelConfig {
    RelabelConfig {
        regex: re(regex),
        replacement: replacement.into(),
        ..rule(Action::LabelMap)
    }
}

struct Case {
    name: &'static str,
    input: Labels,
    rules: Vec<RelabelConfig>,
    /// `None` when the label set is dropped.
    output: Option<Labels>,
}

fn prometheus_cases() -> Vec<Case> {
    let abc = labels! { "a" => "foo", "b" => "bar", "c" => "baz" };
    let ports = labels! { "__tmp_port" => "1234", "__port1" => "1234", "__port2" => "5678" };
    let lines = labels! { "a" => "line1\nline2", "b" => "bar", "c" => "baz" };
    vec![
        Case {
            name: "replace with ${1}",
            input: abc.clone(),
            rules: vec![replace(&["a"], "f(.*)", "d", "ch${1}-ch${1}")],
            output: Some(labels! { "a" => "foo", "b" => "bar", "c" => "baz", "d" => "choo-choo" }),
        },
        Case {
            name: "chained replaces over joined sources",
            input: abc.clone(),
            rules: vec![
                replace(&["a", "b"], "f(.*);(.*)r", "a", "b${1}${2}m"),
                replace(&["c", "a"], "(b).*b(.*)ba(.*)", "d", "$1$2$2$3"),
            ],
            output: Some(labels! { "a" => "boobam", "b" => "bar", "c" => "baz", "d" => "boooom" }),
        },
        Case {
            name: "drop before replace",
            input: labels! { "a" => "foo" },
            rules: vec![
                with_regex(Action::Drop, &["a"], ".*o.*"),
                replace(&["a"], "f(.*)", "d", "ch$1-ch$1"),
            ],
            output: None,
        },
        Case {
            name: "drop",
            input: labels! { "a" => "foo", "b" => "bar" },
            rules: vec![with_regex(Action::Drop, &["a"], ".*o.*")],
            output: None,
        },
        Case {
            name: "replace a middle group",
            input: labels! { "a" => "abc" },
            rules: vec![replace(&["a"], ".*(b).*", "d", "$1")],
            output: Some(labels! { "a" => "abc", "d" => "b" }),
        },
        Case {
            name: "drop without match",
            input: labels! { "a" => "foo" },
            rules: vec![with_regex(Action::Drop, &["a"], "no-match")],
            output: Some(labels! { "a" => "foo" }),
        },
        Case {
            name: "drop regex is anchored",
            input: labels! { "a" => "foo" },
            rules: vec![with_regex(Action::Drop, &["a"], "f|o")],
            output: Some(labels! { "a" => "foo" }),
        },
        Case {
            name: "keep without match",
            input: labels! { "a" => "foo" },
            rules: vec![with_regex(Action::Keep, &["a"], "no-match")],
            output: None,
        },
        Case {
            name: "keep with match",
            input: labels! { "a" => "foo" },
            rules: vec![with_regex(Action::Keep, &["a"], "f.*")],
            output: Some(labels! { "a" => "foo" }),
        },
        Case {
            name: "no replacement without a match",
            input: labels! { "a" => "boo" },
            rules: vec![replace(&["a"], "f", "b", "bar")],
            output: Some(labels! { "a" => "boo" }),
        },
        Case {
            name: "blank replacement deletes the label",
            input: labels! { "a" => "foo", "f" => "baz" },
            rules: vec![replace(&["a"], "(f).*", "$1", "$2")],
            output: Some(labels! { "a" => "foo" }),
        },
        Case {
            name: "hashmod",
            input: abc.clone(),
            rules: vec![hashmod(&["c"], "d", 1000)],
            output: Some(labels! { "a" => "foo", "b" => "bar", "c" => "baz", "d" => "976" }),
        },
        Case {
            name: "hashmod over a newline",
            input: labels! { "a" => "foo\nbar" },
            rules: vec![hashmod(&["a"], "b", 1000)],
            output: Some(labels! { "a" => "foo\nbar", "b" => "734" }),
        },
        Case {
            name: "labelmap with a prefix",
            input: labels! { "a" => "foo", "b1" => "bar", "b2" => "baz" },
            rules: vec![labelmap("(b.*)", "bar_${1}")],
            output: Some(labels! {
                "a" => "foo", "b1" => "bar", "b2" => "baz", "bar_b1" => "bar", "bar_b2" => "baz",
            }),
        },
        Case {
            name: "labelmap stripping __meta_",
            input: labels! {
                "a" => "foo", "__meta_my_bar" => "aaa", "__meta_my_baz" => "bbb",
                "__meta_other" => "ccc",
            },
            rules: vec![labelmap("__meta_(my.*)", "${1}")],
            output: Some(labels! {
                "a" => "foo", "__meta_my_bar" => "aaa", "__meta_my_baz" => "bbb",
                "__meta_other" => "ccc", "my_bar" => "aaa", "my_baz" => "bbb",
            }),
        },
        Case {
            name: "target from a group",
            input: labels! { "a" => "some-name-value" },
            rules: vec![replace(&["a"], "some-([^-]+)-([^,]+)", "${1}", "${2}")],
            output: Some(labels! { "a" => "some-name-value", "name" => "value" }),
        },
        Case {
            name: "replacement from a missing group is empty",
            input: labels! { "a" => "some-name-value" },
            rules: vec![replace(&["a"], "some-([^-]+)-([^,]+)", "${1}", "${3}")],
            output: Some(labels! { "a" => "some-name-value" }),
        },
        Case {
            name: "target from a missing group is empty, so invalid",
            input: labels! { "a" => "some-name-0" },
            rules: vec![
                replace(&["a"], "some-([^-]+)-([^,]+)", "${3}", "${1}"),
                replace(&["a"], "some-([^-]+)-([^,]+)", "${3}", "${1}"),
                replace(&["a"], "some-([^-]+)(-[^,]+)", "${3}", "${1}"),
            ],
            output: Some(labels! { "a" => "some-name-0" }),
        },
        Case {
            name: "tags parsed into labels",
            input: labels! { "__meta_sd_tags" => "path:/secret,job:some-job,label:foo=bar" },
            rules: vec![
                replace(
                    &["__meta_sd_tags"],
                    "(?:.+,|^)path:(/[^,]+).*",
                    "__metrics_path__",
                    "${1}",
                ),
                replace(&["__meta_sd_tags"], "(?:.+,|^)job:([^,]+).*", "job", "${1}"),
                replace(
                    &["__meta_sd_tags"],
                    "(?:.+,|^)label:([^=]+)=([^,]+).*",
                    "${1}",
                    "${2}",
                ),
            ],
            output: Some(labels! {
                "__meta_sd_tags" => "path:/secret,job:some-job,label:foo=bar",
                "__metrics_path__" => "/secret", "job" => "some-job", "foo" => "bar",
            }),
        },
        Case {
            name: "prometheus issue 12283",
            input: labels! {
                "__meta_kubernetes_pod_container_port_name" => "foo",
                "__meta_kubernetes_pod_annotation_XXX_metrics_port" => "9091",
            },
            rules: vec![
                RelabelConfig {
                    regex: re("^__meta_kubernetes_pod_container_port_name$"),
                    ..rule(Action::LabelDrop)
                },
                replace(
                    &["__meta_kubernetes_pod_annotation_XXX_metrics_port"],
                    "(.+)",
                    "__meta_kubernetes_pod_container_port_name",
                    "metrics",
                ),
                with_regex(
                    Action::Keep,
                    &["__meta_kubernetes_pod_container_port_name"],
                    "^metrics$",
                ),
            ],
            output: Some(labels! {
                "__meta_kubernetes_pod_annotation_XXX_metrics_port" => "9091",
                "__meta_kubernetes_pod_container_port_name" => "metrics",
            }),
        },
        Case {
            name: "labelkeep",
            input: labels! { "a" => "foo", "b1" => "bar", "b2" => "baz" },
            rules: vec![RelabelConfig {
                regex: re("(b.*)"),
                ..rule(Action::LabelKeep)
            }],
            output: Some(labels! { "b1" => "bar", "b2" => "baz" }),
        },
        Case {
            name: "labeldrop",
            input: labels! { "a" => "foo", "b1" => "bar", "b2" => "baz" },
            rules: vec![RelabelConfig {
                regex: re("(b.*)"),
                ..rule(Action::LabelDrop)
            }],
            output: Some(labels! { "a" => "foo" }),
        },
        Case {
            name: "uppercase and lowercase",
            input: labels! { "foo" => "bAr123Foo" },
            rules: vec![
                to_target(Action::Uppercase, &["foo"], "foo_uppercase"),
                to_target(Action::Lowercase, &["foo"], "foo_lowercase"),
            ],
            output: Some(labels! {
                "foo" => "bAr123Foo", "foo_lowercase" => "bar123foo", "foo_uppercase" => "BAR123FOO",
            }),
        },
        Case {
            name: "keepequal, equal",
            input: ports.clone(),
            rules: vec![to_target(Action::KeepEqual, &["__tmp_port"], "__port1")],
            output: Some(ports.clone()),
        },
        Case {
            name: "dropequal, equal",
            input: ports.clone(),
            rules: vec![to_target(Action::DropEqual, &["__tmp_port"], "__port1")],
            output: None,
        },
        Case {
            name: "dropequal, different",
            input: ports.clone(),
            rules: vec![to_target(Action::DropEqual, &["__tmp_port"], "__port2")],
            output: Some(ports.clone()),
        },
        Case {
            name: "keepequal, different",
            input: ports.clone(),
            rules: vec![to_target(Action::KeepEqual, &["__tmp_port"], "__port2")],
            output: None,
        },
        Case {
            name: "dot matches newline; a missing group is empty",
            input: lines.clone(),
            rules: vec![replace(&["a"], "line1.*line2", "d", "match${1}")],
            output: Some(
                labels! { "a" => "line1\nline2", "b" => "bar", "c" => "baz", "d" => "match" },
            ),
        },
        Case {
            name: "UTF-8 source label",
            input: labels! { "utf-8.label" => "line1\nline2", "b" => "bar", "c" => "baz" },
            rules: vec![replace(&["utf-8.label"], "line1.*line2", "d", "match${1}")],
            output: Some(labels! {
                "utf-8.label" => "line1\nline2", "b" => "bar", "c" => "baz", "d" => "match",
            }),
        },
        Case {
            name: "UTF-8 target label",
            input: lines.clone(),
            rules: vec![replace(&["a"], "line1.*line2", "utf-8.label", "match${1}")],
            output: Some(labels! {
                "a" => "line1\nline2", "b" => "bar", "c" => "baz", "utf-8.label" => "match",
            }),
        },
        Case {
            name: "UTF-8 target label with a reference",
            input: lines.clone(),
            rules: vec![replace(
                &["a"],
                "line1.*line2",
                "utf-8.label${1}",
                "match${1}",
            )],
            output: Some(labels! {
                "a" => "line1\nline2", "b" => "bar", "c" => "baz", "utf-8.label" => "match",
            }),
        },
        Case {
            name: "named and numbered references in both styles",
            input: lines.clone(),
            rules: vec![
                replace(
                    &["a"],
                    "(line1).*(?<second>line2)",
                    "label1_${1}",
                    "val_${second}",
                ),
                replace(
                    &["a"],
                    "(line1).*(?<second>line2)",
                    "label2_$1",
                    "val_$second",
                ),
            ],
            output: Some(labels! {
                "a" => "line1\nline2", "b" => "bar", "c" => "baz",
                "label1_line1" => "val_line2", "label2_line1" => "val_line2",
            }),
        },
        Case {
            name: "__type__ from the metric name",
            input: labels! { "__name__" => "http_requests_total" },
            rules: vec![replace(&["__name__"], ".*_total$", "__type__", "counter")],
            output: Some(labels! { "__name__" => "http_requests_total", "__type__" => "counter" }),
        },
        Case {
            name: "__unit__ from the metric name",
            input: labels! { "__name__" => "disk_usage_bytes" },
            rules: vec![replace(&["__name__"], ".*_bytes$", "__unit__", "bytes")],
            output: Some(labels! { "__name__" => "disk_usage_bytes", "__unit__" => "bytes" }),
        },
    ]
}

fn more_cases() -> Vec<Case> {
    vec![
        Case {
            name: "default rule copies a label",
            input: labels! { "a" => "x" },
            rules: vec![to_target(Action::Replace, &["a"], "b")],
            output: Some(labels! { "a" => "x", "b" => "x" }),
        },
        Case {
            name: "static label without sources",
            input: labels! { "a" => "x" },
            rules: vec![RelabelConfig {
                target_label: "env".into(),
                replacement: "prod".into(),
                ..rule(Action::Replace)
            }],
            output: Some(labels! { "a" => "x", "env" => "prod" }),
        },
        Case {
            name: "default rule from a missing label deletes the target",
            input: labels! { "a" => "x", "b" => "y" },
            rules: vec![to_target(Action::Replace, &["missing"], "b")],
            output: Some(labels! { "a" => "x" }),
        },
        Case {
            name: "missing sources join as empty strings",
            input: labels! { "a" => "x" },
            rules: vec![RelabelConfig {
                separator: ",".into(),
                ..replace(&["a", "missing", "a"], "(.*),,(.*)", "j", "$1+$2")
            }],
            output: Some(labels! { "a" => "x", "j" => "x+x" }),
        },
        Case {
            name: "drop on an empty value (missing label)",
            input: labels! { "a" => "x" },
            rules: vec![with_regex(Action::Drop, &["missing"], "")],
            output: None,
        },
        Case {
            name: "address and port join",
            input: labels! { "__address__" => "10.0.0.1:80", "port" => "9100" },
            rules: vec![replace(
                &["__address__", "port"],
                r"(.+?)(\:\d+)?;(\d+)",
                "__address__",
                "$1:$3",
            )],
            output: Some(labels! { "__address__" => "10.0.0.1:9100", "port" => "9100" }),
        },
        Case {
            name: "Go's \\d is ASCII only",
            input: labels! { "a" => "١٢" },
            rules: vec![with_regex(Action::Keep, &["a"], r"\d+")],
            output: None,
        },
        Case {
            name: "$1x names group 1x, which is missing",
            input: labels! { "a" => "foo" },
            rules: vec![replace(&["a"], "(f)oo", "t", "$1x|${1}x")],
            output: Some(labels! { "a" => "foo", "t" => "|fx" }),
        },
        Case {
            name: "$$ is a literal dollar",
            input: labels! { "a" => "foo" },
            rules: vec![replace(&["a"], "(f)oo", "t", "$$1=$1")],
            output: Some(labels! { "a" => "foo", "t" => "$1=f" }),
        },
        Case {
            name: "hashmod values",
            input: labels! { "__address__" => "10.132.183.40:80", "u" => "ümlaut" },
            rules: vec![
                hashmod(&["__address__"], "h3", 3),
                hashmod(&["missing"], "h7", 7),
                hashmod(&["u"], "h97", 97),
                hashmod(&["u"], "h1", 1),
            ],
            output: Some(labels! {
                "__address__" => "10.132.183.40:80", "u" => "ümlaut",
                "h3" => "1", "h7" => "1", "h97" => "68", "h1" => "0",
            }),
        },
        Case {
            name: "hashmod uses the last 8 bytes of the digest",
            input: labels! { "a" => "a", "b" => "b" },
            rules: vec![hashmod(&["a", "b"], "h", 1 << 63)],
            output: Some(labels! { "a" => "a", "b" => "b", "h" => "2420134994223480074" }),
        },
        Case {
            name: "labelmap sees the labels before the rule",
            input: labels! { "x_a" => "1", "x_x_b" => "2" },
            rules: vec![labelmap("x_(.*)", "$1")],
            output: Some(labels! { "x_a" => "1", "x_x_b" => "2", "a" => "1", "x_b" => "2" }),
        },
        Case {
            name: "labelkeep can leave an empty set, which is not a drop",
            input: labels! { "a" => "1" },
            rules: vec![RelabelConfig {
                regex: re("b"),
                ..rule(Action::LabelKeep)
            }],
            output: Some(Labels::empty()),
        },
        Case {
            name: "lowercase and uppercase with Go's simple case mapping",
            input: labels! { "s" => "Straße ΣΑΣ İ ᾳ" },
            rules: vec![
                to_target(Action::Lowercase, &["s"], "lo"),
                to_target(Action::Uppercase, &["s"], "up"),
            ],
            output: Some(labels! {
                "s" => "Straße ΣΑΣ İ ᾳ", "lo" => "straße σασ i ᾳ", "up" => "STRAßE ΣΑΣ İ ᾼ",
            }),
        },
        Case {
            name: "lowercase of an empty value deletes the target",
            input: labels! { "t" => "x" },
            rules: vec![to_target(Action::Lowercase, &["missing"], "t")],
            output: Some(Labels::empty()),
        },
        Case {
            name: "keepequal against a missing target compares with empty",
            input: labels! { "a" => "x" },
            rules: vec![to_target(Action::KeepEqual, &["missing"], "other")],
            output: Some(labels! { "a" => "x" }),
        },
    ]
}

#[test]
fn table() {
    let cases: Vec<Case> = prometheus_cases().into_iter().chain(more_cases()).collect();
    for case in &cases {
        for r in &case.rules {
            r.validate()
                .unwrap_or_else(|e| panic!("{}: invalid rule: {e}", case.name));
        }
        assert_eq!(
            process(&case.input, &case.rules),
            case.output,
            "{}",
            case.name
        );
        let mut lb = LabelsBuilder::from(case.input.clone());
        let kept = process_builder(&mut lb, &case.rules, NameValidation::Utf8);
        assert_eq!(kept, case.output.is_some(), "{}", case.name);
        if let Some(out) = &case.output {
            assert_eq!(&lb.build(), out, "{}", case.name);
        }
    }
    // Every case of Prometheus's TestRelabel, plus ours.
    assert_eq!((prometheus_cases().len(), cases.len()), (34, 50));
}

#[test]
fn legacy_validation_rejects_utf8_targets_at_process_time() {
    let rules = [replace(&["a"], "(.*)", "utf-8.${1}", "v")];
    let input = labels! { "a" => "x" };
    assert_eq!(
        process_with(&input, &rules, NameValidation::Utf8),
        Some(labels! { "a" => "x", "utf-8.x" => "v" })
    );
    assert_eq!(
        process_with(&input, &rules, NameValidation::Legacy),
        Some(input)
    );
}

#[test]
fn expansion_follows_go_regexp_expand() {
    let r = re("(a)(b)?(?P<n>c)?");
    let cases = [
        ("$1", "a"),
        ("$0", "a"),
        ("${0}", "a"),
        ("$2|$1", "|a"),
        ("$1x", ""),
        ("${1}x", "ax"),
        ("$$1", "$1"),
        ("$$$1", "$a"),
        ("$", "$"),
        ("a$", "a$"),
        ("${1", "${1"),
        ("${}", "${}"),
        ("$-", "$-"),
        ("$ $1", "$ a"),
        ("$01", ""),
        ("${01}", ""),
        ("$n", ""),
        ("$nope", ""),
        ("$99999999", ""),
        ("$100000000", ""),
        ("$1é", ""),
        ("$1·", "a·"),
        ("x${1}y${1}z", "xayaz"),
    ];
    for (template, want) in cases {
        assert_eq!(
            r.replace("a", template).as_deref(),
            Some(want),
            "{template:?}"
        );
    }
    assert_eq!(r.replace("abc", "$n/${n}/$2").as_deref(), Some("c/c/b"));
    assert_eq!(r.replace("abcd", "$1"), None);
    assert_eq!(r.replace("abcd", "no refs"), None);
    assert_eq!(r.replace("a", "no refs").as_deref(), Some("no refs"));
}

#[test]
fn regex_is_anchored_with_go_syntax() {
    let r = re("foo|bar");
    assert!(r.is_match("foo") && r.is_match("bar") && !r.is_match("foobar"));
    assert_eq!(r.as_str(), "foo|bar");
    assert_eq!(r.to_string(), "foo|bar");
    assert!(re("a.c").is_match("a\nc"));
    assert!(re(r"\Qa.b\E").is_match("a.b") && !re(r"\Qa.b\E").is_match("axb"));
    assert_eq!(Regex::default().as_str(), "(.*)");
    assert_eq!(re("x"), re("x"));
    assert_ne!(re("x"), re("y"));
    let groups = re("(a)(?P<n>b)");
    let names: Vec<_> = groups.capture_names().collect();
    assert_eq!(names, vec![None, None, Some("n")]);
    let err = Regex::new("(").unwrap_err();
    assert!(matches!(err, RelabelError::Regex(_)));
    assert!(
        err.to_string().starts_with("error parsing regexp: "),
        "{err}"
    );
    assert!(Regex::new("a)|(b").is_err());
    assert!("a+".parse::<Regex>().is_ok());
}

#[test]
fn actions_parse_like_prometheus() {
    for a in Action::ALL {
        assert_eq!(Action::parse(a.as_str()), Some(a));
        assert_eq!(Action::parse(&a.as_str().to_uppercase()), Some(a));
        assert_eq!(a.to_string(), a.as_str());
    }
    assert_eq!(Action::parse("LabelDrop"), Some(Action::LabelDrop));
    // Go's strings.ToLower maps the Kelvin sign to `k`.
    assert_eq!(Action::parse("\u{212A}eep"), Some(Action::Keep));
    assert_eq!(Action::parse("label_drop"), None);
    assert_eq!(Action::parse(""), None);
    assert_eq!(Action::default(), Action::Replace);
    let err = "nope".parse::<Action>().unwrap_err();
    assert_eq!(err.to_string(), r#"unknown relabel action "nope""#);
}

#[test]
fn defaults_are_prometheus_defaults() {
    let d = RelabelConfig::default();
    assert!(d.source_labels.is_empty());
    assert_eq!(d.separator, ";");
    assert_eq!(d.regex.as_str(), "(.*)");
    assert_eq!(d.modulus, 0);
    assert_eq!(d.target_label, "");
    assert_eq!(d.replacement, "$1");
    assert_eq!(d.action, Action::Replace);
}

#[test]
fn validation_messages() {
    use Action::*;
    let utf8 = NameValidation::Utf8;
    let legacy = NameValidation::Legacy;
    let cases: Vec<(RelabelConfig, NameValidation, &str)> = vec![
        (
            to_target(HashMod, &["a"], "h"),
            utf8,
            "relabel configuration for hashmod requires non-zero modulus",
        ),
        (
            rule(Replace),
            utf8,
            "relabel configuration for replace action requires 'target_label' value",
        ),
        (
            rule(Lowercase),
            utf8,
            "relabel configuration for lowercase action requires 'target_label' value",
        ),
        (
            hashmod(&["a"], "", 2),
            utf8,
            "relabel configuration for hashmod action requires 'target_label' value",
        ),
        (
            rule(KeepEqual),
            utf8,
            "relabel configuration for keepequal action requires 'target_label' value",
        ),
        (to_target(Lowercase, &["a"], "${3}"), utf8, ""),
        (
            to_target(Lowercase, &["a"], "${3}"),
            legacy,
            r#""${3}" is invalid 'target_label' for lowercase action"#,
        ),
        (
            replace(&["a"], "some-([^-]+)-([^,]+)", "${3}", "${1}"),
            utf8,
            "",
        ),
        (
            replace(&["a"], "some-([^-]+)-([^,]+)", "0${3}", "${1}"),
            utf8,
            "",
        ),
        (
            replace(&["a"], "some-([^-]+)-([^,]+)", "-${3}", "${1}"),
            utf8,
            "",
        ),
        (
            replace(&["a"], "some-([^-]+)-([^,]+)", "0${3}", "${1}"),
            legacy,
            r#""0${3}" is invalid 'target_label' for replace action"#,
        ),
        (replace(&["a"], "(.*)", "a.b", "$1"), utf8, ""),
        (
            replace(&["a"], "(.*)", "a.b", "$1"),
            legacy,
            r#""a.b" is invalid 'target_label' for replace action"#,
        ),
        (
            labelmap("__meta_kubernetes_pod_label_(strimzi_io_.+)", "$1"),
            legacy,
            "",
        ),
        (labelmap("__meta_(.+)", "${1}"), legacy, ""),
        (
            labelmap("__meta_(.+)", "bar.${1}"),
            legacy,
            r#""bar.${1}" is invalid 'replacement' for labelmap action"#,
        ),
        (labelmap("__meta_(.+)", "bar.${1}"), utf8, ""),
        (
            labelmap("__meta_(.+)", ""),
            utf8,
            r#""" is invalid 'replacement' for labelmap action"#,
        ),
        (
            RelabelConfig {
                replacement: "x".into(),
                ..to_target(Uppercase, &["a"], "t")
            },
            utf8,
            "'replacement' can not be set for uppercase action",
        ),
        (
            RelabelConfig {
                replacement: "x".into(),
                ..to_target(DropEqual, &["a"], "t")
            },
            utf8,
            "'replacement' can not be set for dropequal action",
        ),
        (
            RelabelConfig {
                regex: re("x"),
                ..to_target(KeepEqual, &["a"], "t")
            },
            utf8,
            "keepequal action requires only 'source_labels' and `target_label`, and no other fields",
        ),
        (
            RelabelConfig {
                separator: ",".into(),
                ..to_target(DropEqual, &["a"], "t")
            },
            utf8,
            "dropequal action requires only 'source_labels' and `target_label`, and no other fields",
        ),
        (
            RelabelConfig {
                modulus: 3,
                ..to_target(KeepEqual, &["a"], "t")
            },
            utf8,
            "keepequal action requires only 'source_labels' and `target_label`, and no other fields",
        ),
        (
            with_regex(LabelDrop, &["a"], "x"),
            utf8,
            "labeldrop action requires only 'regex', and no other fields",
        ),
        (
            RelabelConfig {
                target_label: "t".into(),
                ..rule(LabelKeep)
            },
            utf8,
            "labelkeep action requires only 'regex', and no other fields",
        ),
        (
            RelabelConfig {
                replacement: "${1}".into(),
                ..rule(LabelKeep)
            },
            utf8,
            "labelkeep action requires only 'regex', and no other fields",
        ),
        (rule(LabelKeep), utf8, ""),
        (with_regex(Keep, &["a"], "x"), utf8, ""),
        (hashmod(&["a"], "h", 2), utf8, ""),
        (hashmod(&["a"], "h.x", 2), utf8, ""),
        (
            hashmod(&["a"], "h.x", 2),
            legacy,
            r#""h.x" is invalid 'target_label' for hashmod action"#,
        ),
    ];
    for (i, (cfg, validation, want)) in cases.iter().enumerate() {
        let got = cfg
            .validate_with(*validation)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert_eq!(&got, want, "case {i}: {cfg:?}");
    }
}

#[test]
fn legacy_target_templates() {
    // Prometheus's TestTargetLabelLegacyValidity, through validation of a replace rule.
    let cases = [
        ("-label", false),
        ("label", true),
        ("label${1}", true),
        ("${1}label", true),
        ("${1}", true),
        ("${", false),
        ("$", false),
        ("${}", false),
        ("foo${", false),
        ("$1", true),
        ("asd$2asd", true),
        ("-foo${1}bar-", false),
        ("bar.foo${1}bar", false),
        ("_${1}_", true),
        ("foo${bar}foo", true),
    ];
    for (target, valid) in cases {
        let cfg = replace(&["a"], "(.*)", target, "$1");
        assert_eq!(
            cfg.validate_with(NameValidation::Legacy).is_ok(),
            valid,
            "{target:?}"
        );
        assert!(cfg.validate().is_ok(), "{target:?} is valid under UTF-8");
    }
}

fn arb_labels() -> impl Strategy<Value = Labels> {
    prop::collection::vec(("[a-c_]{1,3}|__name__|é", "[a-c;$1 ]{0,4}"), 0..6)
        .prop_map(Labels::from_pairs)
}

fn arb_config() -> impl Strategy<Value = RelabelConfig> {
    let regexes = prop::sample::select(vec![
        "(.*)",
        "",
        "a.*",
        "(a)(b)?",
        "(?P<n>[a-z]+);(.*)",
        "(?i)A|b",
        r"\w+",
        "(.)(.)",
        ".+",
        "a|b|c",
        "(?:x)*",
        "é?",
        r"\d",
    ]);
    let names = "[a-c_]{0,3}|__name__|\\$1|\\$\\{n\\}|[a$1{}]{0,4}";
    (
        prop::sample::select(Action::ALL.to_vec()),
        prop::collection::vec(names, 0..3),
        prop::sample::select(vec![";", "", ",", "$1"]),
        regexes,
        0u64..5,
        names,
        "[a-c$1{}_n]{0,5}",
    )
        .prop_map(
            |(action, source_labels, sep, regex, modulus, target, replacement)| RelabelConfig {
                source_labels,
                separator: sep.to_string(),
                regex: Regex::new(regex).unwrap(),
                modulus,
                target_label: target,
                replacement,
                action,
            },
        )
}

proptest! {
    #[test]
    fn process_never_panics(
        input in arb_labels(),
        configs in prop::collection::vec(arb_config(), 0..5),
        legacy in any::<bool>(),
    ) {
        for c in &configs {
            let _ = c.validate();
            let _ = c.validate_with(NameValidation::Legacy);
        }
        let validation = if legacy { NameValidation::Legacy } else { NameValidation::Utf8 };
        if let Some(out) = process_with(&input, &configs, validation) {
            for l in out.iter() {
                prop_assert!(!l.name.is_empty());
                prop_assert!(!l.value.is_empty());
            }
            let names: Vec<&str> = out.iter().map(|l| &*l.name).collect();
            prop_assert!(names.windows(2).all(|w| w[0] < w[1]), "{:?}", names);
        }
    }
}
