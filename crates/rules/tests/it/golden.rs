//! Templates against golden outputs of Go's `text/template` with Prometheus's functions
//! (`tests/data/go_template.jsonl`, written by `tools/gotemplate/main.go` in this crate).

use std::collections::BTreeMap;

use narthex_rules::template::{ALERT_DEFS, Template, TemplateData};

#[test]
fn go_template_golden_table() {
    let text = std::fs::read_to_string("tests/data/go_template.jsonl").unwrap();
    let (mut n, mut bad) = (0, Vec::new());
    for line in text.lines() {
        let row: serde_json::Value = serde_json::from_str(line).unwrap();
        let tmpl = row["template"].as_str().unwrap();
        let value = match row["value"].as_str().unwrap() {
            "" => 1234.5,
            v => narthex_model::float::parse_go_float(v).unwrap(),
        };
        let want = row["output"].as_str().unwrap();
        let data = TemplateData {
            labels: BTreeMap::from([
                ("instance".to_string(), "localhost:9090".to_string()),
                ("job".to_string(), "node".to_string()),
            ]),
            external_labels: BTreeMap::from([("cluster".to_string(), "eu1".to_string())]),
            external_url: "http://prom.example".into(),
            value,
            time: 0,
        };
        let got = Template::parse("t", &format!("{ALERT_DEFS}{tmpl}"))
            .and_then(|t| t.execute(&data, None));
        n += 1;
        let ok = match (&got, row["error"].as_bool().unwrap()) {
            (Ok(g), false) => g == want,
            (Err(e), true) => !row["parse"].as_bool().unwrap() || e.to_string() == want,
            _ => false,
        };
        if !ok {
            bad.push(format!("{tmpl} @ {value}: want {want:?}, got {got:?}"));
        }
    }
    println!(
        "templates vs Go text/template: {}/{n} identical",
        n - bad.len()
    );
    assert!(
        bad.is_empty(),
        "{} mismatches:\n{}",
        bad.len(),
        bad.join("\n")
    );
}
