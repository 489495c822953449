//! Writers for the Prometheus text format and OpenMetrics text.

use narthex_model::float::{
    format_openmetrics_float, parse_go_float, push_exposition_value, push_openmetrics_float,
};
use narthex_model::{Exemplar, MetricType, is_legacy_label_name, is_legacy_metric_name};

use crate::family::MetricFamily;

/// Which text format a [`Writer`] produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextFormat {
    /// Prometheus text format 0.0.4.
    Prometheus,
    /// OpenMetrics 1.0 text.
    OpenMetrics,
}

/// Writes exposition lines into a byte buffer, escaping and formatting numbers exactly as
/// Prometheus's Go libraries do.
///
/// ```
/// use narthex_exposition::{TextFormat, Writer};
/// use narthex_model::MetricType;
///
/// let mut out = Vec::new();
/// let mut w = Writer::new(&mut out, TextFormat::OpenMetrics);
/// w.help("rpc", "Remote calls.");
/// w.metric_type("rpc", MetricType::Counter);
/// w.sample("rpc_total", [("code", "200")], 1234567.0, Some(1_500), None);
/// w.eof();
/// assert_eq!(
///     String::from_utf8(out).unwrap(),
///     "# HELP rpc Remote calls.\n# TYPE rpc counter\nrpc_total{code=\"200\"} 1.234567e+06 1.5\n# EOF\n"
/// );
/// ```
pub struct Writer<'o> {
    out: &'o mut Vec<u8>,
    format: TextFormat,
}

impl<'o> Writer<'o> {
    /// A writer appending to `out`.
    pub fn new(out: &'o mut Vec<u8>, format: TextFormat) -> Self {
        Writer { out, format }
    }

    fn name(&mut self, name: &str) {
        if is_legacy_metric_name(name) {
            self.out.extend_from_slice(name.as_bytes());
        } else {
            self.quoted(name);
        }
    }

    fn quoted(&mut self, s: &str) {
        self.out.push(b'"');
        escape_into(self.out, s, true);
        self.out.push(b'"');
    }

    /// `# HELP name text`.
    pub fn help(&mut self, name: &str, help: &str) {
        self.out.extend_from_slice(b"# HELP ");
        self.name(name);
        // In the text format an empty help is written without the blank (`# HELP name`):
        // the client-side checks, like Go's parser, do not count such a line, so two
        // families read from `# HELP name` lines are written as text that parses again.
        if help.is_empty() && self.format == TextFormat::Prometheus {
            self.out.push(b'\n');
            return;
        }
        self.out.push(b' ');
        escape_into(self.out, help, self.format == TextFormat::OpenMetrics);
        self.out.push(b'\n');
    }

    /// `# TYPE name type`. In the Prometheus text format, types it lacks (gauge
    /// histogram, info, stateset) are written as `untyped`.
    pub fn metric_type(&mut self, name: &str, t: MetricType) {
        self.out.extend_from_slice(b"# TYPE ");
        self.name(name);
        self.out.push(b' ');
        let text = match (self.format, t) {
            (
                TextFormat::Prometheus,
                MetricType::Unknown
                | MetricType::GaugeHistogram
                | MetricType::Info
                | MetricType::StateSet,
            ) => "untyped",
            _ => t.as_str(),
        };
        self.out.extend_from_slice(text.as_bytes());
        self.out.push(b'\n');
    }

    /// `# UNIT name unit` (OpenMetrics only; nothing is written in the text format).
    pub fn unit(&mut self, name: &str, unit: &str) {
        if self.format == TextFormat::OpenMetrics {
            self.out.extend_from_slice(b"# UNIT ");
            self.name(name);
            self.out.push(b' ');
            self.out.extend_from_slice(unit.as_bytes());
            self.out.push(b'\n');
        }
    }

