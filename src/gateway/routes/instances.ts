import type { FastifyInstance } from 'fastify';
import type { AppDeps } from '../deps.js';

export async function instanceRoutes(app: FastifyInstance, deps: AppDeps): Promise<void> {
  app.get('/instances', { config: { scope: 'manage' } }, async () => {
    const instances = deps.execution.listInstances();
    return { instances, count: instances.length };
  });
  app.delete<{ Params: { id: string } }>(
    '/instances/:id',
    { config: { scope: 'admin' }, schema: { params: { type: 'object', required: ['id'], properties: { id: { type: 'string', maxLength: 80 } } } } },
    async (req, reply) => {
      await deps.execution.stopInstance(req.params.id);
      reply.code(204);
    },
  );
}
