// The command line of the A/B tools (bench/tools/ab.ts, ab-start.ts, cold-ab.ts): `--name value`
// flags with defaults, and `--a` / `--b` environments written as K=V,K2=V2.

/** The value after `--name`, or `def`. */
export function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? def) : def;
}

/** "K=V,K2=V2" -> { K: "V", K2: "V2" } (a value may hold "="). */
export function envSpec(spec: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const kv of spec.split(',').filter(Boolean)) {
    const [k, ...v] = kv.split('=');
    env[k!] = v.join('=');
  }
  return env;
}