    fn label_set<'l>(&mut self, name: &str, labels: impl IntoIterator<Item = (&'l str, &'l str)>) {
        let legacy_name = name.is_empty() || is_legacy_metric_name(name);
        let mut first = true;
        if !legacy_name {
            self.out.push(b'{');
            self.quoted(name);
            first = false;
        }
        for (n, v) in labels {
            self.out.push(if first { b'{' } else { b',' });
            first = false;
            if is_legacy_label_name(n) {
                self.out.extend_from_slice(n.as_bytes());
            } else {
                self.quoted(n);
            }
            self.out.extend_from_slice(b"=\"");
            escape_into(self.out, v, true);
            self.out.push(b'"');
        }
        if !first {
            self.out.push(b'}');
        }
    }

    fn value(&mut self, v: f64) {
        match self.format {
            TextFormat::Prometheus => push_exposition_value(self.out, v),
            TextFormat::OpenMetrics => push_openmetrics_float(self.out, v),
        }
    }

    fn timestamp(&mut self, ms: i64) {
        self.out.push(b' ');
        match self.format {
            TextFormat::Prometheus => self.out.extend_from_slice(ms.to_string().as_bytes()),
            TextFormat::OpenMetrics => push_seconds(self.out, ms),
        }
    }

    /// A sample line. Exemplars are written only in OpenMetrics.
    pub fn sample<'l>(
        &mut self,
        name: &str,
        labels: impl IntoIterator<Item = (&'l str, &'l str)>,
        value: f64,
        timestamp: Option<i64>,
        exemplar: Option<&Exemplar>,
    ) {
        if is_legacy_metric_name(name) {
            self.out.extend_from_slice(name.as_bytes());
        }
        self.label_set(name, labels);
        self.out.push(b' ');
        self.value(value);
        if let Some(ts) = timestamp {
            self.timestamp(ts);
        }
        if let (TextFormat::OpenMetrics, Some(e)) = (self.format, exemplar) {
            self.out.extend_from_slice(b" # ");
            let labels: Vec<(&str, &str)> =
                e.labels.iter().map(|l| (&*l.name, &*l.value)).collect();
            if labels.is_empty() {
                self.out.extend_from_slice(b"{}");
            } else {
                self.label_set("", labels);
            }
            self.out.push(b' ');
            self.value(e.value);
            if let Some(ts) = e.timestamp {
                self.timestamp(ts);
            }
        }
        self.out.push(b'\n');
    }

    /// `# EOF` (OpenMetrics only).
    pub fn eof(&mut self) {
        if self.format == TextFormat::OpenMetrics {
            self.out.extend_from_slice(b"# EOF\n");
        }
    }

    /// Writes whole families: metadata, then samples. Does not write `# EOF`.
    ///
    /// A family of unknown type gets a TYPE line (`untyped`, `unknown`) only when it would
    /// otherwise vanish, in OpenMetrics when it has help, and in the text format when a
    /// histogram or summary TYPE in force would make the parser rewrite its `le` or
    /// `quantile` values.
    pub fn families(&mut self, families: &[MetricFamily]) {
        // Text format: the type of the last TYPE line written. The text parser rewrites
        // `le` and `quantile` values while a histogram or summary TYPE is in force, as
        // Prometheus does, whichever family the sample belongs to.
        let mut in_force = MetricType::Unknown;
        // Untyped families given a TYPE line for that reason (rare: usually empty).
        let mut shielded: Vec<&str> = Vec::new();
        // Names already taken: a counter is not renamed onto another family's name.
        let taken: std::collections::HashSet<&str> =
            families.iter().map(|f| f.name.as_str()).collect();
        for (i, f) in families.iter().enumerate() {
            // A counter named as OpenMetrics names it (`x`, samples `x_total`) is written
            // in the text format under its samples' name, as Prometheus's clients write
            // it: there the TYPE line names the metric, `_total` included. (Unless another
            // family is called `x_total`: its TYPE line would then come twice.)
            let total;
            let name: &str = if self.format == TextFormat::Prometheus
                && f.metric_type == MetricType::Counter
                && !f.samples.is_empty()
                && f.samples
                    .iter()
                    .all(|s| s.name.strip_suffix("_total") == Some(f.name.as_str()))
                && !taken.contains(format!("{}_total", f.name).as_str())
            {
                total = format!("{}_total", f.name);
                &total
            } else {
                &f.name
            };
            if let Some(h) = &f.help {
                self.help(name, h);
            }
            // A family with nothing else to write (`# TYPE x untyped` alone) keeps its
            // TYPE line, or it would vanish.
            let bare = f.help.is_none()
                && f.samples.is_empty()
                && (f.unit.is_none() || self.format == TextFormat::Prometheus);
            // An untyped family whose `le`/`quantile` values would be rewritten on reading
            // gets back the `untyped` TYPE line it must have had.
            let shield = self.format == TextFormat::Prometheus
                && f.metric_type == MetricType::Unknown
                && needs_own_type(f, in_force)
                && !shielded.contains(&f.name.as_str())
                && may_add_type(families, i);
            if shield {
                shielded.push(&f.name);
            }
            if f.metric_type != MetricType::Unknown
                || self.format == TextFormat::OpenMetrics && f.help.is_some()
                || bare
                || shield
            {
                self.metric_type(name, f.metric_type);
                in_force = match f.metric_type {
                    t @ (MetricType::Counter
                    | MetricType::Gauge
                    | MetricType::Histogram
                    | MetricType::Summary) => t,
                    _ => MetricType::Unknown,
                };
            }
            if let Some(u) = &f.unit {
                self.unit(&f.name, u);
            }
            for s in &f.samples {
                self.sample(
                    &s.name,
                    s.labels.iter().map(|l| (&*l.name, &*l.value)),
                    s.value,
                    s.timestamp,
                    s.exemplar.as_ref(),
                );
            }
        }
    }
}

