//! Template tables, with Prometheus's `template_test.go` expectations.

use std::collections::BTreeMap;

use narthex_rules::template::{QuerySample, Template, TemplateData, expand_alert};

fn data() -> TemplateData {
    TemplateData {
        labels: BTreeMap::from([
            ("instance".to_string(), "host-1:9100".to_string()),
            ("job".to_string(), "node".to_string()),
        ]),
        external_labels: BTreeMap::from([("cluster".to_string(), "eu1".to_string())]),
        external_url: "http://prom.example".to_string(),
        value: 1234567.0,
        time: 1_000_000,
    }
}

fn run(text: &str) -> String {
    let query = |q: &str| -> Result<Vec<QuerySample>, String> {
        match q {
            "up" => Ok(vec![
                QuerySample {
                    labels: BTreeMap::from([("instance".into(), "a".into())]),
                    value: 1.0,
                },
                QuerySample {
                    labels: BTreeMap::from([("instance".into(), "b".into())]),
                    value: 0.0,
                },
            ]),
            "none" => Ok(vec![]),
            _ => Err(format!("bad query {q}")),
        }
    };
    expand_alert("Test", text, &data(), Some(&query))
}

#[test]
fn humanize_tables() {
    let cases = [
        // Prometheus's template_test.go.
        (
            "{{ range . }}{{ humanize . }}:{{ end }}",
            vec![0.0, 1.0, 1234567.0, 0.12],
            "0:1:1.235M:120m:",
        ),
        (
            "{{ range . }}{{ humanize1024 . }}:{{ end }}",
            vec![0.0, 1.0, 1048576.0, 0.12],
            "0:1:1Mi:0.12:",
        ),
        (
            "{{ range . }}{{ humanizeDuration . }}:{{ end }}",
            vec![
                0.0,
                1.0,
                60.0,
                3600.0,
                86400.0,
                86400.0 + 3600.0,
                -(86400.0 * 2.0 + 3600.0 * 3.0 + 60.0 * 4.0 + 5.0),
                899.99,
            ],
            "0s:1s:1m 0s:1h 0m 0s:1d 0h 0m 0s:1d 1h 0m 0s:-2d 3h 4m 5s:14m 59s:",
        ),
        (
            "{{ range . }}{{ humanizeDuration . }}:{{ end }}",
            vec![0.1, 0.0001, 0.12345, 60.1, 60.5, 1.2345, 12.345],
            "100ms:100us:123.5ms:1m 0s:1m 0s:1.234s:12.35s:",
        ),
        (
            "{{ range . }}{{ humanizePercentage . }}:{{ end }}",
            vec![0.0, 0.1234567, 1.0, 1.5],
            "0%:12.35%:100%:150%:",
        ),
    ];
    for (tmpl, values, want) in cases {
        // `range` over a value list: drive it through a map-free path by expanding each.
        let mut got = String::new();
        let inner = tmpl
            .trim_start_matches("{{ range . }}")
            .trim_end_matches("{{ end }}")
            .replace(" . }}", " $value }}");
        for v in values {
            let mut d = data();
            d.value = v;
            got.push_str(&expand_alert("T", &inner, &d, None));
        }
        assert_eq!(got, want, "{tmpl}");
    }
    for (f, v, want) in [
        ("humanize", f64::NAN, "NaN"),
        ("humanize", f64::INFINITY, "+Inf"),
        ("humanize", -f64::INFINITY, "-Inf"),
        ("humanize", 1e-30, "1e-06y"),
        ("humanize", 12346.0, "12.35k"),
        ("humanize", -1500.0, "-1.5k"),
        ("humanizeDuration", f64::INFINITY, "+Inf"),
        (
            "humanizeTimestamp",
            1435065584.128,
            "2015-06-23 13:19:44.128 +0000 UTC",
        ),
        ("humanizeTimestamp", 0.0, "1970-01-01 00:00:00 +0000 UTC"),
        ("humanizeTimestamp", f64::NAN, "NaN"),
    ] {
        let mut d = data();
        d.value = v;
        assert_eq!(
            expand_alert("T", &format!("{{{{ {f} $value }}}}"), &d, None),
            want,
            "{f} {v}"
        );
    }
}

