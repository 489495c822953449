//! Postings: for every label name and value, the sorted list of series references that
//! carry it, plus the set operations and the matcher rules Prometheus resolves queries
//! with.

use std::collections::HashMap;

use narthex_model::{Labels, MatchOp, Matcher};
use narthex_storage::StorageError;

/// Where postings come from: the head's [`MemPostings`] or a block's index. Reading a
/// block's index can find corruption, so every lookup is fallible.
pub trait PostingsSource {
    /// The sorted series references carrying `name="value"`.
    fn postings(&self, name: &str, value: &str) -> Result<Vec<u64>, StorageError>;
    /// Every series reference, sorted.
    fn all_postings(&self) -> Result<Vec<u64>, StorageError>;
    /// The values label `name` takes, sorted.
    fn label_values(&self, name: &str) -> Result<Vec<String>, StorageError>;
}

/// Postings held in memory: label name -> value -> sorted references.
#[derive(Debug, Default)]
pub struct MemPostings {
    m: HashMap<String, HashMap<String, Vec<u64>>>,
    all: Vec<u64>,
}

fn insert_sorted(v: &mut Vec<u64>, r: u64) {
    // References are handed out in increasing order, so this is almost always a push.
    match v.last() {
        Some(last) if *last >= r => {
            if let Err(i) = v.binary_search(&r) {
                v.insert(i, r);
            }
        }
        _ => v.push(r),
    }
}

impl MemPostings {
    /// Empty postings.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds series `r` with `labels`.
    pub fn add(&mut self, r: u64, labels: &Labels) {
        for l in labels {
            let values = match self.m.get_mut(&*l.name) {
                Some(v) => v,
                None => self.m.entry(l.name.to_string()).or_default(),
            };
            let list = match values.get_mut(&*l.value) {
                Some(list) => list,
                None => values.entry(l.value.to_string()).or_default(),
            };
            insert_sorted(list, r);
        }
        insert_sorted(&mut self.all, r);
    }

    /// Removes the given series (sorted references) everywhere.
    pub fn delete(&mut self, refs: &[u64]) {
        if refs.is_empty() {
            return;
        }
        let gone = |r: &u64| refs.binary_search(r).is_ok();
        for values in self.m.values_mut() {
            for list in values.values_mut() {
                list.retain(|r| !gone(r));
            }
            values.retain(|_, l| !l.is_empty());
        }
        self.m.retain(|_, v| !v.is_empty());
        self.all.retain(|r| !gone(r));
    }

    /// Every label name with each of its values and how many series carry the pair.
    pub fn cardinalities(
        &self,
    ) -> impl Iterator<Item = (&str, impl Iterator<Item = (&str, usize)>)> {
        self.m.iter().map(|(name, values)| {
            (
                name.as_str(),
                values.iter().map(|(v, refs)| (v.as_str(), refs.len())),
            )
        })
    }

    /// Label names, sorted.
    pub fn label_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.m.keys().cloned().collect();
        v.sort_unstable();
        v
    }

    /// Number of series.
    pub fn len(&self) -> usize {
        self.all.len()
    }

    /// Whether there are no series.
    pub fn is_empty(&self) -> bool {
        self.all.is_empty()
    }
}

impl PostingsSource for MemPostings {
    fn postings(&self, name: &str, value: &str) -> Result<Vec<u64>, StorageError> {
        Ok(self
            .m
            .get(name)
            .and_then(|v| v.get(value))
            .cloned()
            .unwrap_or_default())
    }

    fn all_postings(&self) -> Result<Vec<u64>, StorageError> {
        Ok(self.all.clone())
    }

    fn label_values(&self, name: &str) -> Result<Vec<String>, StorageError> {
        let mut v: Vec<String> = self
            .m
            .get(name)
            .map(|v| v.keys().cloned().collect())
            .unwrap_or_default();
        v.sort_unstable();
        Ok(v)
    }
}

/// The references in every list.
pub fn intersect(mut lists: Vec<Vec<u64>>) -> Vec<u64> {
    if lists.is_empty() {
        return Vec::new();
    }
    lists.sort_by_key(Vec::len);
    let mut acc = lists.swap_remove(0);
    for l in &lists {
        if acc.is_empty() {
            break;
        }
        let mut j = 0;
        acc.retain(|r| {
            // Galloping would help for very skewed sizes; a linear merge is enough here.
            while j < l.len() && l[j] < *r {
                j += 1;
            }
            j < l.len() && l[j] == *r
        });
    }
    acc
}

