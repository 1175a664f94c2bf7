import type { FastifyInstance } from 'fastify';
import { R } from '../api-schemas.js';
import type { AppDeps } from '../deps.js';

export async function healthRoutes(app: FastifyInstance, deps: AppDeps): Promise<void> {
  const started = Date.now();
  app.get('/health', { schema: { summary: 'Registry, drivers and images, warnings (public; never waits on Docker)', response: R.health } }, async (_req, reply) => {
    const registryOk = deps.functions.healthy();
    const drivers = deps.execution.health();
    const warnings: string[] = [];
    if (deps.config.using_demo_keys) {
      warnings.push('no api_keys configured: the public quick-start keys demo-key and admin-key are in force; run faasd --create-config');
    }
    for (const [mode, h] of Object.entries(drivers)) {
      if (!h.ok) warnings.push(`${mode} mode unavailable: ${h.detail}`);
      for (const img of h.images ?? []) {
        if (img.state === 'missing') warnings.push(`${mode} mode: image ${img.image} for ${img.runtime} functions is ${img.detail}`);
      }
    }
    const status = registryOk ? (warnings.length ? 'degraded' : 'ok') : 'unhealthy';
    reply.code(registryOk ? 200 : 503);
    return {
      status,
      uptime_seconds: Math.round((Date.now() - started) / 1000),
      registry: { ok: registryOk },
      drivers,
      default_mode: deps.config.system.default_mode,
      using_demo_keys: deps.config.using_demo_keys,
      warnings,
    };
  });
}
