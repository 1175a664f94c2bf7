// The process spawner (src/execution/drivers/process/spawner.ts): instances are started by a
// small Python process instead of a fork of the daemon, optionally from a "stem" that joined
// the instance's cgroups ahead of time. What the daemon relied on with its own spawn() must
// hold: exit codes and signals, stdout/stderr, a new session with default signal handling,
// the trampoline's rlimits, start errors, and nothing left running when the daemon (or the
// spawner) dies.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { CgroupManager } from '../src/execution/drivers/process/cgroups.js';
import { Spawner, type ChildHandle } from '../src/execution/drivers/process/spawner.js';
import { DEMO, silentLogger, startTestDaemon, tempDir, writeConfig } from './helpers/daemon.js';
import { deploy, invoke, isRoot } from './helpers/functions.js';
import { testCgroupPrefix } from './helpers/leaks.js';

const PYTHON = '/usr/bin/python3';
const BIN = path.resolve(__dirname, '..', 'bin', 'faasd.js');

function startSpawner(): Spawner {
  const s = Spawner.start(PYTHON, silentLogger());
  onTestFinished(() => s.close());
  return s;
}

/** Output and end of a child, as the process driver sees them. */
function outcome(child: ChildHandle): Promise<{ code: number | null; signal: string | null; out: string; err: string; error?: string }> {
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve) => {
    child.once('exit', (code, signal) => setImmediate(() => resolve({ code, signal, out, err })));
    child.once('error', (e) => resolve({ code: null, signal: null, out, err, error: e.message }));
  });
}

function alive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** pid -> parent pid, for every process. */
function parents(): Map<number, number> {
  const m = new Map<number, number>();
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      m.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      /* exited meanwhile */
    }
  }
  return m;
}

function descendantsOf(root: number): number[] {
  const ppid = parents();
  const out: number[] = [];
  const walk = (p: number): void => {
    for (const [pid, pp] of ppid) {
      if (pp !== p) continue;
      out.push(pid);
      walk(pid);
    }
  };
  walk(root);
  return out;
}

function cmdline(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

describe('the spawner starts processes as spawn() did', () => {
  it('relays stdout, stderr and the exit status; the child gets exactly the given environment and cwd, a new session and default signal handling', async () => {
    const s = startSpawner();
    const dir = tempDir();
    const script = 'echo out; echo err >&2; env; pwd; grep -E "^(SigIgn|SigBlk)" /proc/self/status; cut -d" " -f6 /proc/self/stat; echo pid $$; exit 3';
    const child = await s.spawn('/bin/sh', ['-c', script], { env: { ONLY: 'this', PATH: '/usr/bin:/bin' }, cwd: dir });
    const r = await outcome(child);
    expect(r.code).toBe(3);
    expect(r.signal).toBeNull();
    expect(r.err).toBe('err\n');
    const lines = r.out.trim().split('\n');
    expect(lines[0]).toBe('out');
    // dash adds PWD itself; nothing of the daemon's environment is there.
    expect(lines.filter((l) => /^[A-Z_]+=/.test(l)).sort()).toEqual([`PWD=${dir}`, 'ONLY=this', 'PATH=/usr/bin:/bin'].sort());
    expect(lines).toContain(dir);
    expect(lines).toContain('SigIgn:\t0000000000000000');
    expect(lines).toContain('SigBlk:\t0000000000000000');
    // Session id = its own pid: detached, as spawn(..., { detached: true }) made it.
    expect(lines).toContain(`pid ${child.pid}`);
    expect(lines[lines.indexOf(`pid ${child.pid}`) - 1]).toBe(String(child.pid));
    expect(child.exitCode).toBe(3);
  });

  it('reports a kill by signal, and the kill of the process group reaches the whole tree', async () => {
    const s = startSpawner();
    const child = await s.spawn('/bin/sh', ['-c', 'sleep 30 & echo $!; wait'], { env: {}, cwd: '/' });
    const r = outcome(child);
    const grandchild = await new Promise<number>((resolve) => child.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));
    expect(alive(grandchild)).toBe(true);
    process.kill(-child.pid!, 'SIGKILL');
    expect(await r).toMatchObject({ code: null, signal: 'SIGKILL' });
    await vi.waitFor(() => expect(alive(grandchild)).toBe(false));
  });

  it('a command that cannot be started emits error, as spawn() does', async () => {
    const s = startSpawner();
    const r = await outcome(await s.spawn('/nonexistent/interpreter', [], { env: {}, cwd: '/' }));
    expect(r.error).toMatch(/ENOENT/);
  });

  it('closing the spawner kills what it started', async () => {
    const s = Spawner.start(PYTHON, silentLogger());
    const child = await s.spawn('/bin/sleep', ['30'], { env: {}, cwd: '/' });
    const r = outcome(child);
    expect(alive(child.pid!)).toBe(true);
    await s.close();
    await r;
    await vi.waitFor(() => expect(alive(child.pid!)).toBe(false));
    await vi.waitFor(() => expect(alive(s.pid!)).toBe(false));
  });
});

