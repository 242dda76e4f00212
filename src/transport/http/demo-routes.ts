import { readFile } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { SwitchboardError } from '../../domain/errors.js';
import { ID_PATTERN } from '../../domain/ids.js';

export interface DemoDeps {
  /** The demo chat page's file. */
  pagePath: URL;
  /** Mints a token for the demo; only given in dev mode. */
  mintToken?: (claims: { user: string; tenant: string; device?: string }) => Promise<string>;
}

const TokenQuery = z.object({ user: z.string().regex(ID_PATTERN), tenant: z.string().regex(ID_PATTERN), device: z.string().regex(ID_PATTERN).optional() });

/** The demo chat page at `/`, and in dev mode a token endpoint it uses. */
export function registerDemoRoutes(app: FastifyInstance, deps: DemoDeps): void {
  app.get('/', async (_req, reply) => reply.type('text/html; charset=utf-8').send(await readFile(deps.pagePath, 'utf8')));
  const { mintToken } = deps;
  if (!mintToken) return;
  app.get('/dev/token', async (req) => {
    const r = TokenQuery.safeParse(req.query);
    if (!r.success) throw new SwitchboardError('VALIDATION_FAILED', 'user and tenant are required ids');
    return { token: await mintToken(r.data) };
  });
}
