import { z } from 'zod';
import { SwitchboardError } from '../../domain/errors.js';
import { asConversationId, asUserId } from '../../domain/ids.js';
import * as S from '../../domain/protocol/schemas.js';
import type { HandlerContext } from './handler-context.js';

/** Which token bucket an event draws from. */
export type LimitClass = 'message' | 'room' | 'typing' | 'presence' | 'query';

/** Who an event's effects are routed to (seed 000 §4.1). */
export type Route = 'conversation' | 'sender' | 'subscribers' | 'self';

/** One client→server event, as data (seed 000 §4.1): schema, handler and policy. */
export interface EventDefinition {
  schema: z.ZodType;
  /** The client must pass an acknowledgement callback; without one the event is refused. */
  requiresAck: boolean;
  /** Whether the event's effect is stored. */
  persist: boolean;
  route: Route;
  limit: LimitClass;
  /** Server-side throttle of the broadcast the event causes, if any. */
  throttleMs?: number;
  handle(ctx: HandlerContext, payload: unknown): Promise<unknown>;
}

function defineEvent<Schema extends z.ZodType>(
  spec: Omit<EventDefinition, 'handle' | 'schema'> & { schema: Schema; handler: (ctx: HandlerContext, input: z.output<Schema>) => Promise<unknown> },
): EventDefinition {
  const { handler, ...policy } = spec;
  return {
    ...policy,
    async handle(ctx, payload) {
      const parsed = spec.schema.safeParse(payload);
      if (!parsed.success) throw new SwitchboardError('VALIDATION_FAILED', 'The payload is invalid', S.describeIssues(parsed.error));
      return handler(ctx, parsed.data);
    },
  };
}

const Empty = z.object({}).strict().optional();

/** Builds the registry of every client→server event on the default namespace. */
export function createEventRegistry(options: { typingThrottleMs: number }): ReadonlyMap<string, EventDefinition> {
  const events: Record<string, EventDefinition> = {
    'auth:refresh': defineEvent({
      schema: S.AuthRefresh, requiresAck: true, persist: false, route: 'self', limit: 'query',
      handler: async ({ core, socketId }, { token }) => core.sessions.refresh(socketId, await core.verifier.verify(token)),
    }),
    'room:create': defineEvent({
      schema: S.RoomCreate, requiresAck: true, persist: true, route: 'conversation', limit: 'room',
      handler: ({ core, principal, socketId }, input) => core.conversations.create(principal, input, socketId),
    }),
    'room:join': defineEvent({
      schema: S.RoomRef, requiresAck: true, persist: true, route: 'conversation', limit: 'room',
      handler: ({ core, principal, socketId }, { conversationId }) => core.conversations.join(principal, asConversationId(conversationId), socketId),
    }),
    'room:leave': defineEvent({
      schema: S.RoomRef, requiresAck: true, persist: true, route: 'conversation', limit: 'room',
      handler: ({ core, principal, socketId }, { conversationId }) => core.conversations.leave(principal, asConversationId(conversationId), socketId),
    }),
    'room:update': defineEvent({
      schema: S.RoomUpdate, requiresAck: true, persist: true, route: 'conversation', limit: 'room',
      handler: ({ core, principal, socketId }, input) => core.conversations.update(principal, input, socketId),
    }),
    'room:get': defineEvent({
      schema: S.RoomRef, requiresAck: true, persist: false, route: 'self', limit: 'query',
      handler: ({ core, principal }, { conversationId }) => core.conversations.get(principal, asConversationId(conversationId)),
    }),
    'room:list': defineEvent({
      schema: Empty, requiresAck: true, persist: false, route: 'self', limit: 'query',
      handler: async ({ core, principal }) => ({ conversations: await core.conversations.list(principal) }),
    }),
    'message:send': defineEvent({
      schema: S.MessageSend, requiresAck: true, persist: true, route: 'conversation', limit: 'message',
      handler: ({ core, principal, socketId }, input) => core.messages.send(principal, input, socketId),
    }),
    'message:edit': defineEvent({
      schema: S.MessageEdit, requiresAck: true, persist: true, route: 'conversation', limit: 'message',
      handler: ({ core, principal, socketId }, input) => core.messages.edit(principal, input, socketId),
    }),
    'message:delete': defineEvent({
      schema: S.MessageDelete, requiresAck: true, persist: true, route: 'conversation', limit: 'message',
      handler: ({ core, principal, socketId }, input) => core.messages.delete(principal, input, socketId),
    }),
    'message:react': defineEvent({
      schema: S.MessageReact, requiresAck: true, persist: true, route: 'conversation', limit: 'message',
      handler: ({ core, principal, socketId }, input) => core.messages.react(principal, input, socketId),
    }),
    'message:read': defineEvent({
      schema: S.MessageRead, requiresAck: true, persist: true, route: 'sender', limit: 'message',
      handler: ({ core, principal, socketId }, input) => core.messages.read(principal, input, socketId),
    }),
    'message:history': defineEvent({
      schema: S.MessageHistory, requiresAck: true, persist: false, route: 'self', limit: 'query',
      handler: ({ core, principal }, input) => core.messages.history(principal, input),
    }),
    'inbox:ack': defineEvent({
      schema: S.InboxAck, requiresAck: false, persist: false, route: 'self', limit: 'query',
      handler: async ({ core, socketId }, { offset }) => ({ offset: await core.streams.ack(socketId, offset) }),
    }),
    'typing:start': defineEvent({
      schema: S.TypingEvent, requiresAck: false, persist: false, route: 'conversation', limit: 'typing', throttleMs: options.typingThrottleMs,
      handler: ({ core, principal }, { conversationId }) => core.typing.start(principal, conversationId),
    }),
    'typing:stop': defineEvent({
      schema: S.TypingEvent, requiresAck: false, persist: false, route: 'conversation', limit: 'typing',
      handler: ({ core, principal }, { conversationId }) => core.typing.stop(principal, conversationId),
    }),
    'presence:update': defineEvent({
      schema: S.PresenceUpdate, requiresAck: false, persist: false, route: 'subscribers', limit: 'presence',
      handler: ({ core, principal }, input) => core.presence.update(principal, input),
    }),
    'presence:subscribe': defineEvent({
      schema: S.PresenceUsers, requiresAck: false, persist: false, route: 'self', limit: 'presence',
      handler: async ({ core, principal, socketId }, { userIds }) => ({ presence: await core.presence.subscribe(principal.tenantId, socketId, userIds.map(asUserId)) }),
    }),
    'presence:unsubscribe': defineEvent({
      schema: S.PresenceUsers, requiresAck: false, persist: false, route: 'self', limit: 'presence',
      handler: async ({ core, principal, socketId }, { userIds }) => core.presence.unsubscribe(principal.tenantId, socketId, userIds.map(asUserId)),
    }),
    'presence:query': defineEvent({
      schema: S.PresenceUsers, requiresAck: true, persist: false, route: 'self', limit: 'query',
      handler: async ({ core, principal }, { userIds }) => ({ presence: await core.presence.query(principal.tenantId, userIds.map(asUserId)) }),
    }),
  };
  return new Map(Object.entries(events));
}