describe.skipIf(!isRoot)('stems: a process that joined the cgroup ahead of the start', () => {
  async function cgroups(): Promise<CgroupManager> {
    const d = await CgroupManager.detect({ prefix: testCgroupPrefix() });
    if (!d.manager) throw new Error(d.detail);
    onTestFinished(() => d.manager!.close());
    return d.manager;
  }

  it('joins every hierarchy before its exec, then runs with the trampoline rlimits, default signals and the relayed output', async () => {
    const s = startSpawner();
    const m = await cgroups();
    const cg = await m.create('stem-test', { memoryBytes: 64 * 1024 * 1024, cpus: 1, pidsMax: 32 });
    const stem = await s.stem(cg.procsFiles);
    for (const f of cg.procsFiles) expect(fs.readFileSync(f, 'utf8').trim().split('\n')).toContain(String(stem.pid));
    const script =
      'cat /proc/self/cgroup; echo nofile $(ulimit -Sn) $(ulimit -Hn) core $(ulimit -Sc) $(ulimit -Hc); grep -E "^(SigIgn|SigBlk)" /proc/self/status; cut -d" " -f6 /proc/self/stat; echo err >&2; exit 7';
    const child = s.start(stem, { command: '/bin/sh', args: ['-c', script], env: { A: 'b' }, cwd: '/' });
    expect(child.pid).toBe(stem.pid);
    const r = await outcome(child);
    expect(r.code).toBe(7);
    expect(r.err).toBe('err\n');
    const lines = r.out.trim().split('\n');
    for (const c of m.version === 'v2' ? [''] : ['memory', 'pids']) {
      expect(lines.some((l) => l.includes(c) && l.endsWith(`/${testCgroupPrefix()}/stem-test`))).toBe(true);
    }
    expect(lines).toContain('nofile 1024 1024 core 0 0');
    expect(lines).toContain('SigIgn:\t0000000000000000');
    expect(lines).toContain('SigBlk:\t0000000000000000');
    expect(lines).toContain(String(stem.pid)); // its own session
    await cg.remove();
  });

  it('a failed exec is an error event, as a failed spawn is; a used stem cannot start again; a dropped stem exits; a stem whose cgroup cannot be joined is refused', async () => {
    const s = startSpawner();
    const m = await cgroups();
    const cg = await m.create('stem-test2', { memoryBytes: 64 * 1024 * 1024, cpus: 1, pidsMax: 32 });
    const stem = await s.stem(cg.procsFiles);
    const failed = await outcome(s.start(stem, { command: '/nonexistent/bwrap', args: [], env: {}, cwd: '/' }));
    expect(failed.error).toMatch(/ENOENT.*No such file/);
    expect(() => s.start(stem, { command: '/bin/true', args: [], env: {}, cwd: '/' })).toThrow(/gone/);
    await vi.waitFor(() => expect(alive(stem.pid)).toBe(false));
    const other = await s.stem(cg.procsFiles);
    s.drop(other);
    await vi.waitFor(() => expect(alive(other.pid)).toBe(false));
    await expect(s.stem(['/nonexistent/cgroup.procs'])).rejects.toThrow(/No such file/);
    await cg.remove();
  });
});