/// Text format: whether untyped family `families[i]` can be given a `# TYPE x untyped`
/// line that the original text may have had and the writer otherwise drops. The
/// client-side checks refuse a second TYPE line for a name, and one after samples of that
/// name: so no other family of that name may get a TYPE line (a typed one, or one with
/// nothing else to write), and no earlier sample may have that name.
fn may_add_type(families: &[MetricFamily], i: usize) -> bool {
    let name = families[i].name.as_str();
    let writes_type = |p: &MetricFamily| {
        p.metric_type != MetricType::Unknown || (p.help.is_none() && p.samples.is_empty())
    };
    let other_type = families
        .iter()
        .enumerate()
        .any(|(j, p)| j != i && p.name == name && writes_type(p));
    let earlier_sample = families[..i]
        .iter()
        .any(|p| p.samples.iter().any(|s| s.name == name));
    !other_type && !earlier_sample
}

/// Whether some sample of `f` has an `le` (`quantile`) value that the text parser would
/// rewrite while a histogram (summary) TYPE is in force: then it needs its own `untyped`
/// TYPE line, which the input had when it was read with those values.
fn needs_own_type(f: &MetricFamily, in_force: MetricType) -> bool {
    let key = match in_force {
        MetricType::Histogram => "le",
        MetricType::Summary => "quantile",
        _ => return false,
    };
    f.samples.iter().any(|s| {
        s.labels.iter().any(|l| {
            &*l.name == key
                && parse_go_float(&l.value).is_ok_and(|v| format_openmetrics_float(v) != *l.value)
        })
    })
}

/// Milliseconds as seconds with exactly the digits needed: `1500` is `1.5`, `1000` is `1`.
fn push_seconds(out: &mut Vec<u8>, ms: i64) {
    let neg = ms < 0;
    let abs = ms.unsigned_abs();
    if neg {
        out.push(b'-');
    }
    out.extend_from_slice((abs / 1000).to_string().as_bytes());
    let frac = abs % 1000;
    if frac != 0 {
        let digits = format!(".{frac:03}");
        out.extend_from_slice(digits.trim_end_matches('0').as_bytes());
    }
}

/// Escapes `\` and line breaks, and `"` when `quote` is set.
fn escape_into(out: &mut Vec<u8>, s: &str, quote: bool) {
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, b) in bytes.iter().enumerate() {
        let rep: &[u8] = match b {
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'"' if quote => b"\\\"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(rep);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// The families in the Prometheus text format.
pub fn write_text(families: &[MetricFamily]) -> Vec<u8> {
    let mut out = Vec::new();
    Writer::new(&mut out, TextFormat::Prometheus).families(families);
    out
}

/// The families in OpenMetrics text, ending with `# EOF`.
pub fn write_openmetrics(families: &[MetricFamily]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut w = Writer::new(&mut out, TextFormat::OpenMetrics);
    w.families(families);
    w.eof();
    out
}
