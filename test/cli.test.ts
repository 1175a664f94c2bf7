// The real CLI, as a child process (bin/faasd.js -> dist/, built by `npm test`).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { tempDir, writeConfig } from './helpers/daemon.js';

const BIN = path.resolve(__dirname, '..', 'bin', 'faasd.js');
const cleanEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root' };

function faasd(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
  return spawnSync(process.execPath, [BIN, ...args], { cwd: opts.cwd, env: { ...cleanEnv, ...opts.env }, encoding: 'utf8', timeout: 30_000 });
}

/** Runs `command` under a pseudo-terminal (util-linux `script`), so its stdout is a TTY. */
function underTerminal(command: string, env: NodeJS.ProcessEnv = {}) {
  return spawn('script', ['-qfec', command, '/dev/null'], { env: { ...cleanEnv, TERM: 'xterm', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI colour codes start with ESC
const plain = (text: string) => text.replace(/\x1b\[[0-9;]*m/g, '').replace(/\r/g, '');

/** PIDs of live processes whose command line mentions `marker` (a test's own temp path). */
function processesMentioning(marker: string): number[] {
  return fs
    .readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d) && Number(d) !== process.pid)
    .flatMap((d) => {
      try {
        return fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(marker) ? [Number(d)] : [];
      } catch {
        return [];
      }
    });
}

describe('faasd CLI', () => {
  it('--create-config writes a commented sample with fresh keys and prints them once', () => {
    const dir = tempDir();
    const r = faasd(['--create-config'], { cwd: dir });
    expect(r.status).toBe(0);
    const file = path.join(dir, 'faas_config.yaml');
    const text = fs.readFileSync(file, 'utf8');
    for (const key of [
      'default_mode',
      'max_concurrent_functions',
      'cold_start_timeout',
      'warm_instance_ttl',
      'api_gateway_port',
      'function_storage_path',
      'registry_path',
      'container_runtime',
      'base_image',
      'process_isolation_level',
      'logging_level',
      'api_keys:',
      'rate_limit:',
      'functions:',
    ]) {
      expect(text).toContain(key);
    }
    const printed = r.stdout.match(/fsk_[a-z]{3}_[A-Za-z0-9_-]+/g) ?? [];
    expect(printed).toHaveLength(4); // app, deployer, ops, prometheus (metrics scope)
    expect(text).toContain(printed[0]);
    expect(text).not.toContain(printed[2]); // the admin key is stored only as its SHA-256
    expect(text).not.toContain(printed[3]); // so is the scrape-only key
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
  });

  it('--create-config refuses to overwrite an existing file unless --force', () => {
    const dir = tempDir();
    const file = path.join(dir, 'my.yaml');
    fs.writeFileSync(file, 'keep me\n');
    const r = faasd(['--create-config', file]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('already exists');
    expect(fs.readFileSync(file, 'utf8')).toBe('keep me\n');
    const f = faasd(['--create-config', file, '--force']);
    expect(f.status).toBe(0);
    expect(fs.readFileSync(file, 'utf8')).toContain('api_keys:');
  });

  it('a bad config stops the daemon with a message naming the key and its line', () => {
    const dir = tempDir();
    const file = path.join(dir, 'bad.yaml');
    fs.writeFileSync(file, 'system:\n  default_mode: process\n  warm_instance_ttl: -5\n');
    const r = faasd(['-c', file]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('bad.yaml:3');
    expect(r.stderr).toContain('system.warm_instance_ttl');
    expect(r.stderr).toContain('-5');
  });

  it('--check-system prints one line per check with ok/warn/fail and a verdict', () => {
    const dir = tempDir();
    const file = writeConfig(dir);
    const r = faasd(['--check-system', '-c', file]);
    const lines = r.stdout.trim().split('\n');
    for (const name of ['kernel', 'privileges', 'namespaces', 'cgroups', 'docker', 'runtime python', 'runtime node', 'pip', 'function storage', 'registry path', 'sqlite']) {
      expect(lines.some((l) => /^\[(ok|warn|fail)\s*\]/.test(l) && l.includes(name))).toBe(true);
    }
    expect(lines.find((l) => l.includes('runtime python'))).toMatch(/\/usr\/bin\/python3/);
    const failed = lines.filter((l) => l.startsWith('[fail'));
    expect(r.status).toBe(failed.length ? 1 : 0);
  });

  it('--check-system reports the pip that installs Python dependencies, with its version', () => {
    // scripts/install.sh installs python3-pip: on a host it set up, pip is there.
    const dir = tempDir();
    const r = faasd(['--check-system', '-c', writeConfig(dir)]);
    const pip = r.stdout.split('\n').find((l) => / pip /.test(l));
    expect(pip).toMatch(/^\[ok\s*\] pip\s+pip \d+\.\d+(\.\d+)? \(\/usr\/bin\/python3[.\d]* -m pip\)$/);
  });

  it('--check-system warns that Python dependencies cannot be installed when the interpreter has no pip', () => {
    const dir = tempDir();
    // The same Python without site-packages (-S): `python -m pip` finds no module, as on a
    // Debian host without python3-pip.
    const python = path.join(dir, 'python-without-pip');
    fs.writeFileSync(python, '#!/bin/sh\nexec /usr/bin/python3 -S "$@"\n', { mode: 0o755 });
    const r = faasd(['--check-system', '-c', writeConfig(dir, { system: { interpreters: { python, node: '' } } })]);
    expect(r.stdout).toMatch(/\[ok\s*\] runtime python/);
    const pip = r.stdout.split('\n').find((l) => / pip /.test(l));
    expect(pip).toMatch(/^\[warn\] pip /);
    expect(pip).toContain(`${python} -m pip does not work (`);
    expect(pip).toContain('No module named pip');
    expect(pip).toContain('Python functions with dependencies cannot be deployed');
    expect(pip).toContain(`-> install pip for ${python}, or use Debian's /usr/bin/python3 with apt-get install python3-pip`);
    // a missing pip alone never makes the check fail
    expect(r.stdout).not.toMatch(/\[fail\s*\] pip/);
  });

  it('--check-system fails when the default mode needs something missing', () => {
    const dir = tempDir();
    const file = writeConfig(dir, { system: { default_mode: 'container', disable_container: true } });
    const r = faasd(['--check-system', '-c', file]);
    expect(r.stdout).toMatch(/\[fail\s*\] docker/);
    expect(r.status).toBe(1);
  });

  it('on a terminal the daemon logs readable lines, not JSON, and SIGTERM leaves no process behind', async () => {
    const dir = tempDir();
    const file = writeConfig(dir);
    // exec: the daemon replaces script's shell, so script's SIGTERM reaches the daemon itself
    const child = underTerminal(`exec ${process.execPath} ${BIN} -c ${file} --port 0`);
    onTestFinished(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
      for (const pid of processesMentioning(file)) process.kill(pid, 'SIGKILL');
    });
    let out = '';
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /faasd listening\n\s+url: "(http:\/\/[^"]+)"/.exec(plain(out));
        if (m) resolve(m[1]!);
      });
      child.on('exit', (code) => reject(new Error(`exited ${code}: ${out}`)));
    });
    expect((await fetch(`${url}/health`)).status).toBe(200);
    const exited = new Promise<void>((r) => child.on('exit', () => r()));
    child.kill('SIGTERM');
    await exited;
    const lines = plain(out)
      .split('\n')
      .filter((l) => l.trim());
    expect(lines.some((l) => l.startsWith('{'))).toBe(false);
    expect(lines).toContainEqual(expect.stringMatching(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: faasd listening$/));
    expect(lines).toContainEqual(expect.stringMatching(/^\[\d\d:\d\d:\d\d\.\d{3}\] WARN: no api_keys configured/));
    expect(out).toContain('\x1b['); // coloured
    expect(processesMentioning(file)).toEqual([]);
  });

  it('on a terminal log lines are still redacted', async () => {
    const dir = tempDir();
    const script = path.join(dir, 'log.mjs');
    const logger = path.resolve(__dirname, '..', 'dist', 'logger.js');
    fs.writeFileSync(script, `import { createLogger } from ${JSON.stringify(logger)};\ncreateLogger('info').info({ authorization: 'Bearer sekrit-auth', key: 'sekrit-key' }, 'a request');\n`);
    const child = underTerminal(`exec ${process.execPath} ${script}`, { NO_COLOR: '1' });
    onTestFinished(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    expect(await new Promise((r) => child.on('exit', r))).toBe(0);
    expect(plain(out)).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: a request\n\s+authorization: "\[redacted\]"\n\s+key: "\[redacted\]"/);
    expect(out).not.toContain('sekrit');
    expect(out).not.toContain('\x1b['); // NO_COLOR is honoured
  });

  it('off a terminal the daemon logs one JSON object per line', async () => {
    const dir = tempDir();
    const child = spawn(process.execPath, [BIN, '-c', writeConfig(dir), '--port', '0'], { env: cleanEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    onTestFinished(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    let out = '';
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('"msg":"faasd listening"')) resolve();
      });
      child.on('exit', (code) => reject(new Error(`exited ${code}: ${out}`)));
    });
    const exited = new Promise((r) => child.on('exit', r));
    child.kill('SIGTERM');
    await exited;
    const lines = out.split('\n').filter((l) => l.trim());
    expect(lines.length).toBeGreaterThan(2);
    for (const line of lines) {
      const entry = JSON.parse(line) as { level: number; time: string; msg: string };
      expect(entry).toMatchObject({ level: expect.any(Number), time: expect.any(String), msg: expect.any(String) });
    }
    expect(out).not.toContain('\x1b[');
  });

  it('serves on the configured port and stops cleanly on SIGTERM', async () => {
    const dir = tempDir();
    const file = writeConfig(dir);
    const child = spawn(process.execPath, [BIN, '-c', file, '--port', '0'], { env: cleanEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    onTestFinished(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /"url":"(http:\/\/[^"]+)"/.exec(out);
        if (m) resolve(m[1]!);
      });
      child.on('exit', (code) => reject(new Error(`exited ${code}: ${out}`)));
    });
    const health = await fetch(`${url}/health`);
    expect(health.status).toBe(200);
    expect(((await health.json()) as { status: string }).status).toBeDefined();
    const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
