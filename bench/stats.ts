/** Small statistics for timings: medians, percentiles, ratios. */

/** The value below which `p` (0–1) of the samples fall, by linear interpolation. NaN for no samples. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(Math.max(p, 0), 1) * (sorted.length - 1);
  const low = Math.floor(rank);
  const high = Math.ceil(rank);
  return sorted[low]! + (sorted[high]! - sorted[low]!) * (rank - low);
}

/** The middle value (the mean of the two middle ones for an even count). */
export function median(samples: readonly number[]): number {
  return percentile(samples, 0.5);
}

/** The total of `values`. */
export function sum(values: readonly number[]): number {
  return values.reduce((total, value) => total + value, 0);
}

/** Milliseconds since an arbitrary origin, with sub-microsecond resolution. */
export function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** `order` rotated by `round` places: interleaved runs then start with each contender in turn. */
export function rotate<T>(order: readonly T[], round: number): T[] {
  const shift = ((round % order.length) + order.length) % order.length;
  return [...order.slice(shift), ...order.slice(0, shift)];
}
