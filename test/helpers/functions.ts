// Deploy and invoke functions against a test daemon through its HTTP API (app.inject).
import { expect } from 'vitest';
import type { Daemon } from '../../src/daemon.js';
import { DEMO } from './daemon.js';

export async function deploy(d: Daemon, name: string, code: string, opts: { runtime?: string; handler?: string; config?: Record<string, unknown> } = {}) {
  const res = await d.app.inject({ method: 'POST', url: '/functions', headers: DEMO, payload: { name, code, ...opts } });
  expect(res.statusCode, res.body).toBe(201);
  return res.json();
}

export async function invoke(d: Daemon, name: string, payload?: unknown, opts: { method?: string; path?: string; headers?: Record<string, string> } = {}) {
  return d.app.inject({
    method: (opts.method ?? 'POST') as 'POST',
    url: `/invoke/${name}${opts.path ?? ''}`,
    headers: { ...DEMO, ...(payload !== undefined && typeof payload !== 'string' ? { 'content-type': 'application/json' } : {}), ...(opts.headers ?? {}) },
    ...(payload !== undefined ? { payload: typeof payload === 'string' ? payload : JSON.stringify(payload) } : {}),
  });
}

export const isRoot = process.getuid?.() === 0;
