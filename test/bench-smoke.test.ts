// The benchmark's CI smoke test: `npm run bench -- --quick` runs end to end against a real
// daemon and writes its table and JSON. It checks that the bench works, never how fast
// anything is (the CI machine is shared), and passes whether or not container mode is
// available on the host (container figures then read "unavailable: <why>").
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from './helpers/daemon.js';
import { isRoot } from './helpers/functions.js';

const REPO = path.resolve(__dirname, '..');
const TIMEOUT_MS = 120_000;

function runBench(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'bench/run.ts', ...args], { cwd: REPO, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-20_000)));
    // SIGTERM first: the bench then stops its daemon; SIGKILL if that hangs.
    const term = setTimeout(() => child.kill('SIGTERM'), TIMEOUT_MS);
    const kill = setTimeout(() => child.kill('SIGKILL'), TIMEOUT_MS + 15_000);
    child.on('exit', (code) => {
      clearTimeout(term);
      clearTimeout(kill);
      resolve({ code, stderr });
    });
  });
}

if (!isRoot) console.warn('bench smoke test skipped: faasd runs functions in strict sandboxes, which need root');

describe.skipIf(!isRoot)('npm run bench -- --quick', () => {
  it('runs against a real daemon and writes RESULTS.md naming the machine and every figure, plus the JSON', { timeout: TIMEOUT_MS + 30_000 }, async () => {
    const out = tempDir('faasd-bench-smoke-');
    const r = await runBench(['--quick', '--out', out]);
    expect(r.code, r.stderr).toBe(0);

    const md = fs.readFileSync(path.join(out, 'RESULTS.md'), 'utf8');
    for (const heading of ['## Machine', '## Targets', '## 1. Warm invoke', '## 2. Sleep 0.5 s', '## 3. Cold start', '## 4. Baselines', '## 5. Density']) expect(md).toContain(heading);
    for (const row of ['| CPU |', '| memory |', '| kernel / OS |', '| Node |', '| commit |', '| load average (1/5/15 min) at start |', '| load average at end |']) expect(md).toContain(row);
    expect(md).toContain('ceiling (bare Fastify echo)');
    expect(md).toContain('faasd process/python');
    // The three kinds of start: pre-warmed or cold first calls, and the warm second call.
    expect(md).toContain('faasd warm (second call) process/python');
    expect(md).toMatch(/\| .+ \| .+ \| \*\*(met|missed|not measured)\*\*/);

    const files = fs.readdirSync(path.join(out, 'results')).filter((f) => f.endsWith('.json'));
    expect(files).toHaveLength(1);
    const json = JSON.parse(fs.readFileSync(path.join(out, 'results', files[0]!), 'utf8')) as { quick: boolean; machine: { cores: number }; commit: { hash: string }; targets: unknown[] };
    expect(json.quick).toBe(true);
    expect(json.machine.cores).toBeGreaterThan(0);
    expect(json.commit.hash).toMatch(/^[0-9a-f]{4,}$|^unknown$/);
    expect(json.targets.length).toBeGreaterThan(0);
  });
});
