//! Untrusted configuration text never panics or hangs: every corpus file, cut short at
//! each line, with each line dropped, and with each value replaced by odd YAML, either
//! loads or returns an error.

use std::sync::mpsc;
use std::time::Duration;

use narthex_config::Config;

use crate::data_dir;

fn variants(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for i in 0..=lines.len() {
        out.push(lines[..i].join("\n"));
        let mut dropped = lines.clone();
        if i < lines.len() {
            dropped.remove(i);
            out.push(dropped.join("\n"));
        }
    }
    for (i, line) in lines.iter().enumerate() {
        let Some((key, value)) = line.split_once(": ") else {
            continue;
        };
        let indent = &key[..key.len() - key.trim_start().len()];
        let mut l = lines.clone();
        let empty_key = format!("{indent}\"\": {value}");
        l[i] = &empty_key;
        out.push(l.join("\n"));
        for odd in [
            "",
            "[]",
            "{}",
            "-1",
            "''",
            "\"\"",
            "~",
            "[[]]",
            "*x",
            "!!binary x",
            "\"\\u0000\"",
            "é:",
        ] {
            let mut l = lines.clone();
            let replaced = format!("{key}: {odd}");
            l[i] = &replaced;
            out.push(l.join("\n"));
        }
    }
    out
}

#[test]
fn mutated_corpus_never_panics_or_hangs() {
    let mut texts = Vec::new();
    for dir in ["valid", "invalid", "v3"] {
        for e in std::fs::read_dir(data_dir().join(dir)).unwrap() {
            texts.push(std::fs::read_to_string(e.unwrap().path()).unwrap());
        }
    }
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut n = 0;
        for t in &texts {
            for v in variants(t) {
                let _ = Config::from_str(&v, "/nonexistent-base");
                n += 1;
            }
        }
        tx.send(n).unwrap();
    });
    let n = rx
        .recv_timeout(Duration::from_secs(120))
        .expect("a mutated config panicked or took over two minutes");
    assert!(n > 1000, "{n}");
}
