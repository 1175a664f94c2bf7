// /secrets: set, change, delete and list secrets (admin to write, manage to read). No answer
// ever carries a value, and neither does an error: these routes parse JSON themselves, because
// the default parser's error quotes the start of a malformed body (V8: `Unexpected token 'h',
// "{"value": hunter2}" is not valid JSON`) into the 400 and the log.
import type { FastifyInstance } from 'fastify';
import { FaasError } from '../../errors.js';
import { MAX_SECRET_BYTES } from '../../secrets/secrets.js';
import { NAME_PARAMS, R } from '../api-schemas.js';
import type { AppDeps } from '../deps.js';

// The value: `value` (UTF-8 text) or `value_base64` (any bytes); exactly one (secrets.ts says which is missing).
const VALUE_PROPS = {
  name: { type: 'string' },
  value: { type: 'string', description: 'The secret as UTF-8 text' },
  value_base64: { type: 'string', description: 'The secret as base64, for bytes that are not text' },
} as const;

const createBody = { type: 'object', required: ['name'], additionalProperties: false, properties: VALUE_PROPS } as const;

const updateBody = { type: 'object', additionalProperties: false, properties: VALUE_PROPS } as const;

export async function secretRoutes(app: FastifyInstance, deps: AppDeps): Promise<void> {
  const secrets = deps.secrets;
  // A 64 KiB value written as JSON \u escapes is six times longer (as base64, 4/3).
  const bodyLimit = MAX_SECRET_BYTES * 6 + 4096;
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit }, (_req, body, done) => {
    try {
      done(null, JSON.parse((body as Buffer).toString('utf8')));
    } catch {
      done(new FaasError('BAD_REQUEST', 'the body is not valid JSON', { details: { field: 'body' } }), undefined);
    }
  });

  app.get('/secrets', { config: { scope: 'manage' }, schema: { summary: 'List secrets (never values)', response: R.secretList } }, async () => {
    const list = secrets.list();
    return { secrets: list, count: list.length };
  });

  app.get<{ Params: { name: string } }>('/secrets/:name', { config: { scope: 'manage' }, schema: { summary: 'One secret (never its value)', params: NAME_PARAMS, response: R.secret } }, async (req) =>
    secrets.get(req.params.name),
  );

  app.post<{ Body: Record<string, unknown> }>(
    '/secrets',
    { config: { scope: 'admin' }, bodyLimit, schema: { summary: 'Create a secret', body: createBody, response: R.secretCreated } },
    async (req, reply) => {
      const out = secrets.create(req.body);
      reply.code(201).header('Location', `/secrets/${out.name}`);
      return out;
    },
  );

  app.put<{ Params: { name: string }; Body: Record<string, unknown> }>(
    '/secrets/:name',
    { config: { scope: 'admin' }, bodyLimit, schema: { summary: "Change a secret's value: the instances that use it are replaced", params: NAME_PARAMS, body: updateBody, response: R.secret } },
    async (req) => secrets.update(req.params.name, req.body),
  );

  app.delete<{ Params: { name: string } }>(
    '/secrets/:name',
    { config: { scope: 'admin' }, schema: { summary: 'Delete a secret no function uses', params: NAME_PARAMS, response: R.noContent } },
    async (req, reply) => {
      secrets.delete(req.params.name);
      reply.code(204);
    },
  );
}
