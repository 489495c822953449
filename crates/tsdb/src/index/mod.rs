//! Series lookup by labels: sorted postings lists and the matcher logic that combines them,
//! and the block `index` file (Prometheus's index format v2, v1 read-only) that stores them.

mod postings;
mod reader;
mod writer;

pub use postings::{MemPostings, PostingsSource, intersect, postings_for_matchers, union, without};
pub use reader::IndexReader;
pub use writer::IndexWriter;
