//! A storage-agnostic PromQL evaluator with Prometheus 3.x semantics.
//!
//! This crate **is** the query engine: it evaluates [`narthex_promql_syntax::Expr`] trees
//! over anything implementing [`narthex_storage::Queryable`] (the TSDB, the in-memory
//! storage, or your own) and returns [`Value`]s with Prometheus's annotations
//! (`PromQL warning: ... (1:1)`).
//!
//! It is **not** a parser (see `narthex-promql-syntax`), a storage, or an HTTP API, and it
//! does no I/O of its own and needs no async runtime.
//!
//! ```
//! use narthex_model::Labels;
//! use narthex_promql::{Engine, EngineOptions, Value};
//! use narthex_storage::{Appendable, MemStorage, SeriesRef};
//!
//! // A counter scraped every 15 seconds for 10 minutes, growing by 3 per scrape.
//! let storage = MemStorage::new();
//! let mut app = storage.appender();
//! let labels = Labels::from_pairs([("__name__", "http_requests_total"), ("job", "api")]);
//! for i in 0..=40 {
//!     app.append(SeriesRef::UNKNOWN, &labels, i * 15_000, (i * 3) as f64).unwrap();
//! }
//! app.commit().unwrap();
//!
//! let engine = Engine::new(EngineOptions::default());
//! let res = engine
//!     .instant_query(&storage, "rate(http_requests_total[5m])", 600_000)
//!     .unwrap();
//! let Value::Vector(v) = res.value else { panic!("a vector") };
//! assert_eq!(v.len(), 1);
//! assert_eq!(v[0].metric.to_string(), r#"{job="api"}"#);
//! assert!((v[0].f - 0.2).abs() < 1e-9);
//!
//! // Range queries evaluate every step and return a matrix sorted by labels.
//! let res = engine
//!     .range_query(&storage, "sum by (job) (http_requests_total)", 0, 600_000, 60_000)
//!     .unwrap();
//! let Value::Matrix(m) = res.value else { panic!("a matrix") };
//! assert_eq!(m[0].floats.len(), 11);
//! ```
//!
//! # Design
//! - Every node is evaluated **once for all steps** of its time range, as Prometheus's
//!   `rangeEval` does: an instant-vector value is a list of series, each with one point per
//!   step where it has a value. Binary operators and aggregations then work step by step
//!   on those points; functions over ranges slide a window over each series' sorted points.
//! - Each selector reads storage **once**, over the whole range the query needs
//!   (`[start - range - offset - lookback, end - offset]`, or the `@` time); steps are then
//!   evaluated from memory with binary searches. Output labels are computed once per series
//!   (per pair of matched series for binary operators), not once per step.
//! - Subqueries evaluate their inner expression once over their own aligned steps (multiples
//!   of the subquery step, as Prometheus aligns them) and are windowed like range selectors.
//! - `__name__` removal follows Prometheus: eager by default, or delayed until the result
//!   leaves the engine with [`EngineOptions::delayed_name_removal`] (series carry a flag).
//!   Dropping the name also drops `__type__` and `__unit__`.
//!
//! # Coverage and limits
//! Literals, selectors (lookback, staleness, `offset`, `@`, `anchored`, `smoothed`),
//! subqueries, all binary operators with vector matching and `fill` modifiers, all
//! aggregations, and Prometheus's functions (including `info`, `histogram_quantile(s)` and
//! `histogram_fraction` for classic and native histograms) are implemented, as is native
//! histogram arithmetic (`+ - * /`, the trim operators `</` `>/`, custom-bucket
//! reconciliation, aggregations, `rate` and friends, `*_over_time`). Per-sample start
//! timestamps, where the storage has them, mark counter resets for `rate`, `increase`,
//! `irate` and `resets` (a start timestamp inside the window stands for a zero sample
//! there), raise Prometheus's overlap warning, and are read by `start_timestamp()`;
//! subqueries drop them. See the crate README for the known deviations from Prometheus. Limits: [`EngineOptions::max_samples`] is checked against
//! the points each node materialises (an approximation of Prometheus's running count),
//! and [`EngineOptions::timeout`] between nodes.

mod agg;
mod eval;
mod fasthash;
mod functions;
mod hist;
mod info;
#[cfg(test)]
mod tests;
mod value;

use eval::DropName;

use std::time::Duration;

use narthex_promql_syntax::{ParseErrors, ParserOptions};
use narthex_storage::{Queryable, StorageError};

pub use value::{Annotations, FPoint, HPoint, QueryResult, QueryStats, Sample, Series, Value};

