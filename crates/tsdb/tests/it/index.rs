//! The block index file against Prometheus: reading the format v1 fixture written by
//! Prometheus 2.0, and reading (then rewriting byte for byte) an index that Debian's
//! `promtool tsdb create-blocks-from openmetrics` wrote.

use std::path::{Path, PathBuf};
use std::process::Command;

use narthex_model::{Labels, MatchOp, Matcher};
use narthex_tsdb::block::ChunkMeta;
use narthex_tsdb::index::{IndexReader, IndexWriter, PostingsSource, postings_for_matchers};

use crate::common::{binary, corpus};

fn series_of(ix: &IndexReader, refs: &[u64]) -> Vec<Labels> {
    let mut chunks = Vec::new();
    refs.iter()
        .map(|&r| ix.series(r, &mut chunks).expect("series"))
        .collect()
}

#[test]
fn reads_index_format_v1_fixture() {
    let Some(dir) = corpus() else { return };
    let path = dir.join("tsdb/blocks/index_format_v1/index");
    let ix = IndexReader::open(&path).expect("open v1 index");
    assert_eq!(ix.version(), 1);

    let all = ix.all_postings().unwrap();
    assert_eq!(all.len(), 102, "meta.json says 102 series");

    let foo_bar = ix.postings_of("foo", "bar").unwrap();
    assert_eq!(
        series_of(&ix, &foo_bar),
        vec![Labels::from_pairs([("foo", "bar")])]
    );

    let m = Matcher::new(MatchOp::RegexNoMatch, "foo", "^.?$").unwrap();
    let refs = postings_for_matchers(&ix, &[m]).unwrap();
    assert_eq!(
        series_of(&ix, &refs),
        vec![
            Labels::from_pairs([("foo", "bar")]),
            Labels::from_pairs([("foo", "baz")])
        ]
    );

    let mut want: Vec<String> = (0..100).map(|i| i.to_string()).collect();
    want.sort();
    assert_eq!(ix.label_values_of("bar").unwrap(), want);
    let m = Matcher::new(MatchOp::RegexMatch, "bar", ".+").unwrap();
    let refs = postings_for_matchers(&ix, &[m]).unwrap();
    let got = series_of(&ix, &refs);
    assert_eq!(got.len(), 100);
    for i in 0..100 {
        let l = Labels::from_pairs([("bar", i.to_string())]);
        assert!(got.contains(&l), "missing {l}");
    }
    assert_eq!(ix.label_names().unwrap(), vec!["bar", "foo"]);

    // Every series has one chunk inside the block's range, and reading all of them works.
    let mut chunks = Vec::new();
    for &r in &all {
        ix.series(r, &mut chunks).unwrap();
        assert_eq!(chunks.len(), 1);
        assert!(
            chunks[0].mint >= 0 && chunks[0].maxt <= 7_200_000,
            "{chunks:?}"
        );
    }
}

/// Writes an OpenMetrics file and lets promtool turn it into blocks; returns the block dir.
fn promtool_block(promtool: &str, tmp: &Path) -> PathBuf {
    let mut om = String::new();
    om.push_str("# HELP node_temp A gauge.\n# TYPE node_temp gauge\n");
    let base = 1_700_000_000i64;
    for t in 0..3 {
        for i in 0..40 {
            let job = if i % 3 == 0 { "api" } else { "web" };
            let zone = ["a", "b", "c", "d"][i % 4];
            om.push_str(&format!(
                "node_temp{{instance=\"host-{i:02}\",job=\"{job}\",zone=\"{zone}\"}} {} {}\n",
                i * 10 + t,
                base + 15 * t as i64
            ));
        }
    }
    om.push_str("# HELP up Whether up.\n# TYPE up gauge\n");
    for t in 0..3 {
        om.push_str(&format!("up{{job=\"api\"}} 1 {}\n", base + 15 * t));
        om.push_str(&format!(
            "up{{job=\"web\",le=\"\\\"quoted\\\" ü\"}} 0 {}\n",
            base + 15 * t
        ));
    }
    om.push_str("# EOF\n");
    let input = tmp.join("input.om");
    std::fs::write(&input, om).unwrap();
    let out = tmp.join("blocks");
    let o = Command::new(promtool)
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&input)
        .arg(&out)
        .output()
        .expect("run promtool");
    assert!(
        o.status.success(),
        "promtool failed: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let blocks: Vec<PathBuf> = std::fs::read_dir(&out)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("index").is_file())
        .collect();
    assert_eq!(blocks.len(), 1, "{blocks:?}");
    blocks.into_iter().next().unwrap()
}

