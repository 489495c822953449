//! Parser settings: Prometheus's PromQL feature flags and the function table.

use std::sync::Arc;

use crate::functions::FunctionTable;

/// What the parser accepts. The default is Prometheus 3.x without feature flags
/// (the `@` modifier and negative offsets are always on, as in 3.x).
#[derive(Clone, Debug)]
pub struct ParserOptions {
    /// The functions calls may name. Defaults to [`FunctionTable::shared_prometheus`].
    pub functions: Arc<FunctionTable>,
    /// Experimental functions and the `limitk`/`limit_ratio` aggregations
    /// (`--enable-feature=promql-experimental-functions`).
    pub experimental_functions: bool,
    /// Duration expressions: arithmetic, `step()`, `range()`, `min_of`, `max_of` in
    /// ranges, subquery steps and offsets; durations used as numbers (`time() - 1h`);
    /// `start()`, `end()`, `step()`, `range()` as scalars
    /// (`--enable-feature=promql-duration-expr`).
    pub duration_expressions: bool,
    /// The `anchored` and `smoothed` modifiers
    /// (`--enable-feature=promql-extended-range-selectors`).
    pub extended_range_selectors: bool,
    /// `fill(v)`, `fill_left(v)`, `fill_right(v)` on binary operators
    /// (`--enable-feature=promql-binop-fill-modifiers`).
    pub binop_fill_modifiers: bool,
    /// The deepest nesting accepted (parentheses, calls, operands of operator chains,
    /// subqueries). Deeper input is rejected with [`ErrorKind::TooDeep`] instead of
    /// exhausting the stack of the recursive parser, checker and printer. The default,
    /// 256, fits a 2 MiB thread stack in an unoptimised build.
    ///
    /// [`ErrorKind::TooDeep`]: crate::ErrorKind::TooDeep
    pub max_nesting: usize,
}

impl Default for ParserOptions {
    fn default() -> Self {
        ParserOptions {
            functions: FunctionTable::shared_prometheus(),
            experimental_functions: false,
            duration_expressions: false,
            extended_range_selectors: false,
            binop_fill_modifiers: false,
            max_nesting: 256,
        }
    }
}

impl ParserOptions {
    /// Every experimental feature enabled, as Prometheus's test scripts run.
    pub fn all_experimental() -> Self {
        ParserOptions {
            experimental_functions: true,
            duration_expressions: true,
            extended_range_selectors: true,
            binop_fill_modifiers: true,
            ..ParserOptions::default()
        }
    }
}
