import type { FastifyInstance } from 'fastify';
import { R } from '../api-schemas.js';
import type { AppDeps } from '../deps.js';

export async function instanceRoutes(app: FastifyInstance, deps: AppDeps): Promise<void> {
  app.get('/instances', { config: { scope: 'manage' }, schema: { summary: 'Every running instance', response: R.instances } }, async () => {
    const instances = deps.execution.listInstances();
    return { instances, count: instances.length };
  });
  app.delete<{ Params: { id: string } }>(
    '/instances/:id',
    {
      config: { scope: 'admin' },
      schema: { summary: 'Stop one instance', params: { type: 'object', required: ['id'], properties: { id: { type: 'string', maxLength: 80 } } }, response: R.noContent },
    },
    async (req, reply) => {
      await deps.execution.stopInstance(req.params.id);
      reply.code(204);
    },
  );
}
