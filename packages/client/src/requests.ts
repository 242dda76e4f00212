import type {
  ChosenStatus, Conversation, ConversationId, ConversationSummary, CreateRoomInput, HistoryPage, HistoryQuery,
  Member, Message, MessageId, Presence, RequestMap, RequestName, Seq, ServerEventMap, UpdateRoomInput, UserId,
} from './protocol.js';

type Room = { conversation: Conversation; members: Member[] };
const PRESENCE_BATCH = 500;

/**
 * The request/answer part of the client: one typed method per acknowledged event of
 * docs/protocol.md §5, all over {@link request}. Errors reject as `SwitchboardClientError`.
 */
export abstract class SwitchboardRequests {
  /** Users whose presence this client follows; subscribed again on every new connection. */
  protected readonly presenceSubscriptions = new Set<UserId>();

  /**
   * Any acknowledged event of docs/protocol.md §5, typed. Waits up to `timeoutMs` for the
   * connection, then for the answer; rejects with the server's error, `TIMEOUT` or `DISCONNECTED`.
   */
  abstract request<E extends RequestName>(event: E, payload: RequestMap[E]['payload'], timeoutMs?: number): Promise<RequestMap[E]['answer']>;

  /** A conversation was created by this client (it starts at seq 0). */
  protected abstract roomCreated(conversationId: ConversationId): void;

  /** Sets your status and/or custom status (`null` clears it); answers your presence. */
  setPresence(status?: ChosenStatus, customStatus?: string | null): Promise<Presence> {
    const payload: RequestMap['presence:update']['payload'] = {};
    if (status !== undefined) payload.status = status;
    if (customStatus !== undefined) payload.customStatus = customStatus;
    return this.request('presence:update', payload);
  }

  /** Follows users' presence (`presence:changed`), also after reconnects; answers their current presence. */
  async subscribePresence(userIds: UserId[]): Promise<Presence[]> {
    for (const id of userIds) this.presenceSubscriptions.add(id);
    const out: Presence[] = [];
    for (let i = 0; i < userIds.length; i += PRESENCE_BATCH) {
      out.push(...(await this.request('presence:subscribe', { userIds: userIds.slice(i, i + PRESENCE_BATCH) })).presence);
    }
    return out;
  }

  /** Stops following users' presence. */
  async unsubscribePresence(userIds: UserId[]): Promise<void> {
    for (const id of userIds) this.presenceSubscriptions.delete(id);
    for (let i = 0; i < userIds.length; i += PRESENCE_BATCH) {
      await this.request('presence:unsubscribe', { userIds: userIds.slice(i, i + PRESENCE_BATCH) });
    }
  }

  /** The current presence of users, in the order asked. */
  async queryPresence(userIds: UserId[]): Promise<Presence[]> {
    return (await this.request('presence:query', { userIds })).presence;
  }

  /** One page of a conversation's messages, ascending by seq. */
  history(conversationId: ConversationId, query: HistoryQuery = {}): Promise<HistoryPage> {
    return this.request('message:history', { conversationId, ...query });
  }

  /** Moves your read cursor to `seq`; answers where it is now. */
  async markRead(conversationId: ConversationId, seq: Seq): Promise<Seq> {
    return (await this.request('message:read', { conversationId, seq })).seq;
  }

  /** Every conversation you are a member of, with your role, its newest seq and your read cursor. */
  async rooms(): Promise<ConversationSummary[]> {
    return (await this.request('room:list', {})).conversations;
  }

  /** Creates a conversation (a direct one with the same user is answered with `created: false`). */
  async createRoom(input: CreateRoomInput): Promise<Room & { created: boolean }> {
    const answer = await this.request('room:create', input);
    if (answer.created) this.roomCreated(answer.conversation.id);
    return answer;
  }

  /** Joins a public group or channel. */
  joinRoom(conversationId: ConversationId): Promise<Room> {
    return this.request('room:join', { conversationId });
  }

  /** Leaves a group or channel. */
  async leaveRoom(conversationId: ConversationId): Promise<void> {
    await this.request('room:leave', { conversationId });
  }

  /** A conversation with its members, newest seq and read cursors. */
  getRoom(conversationId: ConversationId): Promise<RequestMap['room:get']['answer']> {
    return this.request('room:get', { conversationId });
  }

  /** Renames, changes members or roles (owners and admins). */
  updateRoom(conversationId: ConversationId, changes: UpdateRoomInput): Promise<Room> {
    return this.request('room:update', { conversationId, ...changes });
  }

  /** Edits your message. */
  edit(conversationId: ConversationId, messageId: MessageId, content: string, metadata?: Record<string, unknown>): Promise<Message> {
    return this.request('message:edit', metadata === undefined ? { conversationId, messageId, content } : { conversationId, messageId, content, metadata });
  }

  /** Deletes your message (it keeps its id and seq). */
  deleteMessage(conversationId: ConversationId, messageId: MessageId): Promise<ServerEventMap['message:deleted']> {
    return this.request('message:delete', { conversationId, messageId });
  }

  /** Adds (or removes) your reaction to a message. */
  react(conversationId: ConversationId, messageId: MessageId, emoji: string, op: 'add' | 'remove' = 'add'): Promise<ServerEventMap['message:reaction']> {
    return this.request('message:react', { conversationId, messageId, emoji, op });
  }

}
