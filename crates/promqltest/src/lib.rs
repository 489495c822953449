//! A runner for Prometheus's PromQL `.test` scripts.
//!
//! This crate **is** the conformance harness of Narthex's PromQL engine: a parser for the
//! script format of upstream's `promql/promqltest/testdata/*.test` ([`Script`]), and a
//! runner ([`run_file`], [`run_script`]) that loads each script's data into a storage you
//! supply (anything implementing the `narthex-storage` traits: see [`TestStorage`]),
//! evaluates every `eval` through [`narthex_promql::Engine`], and compares the results
//! with upstream's rules. Each eval is identified as `<file>:<line>`; a failure comes with
//! a one-line reason.
//!
//! It is **not** a test framework of its own (it returns [`FileReport`]s for your test to
//! judge), a storage, or an evaluator.
//!
//! ```
//! use narthex_promqltest::{RunOptions, Script, TestStorage, run_script};
//! use narthex_storage::MemStorage;
//!
//! let script = Script::parse("inline.test", r#"
//! load 1m
//!     up{job="api"} 1 0 1x3
//!     latency {{schema:0 sum:5 count:4 buckets:[1 2 1]}}+{{count:1 buckets:[1]}}x2
//!
//! ## A comment ends a block, too.
//! eval instant at 2m up
//!     up{job="api"} 1
//!
//! eval range from 0 to 2m step 1m up == 1
//!     up{job="api"} 1 _ 1
//!
//! eval instant at 1m no_such_function(up)
//!     expect fail
//! "#)?;
//! assert_eq!(script.evals().count(), 3);
//!
//! let new_storage = || Box::new(MemStorage::new()) as Box<dyn TestStorage>;
//! let report = run_script(&script, &new_storage, &RunOptions::default());
//! assert_eq!(report.evals, 3);
//! assert_eq!(report.passed + report.failed.len(), 3);
//! for (id, reason) in &report.failed {
//!     println!("{id}: {reason}"); // e.g. "inline.test:6: error: ..."
//! }
//! # Ok::<(), narthex_promqltest::ScriptError>(())
//! ```
//!
//! # The format and the comparison rules
//! As upstream (and `shared/conformance/README.md`): blocks separated by blank lines (a
//! comment line counts as blank); `load <step>` / `load_with_nhcb <step>` with every value
//! token (`_`, `_xN`, `axN`, `a+bxN`, `a-bxN`, `stale`, `{{…}}` literals with every key,
//! `{{A}}+{{B}}xN`); start-timestamp lines (`metric{…}@st …`); `clear`;
//! `eval instant at …` / `eval range from … to … step …` and the legacy `eval_fail`,
//! `eval_warn`, `eval_info`, `eval_ordered`; every `expect …` body line, bare numbers and
//! series lines.
//!
//! Floats match with a relative tolerance of 1e-6 ([`EPSILON`]), NaN matches NaN, a stale
//! marker only a stale marker; histograms are compared after compacting both sides, the
//! counter-reset hint only when the expectation spells it; series are matched by label
//! set unless `expect ordered`; range results must be sorted by labels; annotations must
//! match the `expect warn` / `expect info` lines both ways (`msg:` exactly, `regex:`
//! anywhere in the text) and be absent under `expect no_warn` / `expect no_info`.
//!
//! # Limits
//! - Start timestamps ([`LoadSeries::start_timestamps`]) are appended with
//!   `Appender::append_with_st`; a storage that does not keep them (the trait's default)
//!   fails the evals of `start_timestamps.test` that depend on them.
//! - Upstream's two extra checks for `eval instant` are implemented but off by default:
//!   [`RunOptions::range_check`] (the query run as a range query around T must agree at T)
//!   and [`RunOptions::at_check`] (the query with `@ T` added must agree when evaluated at
//!   other times).
//! - A panic in the engine is caught and reported as that eval's failure.

mod hist;
mod run;
mod script;

pub use hist::HistogramValue;
pub use run::{
    EPSILON, FileReport, RunOptions, TestStorage, run_file, run_file_with, run_script,
    test_engine_options,
};
pub use script::{
    Command, EvalCmd, EvalTime, Expected, ExpectedSeries, LoadCmd, LoadSeries, MessageMatch,
    Script, ScriptError, SeqValue,
};
