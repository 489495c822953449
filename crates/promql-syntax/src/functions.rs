//! The function table: every PromQL function's signature, as data.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use crate::ast::ValueType;

/// A function's signature.
///
/// ```
/// use narthex_promql_syntax::{Function, FunctionTable, ParserOptions, ValueType};
/// use std::sync::Arc;
///
/// let mut table = FunctionTable::prometheus();
/// table.insert(Function::new("double", &[ValueType::Vector], ValueType::Vector));
/// let opts = ParserOptions { functions: Arc::new(table), ..ParserOptions::default() };
/// assert!(narthex_promql_syntax::parse_with("double(up)", &opts).is_ok());
/// assert!(narthex_promql_syntax::parse("double(up)").is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Function {
    /// The name, case-sensitive.
    pub name: Cow<'static, str>,
    /// The type of each argument. With `variadic != 0` the last one is optional and is
    /// the type of every extra argument.
    pub arg_types: Cow<'static, [ValueType]>,
    /// 0: exactly `arg_types.len()` arguments; `n > 0`: up to `n` more than
    /// `arg_types.len() - 1`; `-1`: any number more.
    pub variadic: i32,
    /// The type of the result.
    pub return_type: ValueType,
    /// Only accepted with [`ParserOptions::experimental_functions`](crate::ParserOptions).
    pub experimental: bool,
}

impl Function {
    /// A non-variadic, non-experimental function.
    pub fn new(
        name: impl Into<Cow<'static, str>>,
        arg_types: &[ValueType],
        return_type: ValueType,
    ) -> Self {
        Function {
            name: name.into(),
            arg_types: Cow::Owned(arg_types.to_vec()),
            variadic: 0,
            return_type,
            experimental: false,
        }
    }

    /// The same function with a variadic count.
    pub fn with_variadic(mut self, variadic: i32) -> Self {
        self.variadic = variadic;
        self
    }

    /// The same function marked experimental.
    pub fn experimental(mut self) -> Self {
        self.experimental = true;
        self
    }
}

use ValueType::{Matrix as M, Scalar as S, String as Str, Vector as V};

/// (name, argument types, variadic, return type, experimental)
type Row = (&'static str, &'static [ValueType], i32, ValueType, bool);

/// Prometheus 3.x's functions.
const PROMETHEUS_FUNCTIONS: &[Row] = &[
    ("abs", &[V], 0, V, false),
    ("absent", &[V], 0, V, false),
    ("absent_over_time", &[M], 0, V, false),
    ("acos", &[V], 0, V, false),
    ("acosh", &[V], 0, V, false),
    ("asin", &[V], 0, V, false),
    ("asinh", &[V], 0, V, false),
    ("atan", &[V], 0, V, false),
    ("atanh", &[V], 0, V, false),
    ("avg_over_time", &[M], 0, V, false),
    ("ceil", &[V], 0, V, false),
    ("changes", &[M], 0, V, false),
    ("clamp", &[V, S, S], 0, V, false),
    ("clamp_max", &[V, S], 0, V, false),
    ("clamp_min", &[V, S], 0, V, false),
    ("cos", &[V], 0, V, false),
    ("cosh", &[V], 0, V, false),
    ("count_over_time", &[M], 0, V, false),
    ("day_of_month", &[V], 1, V, false),
    ("day_of_week", &[V], 1, V, false),
    ("day_of_year", &[V], 1, V, false),
    ("days_in_month", &[V], 1, V, false),
    ("deg", &[V], 0, V, false),
    ("delta", &[M], 0, V, false),
    ("deriv", &[M], 0, V, false),
    ("double_exponential_smoothing", &[M, S, S], 0, V, true),
    ("exp", &[V], 0, V, false),
    ("first_over_time", &[M], 0, V, true),
    ("floor", &[V], 0, V, false),
    ("histogram_avg", &[V], 0, V, false),
    ("histogram_count", &[V], 0, V, false),
    ("histogram_fraction", &[S, S, V], 0, V, false),
    ("histogram_quantile", &[S, V], 0, V, false),
    ("histogram_quantiles", &[V, Str, S], -1, V, true),
    ("histogram_stddev", &[V], 0, V, false),
    ("histogram_stdvar", &[V], 0, V, false),
    ("histogram_sum", &[V], 0, V, false),
    ("hour", &[V], 1, V, false),
    ("idelta", &[M], 0, V, false),
    ("increase", &[M], 0, V, false),
    ("info", &[V, V], 1, V, true),
    ("irate", &[M], 0, V, false),
    ("label_join", &[V, Str, Str, Str], -1, V, false),
    ("label_replace", &[V, Str, Str, Str, Str], 0, V, false),
    ("last_over_time", &[M], 0, V, false),
    ("ln", &[V], 0, V, false),
    ("log10", &[V], 0, V, false),
    ("log2", &[V], 0, V, false),
    ("mad_over_time", &[M], 0, V, true),
    ("max_of", &[S, S], 0, S, true),
    ("max_over_time", &[M], 0, V, false),
    ("min_of", &[S, S], 0, S, true),
    ("min_over_time", &[M], 0, V, false),
    ("minute", &[V], 1, V, false),
    ("month", &[V], 1, V, false),
    ("pi", &[], 0, S, false),
    ("predict_linear", &[M, S], 0, V, false),
    ("present_over_time", &[M], 0, V, false),
    ("quantile_over_time", &[S, M], 0, V, false),
    ("rad", &[V], 0, V, false),
    ("rate", &[M], 0, V, false),
    ("resets", &[M], 0, V, false),
    ("round", &[V, S], 1, V, false),
    ("scalar", &[V], 0, S, false),
    ("sgn", &[V], 0, V, false),
    ("sin", &[V], 0, V, false),
    ("sinh", &[V], 0, V, false),
    ("sort", &[V], 0, V, false),
    ("sort_by_label", &[V, Str], -1, V, true),
    ("sort_by_label_desc", &[V, Str], -1, V, true),
    ("sort_desc", &[V], 0, V, false),
    ("sqrt", &[V], 0, V, false),
    ("start_timestamp", &[V], 0, V, true),
    ("stddev_over_time", &[M], 0, V, false),
    ("stdvar_over_time", &[M], 0, V, false),
    ("sum_over_time", &[M], 0, V, false),
    ("tan", &[V], 0, V, false),
    ("tanh", &[V], 0, V, false),
    ("time", &[], 0, S, false),
    ("timestamp", &[V], 0, V, false),
    ("ts_of_first_over_time", &[M], 0, V, true),
    ("ts_of_last_over_time", &[M], 0, V, true),
    ("ts_of_max_over_time", &[M], 0, V, true),
    ("ts_of_min_over_time", &[M], 0, V, true),
    ("vector", &[S], 0, V, false),
    ("year", &[V], 1, V, false),
];

