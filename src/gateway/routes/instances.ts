import type { FastifyInstance } from 'fastify';
import { FaasError } from '../../errors.js';
import type { AppDeps } from '../app.js';

export async function instanceRoutes(app: FastifyInstance, deps: AppDeps): Promise<void> {
  app.get('/instances', { config: { scope: 'manage' } }, async () => {
    const instances = deps.execution?.listInstances?.() ?? [];
    return { instances, count: instances.length };
  });
  app.delete(
    '/instances/:id',
    { config: { scope: 'admin' }, schema: { params: { type: 'object', required: ['id'], properties: { id: { type: 'string', maxLength: 80 } } } } },
    async (req, reply) => {
      if (!deps.execution?.stopInstance) throw new FaasError('NOT_IMPLEMENTED', 'no execution manager');
      await deps.execution.stopInstance((req.params as { id: string }).id);
      reply.code(204);
    },
  );
}