/// Why a query failed. `Display` gives Prometheus's message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// The query does not parse or type-check.
    #[error("{0}")]
    Parse(#[from] ParseErrors),
    /// The storage failed.
    #[error("{0}")]
    Storage(#[from] StorageError),
    /// More samples than [`EngineOptions::max_samples`] would be held at once.
    #[error("query processing would load too many samples into memory in query execution")]
    TooManySamples,
    /// The query ran longer than [`EngineOptions::timeout`].
    #[error("query timed out in query execution")]
    Timeout,
    /// The query was cancelled.
    #[error("query was canceled in query execution")]
    Canceled,
    /// An evaluation error, with Prometheus's text (for example
    /// `vector cannot contain metrics with the same labelset`).
    #[error("{0}")]
    Eval(String),
}

/// Cancels a running query from another thread: clone it, hand one clone to the query
/// ([`Engine::instant_query_with`], [`Engine::range_query_with`]) and call
/// [`CancelToken::cancel`] on the other. The query stops at its next check with
/// [`QueryError::Canceled`].
#[derive(Clone, Debug, Default)]
pub struct CancelToken(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl CancelToken {
    /// A token that is not cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Cancels every query holding a clone of this token.
    pub fn cancel(&self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether [`CancelToken::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Engine settings, with Prometheus's defaults.
#[derive(Clone, Debug)]
pub struct EngineOptions {
    /// How far back an instant selector looks for a sample (5 minutes).
    pub lookback_delta: i64,
    /// Most samples a query may hold in memory at once (50,000,000).
    pub max_samples: usize,
    /// Longest a query may run (2 minutes).
    pub timeout: Duration,
    /// Parser settings (experimental syntax, functions).
    pub parser: ParserOptions,
    /// Remove `__name__` only when a result leaves the engine (Prometheus's
    /// `promql-delayed-name-removal` feature).
    pub delayed_name_removal: bool,
    /// Step of subqueries written without one (`[5m:]`), in milliseconds (1 minute).
    pub default_subquery_step: i64,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            lookback_delta: 5 * 60 * 1000,
            max_samples: 50_000_000,
            timeout: Duration::from_secs(120),
            parser: ParserOptions::default(),
            delayed_name_removal: false,
            default_subquery_step: 60 * 1000,
        }
    }
}

/// Evaluates PromQL queries.
#[derive(Clone, Debug, Default)]
pub struct Engine {
    options: EngineOptions,
}

impl Engine {
    /// An engine with these options.
    pub fn new(options: EngineOptions) -> Self {
        Engine { options }
    }

    /// The options.
    pub fn options(&self) -> &EngineOptions {
        &self.options
    }

    /// Evaluates `query` at time `t` (milliseconds).
    pub fn instant_query(
        &self,
        storage: &dyn Queryable,
        query: &str,
        t: i64,
    ) -> Result<QueryResult, QueryError> {
        self.instant_query_with(storage, query, t, &CancelToken::new())
    }

    /// [`Engine::instant_query`] that stops with [`QueryError::Canceled`] when `cancel` is
    /// cancelled.
    pub fn instant_query_with(
        &self,
        storage: &dyn Queryable,
        query: &str,
        t: i64,
        cancel: &CancelToken,
    ) -> Result<QueryResult, QueryError> {
        let started = std::time::Instant::now();
        let expr = narthex_promql_syntax::parse_with(query, &self.options.parser)?;
        if t.unsigned_abs() > eval::TIME_LIMIT as u64 {
            return Err(QueryError::Eval("evaluation time out of range".into()));
        }
        let mut ev = self.evaluator(storage, query, t, t, 0, cancel);
        let s = eval::Steps {
            start: t,
            end: t,
            step: 1,
        };
        let v = ev.eval(&expr, s)?;
        let value = match v {
            eval::Val::Scalar(v) => Value::Scalar {
                t,
                v: v.first().copied().unwrap_or(f64::NAN),
            },
            eval::Val::Str(st) => Value::String { t, s: st },
            eval::Val::Vector(ss) => {
                let ss = self.finish_names(ss, false)?;
                let mut out = Vec::with_capacity(ss.len());
                for ser in ss {
                    if let Some(p) = ser.f.first() {
                        out.push(Sample {
                            metric: ser.labels,
                            t,
                            f: p.f,
                            h: None,
                        });
                    } else if let Some(p) = ser.h.into_iter().next() {
                        out.push(Sample {
                            metric: ser.labels,
                            t,
                            f: 0.0,
                            h: Some(p.h),
                        });
                    }
                }
                Value::Vector(out)
            }
            eval::Val::Matrix(m) => {
                let r = m.ref_time(t);
                let mut out = Vec::new();
                for ser in &m.series {
                    let (f, h) = eval::window(ser, r - m.range, r);
                    if f.is_empty() && h.is_empty() {
                        continue;
                    }
                    out.push(eval::Ser {
                        f: f.to_vec(),
                        h: h.to_vec(),
                        ..eval::Ser::new(ser.labels.clone(), ser.drop_name)
                    });
                }
                let out = self.finish_names(out, false)?;
                Value::Matrix(
                    out.into_iter()
                        .map(|s| Series {
                            metric: s.labels,
                            floats: s.f,
                            histograms: s.h,
                        })
                        .collect(),
                )
            }
        };
        Ok(QueryResult {
            value,
            annotations: ev.annos,
            stats: QueryStats {
                samples_touched: ev.samples_touched,
                peak_samples: ev.peak,
                elapsed: started.elapsed(),
            },
        })
    }

    /// Evaluates `query` at every `step` from `start` to `end` (milliseconds, inclusive).
    /// The result is a [`Value::Matrix`] (or an error).
    pub fn range_query(
        &self,
        storage: &dyn Queryable,
        query: &str,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<QueryResult, QueryError> {
        self.range_query_with(storage, query, start, end, step, &CancelToken::new())
    }

    /// [`Engine::range_query`] that stops with [`QueryError::Canceled`] when `cancel` is
    /// cancelled.
    pub fn range_query_with(
        &self,
        storage: &dyn Queryable,
        query: &str,
        start: i64,
        end: i64,
        step: i64,
        cancel: &CancelToken,
    ) -> Result<QueryResult, QueryError> {
        let started = std::time::Instant::now();
        if step <= 0 {
            return Err(QueryError::Eval(
                "zero or negative query resolution step widths are not accepted. Try a positive integer".into(),
            ));
        }
        if end < start {
            return Err(QueryError::Eval(
                "end timestamp must not be before start time".into(),
            ));
        }
        let expr = narthex_promql_syntax::parse_with(query, &self.options.parser)?;
        if start.unsigned_abs() > eval::TIME_LIMIT as u64
            || end.unsigned_abs() > eval::TIME_LIMIT as u64
            || step > eval::TIME_LIMIT
        {
            return Err(QueryError::Eval("query time range out of range".into()));
        }
        let mut ev = self.evaluator(storage, query, start, end, step, cancel);
        let s = eval::Steps { start, end, step };
        let v = ev.eval(&expr, s)?;
        let ss = match v {
            eval::Val::Scalar(v) => {
                let mut ser = eval::Ser::new(narthex_model::Labels::empty(), false);
                for (i, x) in v.into_iter().enumerate() {
                    ser.f.push(FPoint { t: s.ts(i), f: x });
                }
                vec![ser]
            }
            eval::Val::Vector(ss) => self.finish_names(ss, true)?,
            eval::Val::Str(_) => {
                return Err(QueryError::Eval(
                    "invalid expression type \"string\" for range query, must be Scalar or instant Vector".into(),
                ));
            }
            eval::Val::Matrix(_) => {
                return Err(QueryError::Eval(
                    "invalid expression type \"range vector\" for range query, must be Scalar or instant Vector".into(),
                ));
            }
        };
        let mut out: Vec<Series> = ss
            .into_iter()
            .filter(|s| !s.is_empty())
            .map(|s| Series {
                metric: s.labels,
                floats: s.f,
                histograms: s.h,
            })
            .collect();
        out.sort_by(|a, b| a.metric.cmp(&b.metric));
        Ok(QueryResult {
            value: Value::Matrix(out),
            annotations: ev.annos,
            stats: QueryStats {
                samples_touched: ev.samples_touched,
                peak_samples: ev.peak,
                elapsed: started.elapsed(),
            },
        })
    }

    fn evaluator<'a>(
        &'a self,
        storage: &'a dyn Queryable,
        query: &'a str,
        start: i64,
        end: i64,
        step: i64,
        cancel: &'a CancelToken,
    ) -> eval::Evaluator<'a> {
        eval::Evaluator {
            storage,
            opts: &self.options,
            query,
            qstart: start,
            qend: end,
            qstep: step,
            annos: Annotations::default(),
            deadline: std::time::Instant::now() + self.options.timeout,
            cancel,
            samples_touched: 0,
            peak: 0,
            stats_decoding: false,
        }
    }

    /// Removes `__name__` where it was dropped (delayed name removal) and checks that no
    /// two series share a label set.
    fn finish_names(&self, ss: Vec<eval::Ser>, range: bool) -> Result<Vec<eval::Ser>, QueryError> {
        if !self.options.delayed_name_removal {
            return Ok(ss);
        }
        let n = ss.len();
        let out = eval::merge_series(ss.into_iter().map(|mut s| {
            if s.drop_name {
                s.labels = s.labels.drop_name_labels();
                s.drop_name = false;
            }
            s
        }))?;
        if out.len() != n && !range {
            return Err(QueryError::Eval(eval::DUP_LABELSET.into()));
        }
        Ok(out)
    }
}