/// Functions that accept a range selector with the `anchored` modifier, sorted.
pub const ANCHORED_FUNCTIONS: &[&str] = &["changes", "delta", "increase", "rate", "resets"];

/// Functions that accept a range selector with the `smoothed` modifier, sorted.
pub const SMOOTHED_FUNCTIONS: &[&str] = &["delta", "increase", "rate"];

/// A set of functions the parser knows, by name.
///
/// Each parser gets its table through [`ParserOptions`](crate::ParserOptions); there is
/// no global registry. Start from [`FunctionTable::prometheus`] and
/// [`insert`](FunctionTable::insert) your own.
#[derive(Clone, Debug, Default)]
pub struct FunctionTable {
    map: HashMap<Box<str>, Arc<Function>>,
}

impl FunctionTable {
    /// A table without functions.
    pub fn empty() -> Self {
        FunctionTable::default()
    }

    /// Every function of Prometheus 3.x.
    pub fn prometheus() -> Self {
        let mut t = FunctionTable::empty();
        for &(name, args, variadic, ret, experimental) in PROMETHEUS_FUNCTIONS {
            t.insert(Function {
                name: Cow::Borrowed(name),
                arg_types: Cow::Borrowed(args),
                variadic,
                return_type: ret,
                experimental,
            });
        }
        t
    }

    /// A shared copy of [`FunctionTable::prometheus`], built once.
    pub fn shared_prometheus() -> Arc<FunctionTable> {
        static TABLE: OnceLock<Arc<FunctionTable>> = OnceLock::new();
        TABLE
            .get_or_init(|| Arc::new(FunctionTable::prometheus()))
            .clone()
    }

    /// Adds or replaces a function; returns the one it replaced.
    pub fn insert(&mut self, f: Function) -> Option<Arc<Function>> {
        self.map.insert(f.name.as_ref().into(), Arc::new(f))
    }

    /// Removes a function.
    pub fn remove(&mut self, name: &str) -> Option<Arc<Function>> {
        self.map.remove(name)
    }

    /// Looks a function up by its exact name.
    pub fn get(&self, name: &str) -> Option<&Arc<Function>> {
        self.map.get(name)
    }

    /// The number of functions.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The functions, sorted by name.
    pub fn functions(&self) -> Vec<&Arc<Function>> {
        let mut v: Vec<_> = self.map.values().collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }
}
