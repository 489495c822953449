//! Series lookup by labels: sorted postings lists and the matcher logic that combines them.

mod postings;

pub use postings::{MemPostings, PostingsSource, intersect, postings_for_matchers, union, without};
