//! `--enable-feature`: Prometheus's feature flags. The PromQL ones switch on what the
//! engine implements; other names Prometheus knows are accepted and logged (most have no
//! effect here); unknown names get Prometheus's warning and are otherwise ignored, as in
//! Prometheus.

/// What `--enable-feature` turned on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Features {
    pub(crate) experimental_functions: bool,
    pub(crate) duration_expressions: bool,
    pub(crate) extended_range_selectors: bool,
    pub(crate) binop_fill_modifiers: bool,
    pub(crate) delayed_name_removal: bool,
    /// `auto-reload-config`: reload when the configuration file changes, checked every
    /// `--config.auto-reload-interval`.
    pub(crate) auto_reload_config: bool,
    /// What to log, in order: `(level is warn, message, feature)`.
    pub(crate) notes: Vec<(bool, &'static str, String)>,
}

/// Feature names of Prometheus that change nothing here, with what Narthex does instead.
const ACCEPTED: &[(&str, &str)] = &[
    (
        "exemplar-storage",
        "Exemplars are not stored; the feature has no effect",
    ),
    (
        "memory-snapshot-on-shutdown",
        "No memory snapshot is written; the head is rebuilt from its chunk files and the WAL",
    ),
    (
        "extra-scrape-metrics",
        "Accepted; the extra scrape metrics are not produced",
    ),
    (
        "native-histograms",
        "This option for --enable-feature is a no-op. To scrape native histograms, set the scrape_native_histograms scrape config setting to true",
    ),
    (
        "ooo-native-histograms",
        "This option for --enable-feature is a no-op: out-of-order native histograms follow the out-of-order time window",
    ),
    (
        "created-timestamp-zero-ingestion",
        "Accepted; created timestamps are not ingested as zero samples",
    ),
    (
        "concurrent-rule-eval",
        "Accepted; rule groups are evaluated sequentially",
    ),
    (
        "otlp-deltatocumulative",
        "Accepted; there is no OTLP receiver, the feature has no effect",
    ),
    (
        "otlp-write-receiver",
        "Accepted; there is no OTLP receiver, the feature has no effect",
    ),
    (
        "auto-gomemlimit",
        "No Go runtime here: the feature has no effect",
    ),
    (
        "auto-gomaxprocs",
        "No Go runtime here: the feature has no effect",
    ),
    (
        "metadata-wal-records",
        "Accepted; metadata is not written to the WAL",
    ),
    (
        "promql-per-step-stats",
        "Accepted; per-step statistics are not reported",
    ),
    (
        "no-default-scrape-port",
        "Accepted; the feature has no effect",
    ),
    ("old-ui", "Accepted; the one web UI is served"),
    (
        "type-and-unit-labels",
        "Accepted; the feature has no effect",
    ),
    ("use-uncached-io", "Accepted; the feature has no effect"),
    (
        "utf8-names",
        "This option for --enable-feature is a no-op: UTF-8 names are always allowed",
    ),
    (
        "expand-external-labels",
        "This option for --enable-feature is a no-op: external labels are always expanded",
    ),
    (
        "promql-at-modifier",
        "This option for --enable-feature is a no-op: the @ modifier is always enabled",
    ),
    (
        "promql-negative-offset",
        "This option for --enable-feature is a no-op: negative offsets are always enabled",
    ),
];

/// Parses the values of `--enable-feature` (each may list several, comma-separated).
pub(crate) fn parse(values: &[String]) -> Features {
    let mut f = Features::default();
    for name in values
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        let flag = match name {
            "promql-experimental-functions" => Some(&mut f.experimental_functions),
            "promql-duration-expr" => Some(&mut f.duration_expressions),
            "promql-extended-range-selectors" => Some(&mut f.extended_range_selectors),
            "promql-binop-fill-modifiers" => Some(&mut f.binop_fill_modifiers),
            "promql-delayed-name-removal" | "delayed-name-removal" => {
                Some(&mut f.delayed_name_removal)
            }
            "auto-reload-config" => Some(&mut f.auto_reload_config),
            _ => None,
        };
        let note = match (flag, ACCEPTED.iter().find(|(n, _)| *n == name)) {
            (Some(on), _) => {
                *on = true;
                (false, "Experimental feature enabled")
            }
            (None, Some((_, what))) => (false, *what),
            (None, None) => (true, "Unknown option for --enable-feature"),
        };
        f.notes.push((note.0, note.1, name.to_string()));
    }
    f
}

impl Features {
    /// Logs what each feature name did.
    pub(crate) fn log(&self) {
        for (warn, msg, name) in &self.notes {
            if *warn {
                tracing::warn!(option = %name, "{msg}");
            } else {
                tracing::info!(feature = %name, "{msg}");
            }
        }
    }

    /// The PromQL parser settings these features ask for.
    pub(crate) fn parser(&self) -> narthex_promql_syntax::ParserOptions {
        narthex_promql_syntax::ParserOptions {
            experimental_functions: self.experimental_functions,
            duration_expressions: self.duration_expressions,
            extended_range_selectors: self.extended_range_selectors,
            binop_fill_modifiers: self.binop_fill_modifiers,
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn promql_features_switch_the_parser_and_unknown_ones_warn() {
        let f = parse(&[
            "promql-experimental-functions,exemplar-storage".into(),
            "promql-duration-expr".into(),
            "bogus".into(),
            "promql-delayed-name-removal".into(),
        ]);
        let p = f.parser();
        assert!(p.experimental_functions && p.duration_expressions);
        assert!(!p.extended_range_selectors && !p.binop_fill_modifiers);
        assert!(f.delayed_name_removal);
        assert!(!f.auto_reload_config);
        let warned: Vec<&str> = f
            .notes
            .iter()
            .filter(|n| n.0)
            .map(|n| n.2.as_str())
            .collect();
        assert_eq!(warned, ["bogus"]);
        assert_eq!(f.notes.len(), 5);
        assert!(!parse(&[]).parser().experimental_functions);
    }
}
