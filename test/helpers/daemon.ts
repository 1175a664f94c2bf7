// Start real daemons on temp dirs; every one is closed when its test finishes, and the leak
// check (leaks.ts) knows about each, and about the registry of every config written here.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { onTestFinished } from 'vitest';
import { stringify } from 'yaml';
import { loadConfig, type LoadedConfig } from '../../src/config/load.js';
import { startDaemon, type Daemon, type StartOptions } from '../../src/daemon.js';
import { noteRegistry, trackDaemon } from './leaks.js';

export function tempDir(prefix = 'faasd-test-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  onTestFinished(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export interface TestDaemonOptions {
  dir?: string;
  /** Merged into the YAML config's top level; `system` keys are merged into system. */
  config?: Record<string, unknown>;
  listen?: boolean;
  env?: NodeJS.ProcessEnv;
  /** Passed to startDaemon (an engine client at another address, a fast engine re-probe). */
  start?: Pick<StartOptions, 'docker' | 'engineRetryMs' | 'engineProbeMs' | 'logger' | 'drivers'>;
}

export function writeConfig(dir: string, extra: Record<string, unknown> = {}): string {
  const { system, ...rest } = extra as { system?: Record<string, unknown> };
  const doc = {
    system: {
      api_gateway_port: 0,
      function_storage_path: path.join(dir, 'functions'),
      registry_path: path.join(dir, 'registry.db'),
      ...(system ?? {}),
    },
    // Pre-warmed instances are opt-in per test: most suites start many daemons.
    prewarm: { process: { python: 0, node: 0 }, container: { python: 0, node: 0 } },
    ...rest,
  };
  noteRegistry(String(doc.system.registry_path));
  const file = path.join(dir, 'faas_config.yaml');
  fs.writeFileSync(file, stringify(doc));
  return file;
}

export function testConfig(opts: TestDaemonOptions = {}): LoadedConfig {
  const dir = opts.dir ?? tempDir();
  return loadConfig({ file: writeConfig(dir, opts.config), env: opts.env ?? {} });
}

export const silentLogger = () => pino({ level: 'silent' });

export async function startTestDaemon(opts: TestDaemonOptions = {}): Promise<Daemon> {
  return startConfiguredDaemon(testConfig(opts), { listen: opts.listen ?? false, ...opts.start });
}

/** A daemon on a config of the test's own making; silent and not listening unless told. */
export async function startConfiguredDaemon(config: LoadedConfig, start: StartOptions = {}): Promise<Daemon> {
  const daemon = trackDaemon(await startDaemon(config, { logger: silentLogger(), listen: false, ...start }));
  onTestFinished(() => daemon.close());
  return daemon;
}

export const DEMO = { authorization: 'Bearer demo-key' };
export const ADMIN = { authorization: 'Bearer admin-key' };
