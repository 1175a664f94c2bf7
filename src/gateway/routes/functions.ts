// /functions: create, list, read, update, delete, download. Bodies are JSON, or a .tar.gz of the
// function's files with the rest of the request in the X-Faas-Function header (415 otherwise);
// shape is checked by schema here (`config` by model/function-schema.ts), meaning by the deployer.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { readArchive } from '../../deploy/archive.js';
import { badRequest } from '../../errors.js';
import { type FunctionFiles, fileList, filesDigest } from '../../model/function-files.js';
import type { FunctionRecord } from '../../model/function-model.js';
import { FUNCTION_CONFIG_INPUT_SCHEMA_ID, compileWithFunctionSchema } from '../../model/function-schema.js';
import { NAME_PARAMS, R } from '../api-schemas.js';
import type { AppDeps } from '../deps.js';

const bodyProps = {
  name: { type: 'string' },
  code: { type: 'string' },
  files: { type: 'object', additionalProperties: { type: 'string' } },
  runtime: { type: 'string' },
  handler: { type: ['string', 'null'] },
  // Any key may be null: back to its default.
  config: { $ref: FUNCTION_CONFIG_INPUT_SCHEMA_ID },
} as const;

const createBody = { type: 'object', required: ['name'], additionalProperties: false, properties: bodyProps } as const;

/** Content types of an archive upload. */
const ARCHIVE_TYPES = ['application/gzip', 'application/x-gzip', 'application/x-tar', 'application/x-compressed-tar'];
/** Where an archive upload's JSON (name, runtime, handler, config) travels. */
const META_HEADER = 'x-faas-function';
const updateBody = { type: 'object', additionalProperties: false, properties: bodyProps } as const;

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

/** A function in full: GET /functions/:name, and what create, update and rollback answer. */
export function functionDetails(rec: FunctionRecord, deps: AppDeps) {
  return {
    ...summary(rec),
    code: rec.code,
    files: fileList(rec.files),
    digest: filesDigest(rec.files),
    config: rec.config,
    instances: deps.execution.instanceCounts(rec.name),
  };
}

export async function functionRoutes(app: FastifyInstance, deps: AppDeps): Promise<void> {
  // JSON only on these routes: text/plain would otherwise be parsed and then fail as "not an object".
  app.removeContentTypeParser('text/plain');
  const bodyLimit = deps.config.system.max_code_size * 2 + 64 * 1024;
  // The function schema's Ajv: it knows the config schema, its formats, and says what it expects.
  app.setValidatorCompiler(compileWithFunctionSchema);

  // An archive upload: its files are read (and checked) before validation, and its JSON from
  // the header becomes the body, so both ways of deploying meet the same schema and deployer.
  app.addContentTypeParser(ARCHIVE_TYPES, { parseAs: 'buffer', bodyLimit }, (_req, body, done) => done(null, body));
  const uploads = new WeakMap<FastifyRequest, FunctionFiles>();
  app.addHook('preValidation', async (req) => {
    if (!Buffer.isBuffer(req.body)) return;
    const files = await readArchive(req.body, deps.config.system.max_code_size);
    const raw = req.headers[META_HEADER];
    let meta: unknown = {};
    if (raw !== undefined) {
      try {
        meta = JSON.parse(String(raw));
      } catch (e) {
        throw badRequest(META_HEADER, `the ${META_HEADER} header must be JSON such as {"name":"hello","runtime":"python"}: ${(e as Error).message}`);
      }
      if (meta === null || typeof meta !== 'object' || Array.isArray(meta)) throw badRequest(META_HEADER, `the ${META_HEADER} header must be a JSON object`);
      if ('code' in meta || 'files' in meta) throw badRequest(META_HEADER, `the ${META_HEADER} header cannot carry code or files: they are the archive`);
    }
    uploads.set(req, files);
    req.body = meta;
  });

  const details = (rec: FunctionRecord) => functionDetails(rec, deps);
  const statsOf = (name: string) => {
    const c = deps.observability.stats.of(name);
    return {
      invocations: { total: c?.invocations ?? 0, errors: c?.errors ?? 0, cold_starts: c?.coldStarts ?? 0, prewarmed_starts: c?.prewarmedStarts ?? 0 },
      latency_ms: c ? c.latency.percentiles([50, 95, 99]) : { p50: null, p95: null, p99: null },
    };
  };

  // ?stats=true adds each function's traffic (as GET /stats/functions/:name counts it), so a
  // table of every function (`faasd ls`, the console) is one request, not one per function.
  app.get<{ Querystring: { stats?: string } }>(
    '/functions',
    {
      config: { scope: 'manage' },
      schema: {
        summary: 'List functions (no code); stats=true adds invocations, errors and latency per function',
        querystring: { type: 'object', additionalProperties: false, properties: { stats: { type: 'string', enum: ['true', 'false', '1', '0'] } } },
        response: R.functionList,
      },
    },
    async (req) => {
      const withStats = req.query.stats === 'true' || req.query.stats === '1';
      const functions = deps.functions.list().map((r) => ({ ...summary(r), instances: deps.execution.instanceCounts(r.name), ...(withStats ? { stats: statsOf(r.name) } : {}) }));
      return { functions, count: functions.length };
    },
  );

  app.post<{ Body: Record<string, unknown> }>(
    '/functions',
    {
      config: { scope: 'manage' },
      bodyLimit,
      schema: { summary: 'Create a function: JSON {name, code or files, ...}, or a .tar.gz with X-Faas-Function', body: createBody, response: R.functionCreated },
    },
    async (req, reply) => {
      const rec = await deps.functions.create(req.body, { uploaded: uploads.get(req), actor: req.apiKey?.name });
      reply.code(201).header('Location', `/functions/${rec.name}`);
      return details(rec);
    },
  );

  app.get<{ Params: { name: string } }>(
    '/functions/:name',
    { config: { scope: 'manage' }, schema: { summary: 'A function in full', params: NAME_PARAMS, response: R.functionDetails } },
    async (req) => {
      return details(deps.functions.get(req.params.name));
    },
  );

  app.get<{ Params: { name: string } }>(
    '/functions/:name/code',
    { config: { scope: 'manage' }, schema: { summary: "The function's files as a .tar.gz", params: NAME_PARAMS, response: R.archive } },
    async (req, reply) => {
      const { version, stream } = deps.functions.archive(req.params.name);
      reply.type('application/gzip').header('content-disposition', `attachment; filename="${req.params.name}-v${version}.tar.gz"`);
      return reply.send(stream);
    },
  );

  app.put<{ Params: { name: string }; Body: Record<string, unknown> }>(
    '/functions/:name',
    { config: { scope: 'manage' }, bodyLimit, schema: { summary: 'Update a function (partial): a new version', params: NAME_PARAMS, body: updateBody, response: R.functionDetails } },
    async (req) => {
      const files = uploads.get(req);
      if (!files && Object.keys(req.body).length === 0) throw badRequest('body', 'body must NOT have fewer than 1 properties: send code, files, runtime, handler or config');
      return details(await deps.functions.update(req.params.name, req.body, { uploaded: files, actor: req.apiKey?.name }));
    },
  );

  app.delete<{ Params: { name: string } }>(
    '/functions/:name',
    { config: { scope: 'manage' }, schema: { summary: 'Delete a function and its versions', params: NAME_PARAMS, response: R.noContent } },
    async (req, reply) => {
      await deps.functions.delete(req.params.name);
      reply.code(204);
    },
  );
}
