//! Reading the head through the storage traits.

use std::sync::Arc;

use narthex_model::Matcher;
use narthex_storage::{LabelHints, Querier, SelectHints, Series, SeriesSet, StorageError};

use super::Head;
use super::series::{MemSeries, read_samples};
use crate::block::SampleStream;
use crate::index::{PostingsSource, postings_for_matchers};
use crate::querier::{MaterializedSeries, limited};

/// A querier over `[mint, maxt]` of the head.
pub(crate) struct HeadQuerier<'h> {
    pub(crate) head: &'h Head,
    pub(crate) mint: i64,
    pub(crate) maxt: i64,
}

impl HeadQuerier<'_> {
    fn matching(&self, matchers: &[Matcher]) -> Result<Vec<Arc<MemSeries>>, StorageError> {
        let refs = {
            let p = self.head.postings.read();
            postings_for_matchers(&*p, matchers)?
        };
        let mut out: Vec<Arc<MemSeries>> = refs
            .into_iter()
            .filter_map(|r| self.head.by_ref(r))
            .collect();
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(out)
    }

    /// Whether the series has any sample in range (label lookups only report those).
    fn has_data(&self, s: &MemSeries) -> bool {
        let st = s.state.lock();
        let in_range = |mint: i64, maxt: i64| maxt >= self.mint && mint <= self.maxt;
        st.mmapped.iter().any(|c| in_range(c.mint, c.maxt))
            || st.ooo().range(self.mint..=self.maxt).next().is_some()
            || st
                .head
                .as_ref()
                .is_some_and(|h| h.chunk.num_samples() > 0 && in_range(h.mint, h.maxt))
    }
}

impl<'h> HeadQuerier<'h> {
    /// The matching series with their samples in range, in label order, decoded one
    /// series at a time.
    pub(crate) fn select_samples(
        &self,
        matchers: &[Matcher],
    ) -> Result<SampleStream<'h>, StorageError> {
        let series = self.matching(matchers)?;
        let tombstones = self.head.tombstones.read().clone();
        let (head, mint, maxt) = (self.head, self.mint, self.maxt);
        Ok(Box::new(series.into_iter().filter_map(move |s| {
            let deleted = tombstones.get(&s.r).map(Vec::as_slice).unwrap_or(&[]);
            match read_samples(&s, mint, maxt, deleted, &head.disk) {
                Ok((samples, _)) if samples.is_empty() => None,
                Ok((samples, start_times)) => Some(Ok((s.labels.clone(), samples, start_times))),
                Err(e) => Some(Err(e)),
            }
        })))
    }

    /// Values of label `name` among matching series with data in range.
    pub(crate) fn values_of(
        &self,
        name: &str,
        matchers: &[Matcher],
    ) -> Result<Vec<String>, StorageError> {
        if matchers.is_empty()
            && self.mint <= self.head.min_time()
            && self.maxt >= self.head.max_time()
        {
            return self.head.postings.read().label_values(name);
        }
        let mut set: Vec<String> = self
            .matching(matchers)?
            .iter()
            .filter(|s| self.has_data(s))
            .filter_map(|s| s.labels.get(name).map(str::to_string))
            .collect();
        set.sort_unstable();
        set.dedup();
        Ok(set)
    }

    /// Label names among matching series with data in range.
    pub(crate) fn names_of(&self, matchers: &[Matcher]) -> Result<Vec<String>, StorageError> {
        if matchers.is_empty()
            && self.mint <= self.head.min_time()
            && self.maxt >= self.head.max_time()
        {
            return Ok(self.head.postings.read().label_names());
        }
        let mut set: Vec<String> = self
            .matching(matchers)?
            .iter()
            .filter(|s| self.has_data(s))
            .flat_map(|s| {
                s.labels
                    .iter()
                    .map(|l| l.name.to_string())
                    .collect::<Vec<_>>()
            })
            .collect();
        set.sort_unstable();
        set.dedup();
        Ok(set)
    }
}

impl Querier for HeadQuerier<'_> {
    fn select(
        &self,
        _sorted: bool,
        _hints: Option<&SelectHints>,
        matchers: &[Matcher],
    ) -> Result<SeriesSet<'_>, StorageError> {
        Ok(Box::new(self.select_samples(matchers)?.map(|r| {
            r.map(|(labels, samples, start_timestamps)| {
                Box::new(MaterializedSeries {
                    labels,
                    samples,
                    start_timestamps,
                }) as Box<dyn Series>
            })
        })))
    }

    fn label_values(
        &self,
        name: &str,
        hints: &LabelHints,
        matchers: &[Matcher],
    ) -> Result<Vec<String>, StorageError> {
        Ok(limited(self.values_of(name, matchers)?, hints.limit))
    }

    fn label_names(
        &self,
        hints: &LabelHints,
        matchers: &[Matcher],
    ) -> Result<Vec<String>, StorageError> {
        Ok(limited(self.names_of(matchers)?, hints.limit))
    }
}
