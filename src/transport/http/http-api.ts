import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { SwitchboardError, toErrorBody } from '../../domain/errors.js';
import { asConversationId, asTenantId, asUserId, ID_PATTERN } from '../../domain/ids.js';
import { MAX_HISTORY_PAGE, MAX_PRESENCE_QUERY, PushRequest, describeIssues } from '../../domain/protocol/schemas.js';
import type { ServerApi } from '../../core/api/server-api.js';
import type { Clock } from '../../ports/system.js';

export interface HealthReport {
  live: boolean;
  ready: boolean;
  checks: Record<string, 'ok' | 'draining' | 'down'>;
}

export interface HttpApiDeps {
  api: ServerApi;
  apiKey: string;
  health: () => HealthReport;
  clock: Clock;
}

const id = z.string().regex(ID_PATTERN);
const HistoryParams = z.object({ tenantId: id, conversationId: id }).strict();
const HistoryQuery = z
  .object({
    before: z.coerce.number().int().nonnegative().optional(),
    after: z.coerce.number().int().nonnegative().optional(),
    limit: z.coerce.number().int().min(1).max(MAX_HISTORY_PAGE).default(50),
  })
  .strict()
  .refine((q) => q.before === undefined || q.after === undefined, 'give either before or after, not both');
const PresenceQuery = z.object({ tenantId: id, userIds: z.array(id).min(1).max(MAX_PRESENCE_QUERY) }).strict();

function parse<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const r = schema.safeParse(value);
  if (!r.success) throw new SwitchboardError('VALIDATION_FAILED', 'The request is invalid', describeIssues(r.error));
  return r.data;
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/**
 * The backend-facing HTTP API (seed 002): push, history, presence, status, health.
 * `/v1/*` needs the API key as `Authorization: Bearer <key>`; health does not.
 * Success is `{ ok: true, data }`, failure `{ ok: false, error }` in the error format.
 */
export function registerHttpApi(app: FastifyInstance, deps: HttpApiDeps): void {
  const keyDigest = digest(deps.apiKey);

  app.addHook('onSend', async (req, reply) => {
    reply.header('x-request-id', req.id);
  });

  app.setErrorHandler((err: FastifyError | SwitchboardError, req, reply) => {
    let e: SwitchboardError;
    if (err instanceof SwitchboardError) e = err;
    else if (err.statusCode === 413) e = new SwitchboardError('PAYLOAD_TOO_LARGE');
    else if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) e = new SwitchboardError('VALIDATION_FAILED', err.message);
    else {
      req.log.error({ err }, 'request failed');
      e = new SwitchboardError('INTERNAL');
    }
    void reply.status(e.status).send({ ok: false, error: toErrorBody(e, new Date(deps.clock.now()), req.id) });
  });

  app.setNotFoundHandler((req, reply) => {
    const e = new SwitchboardError('NOT_FOUND', `No route ${req.method} ${req.url.split('?')[0]}`);
    void reply.status(404).send({ ok: false, error: toErrorBody(e, new Date(deps.clock.now()), req.id) });
  });

  const requireKey = async (req: FastifyRequest): Promise<void> => {
    const header = req.headers.authorization ?? '';
    const given = header.startsWith('Bearer ') ? header.slice(7) : '';
    if (!given || !timingSafeEqual(digest(given), keyDigest)) throw new SwitchboardError('API_KEY_INVALID');
  };
  const ok = (reply: FastifyReply, data: unknown, status = 200) => reply.status(status).send({ ok: true, data });

  app.get('/health/live', async (_req, reply) => {
    const h = deps.health();
    return reply.status(h.live ? 200 : 503).send({ status: h.live ? 'live' : 'down', checks: h.checks });
  });
  app.get('/health/ready', async (_req, reply) => {
    const h = deps.health();
    return reply.status(h.ready ? 200 : 503).send({ status: h.ready ? 'ready' : 'not_ready', checks: h.checks });
  });

  app.register(async (v1) => {
    v1.addHook('onRequest', requireKey);
    v1.get('/status', async (_req, reply) => ok(reply, deps.api.status()));
    v1.post('/push', async (req, reply) => ok(reply, await deps.api.push(parse(PushRequest, req.body)), 202));
    v1.get('/tenants/:tenantId/conversations/:conversationId/messages', async (req, reply) => {
      const p = parse(HistoryParams, req.params);
      const q = parse(HistoryQuery, req.query);
      const page = await deps.api.history(asTenantId(p.tenantId), asConversationId(p.conversationId), q);
      return ok(reply, {
        hasMore: page.hasMore,
        messages: page.messages.map(({ attachment, ...m }) => (attachment ? { ...m, attachment: Buffer.from(attachment).toString('base64') } : m)),
      });
    });
    v1.post('/presence/query', async (req, reply) => {
      const body = parse(PresenceQuery, req.body);
      return ok(reply, { presence: await deps.api.presenceOf(asTenantId(body.tenantId), body.userIds.map(asUserId)) });
    });
  }, { prefix: '/v1' });
}
