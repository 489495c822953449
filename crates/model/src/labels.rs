//! Label sets: sorted, immutable, cheap to clone, hashed like Prometheus.

use std::borrow::Borrow;
use std::fmt;
use std::sync::Arc;

use xxhash_rust::xxh64::Xxh64;

use crate::names::write_label_name;
use crate::quote::write_go_quoted;

/// The label that carries the metric name.
pub const METRIC_NAME: &str = "__name__";

/// Byte that separates names and values when Prometheus hashes a label set.
const HASH_SEPARATOR: u8 = 0xff;

/// One name/value pair of a label set.
///
/// Names and values are reference-counted strings so that a storage engine can intern them
/// and share one allocation among every series that carries the same text.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Label {
    /// The label name, for example `job` or `__name__`.
    pub name: Arc<str>,
    /// The label value. An empty value means "label absent" in Prometheus's model, so label
    /// sets built with [`LabelsBuilder`] never contain one.
    pub value: Arc<str>,
}

impl Label {
    /// A label from a name and a value.
    pub fn new(name: impl Into<Arc<str>>, value: impl Into<Arc<str>>) -> Self {
        Label {
            name: name.into(),
            value: value.into(),
        }
    }
}

impl fmt::Debug for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={:?}", self.name, self.value)
    }
}

/// A set of labels, sorted by name with unique names, immutable and cheap to clone.
///
/// Cloning copies one pointer. Ordering compares names, then values, pair by pair, as
/// Prometheus's `labels.Compare` does, so sorted series come out in Prometheus's order.
///
/// ```
/// use narthex_model::Labels;
/// let l = Labels::from_pairs([("job", "node"), ("__name__", "up")]);
/// assert_eq!(l.metric_name(), Some("up"));
/// assert_eq!(l.to_string(), r#"{__name__="up", job="node"}"#);
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Labels(Arc<[Label]>);

impl Labels {
    /// The empty label set.
    pub fn empty() -> Self {
        Labels::default()
    }

    /// A label set from pairs in any order. When a name repeats, the last value wins.
    /// Pairs with an empty value are dropped, as Prometheus treats them as absent.
    pub fn from_pairs<N, V>(pairs: impl IntoIterator<Item = (N, V)>) -> Self
    where
        N: Into<Arc<str>>,
        V: Into<Arc<str>>,
    {
        let mut v: Vec<Label> = pairs.into_iter().map(|(n, v)| Label::new(n, v)).collect();
        Self::normalize(&mut v);
        Labels(v.into())
    }

    /// A label set from labels in any order; the same rules as [`Labels::from_pairs`].
    pub fn from_labels(mut labels: Vec<Label>) -> Self {
        Self::normalize(&mut labels);
        Labels(labels.into())
    }

    fn normalize(v: &mut Vec<Label>) {
        // Stable sort keeps insertion order among equal names, so "last wins" below holds.
        if !v.is_sorted_by(|a, b| a.name < b.name) {
            v.sort_by(|a, b| a.name.cmp(&b.name));
            let mut i = 0;
            while i + 1 < v.len() {
                if v[i].name == v[i + 1].name {
                    v.remove(i);
                } else {
                    i += 1;
                }
            }
        }
        v.retain(|l| !l.value.is_empty());
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the set has no labels.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The labels in name order.
    pub fn iter(&self) -> std::slice::Iter<'_, Label> {
        self.0.iter()
    }

    /// The labels as a slice, in name order.
    pub fn as_slice(&self) -> &[Label] {
        &self.0
    }

    /// The value of label `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        // Label sets are short; a linear scan beats binary search below ~16 entries.
        if self.0.len() <= 16 {
            self.0.iter().find(|l| &*l.name == name).map(|l| &*l.value)
        } else {
            self.0
                .binary_search_by(|l| (*l.name).cmp(name))
                .ok()
                .map(|i| &*self.0[i].value)
        }
    }

    /// Whether label `name` is present.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// The metric name (the value of `__name__`), if present.
    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }

    /// The same set without `__name__`.
    pub fn without_metric_name(&self) -> Labels {
        if !self.contains(METRIC_NAME) {
            return self.clone();
        }
        Labels(
            self.0
                .iter()
                .filter(|l| &*l.name != METRIC_NAME)
                .cloned()
                .collect(),
        )
    }

    /// Prometheus's label-set hash: xxHash64 (seed 0) over every name and value, each
    /// followed by the byte `0xff`. Equal to `labels.Labels.Hash()` in Prometheus.
    pub fn hash64(&self) -> u64 {
        let mut h = Xxh64::new(0);
        for l in self.0.iter() {
            h.update(l.name.as_bytes());
            h.update(&[HASH_SEPARATOR]);
            h.update(l.value.as_bytes());
            h.update(&[HASH_SEPARATOR]);
        }
        h.digest()
    }

    /// The hash of only the named labels (`on(...)`) or of all but them (`ignoring(...)`,
    /// which also ignores `__name__`), as PromQL's vector matching needs.
    pub fn hash_for(&self, names: &[&str], on: bool) -> u64 {
        let mut h = Xxh64::new(0);
        for l in self.0.iter() {
            let listed = names.contains(&&*l.name);
            let keep = if on {
                listed
            } else {
                !listed && &*l.name != METRIC_NAME
            };
            if keep {
                h.update(l.name.as_bytes());
                h.update(&[HASH_SEPARATOR]);
                h.update(l.value.as_bytes());
                h.update(&[HASH_SEPARATOR]);
            }
        }
        h.digest()
    }

    /// A builder that starts from this set.
    pub fn builder(&self) -> LabelsBuilder {
        LabelsBuilder::from(self.clone())
    }

    /// Whether every name is valid under `validation`.
    pub fn has_valid_names(&self, validation: crate::NameValidation) -> bool {
        self.0.iter().all(|l| {
            if &*l.name == METRIC_NAME {
                validation.is_valid_metric_name(&l.value)
            } else {
                validation.is_valid_label_name(&l.name)
            }
        })
    }
}