describe.skipIf(!isRoot)('process mode through the spawner', () => {
  it('instances run, report crashes with their stderr, and keep working after the spawner is killed (the daemon spawns itself then)', async () => {
    const d = await startTestDaemon();
    await deploy(d, 'sp-echo', 'def handle(request):\n    return {"ok": True}\n', { runtime: 'python' });
    await deploy(d, 'sp-crash', 'import sys, os\ndef handle(request):\n    sys.stderr.write("going down hard\\n"); sys.stderr.flush()\n    os._exit(9)\n', { runtime: 'python' });
    expect((await invoke(d, 'sp-echo', {})).statusCode).toBe(200);
    const crash = await invoke(d, 'sp-crash', {});
    expect(crash.statusCode).toBe(502);
    expect(crash.body).toMatch(/InstanceCrashed/);
    // The spawner: a child of this process running python3 -c with the spawner's code (stems are its children).
    const ppid = parents();
    const spawners = descendantsOf(process.pid).filter((p) => ppid.get(p) === process.pid && cmdline(p).includes('faasd-spawner'));
    expect(spawners.length).toBeGreaterThan(0);
    const shims = descendantsOf(spawners[0]!);
    expect(shims.length).toBeGreaterThan(0);
    for (const p of spawners) process.kill(p, 'SIGKILL');
    // The sandboxes die with it (bwrap --die-with-parent); the daemon notices and carries on.
    await vi.waitFor(() => expect(shims.filter(alive)).toEqual([]), { timeout: 5000 });
    const again = await invoke(d, 'sp-echo', {});
    expect(again.statusCode, again.body).toBe(200);
    await deploy(d, 'sp-echo2', 'def handle(request):\n    return {"ok": 2}\n', { runtime: 'python' });
    expect((await invoke(d, 'sp-echo2', {})).json()).toEqual({ ok: 2 });
  });

  it('SIGKILL of the daemon leaves no process behind: spawner, stems and sandboxes all exit', async () => {
    const dir = tempDir();
    const file = writeConfig(dir);
    const child = spawn(process.execPath, [BIN, '-c', file, '--port', '0'], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, stdio: ['ignore', 'pipe', 'pipe'] });
    onTestFinished(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    let out = '';
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /"url":"(http:\/\/[^"]+)"[^\n]*"msg":"faasd listening"/.exec(out);
        if (m) resolve(m[1]!);
      });
      child.on('exit', (code) => reject(new Error(`exited ${code}: ${out}`)));
    });
    const headers = { ...DEMO, 'content-type': 'application/json' };
    const dep = await fetch(`${url}/functions`, { method: 'POST', headers, body: JSON.stringify({ name: 'dd', runtime: 'python', code: 'def handle(request):\n    return 1\n' }) });
    expect(dep.status).toBe(201);
    expect((await fetch(`${url}/invoke/dd`, { method: 'POST', headers, body: '{}' })).status).toBe(200);
    const tree = descendantsOf(child.pid!);
    expect(tree.some((p) => cmdline(p).includes('faasd-spawner'))).toBe(true);
    expect(tree.some((p) => cmdline(p).includes('bwrap'))).toBe(true);
    child.kill('SIGKILL');
    await vi.waitFor(() => expect(tree.filter(alive).map(cmdline)).toEqual([]), { timeout: 5000 });
    // A restart on the same config removes the dead daemon's cgroups and serves again.
    const d = await startTestDaemon({ dir });
    expect((await invoke(d, 'dd', {})).statusCode).toBe(200);
  });
});
