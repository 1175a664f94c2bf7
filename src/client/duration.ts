// Durations on the command line: "30s", "10m", "2h", "500ms", "7d", or a number of seconds.
// The same forms as the config's durations (model/function-schema.ts parseDuration), read here
// without loading the config schema, which costs a tenth of a second at every start.
const DURATION_RE = /^([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|h|d)?$/;
const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Milliseconds, or null when `value` is not a duration. */
export function durationMs(value: string): number | null {
  const m = DURATION_RE.exec(value.trim());
  return m ? Math.round(Number(m[1]) * UNITS[m[2] ?? 's']!) : null;
}
