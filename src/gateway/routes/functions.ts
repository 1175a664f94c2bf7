// /functions: create, list, read, update, delete. Bodies are JSON only (415 otherwise);
// shape is checked by schema here (`config` by model/function-schema.ts), meaning by the registry.
import type { FastifyInstance } from 'fastify';
import type { FunctionRecord } from '../../model/function-model.js';
import { FUNCTION_CONFIG_SCHEMA_ID, compileWithFunctionSchema } from '../../model/function-schema.js';
import type { AppDeps } from '../deps.js';

const nameParams = {
  type: 'object',
  required: ['name'],
  properties: { name: { type: 'string', maxLength: 63 } },
} as const;

const bodyProps = {
  name: { type: 'string' },
  code: { type: 'string' },
  runtime: { type: 'string' },
  handler: { type: ['string', 'null'] },
  config: { $ref: FUNCTION_CONFIG_SCHEMA_ID },
} as const;

const createBody = { type: 'object', required: ['name', 'code'], additionalProperties: false, properties: bodyProps } as const;
const updateBody = { type: 'object', additionalProperties: false, minProperties: 1, properties: bodyProps } as const;

export function summary(rec: FunctionRecord) {
  return {
    name: rec.name,
    runtime: rec.runtime,
    handler: rec.handler,
    version: rec.version,
    execution_mode: rec.config.execution_mode,
    source: rec.source,
    created_at: rec.created_at,
    updated_at: rec.updated_at,
  };
}

export async function functionRoutes(app: FastifyInstance, deps: AppDeps): Promise<void> {
  // JSON only on these routes: text/plain would otherwise be parsed and then fail as "not an object".
  app.removeContentTypeParser('text/plain');
  const bodyLimit = deps.config.system.max_code_size * 2 + 64 * 1024;
  // The function schema's Ajv: it knows the config schema, its formats, and says what it expects.
  app.setValidatorCompiler(compileWithFunctionSchema);

  const details = (rec: FunctionRecord) => ({
    ...summary(rec),
    code: rec.code,
    config: rec.config,
    instances: deps.execution.instanceCounts(rec.name),
  });

  app.get('/functions', { config: { scope: 'manage' } }, async () => {
    const functions = deps.functions.list().map((r) => ({ ...summary(r), instances: deps.execution.instanceCounts(r.name) }));
    return { functions, count: functions.length };
  });

  app.post<{ Body: Record<string, unknown> }>('/functions', { config: { scope: 'manage' }, bodyLimit, schema: { body: createBody } }, async (req, reply) => {
    const rec = await deps.functions.create(req.body);
    reply.code(201).header('Location', `/functions/${rec.name}`);
    return details(rec);
  });

  app.get<{ Params: { name: string } }>('/functions/:name', { config: { scope: 'manage' }, schema: { params: nameParams } }, async (req) => {
    return details(deps.functions.get(req.params.name));
  });

  app.put<{ Params: { name: string }; Body: Record<string, unknown> }>(
    '/functions/:name',
    { config: { scope: 'manage' }, bodyLimit, schema: { params: nameParams, body: updateBody } },
    async (req) => {
      return details(await deps.functions.update(req.params.name, req.body));
    },
  );

  app.delete<{ Params: { name: string } }>('/functions/:name', { config: { scope: 'manage' }, schema: { params: nameParams } }, async (req, reply) => {
    await deps.functions.delete(req.params.name);
    reply.code(204);
  });
}
