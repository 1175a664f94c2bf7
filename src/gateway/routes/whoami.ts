// GET /whoami: the calling key's name and scopes, for clients that adapt to what a key may do
// (the web console hides what the scopes forbid). Any valid key; nothing secret is returned.
import type { FastifyInstance } from 'fastify';
import { SCOPES } from '../../config/schema.js';
import { R } from '../api-schemas.js';

const response = {
  200: {
    type: 'object',
    properties: {
      name: { type: 'string', description: 'the key name from faas_config.yaml api_keys' },
      scopes: { type: 'array', items: { enum: [...SCOPES] }, description: 'what the key may do' },
    },
    required: ['name', 'scopes'],
    additionalProperties: false,
  },
  ...R.errors,
};

export async function whoamiRoutes(app: FastifyInstance): Promise<void> {
  app.get('/whoami', { config: { scope: 'any' }, schema: { summary: "The calling key's name and scopes (any valid key)", response } }, async (req) => {
    const key = req.apiKey!;
    return { name: key.name, scopes: SCOPES.filter((s) => key.scopes.has(s)) };
  });
}
