import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config/load.js';
import { sampleConfig, sha256Hex } from '../src/config/sample.js';
import { tempDir } from './helpers/daemon.js';

function write(text: string): string {
  const file = path.join(tempDir(), 'faas_config.yaml');
  fs.writeFileSync(file, text);
  return file;
}

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('configuration', () => {
  it('runs on built-in defaults without a file: process mode, 127.0.0.1:8000, quick-start keys', () => {
    const c = loadConfig({ env: {} });
    expect(c.system.default_mode).toBe('process');
    expect(c.system.api_gateway_host).toBe('127.0.0.1');
    expect(c.system.api_gateway_port).toBe(8000);
    expect(c.system.process_isolation_level).toBe('strict');
    expect(c.system.registry_path.startsWith('/tmp')).toBe(false);
    expect(c.using_demo_keys).toBe(true);
    expect(c.api_keys.map((k) => k.key)).toEqual(['demo-key', 'admin-key']);
    expect(c.source_file).toBeNull();
  });

  it('does not pick up a faas_config.yaml from the working directory silently', () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'faas_config.yaml'), 'system: { api_gateway_port: 9999 }\n');
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      expect(loadConfig({ env: {} }).system.api_gateway_port).toBe(8000);
    } finally {
      process.chdir(cwd);
    }
  });

  it('names the key, its line, the value and what was expected for a bad value', () => {
    const file = write('system:\n  default_mode: process\n  api_gateway_port: "eighty"\n');
    const msg = errorOf(() => loadConfig({ file, env: {} }));
    expect(msg).toContain(':3:');
    expect(msg).toContain('system.api_gateway_port');
    expect(msg).toContain('"eighty"');
    expect(msg).toContain('integer');
  });

  it('names an unknown key and its line', () => {
    const file = write('system:\n  default_mod: process\n');
    const msg = errorOf(() => loadConfig({ file, env: {} }));
    expect(msg).toMatch(/:2: system\.default_mod:/);
  });

  it('rejects an unknown enum value with the allowed values', () => {
    const file = write('system:\n  process_isolation_level: paranoid\n');
    const msg = errorOf(() => loadConfig({ file, env: {} }));
    expect(msg).toContain('system.process_isolation_level');
    expect(msg).toContain('"strict", "standard", "none"');
  });

  it('accepts the metrics scope on a key and names the allowed scopes for an unknown one', () => {
    const ok = write('api_keys:\n  - { name: prometheus, key: prom-key-0123456789, scopes: [metrics] }\n');
    expect(loadConfig({ file: ok, env: {} }).api_keys[0]!.scopes).toEqual(['metrics']);
    const bad = write('api_keys:\n  - { name: prometheus, key: prom-key-0123456789, scopes: [scrape] }\n');
    const msg = errorOf(() => loadConfig({ file: bad, env: {} }));
    expect(msg).toContain('"invoke", "manage", "admin", "metrics"');
  });

  it('reports invalid YAML with its line', () => {
    const file = write('system:\n  a: [1, 2\n');
    expect(errorOf(() => loadConfig({ file, env: {} }))).toMatch(/invalid YAML/);
  });

  it('stops on a declared function with a bad field, naming the function, the field and the line', () => {
    const file = write('functions:\n  good-one:\n    code: "def handle(r): return 1"\n    memory: lots\n');
    const msg = errorOf(() => loadConfig({ file, env: {} }));
    expect(msg).toContain('function "good-one"');
    expect(msg).toContain('functions.good-one.memory');
    expect(msg).toContain(':4:');
  });

  it('requires exactly one of code and path for a declared function', () => {
    const file = write('functions:\n  f:\n    runtime: python\n');
    expect(errorOf(() => loadConfig({ file, env: {} }))).toContain('functions.f.code');
  });

  it('reads a declared function from a path relative to the config file', () => {
    const dir = tempDir();
    fs.mkdirSync(path.join(dir, 'fns', 'hello'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'fns', 'hello', 'index.js'), 'exports.handler = async () => 1');
    const file = path.join(dir, 'faas_config.yaml');
    fs.writeFileSync(file, 'functions:\n  hello:\n    runtime: node20\n    path: ./fns/hello\n    timeout: 5\n');
    const c = loadConfig({ file, env: {} });
    expect(c.declared).toHaveLength(1);
    expect(c.declared[0]).toMatchObject({ name: 'hello', runtime: 'node' });
    expect(Object.keys(c.declared[0]!.files)).toEqual(['index.js']);
    expect(c.declared[0]!.files['index.js']!.toString()).toBe('exports.handler = async () => 1');
    expect(c.declared[0]!.config.timeout).toBe(5);
  });

  it('lets FAAS_* variables override the file and flags override both', () => {
    const file = write('system:\n  api_gateway_port: 8100\n  logging_level: ERROR\n');
    const env = { FAAS_API_PORT: '8200', FAAS_DEFAULT_MODE: 'container', FAAS_LOG_LEVEL: 'warning', FAAS_DISABLE_CONTAINER: '1' };
    const c = loadConfig({ file, env });
    expect(c.system.api_gateway_port).toBe(8200);
    expect(c.system.default_mode).toBe('container');
    expect(c.system.logging_level).toBe('warn');
    expect(c.system.disable_container).toBe(true);
    const f = loadConfig({ file, env, flags: { port: 8300, debug: true, host: '::1' } });
    expect(f.system.api_gateway_port).toBe(8300);
    expect(f.system.logging_level).toBe('debug');
    expect(f.system.api_gateway_host).toBe('::1');
  });

  it('takes FAAS_CONFIG_FILE as the file to load', () => {
    const file = write('system:\n  api_gateway_port: 8111\n');
    expect(loadConfig({ env: { FAAS_CONFIG_FILE: file } }).system.api_gateway_port).toBe(8111);
  });

  it('rejects a bad environment override naming the variable', () => {
    expect(errorOf(() => loadConfig({ env: { FAAS_API_PORT: 'x' } }))).toContain('FAAS_API_PORT');
    // The CLI passes the modes its drivers provide (execution/drivers/index.ts).
    const modes = ['process', 'container'];
    expect(errorOf(() => loadConfig({ env: { FAAS_DEFAULT_MODE: 'vm' }, modes }))).toContain('FAAS_DEFAULT_MODE');
    expect(errorOf(() => loadConfig({ env: { FAAS_DEFAULT_MODE: 'VM!' } }))).toContain('FAAS_DEFAULT_MODE');
  });

  it('a default_mode no driver provides is refused with its line, when the modes are known', () => {
    const file = write('system:\n  api_gateway_port: 0\n  default_mode: vm\n');
    expect(errorOf(() => loadConfig({ file, env: {}, modes: ['process', 'container'] }))).toMatch(/:3: system\.default_mode: got "vm", expected one of process, container/);
  });

  it('the generated sample is valid, holds fresh keys and no demo keys', () => {
    const a = sampleConfig();
    const b = sampleConfig();
    expect(a.keys.invokeKey).not.toBe(b.keys.invokeKey);
    const c = loadConfig({ file: write(a.text), env: {} });
    expect(c.using_demo_keys).toBe(false);
    expect(c.api_keys.map((k) => k.name)).toEqual(['app', 'deployer', 'ops', 'prometheus']);
    expect(a.text).not.toContain(a.keys.adminKey);
    // A scrape-only key for Prometheus, stored as its digest like the admin key.
    const prom = c.api_keys.find((k) => k.name === 'prometheus')!;
    expect(prom.scopes).toEqual(['metrics']);
    expect(prom.key_sha256).toBe(sha256Hex(a.keys.metricsKey));
    expect(a.text).not.toContain(a.keys.metricsKey);
    expect(c.declared.map((d) => d.name)).toEqual(['example-function']);
    expect(c.rate_limit.default).toEqual({ rps: 100, burst: 200 });
  });
});