impl<'a> IntoIterator for &'a Labels {
    type Item = &'a Label;
    type IntoIter = std::slice::Iter<'a, Label>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl Borrow<[Label]> for Labels {
    fn borrow(&self) -> &[Label] {
        &self.0
    }
}

impl fmt::Display for Labels {
    /// Prometheus's `labels.Labels.String()`: `{a="1", b="2"}` with Go-quoted values and
    /// quoted names where a name is not a legacy identifier.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::with_capacity(2 + self.0.len() * 16);
        s.push('{');
        for (i, l) in self.0.iter().enumerate() {
            if i > 0 {
                s.push_str(", ");
            }
            write_label_name(&mut s, &l.name);
            s.push('=');
            write_go_quoted(&mut s, &l.value);
        }
        s.push('}');
        f.write_str(&s)
    }
}

impl fmt::Debug for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Builds a [`Labels`] by setting and deleting labels on top of a base set.
///
/// Setting a label to the empty string deletes it, as in Prometheus.
#[derive(Clone, Debug, Default)]
pub struct LabelsBuilder {
    labels: Vec<Label>,
}

impl From<Labels> for LabelsBuilder {
    fn from(base: Labels) -> Self {
        LabelsBuilder {
            labels: base.0.to_vec(),
        }
    }
}

impl LabelsBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `name` to `value`; an empty value deletes the label.
    pub fn set(&mut self, name: impl AsRef<str>, value: impl AsRef<str>) -> &mut Self {
        let (name, value) = (name.as_ref(), value.as_ref());
        match self.labels.binary_search_by(|l| (*l.name).cmp(name)) {
            Ok(i) if value.is_empty() => {
                self.labels.remove(i);
            }
            Ok(i) => {
                if &*self.labels[i].value != value {
                    self.labels[i].value = value.into();
                }
            }
            Err(_) if value.is_empty() => {}
            Err(i) => self.labels.insert(i, Label::new(name, value)),
        }
        self
    }

    /// Deletes `name` if present.
    pub fn del(&mut self, name: &str) -> &mut Self {
        if let Ok(i) = self.labels.binary_search_by(|l| (*l.name).cmp(name)) {
            self.labels.remove(i);
        }
        self
    }

    /// Keeps only the labels whose names satisfy `keep`.
    pub fn retain(&mut self, mut keep: impl FnMut(&str) -> bool) -> &mut Self {
        self.labels.retain(|l| keep(&l.name));
        self
    }

    /// The current value of `name`, if set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.labels
            .binary_search_by(|l| (*l.name).cmp(name))
            .ok()
            .map(|i| &*self.labels[i].value)
    }

    /// Removes every label.
    pub fn clear(&mut self) -> &mut Self {
        self.labels.clear();
        self
    }

    /// The label set built so far. The builder stays usable.
    pub fn build(&self) -> Labels {
        Labels(self.labels.as_slice().into())
    }
}

/// Builds a [`Labels`] from `name => value` pairs.
///
/// ```
/// let l = narthex_model::labels! { "__name__" => "up", "job" => "api" };
/// assert_eq!(l.get("job"), Some("api"));
/// ```
#[macro_export]
macro_rules! labels {
    ($($name:expr => $value:expr),* $(,)?) => {
        $crate::Labels::from_labels(vec![$($crate::Label::new($name, $value)),*])
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_dedups_and_drops_empty_values() {
        let l = Labels::from_pairs([("b", "2"), ("a", "1"), ("b", "3"), ("c", "")]);
        assert_eq!(l.to_string(), r#"{a="1", b="3"}"#);
        assert_eq!(l.len(), 2);
    }

    #[test]
    fn builder_sets_and_deletes() {
        let base = labels! { "a" => "1", "b" => "2" };
        let mut b = base.builder();
        b.set("c", "3").set("a", "").del("b").set("d", "x");
        assert_eq!(b.build(), labels! { "c" => "3", "d" => "x" });
        assert_eq!(base.len(), 2, "the base is untouched");
    }

    #[test]
    fn hash_matches_prometheus() {
        // xxhash64 of "a\xff1\xff"; equal to what Prometheus's labels.FromStrings("a","1").Hash() returns.
        let l = labels! { "a" => "1" };
        assert_eq!(l.hash64(), xxhash_rust::xxh64::xxh64(b"a\xff1\xff", 0));
        assert_ne!(l.hash64(), labels! { "a" => "2" }.hash64());
        assert_eq!(Labels::empty().hash64(), xxhash_rust::xxh64::xxh64(b"", 0));
    }

    #[test]
    fn ordering_is_pairwise() {
        let a = labels! { "a" => "1" };
        let ab = labels! { "a" => "1", "b" => "1" };
        let b = labels! { "b" => "0" };
        assert!(a < ab && ab < b);
    }

    #[test]
    fn display_quotes_utf8_names() {
        let l = labels! { "__name__" => "my.metric", "a.b" => "c\"d" };
        assert_eq!(l.to_string(), r#"{__name__="my.metric", "a.b"="c\"d"}"#);
    }

    #[test]
    fn get_uses_binary_search_on_large_sets() {
        let pairs: Vec<(String, String)> = (0..40)
            .map(|i| (format!("l{i:02}"), format!("v{i}")))
            .collect();
        let l = Labels::from_pairs(pairs);
        assert_eq!(l.get("l33"), Some("v33"));
        assert_eq!(l.get("zz"), None);
    }
}
