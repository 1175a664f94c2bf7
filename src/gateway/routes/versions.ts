// A function's versions: the history, one version's content, and rollback. Pinned calls on a
// retained version (POST /invoke/name@N) are the invoke route's.
import type { FastifyInstance } from 'fastify';
import { fileList, filesDigest } from '../../model/function-files.js';
import { NAME_PARAMS, R } from '../api-schemas.js';
import type { AppDeps } from '../deps.js';
import { functionDetails } from './functions.js';

const versionParams = {
  type: 'object',
  required: ['name', 'version'],
  properties: { name: { type: 'string', maxLength: 63 }, version: { type: 'string', pattern: '^[1-9][0-9]{0,8}$' } },
} as const;
const rollbackBody = {
  type: ['object', 'null'],
  additionalProperties: false,
  properties: { version: { type: 'integer', minimum: 1, maximum: 999_999_999 } },
} as const;

export async function versionRoutes(app: FastifyInstance, deps: AppDeps): Promise<void> {
  app.get<{ Params: { name: string } }>(
    '/functions/:name/versions',
    { config: { scope: 'manage' }, schema: { summary: 'Every version, newest first', params: NAME_PARAMS, response: R.versionList } },
    async (req) => {
      const { live, versions } = deps.functions.versions(req.params.name);
      return { function: req.params.name, live, count: versions.length, versions: versions.map((v) => ({ ...v, live: v.version === live })) };
    },
  );

  app.get<{ Params: { name: string; version: string } }>(
    '/functions/:name/versions/:version',
    { config: { scope: 'manage' }, schema: { summary: "One retained version's code, files and config", params: versionParams, response: R.versionDetails } },
    async (req) => {
      const version = Number(req.params.version);
      const rec = deps.functions.versionRecord(req.params.name, version);
      const info = deps.functions.versions(req.params.name).versions.find((v) => v.version === version);
      return {
        name: rec.name,
        version,
        runtime: rec.runtime,
        handler: rec.handler,
        execution_mode: rec.config.execution_mode,
        code: rec.code,
        files: fileList(rec.files),
        digest: filesDigest(rec.files),
        config: rec.config,
        created_at: info?.created_at ?? rec.updated_at,
        created_by: info?.created_by ?? null,
        change: info?.change ?? null,
      };
    },
  );

  app.post<{ Params: { name: string }; Body: { version?: number } | null }>(
    '/functions/:name/rollback',
    { config: { scope: 'manage' }, schema: { summary: "Make a version's content live again, as a new version", params: NAME_PARAMS, body: rollbackBody, response: R.functionDetails } },
    async (req) => {
      const rec = await deps.functions.rollback(req.params.name, req.body?.version, { actor: req.apiKey?.name });
      return functionDetails(rec, deps);
    },
  );
}
