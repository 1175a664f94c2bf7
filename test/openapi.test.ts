// The OpenAPI document: valid OpenAPI 3.1 (checked by a real validator), and every route the
// server registers is in it with the security the server enforces (bearer and its scope).
import { Validator } from '@seriousme/openapi-schema-validator';
import { describe, expect, it } from 'vitest';
import { OPENAPI_METHODS } from '../src/gateway/openapi.js';
import { startTestDaemon } from './helpers/daemon.js';

/** Fastify's "/functions/:name/*" as OpenAPI writes it. */
const openapiPath = (url: string) => url.replace(/:([A-Za-z0-9_]+)/g, '{$1}').replace(/\*$/, '{*}');

describe('OpenAPI document', () => {
  it('is valid OpenAPI 3.1 and describes every route with its security scheme and scope', async () => {
    const d = await startTestDaemon();
    const res = await d.app.inject({ method: 'GET', url: '/openapi.json' });
    expect(res.statusCode).toBe(200);
    const doc = res.json();
    expect(doc.openapi).toBe('3.1.0');
    const result = await new Validator().validate(doc);
    expect(result.valid, JSON.stringify(result.errors, null, 2)).toBe(true);
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });

    const routes = d.app.registeredRoutes.filter((r) => !r.hidden && r.method !== 'HEAD' && OPENAPI_METHODS.has(r.method.toLowerCase()));
    expect(routes.length).toBeGreaterThan(25);
    const missing: string[] = [];
    for (const r of routes) {
      const op = doc.paths[openapiPath(r.url)]?.[r.method.toLowerCase()];
      if (!op) {
        missing.push(`${r.method} ${r.url}`);
        continue;
      }
      const expected = r.scope === null ? [] : [{ bearer: r.scope === 'any' ? [] : [r.scope] }];
      expect(op.security, `${r.method} ${r.url}`).toEqual(expected);
      // Every operation documents its answers: a schema for each 2xx (204 has no body), and its errors.
      const ok = Object.entries(op.responses as Record<string, { content?: unknown }>).filter(([code]) => code.startsWith('2'));
      expect(ok.length, `${r.method} ${r.url} documents a success`).toBeGreaterThan(0);
      for (const [code, resp] of ok) if (code !== '204') expect(resp.content, `${r.method} ${r.url} ${code} has a schema`).toBeDefined();
      expect(JSON.stringify(op.responses)).not.toContain('Default Response');
      expect(op.responses['4XX']?.content ?? op.responses['4xx']?.content, `${r.method} ${r.url} documents its errors`).toBeDefined();
    }
    expect(missing).toEqual([]);
    // Spot checks: the scopes the server enforces.
    expect(doc.paths['/functions'].post.security).toEqual([{ bearer: ['manage'] }]);
    expect(doc.paths['/secrets/{name}'].delete.security).toEqual([{ bearer: ['admin'] }]);
    expect(doc.paths['/health'].get.security).toEqual([]);
    expect(doc.paths['/functions'].post.requestBody.content['application/json'].schema.properties.config.$ref).toBe('#/components/schemas/FunctionConfigInput');
    expect(doc.components.schemas.FunctionConfigInput.properties.timeout.type).toEqual(['number', 'null']);
    expect(doc.components.schemas.FunctionConfig.properties.memory).toMatchObject({ type: 'string' });
  });

  it('serves Swagger UI at /docs from local assets only', async () => {
    const d = await startTestDaemon();
    const page = await d.app.inject({ method: 'GET', url: '/docs/' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toContain('text/html');
    const assets = [...page.body.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(assets.length).toBeGreaterThan(0);
    for (const a of assets) {
      expect(a, 'no remote asset').not.toMatch(/^(https?:)?\/\//);
      const url = new URL(a, 'http://x/docs/').pathname;
      const got = await d.app.inject({ method: 'GET', url });
      expect(got.statusCode, url).toBe(200);
    }
  });
});