#[test]
fn reads_and_rewrites_promtool_index_byte_for_byte() {
    let Some(promtool) = binary("promtool") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let block = promtool_block(&promtool, tmp.path());
    let ix = IndexReader::open(&block.join("index")).expect("open promtool index");
    assert_eq!(ix.version(), 2);

    // Labels and postings.
    assert_eq!(
        ix.label_names().unwrap(),
        vec!["__name__", "instance", "job", "le", "zone"]
    );
    assert_eq!(ix.label_values_of("job").unwrap(), vec!["api", "web"]);
    assert_eq!(
        ix.label_values_of("__name__").unwrap(),
        vec!["node_temp", "up"]
    );
    let all = ix.all_postings().unwrap();
    assert_eq!(all.len(), 42);
    let api = ix.postings_of("job", "api").unwrap();
    assert_eq!(api.len(), 14 + 1);
    let m = [
        Matcher::new(MatchOp::Equal, "__name__", "up").unwrap(),
        Matcher::new(MatchOp::NotEqual, "le", "").unwrap(),
    ];
    let refs = postings_for_matchers(&ix, &m).unwrap();
    assert_eq!(
        series_of(&ix, &refs),
        vec![Labels::from_pairs([
            ("__name__", "up"),
            ("job", "web"),
            ("le", "\"quoted\" ü")
        ])]
    );
    let host7 = ix.postings_of("instance", "host-07").unwrap();
    assert_eq!(host7.len(), 1);
    let mut chunks = Vec::new();
    let l = ix.series(host7[0], &mut chunks).unwrap();
    assert_eq!(
        l,
        Labels::from_pairs([
            ("__name__", "node_temp"),
            ("instance", "host-07"),
            ("job", "web"),
            ("zone", "d")
        ])
    );
    assert_eq!(chunks.len(), 1);
    assert_eq!(chunks[0].mint, 1_700_000_000_000);
    assert_eq!(chunks[0].maxt, 1_700_000_030_000);
    assert!(ix.postings_of("job", "nope").unwrap().is_empty());
    assert!(ix.postings_of("nope", "x").unwrap().is_empty());

    // Rewrite with our writer: the same bytes.
    let ours = tmp.path().join("index.ours");
    let mut w = IndexWriter::create(&ours).unwrap();
    let symbols = ix.symbols().unwrap();
    w.add_symbols(symbols.iter().map(String::as_str)).unwrap();
    let mut metas: Vec<ChunkMeta> = Vec::new();
    for &r in &all {
        let l = ix.series(r, &mut metas).unwrap();
        assert_eq!(w.add_series(&l, &metas).unwrap(), r, "series reference");
    }
    let size = w.finish().unwrap();
    let theirs_bytes = std::fs::read(block.join("index")).unwrap();
    let ours_bytes = std::fs::read(&ours).unwrap();
    assert_eq!(size, ours_bytes.len() as u64);
    if let Some(i) =
        (0..theirs_bytes.len().min(ours_bytes.len())).find(|&i| theirs_bytes[i] != ours_bytes[i])
    {
        panic!(
            "first difference at byte {i} (ours {} bytes, Prometheus {} bytes)",
            ours_bytes.len(),
            theirs_bytes.len()
        );
    }
    assert_eq!(ours_bytes.len(), theirs_bytes.len());

    // And promtool reads a block whose index we wrote the same way as its own.
    // The read-only DB promtool opens wants a (here empty) WAL directory.
    std::fs::create_dir_all(block.parent().unwrap().join("wal")).unwrap();
    let dump = |dir: &Path| {
        let o = Command::new(&promtool)
            .args(["tsdb", "dump"])
            .arg(dir)
            .output()
            .expect("promtool dump");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        o.stdout
    };
    let want = dump(block.parent().unwrap());
    assert_eq!(
        String::from_utf8_lossy(&want).lines().count(),
        40 * 3 + 2 * 3,
        "one dump line per sample"
    );
    std::fs::copy(&ours, block.join("index")).unwrap();
    assert_eq!(dump(block.parent().unwrap()), want);
}
