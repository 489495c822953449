// The graph's default resolution.

/** Prometheus's default step for a range: range/250 rounded down, at least one second (ms). */
export function defaultStep(rangeMs) {
  return Math.max(Math.floor(rangeMs / 250 / 1000), 1) * 1000;
}