/// The references in any list, sorted and unique.
pub fn union(lists: Vec<Vec<u64>>) -> Vec<u64> {
    let mut all: Vec<u64> = lists.into_iter().flatten().collect();
    all.sort_unstable();
    all.dedup();
    all
}

/// The references of `a` that are not in `b` (both sorted).
pub fn without(a: Vec<u64>, b: &[u64]) -> Vec<u64> {
    let mut j = 0;
    a.into_iter()
        .filter(|r| {
            while j < b.len() && b[j] < *r {
                j += 1;
            }
            !(j < b.len() && b[j] == *r)
        })
        .collect()
}

/// Postings of series whose label satisfies `m` (series without the label excluded).
fn postings_for_matcher(ix: &dyn PostingsSource, m: &Matcher) -> Result<Vec<u64>, StorageError> {
    if m.op() == MatchOp::Equal {
        return ix.postings(m.name(), m.value());
    }
    if let Some(set) = m.set_matches() {
        let lists = set
            .into_iter()
            .map(|v| ix.postings(m.name(), v))
            .collect::<Result<_, _>>()?;
        return Ok(union(lists));
    }
    let prefix = m.regex().and_then(|r| r.literal_prefix());
    let lists = ix
        .label_values(m.name())?
        .iter()
        .filter(|v| prefix.is_none_or(|p| v.starts_with(p)) && m.matches(v))
        .map(|v| ix.postings(m.name(), v))
        .collect::<Result<_, _>>()?;
    Ok(union(lists))
}

/// Postings of series whose label is set and does not satisfy `m`.
fn inverse_postings_for_matcher(
    ix: &dyn PostingsSource,
    m: &Matcher,
) -> Result<Vec<u64>, StorageError> {
    let lists = ix
        .label_values(m.name())?
        .iter()
        .filter(|v| !m.matches(v))
        .map(|v| ix.postings(m.name(), v))
        .collect::<Result<_, _>>()?;
    Ok(union(lists))
}

fn inverse(m: &Matcher) -> Matcher {
    let op = match m.op() {
        MatchOp::Equal => MatchOp::NotEqual,
        MatchOp::NotEqual => MatchOp::Equal,
        MatchOp::RegexMatch => MatchOp::RegexNoMatch,
        MatchOp::RegexNoMatch => MatchOp::RegexMatch,
    };
    // The pattern already compiled once, so compiling it again cannot fail.
    Matcher::new(op, m.name(), m.value()).unwrap_or_else(|_| m.clone())
}

