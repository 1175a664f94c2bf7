// /metrics, /stats and logs reflect what really ran.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { DEMO, startTestDaemon } from './helpers/daemon.js';
import { deploy, invoke, isRoot } from './helpers/functions.js';

/** Prometheus text format -> [{name, labels, value}] (enough of the format for assertions). */
function parseProm(text: string): { name: string; labels: Record<string, string>; value: number }[] {
  const out: { name: string; labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (!m) throw new Error(`not Prometheus text: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

function sample(all: ReturnType<typeof parseProm>, name: string, labels: Record<string, string>): number | undefined {
  return all.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}

/** `# TYPE name type` lines -> name -> type. */
function typesOf(text: string): Map<string, string> {
  const types = new Map<string, string>();
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) types.set(m[1]!, m[2]!);
  return types;
}

/** promtool from Debian's prometheus package (or PROMTOOL=...), if this machine has it. */
function promtool(): string | null {
  const bin = process.env.PROMTOOL ?? 'promtool';
  return spawnSync(bin, ['--version']).status === 0 ? bin : null;
}

if (!isRoot) console.warn('observability suite skipped: it runs functions in strict sandboxes, which need root');

describe.skipIf(!isRoot)('observability', () => {
  it('/metrics is Prometheus text whose counters move with invocations, with OpenFaaS gateway names too', async () => {
    const d = await startTestDaemon();
    await deploy(d, 'counted', 'def handle(r):\n    if r.get_json().get("boom"):\n        raise RuntimeError("boom")\n    return 1');
    const before = parseProm((await d.app.inject({ method: 'GET', url: '/metrics' })).body);
    expect(sample(before, 'faasd_invocations_total', { function: 'counted' })).toBeUndefined();
    await invoke(d, 'counted', {});
    await invoke(d, 'counted', {});
    await invoke(d, 'counted', { boom: true });
    const res = await d.app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('text/plain');
    const m = parseProm(res.body);
    expect(sample(m, 'faasd_invocations_total', { function: 'counted', mode: 'process', code: '200' })).toBe(2);
    expect(sample(m, 'faasd_invocations_total', { function: 'counted', mode: 'process', code: '500' })).toBe(1);
    expect(sample(m, 'faasd_cold_starts_total', { function: 'counted', mode: 'process' })).toBe(1);
    expect(sample(m, 'faasd_invocation_duration_seconds_count', { function: 'counted', mode: 'process' })).toBe(3);
    expect(sample(m, 'faasd_instances', { function: 'counted', mode: 'process', state: 'idle' })).toBe(1);
    expect(sample(m, 'faasd_queue_depth', { function: 'counted' })).toBe(0);
    expect(sample(m, 'faasd_instance_memory_bytes', { function: 'counted' })).toBeGreaterThan(0);
    expect(sample(m, 'gateway_function_invocation_total', { function_name: 'counted', code: '200' })).toBe(2);
    expect(sample(m, 'gateway_functions_seconds_count', { function_name: 'counted', code: '500' })).toBe(1);
    expect(sample(m, 'gateway_service_count', { function_name: 'counted' })).toBe(1);
    expect(m.some((s) => s.name === 'faasd_process_resident_memory_bytes')).toBe(true);
  });

  it('/metrics names follow Prometheus conventions: counters end in _total, gauges do not, no label clashes with instance or job', async () => {
    const d = await startTestDaemon();
    await deploy(d, 'named', 'def handle(r):\n    return sum(range(100000))');
    await invoke(d, 'named', {});
    const text = (await d.app.inject({ method: 'GET', url: '/metrics' })).body;
    const types = typesOf(text);
    for (const [name, type] of types) {
      if (type === 'counter') expect(name, `counter ${name}`).toMatch(/_total$/);
      if (type === 'gauge') expect(name, `gauge ${name}`).not.toMatch(/_total$/);
    }
    const all = parseProm(text);
    for (const s of all) {
      expect(s.labels, `${s.name} carries a label Prometheus sets itself`).not.toHaveProperty('instance');
      expect(s.labels, `${s.name} carries a label Prometheus sets itself`).not.toHaveProperty('job');
    }
    // CPU time of an instance is cumulative: a counter, labelled instance_id, present on the first scrape.
    expect(types.get('faasd_instance_cpu_seconds_total')).toBe('counter');
    expect(types.has('faasd_instance_cpu_seconds')).toBe(false);
    const cpu = all.filter((s) => s.name === 'faasd_instance_cpu_seconds_total' && s.labels.function === 'named');
    expect(cpu).toHaveLength(1);
    expect(cpu[0]!.labels.instance_id).toMatch(/^named-/);
    expect(cpu[0]!.value).toBeGreaterThan(0);
    expect(sample(all, 'faasd_instance_memory_bytes', { function: 'named', instance_id: cpu[0]!.labels.instance_id! })).toBeGreaterThan(0);
    // prom-client's per-type active handle gauges stay; its misnamed *_total gauges are gone.
    expect(types.get('faasd_nodejs_active_handles')).toBe('gauge');
    expect(types.has('faasd_nodejs_active_handles_total')).toBe(false);
    // The OpenFaaS names are kept exactly as OpenFaaS spells them.
    expect(types.get('gateway_function_invocation_total')).toBe('counter');
    expect(types.get('gateway_functions_seconds')).toBe('histogram');
    expect(types.get('gateway_service_count')).toBe('gauge');

    const bin = promtool();
    if (!bin) {
      console.warn('promtool not found (apt-get install prometheus, or PROMTOOL=/path/to/promtool): skipping `promtool check metrics`');
      return;
    }
    const lint = spawnSync(bin, ['check', 'metrics'], { input: text, encoding: 'utf8' });
    const problems = `${lint.stdout}${lint.stderr}`.split('\n').filter((l) => l.trim() !== '');
    // The one expected complaint: OpenFaaS' own gateway_service_count is a gauge ending in _count.
    expect(problems.filter((l) => !l.startsWith('gateway_service_count '))).toEqual([]);
  });

  it('with metrics_auth, /metrics needs a key with the metrics scope, and a scrape-only key can do nothing else', async () => {
    const prom = { name: 'prometheus', key: 'prom-key-0123456789', scopes: ['metrics'] };
    const deployer = { name: 'deployer', key: 'deployer-key-0123456789', scopes: ['invoke', 'manage', 'admin'] };
    const d = await startTestDaemon({ config: { api_keys: [prom, deployer], system: { metrics_auth: true } } });
    const get = (url: string, key?: string) => d.app.inject({ method: 'GET', url, headers: key ? { authorization: `Bearer ${key}` } : {} });
    expect((await get('/metrics')).statusCode).toBe(401);
    const scraped = await get('/metrics', prom.key);
    expect(scraped.statusCode).toBe(200);
    expect(scraped.body).toContain('# TYPE faasd_invocations_total counter');
    expect((await get('/functions', prom.key)).statusCode).toBe(403);
    expect((await get('/stats', prom.key)).statusCode).toBe(403);
    // Scopes do not imply one another: even an admin key needs `metrics` listed.
    const other = await get('/metrics', deployer.key);
    expect(other.statusCode).toBe(403);
    expect(other.json()).toMatchObject({ required_scope: 'metrics' });
  });

  it('without metrics_auth, /metrics is open to a scraper with no key', async () => {
    const d = await startTestDaemon();
    expect((await d.app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(200);
  });

  it('/stats and /stats/functions/:name reflect known invocation counts, errors, cold starts and instance usage', async () => {
    const d = await startTestDaemon();
    await deploy(d, 'stat-me', 'def handle(r):\n    if r.get_json().get("fail"):\n        raise ValueError("no")\n    return 1');
    await deploy(d, 'js-too', 'exports.handler = async () => 2', { runtime: 'node' });
    for (let i = 0; i < 4; i++) await invoke(d, 'stat-me', {});
    await invoke(d, 'stat-me', { fail: true });
    await invoke(d, 'js-too');
    const all = await d.app.inject({ method: 'GET', url: '/stats', headers: DEMO });
    expect(all.statusCode).toBe(200);
    expect(all.json()).toMatchObject({
      functions: { total: 2, by_mode: { process: 2 } },
      instances: { total: 2, by_state: { idle: 2 } },
      invocations: { total: 6, errors: 1, cold_starts: 2 },
      rate_limited: 0,
    });
    expect(all.json().latency_ms.p50).toBeGreaterThan(0);
    expect(all.json().latency_ms.p99).toBeGreaterThanOrEqual(all.json().latency_ms.p50);
    const one = await d.app.inject({ method: 'GET', url: '/stats/functions/stat-me', headers: DEMO });
    expect(one.json()).toMatchObject({ name: 'stat-me', mode: 'process', invocations: { total: 5, errors: 1, cold_starts: 1 }, queue_depth: 0 });
    expect(one.json().cold_start_ms.p50).toBeGreaterThan(0);
    expect(one.json().instances).toHaveLength(1);
    expect(one.json().instances[0].memory_bytes).toBeGreaterThan(0);
    expect(one.json().instances[0].cpu_seconds).toBeGreaterThan(0);
    expect((await d.app.inject({ method: 'GET', url: '/stats/functions/nope', headers: DEMO })).statusCode).toBe(404);
    expect((await d.app.inject({ method: 'GET', url: '/stats' })).statusCode).toBe(401);
  });

  it('GET /functions/:name/logs returns what the function printed, with request ids, limit and since', async () => {
    const d = await startTestDaemon();
    await deploy(d, 'chatty', 'import sys\ndef handle(r):\n    n = r.get_json()["n"]\n    print(f"hello {n}")\n    sys.stderr.write(f"warn {n}\\n")\n    return n');
    const first = await invoke(d, 'chatty', { n: 1 });
    await invoke(d, 'chatty', { n: 2 });
    const res = await d.app.inject({ method: 'GET', url: '/functions/chatty/logs', headers: DEMO });
    expect(res.statusCode).toBe(200);
    const lines = res.json().lines as { line: string; request_id: string; time: string }[];
    expect(lines.map((l) => l.line)).toEqual(['hello 1', 'warn 1', 'hello 2', 'warn 2']);
    expect(lines[0]!.request_id).toBe(first.headers['x-faas-request-id']);
    const limited = await d.app.inject({ method: 'GET', url: '/functions/chatty/logs?limit=1', headers: DEMO });
    expect(limited.json().lines.map((l: { line: string }) => l.line)).toEqual(['warn 2']);
    const future = await d.app.inject({ method: 'GET', url: `/functions/chatty/logs?since=${new Date(Date.now() + 60_000).toISOString()}`, headers: DEMO });
    expect(future.json().count).toBe(0);
    const bad = await d.app.inject({ method: 'GET', url: '/functions/chatty/logs?since=yesterday', headers: DEMO });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().field).toBe('since');
  });

  it('deleting a function drops its metric series, stats and logs: create-invoke-delete cycles leave /metrics as it was', async () => {
    const d = await startTestDaemon();
    await deploy(d, 'stays', 'def handle(r):\n    return 1');
    expect((await invoke(d, 'stays', {})).statusCode).toBe(200);
    const scrape = async () => (await d.app.inject({ method: 'GET', url: '/metrics' })).body;
    // faasd's own series (the Node.js runtime's come and go with GC kinds and handle types).
    const seriesLines = (text: string) =>
      text
        .split('\n')
        .filter((l) => /^(faasd_|gateway_)/.test(l) && !/^faasd_(nodejs|process)_/.test(l))
        .map((l) => l.replace(/\s\S+$/, ''));
    const before = seriesLines(await scrape());
    for (let i = 0; i < 30; i++) {
      const name = `churn-${i}`;
      await deploy(d, name, 'def handle(r):\n    print("line from", r.get_json()["i"])\n    if r.get_json()["i"] % 3 == 0:\n        raise ValueError("boom")\n    return 1');
      expect([200, 500]).toContain((await invoke(d, name, { i })).statusCode);
      expect(seriesLines(await scrape()).some((l) => l.includes(`"${name}"`))).toBe(true);
      expect((await d.app.inject({ method: 'DELETE', url: `/functions/${name}`, headers: DEMO })).statusCode).toBe(204);
    }
    const after = seriesLines(await scrape());
    expect(after.filter((l) => l.includes('churn-'))).toEqual([]);
    expect(new Set(after)).toEqual(new Set(before));
    // Re-created under a deleted name: it starts from nothing (no old stats, no old log lines).
    await deploy(d, 'churn-1', 'def handle(r):\n    return 2');
    const stats = (await d.app.inject({ method: 'GET', url: '/stats/functions/churn-1', headers: DEMO })).json();
    expect(stats.invocations.total).toBe(0);
    expect((await d.app.inject({ method: 'GET', url: '/functions/churn-1/logs', headers: DEMO })).json().lines).toEqual([]);
  });
});