#[test]
fn expansion_table() {
    let cases = [
        ("{{ $labels.instance }}", "host-1:9100"),
        ("{{ .Labels.job }}", "node"),
        ("{{ $value }}", "1.234567e+06"),
        ("{{ $externalLabels.cluster }}", "eu1"),
        ("{{ $externalURL }}", "http://prom.example"),
        ("{{ $labels.missing }}", ""),
        ("{{ humanize $value }}", "1.235M"),
        ("{{ $value | humanize }}", "1.235M"),
        (r#"{{ printf "%.2f" $value }}"#, "1234567.00"),
        (r#"{{ printf "%s=%d" "a" 3 }}"#, "a=3"),
        (r#"{{ printf "%5.1f|%-4s|" 3.14159 "x" }}"#, "  3.1|x   |"),
        (
            "{{ toUpper \"abc\" }} {{ toLower \"ABC\" }} {{ title \"aa bb CC\" }}",
            "ABC abc Aa Bb CC",
        ),
        (
            r#"{{ reReplaceAll "(.*):.*" "$1" $labels.instance }}"#,
            "host-1",
        ),
        (r#"{{ reReplaceAll "(a)" "x$1y" "banana" }}"#, "bxnxnx"),
        (
            r#"{{ reReplaceAll "(a)" "x${1}y" "banana" }}"#,
            "bxaynxaynxay",
        ),
        (
            "{{ if gt $value 1000.0 }}big{{ else }}small{{ end }}",
            "big",
        ),
        (
            "{{ if lt $value 1.0 }}a{{ else if gt $value 2.0 }}b{{ else }}c{{ end }}",
            "b",
        ),
        ("{{ if eq $labels.job \"node\" }}yes{{ end }}", "yes"),
        (
            "{{ if and $labels.job (not $labels.nope) }}ok{{ end }}",
            "ok",
        ),
        (
            "{{ with query \"up\" }}{{ . | first | value }}{{ end }}",
            "1",
        ),
        (
            "{{ with query \"none\" }}x{{ else }}empty{{ end }}",
            "empty",
        ),
        (
            "{{ range query \"up\" }}{{ .Labels.instance }}={{ .Value }};{{ end }}",
            "a=1;b=0;",
        ),
        (
            "{{ range $i, $s := query \"up\" }}{{ $i }}:{{ label \"instance\" $s }} {{ end }}",
            "0:a 1:b ",
        ),
        (
            "{{ range $k, $v := $labels }}{{ $k }}={{ $v }},{{ end }}",
            "instance=host-1:9100,job=node,",
        ),
        ("{{ query \"up\" | first | label \"instance\" }}", "a"),
        ("{{ $x := 5 }}{{ $x }}{{ $x = 6 }}{{ $x }}", "56"),
        ("a  {{- \" b \" -}}  c", "a b c"),
        ("{{/* note */}}x", "x"),
        ("{{ len $labels }}", "2"),
        ("{{ index $labels \"job\" }}", "node"),
        ("{{ stripPort $labels.instance }}", "host-1"),
        ("{{ humanize \"1024\" }}", "1.024k"),
        ("{{ `raw` }}", "raw"),
        ("{{ now }}", "1000"),
        ("{{ slice \"abcdef\" 1 3 }}", "bc"),
        (
            "{{ toTime 1435065584.128 }}",
            "2015-06-23 13:19:44.128 +0000 UTC",
        ),
        ("{{ match \"^ho\" $labels.instance }}", "true"),
    ];
    for (text, want) in cases {
        assert_eq!(run(text), want, "{text}");
    }
}

#[test]
fn execution_errors_are_reported_inline() {
    let got = run("{{ query \"none\" | first | value }}");
    assert!(got.starts_with("<error expanding template: error executing template __alert_Test: template: __alert_Test:1:"), "{got}");
    assert!(
        got.contains("first() called on vector with no elements"),
        "{got}"
    );
    let got = run("{{ gt $value 10 }}");
    assert!(got.contains("incompatible types for comparison"), "{got}");
    let got = run("{{ humanize \"abc\" }}");
    assert!(
        got.contains("error calling humanize: strconv.ParseFloat: parsing \"abc\": invalid syntax"),
        "{got}"
    );
}

#[test]
fn parse_errors() {
    for (text, want) in [
        ("{{ .x", "template: t:1: unclosed action"),
        ("{{ if 1 }}", "template: t:1: unexpected EOF"),
        ("{{ end }}", "template: t:1: unexpected {{end}}"),
        (
            "{{ nope 1 }}",
            "template: t:1: function \"nope\" not defined",
        ),
        ("a\n{{ $x }}", "template: t:2: undefined variable \"$x\""),
    ] {
        assert_eq!(
            Template::parse("t", text).unwrap_err().to_string(),
            want,
            "{text}"
        );
    }
}
