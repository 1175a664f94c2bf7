// The OpenAPI 3.1 document, generated from the routes' own schemas (@fastify/swagger), served
// at GET /openapi.json, with Swagger UI at /docs (its assets are in the npm package: nothing
// is fetched from the internet). Each operation's security comes from its route's `scope`,
// the same value the auth hook enforces, so the document cannot disagree with the server.
import { createRequire } from 'node:module';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { FUNCTION_CONFIG_INPUT_SCHEMA_ID, FUNCTION_CONFIG_SCHEMA_ID, functionConfigInputSchema, functionConfigSchema } from '../model/function-schema.js';

/** Keywords of our own schemas that are not JSON Schema: dropped from the document. */
const PRIVATE_KEYWORDS = new Set(['expected']);
const CONFIG_COMPONENT = 'FunctionConfig';
const CONFIG_INPUT_COMPONENT = 'FunctionConfigInput';
/** Our schema ids -> the document's components. */
const COMPONENTS: Record<string, string> = { [FUNCTION_CONFIG_SCHEMA_ID]: CONFIG_COMPONENT, [FUNCTION_CONFIG_INPUT_SCHEMA_ID]: CONFIG_INPUT_COMPONENT };
export const OPENAPI_METHODS = new Set(['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace']);

/** A deep copy for the document: private keywords out, the function configs' $refs made local. */
function forDocument(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(forDocument);
  if (node === null || typeof node !== 'object') return node;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node)) {
    if (PRIVATE_KEYWORDS.has(k)) continue;
    if (k === '$ref' && typeof v === 'string' && COMPONENTS[v]) out[k] = `#/components/schemas/${COMPONENTS[v]}`;
    else if (k === '$id' && typeof v === 'string' && COMPONENTS[v]) continue;
    else out[k] = forDocument(v);
  }
  return out;
}

/** Pages, not API: the web console and this document's own UI. */
const NOT_API = /^\/(ui|docs)(\/|$)/;

const RESPONSE_WORDS: Record<string, string> = {
  200: 'OK',
  201: 'Created',
  202: 'Accepted: queued',
  204: 'Done, no body',
  '4xx': 'The request cannot be served: the error code and message say why (400 names the field)',
  '5xx': 'The function or the daemon failed: the error code and message say how',
};

const TAGS: [prefix: RegExp, tag: string][] = [
  [/^\/functions\/:name\/(versions|rollback)/, 'versions'],
  [/^\/functions\/:name\/logs/, 'observability'],
  [/^\/functions/, 'functions'],
  [/^\/invoke/, 'invoke'],
  [/^\/(async|invocations)/, 'async'],
  [/^\/schedules/, 'async'],
  [/^\/secrets/, 'secrets'],
  [/^\/instances/, 'instances'],
  [/^\/(metrics|stats)/, 'observability'],
  [/^\/(health|whoami)/, 'system'],
];

const { version } = createRequire(import.meta.url)('../../package.json') as { version: string };

/** A route as registered: what the document must describe (test/openapi.test.ts compares them). */
export interface RegisteredRoute {
  method: string;
  url: string;
  scope: string | null;
  hidden: boolean;
}

declare module 'fastify' {
  interface FastifyInstance {
    registeredRoutes: RegisteredRoute[];
  }
}

export async function registerOpenApi(app: FastifyInstance): Promise<void> {
  const routes: RegisteredRoute[] = [];
  app.decorate('registeredRoutes', routes);
  app.addHook('onRoute', (r) => {
    const methods = Array.isArray(r.method) ? r.method : [r.method];
    const hidden = Boolean((r.schema as { hide?: boolean } | undefined)?.hide) || NOT_API.test(r.url);
    for (const method of methods) routes.push({ method, url: r.url, scope: (r.config as { scope?: string } | undefined)?.scope ?? null, hidden });
  });
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'faasd',
        version,
        description:
          'Single-node Function-as-a-Service daemon: deploy functions, invoke them synchronously or asynchronously, and watch them. Every route but /health (and /metrics unless metrics_auth) needs `Authorization: Bearer <key>` with the scope its security names.',
      },
      components: {
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'an API key from faas_config.yaml api_keys; its scopes are invoke, manage, admin, metrics' } },
      },
      tags: [
        { name: 'functions', description: 'deploy, read, update and delete functions' },
        { name: 'versions', description: 'version history, rollback' },
        { name: 'invoke', description: 'synchronous invocations' },
        { name: 'async', description: 'asynchronous invocations and cron schedules' },
        { name: 'secrets', description: 'secrets functions read as files' },
        { name: 'instances', description: 'running instances' },
        { name: 'observability', description: 'metrics, statistics and function logs' },
        { name: 'system', description: 'health and the calling key' },
      ],
    },
    // Shared schemas are components named by their $id ("Error", "Job"), not def-0, def-1.
    refResolver: { buildLocalReference: (json, _base, _fragment, i) => String((json as { $id?: string }).$id ?? `def-${i}`) },
    transform: ({ schema, url, route }) => {
      const s = (forDocument(schema ?? {}) ?? {}) as Record<string, unknown>;
      if (NOT_API.test(url)) return { schema: { ...s, hide: true } as typeof schema, url };
      const scope = (route.config as { scope?: string } | undefined)?.scope;
      s.security = scope ? [{ bearer: scope === 'any' ? [] : [scope] }] : [];
      s.tags ??= [TAGS.find(([re]) => re.test(url))?.[1] ?? 'system'];
      for (const [code, r] of Object.entries((s.response ?? {}) as Record<string, Record<string, unknown>>)) r.description ??= RESPONSE_WORDS[code] ?? 'Answer';
      return { schema: s as typeof schema, url };
    },
    transformObject: (doc) => {
      const openapi = (doc as { openapiObject: Record<string, unknown> }).openapiObject as { components?: { schemas?: Record<string, unknown> } };
      openapi.components ??= {};
      openapi.components.schemas ??= {};
      openapi.components.schemas[CONFIG_COMPONENT] = forDocument(functionConfigSchema);
      openapi.components.schemas[CONFIG_INPUT_COMPONENT] = forDocument(functionConfigInputSchema);
      // /invoke takes every method Fastify knows (app.all); OpenAPI can name only its eight.
      for (const item of Object.values((openapi as { paths?: Record<string, Record<string, unknown>> }).paths ?? {})) {
        for (const method of Object.keys(item)) if (!OPENAPI_METHODS.has(method) && method !== 'parameters') delete item[method];
      }
      return openapi as never;
    },
  });
  // The UI's own routes are left out of the document.
  await app.register(swaggerUi, { routePrefix: '/docs', staticCSP: true, uiConfig: { docExpansion: 'list', deepLinking: false } });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
}