/// The series matching every matcher, with Prometheus's rules for matchers that accept the
/// empty string: such a matcher also selects series that lack the label, and a query made
/// only of them starts from all series.
pub fn postings_for_matchers(
    ix: &dyn PostingsSource,
    matchers: &[Matcher],
) -> Result<Vec<u64>, StorageError> {
    let mut its: Vec<Vec<u64>> = Vec::new();
    let mut not_its: Vec<Vec<u64>> = Vec::new();
    let must_be_set: Vec<&str> = matchers
        .iter()
        .filter(|m| !m.matches(""))
        .map(|m| m.name())
        .collect();
    for m in matchers {
        let negated = matches!(m.op(), MatchOp::NotEqual | MatchOp::RegexNoMatch);
        if must_be_set.contains(&m.name()) {
            let matches_empty = m.matches("");
            if negated && matches_empty {
                // l!="foo" on a label that must be set: subtract l="foo" at the end.
                not_its.push(postings_for_matcher(ix, &inverse(m))?);
            } else if negated {
                // l!="" and friends: series where the label is set to something the
                // inverse matcher rejects.
                its.push(inverse_postings_for_matcher(ix, &inverse(m))?);
            } else {
                its.push(postings_for_matcher(ix, m)?);
            }
        } else {
            // A matcher that accepts "" also selects series without the label: remove
            // the series whose value it rejects.
            not_its.push(inverse_postings_for_matcher(ix, m)?);
        }
    }
    if its.is_empty() {
        its.push(ix.all_postings()?);
    }
    let mut result = intersect(its);
    for n in not_its {
        result = without(result, &n);
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use narthex_model::labels;

    use super::*;

    fn ix() -> MemPostings {
        let mut p = MemPostings::new();
        p.add(
            1,
            &labels! { "__name__" => "up", "job" => "api", "zone" => "a" },
        );
        p.add(2, &labels! { "__name__" => "up", "job" => "db" });
        p.add(
            3,
            &labels! { "__name__" => "up", "job" => "api", "zone" => "b" },
        );
        p.add(4, &labels! { "__name__" => "down" });
        p
    }

    fn q(ms: &[(MatchOp, &str, &str)]) -> Vec<u64> {
        let ms: Vec<Matcher> = ms
            .iter()
            .map(|(o, n, v)| Matcher::new(*o, *n, *v).unwrap())
            .collect();
        postings_for_matchers(&ix(), &ms).unwrap()
    }

    #[test]
    fn matchers_follow_prometheus_rules() {
        use MatchOp::*;
        assert_eq!(q(&[(Equal, "__name__", "up")]), vec![1, 2, 3]);
        assert_eq!(
            q(&[(Equal, "__name__", "up"), (Equal, "job", "api")]),
            vec![1, 3]
        );
        assert_eq!(
            q(&[(Equal, "__name__", "up"), (NotEqual, "job", "api")]),
            vec![2]
        );
        assert_eq!(
            q(&[(Equal, "zone", "")]),
            vec![2, 4],
            "missing label matches the empty string"
        );
        assert_eq!(q(&[(NotEqual, "zone", "")]), vec![1, 3]);
        assert_eq!(q(&[(RegexMatch, "zone", "a|")]), vec![1, 2, 4]);
        assert_eq!(q(&[(RegexMatch, "job", "a.*")]), vec![1, 3]);
        assert_eq!(q(&[(RegexNoMatch, "job", "a.*")]), vec![2, 4]);
        assert_eq!(q(&[(RegexMatch, "job", ".+")]), vec![1, 2, 3]);
        assert_eq!(q(&[(NotEqual, "job", "x")]), vec![1, 2, 3, 4]);
        assert_eq!(q(&[(Equal, "job", "nope")]), Vec::<u64>::new());
    }

    #[test]
    fn set_operations() {
        assert_eq!(
            intersect(vec![vec![1, 2, 3, 5], vec![2, 5, 9], vec![0, 2, 5]]),
            vec![2, 5]
        );
        assert_eq!(union(vec![vec![3, 1], vec![2, 3]]), vec![1, 2, 3]);
        assert_eq!(without(vec![1, 2, 3, 4], &[2, 4, 6]), vec![1, 3]);
        let mut p = ix();
        p.delete(&[1, 3]);
        assert_eq!(p.postings("job", "api").unwrap(), Vec::<u64>::new());
        assert_eq!(p.label_values("zone").unwrap(), Vec::<String>::new());
        assert_eq!(p.all_postings().unwrap(), vec![2, 4]);
    }

    proptest::proptest! {
        #[test]
        fn agrees_with_brute_force(
            series in proptest::collection::vec(proptest::collection::vec((0..3usize, 0..3usize), 0..4), 1..20),
            matchers in proptest::collection::vec((0..4usize, 0..3usize, 0..5usize), 1..4),
        ) {
            let names = ["a", "b", "c"];
            let values = ["x", "y", ""];
            let patterns = ["x", "", "x|y", ".*", ".+"];
            let mut p = MemPostings::new();
            let mut all = Vec::new();
            for (i, s) in series.iter().enumerate() {
                let l = Labels::from_pairs(s.iter().map(|(n, v)| (names[*n], values[*v])));
                p.add(i as u64 + 1, &l);
                all.push(l);
            }
            let ops = [MatchOp::Equal, MatchOp::NotEqual, MatchOp::RegexMatch, MatchOp::RegexNoMatch];
            let ms: Vec<Matcher> = matchers
                .iter()
                .map(|(o, n, v)| Matcher::new(ops[*o], names[*n], patterns[*v]).unwrap())
                .collect();
            let want: Vec<u64> = all
                .iter()
                .enumerate()
                .filter(|(_, l)| ms.iter().all(|m| m.matches(l.get(m.name()).unwrap_or(""))))
                .map(|(i, _)| i as u64 + 1)
                .collect();
            proptest::prop_assert_eq!(postings_for_matchers(&p, &ms).unwrap(), want);
        }
    }
}
