import { SwitchboardError } from '../../domain/errors.js';
import { asConversationId, asMessageId, type ConversationId, type MessageId, type Seq, type SocketId } from '../../domain/ids.js';
import type { Conversation, Message, Principal } from '../../domain/model.js';
import type { MessageEditInput, MessageHistoryInput, MessageReactInput, MessageSendInput } from '../../domain/protocol/schemas.js';
import type { DurableLog } from '../../ports/durable-log.js';
import type { MessageSequencer } from '../../ports/message-sequencer.js';
import type { MessageStore } from '../../ports/message-store.js';
import type { Clock, IdGenerator } from '../../ports/system.js';
import type { ConversationService } from '../conversations/conversation-service.js';
import type { EnvelopeFactory } from '../routing/envelopes.js';
import type { Router } from '../routing/router.js';
import { channelTopic, conversationStream, receiptStream } from '../routing/topics.js';
import { toWireMessage, type WireMessage } from './wire.js';

export interface MessageServiceOptions {
  /** Whether messages may carry a binary attachment. */
  allowBinary: boolean;
  /** Largest binary attachment in bytes. */
  maxAttachmentBytes: number;
}

export interface HistoryPage {
  messages: WireMessage[];
  /** True when older (or, with `after`, newer) messages exist beyond this page. */
  hasMore: boolean;
}

/** Called after a message is accepted, e.g. to stop the sender's typing indicator. */
export type SentListener = (by: Principal, conversationId: ConversationId) => void;

/** Send, edit, delete, react, read receipts and history. */
export class MessageService {
  private readonly sentListeners: SentListener[] = [];

  constructor(
    private readonly store: MessageStore,
    private readonly sequencer: MessageSequencer,
    private readonly log: DurableLog,
    private readonly conversations: ConversationService,
    private readonly router: Router,
    private readonly envelopes: EnvelopeFactory,
    private readonly ids: IdGenerator,
    private readonly clock: Clock,
    private readonly options: MessageServiceOptions,
  ) {}

  onSent(listener: SentListener): void {
    this.sentListeners.push(listener);
  }

  /**
   * Accepts the message (dedup, next sequence number), appends it to the durable log (unless
   * the sequencer stored it already: the embedded journal), keeps
   * it in every member's inbox and delivers `message:new`; resolves only then, so the answer
   * means "durably accepted" (docs/protocol.md §12). A repeat of the same clientMessageId
   * gets the first message back and is appended and delivered again (at-least-once: the
   * first attempt may have stopped half-way; the log's consumers and clients drop repeats
   * by message id).
   */
  async send(by: Principal, input: MessageSendInput, socketId?: SocketId): Promise<{ message: WireMessage; duplicate: boolean }> {
    const conversationId = asConversationId(input.conversationId);
    const { conversation, member } = await this.conversations.requireMember(by.tenantId, conversationId, by.userId);
    if (conversation.type === 'channel' && member.role === 'member') {
      throw new SwitchboardError('FORBIDDEN', 'Only owners and admins post in a channel', { conversationId });
    }
    if (input.attachment) {
      if (!this.options.allowBinary) throw new SwitchboardError('VALIDATION_FAILED', 'Binary attachments are disabled on this server', [{ field: 'attachment', message: 'binary payloads are disabled' }]);
      if (input.attachment.byteLength > this.options.maxAttachmentBytes) {
        throw new SwitchboardError('PAYLOAD_TOO_LARGE', `Attachments are limited to ${this.options.maxAttachmentBytes} bytes`, { limit: this.options.maxAttachmentBytes });
      }
    }
    if (input.replyTo !== undefined && !(await this.find(by.tenantId, conversationId, asMessageId(input.replyTo)))) {
      throw new SwitchboardError('NOT_FOUND', 'The message replied to does not exist', { messageId: input.replyTo });
    }
    const { message, duplicate } = await this.sequencer.accept({
      tenantId: by.tenantId,
      conversationId,
      id: asMessageId(this.ids.next()),
      senderId: by.userId,
      clientMessageId: input.clientMessageId,
      type: input.type,
      content: input.content,
      metadata: input.metadata ?? {},
      attachment: input.attachment ?? null,
      replyTo: input.replyTo === undefined ? null : asMessageId(input.replyTo),
      createdAt: new Date(this.clock.now()).toISOString(),
    });
    try {
      if (!this.sequencer.storesOnAccept) await this.log.append([message]);
    } catch (err) {
      throw new SwitchboardError('UNAVAILABLE', 'The message could not be made durable; send it again with the same clientMessageId', { cause: String(err) });
    }
    const wire = toWireMessage(message);
    if (!duplicate) for (const l of this.sentListeners) l(by, conversationId);
    await this.deliver(conversation, 'message', 'message:new', wire, socketId);
    return { message: wire, duplicate };
  }

  async edit(by: Principal, input: MessageEditInput, socketId?: SocketId): Promise<WireMessage> {
    const { conversation, message } = await this.authorOnly(by, input.conversationId, input.messageId, 'edit');
    const conversationId = conversation.id;
    const edited = await this.store.edit(by.tenantId, conversationId, message.id, input.content, input.metadata, this.nowIso());
    if (!edited) throw new SwitchboardError('NOT_FOUND', 'Message not found', { messageId: message.id });
    const wire = toWireMessage(edited);
    await this.deliver(conversation, 'message', 'message:updated', wire, socketId);
    return wire;
  }

  async delete(by: Principal, input: { conversationId: string; messageId: string }, socketId?: SocketId): Promise<{ conversationId: ConversationId; messageId: MessageId; seq: Seq; deletedAt: string }> {
    const { conversation, message } = await this.authorOnly(by, input.conversationId, input.messageId, 'delete');
    const conversationId = conversation.id;
    const deleted = await this.store.markDeleted(by.tenantId, conversationId, message.id, this.nowIso());
    if (!deleted?.deletedAt) throw new SwitchboardError('NOT_FOUND', 'Message not found', { messageId: message.id });
    const data = { conversationId, messageId: deleted.id, seq: deleted.seq, deletedAt: deleted.deletedAt };
    await this.deliver(conversation, 'event', 'message:deleted', data, socketId);
    return data;
  }

  async react(by: Principal, input: MessageReactInput, socketId?: SocketId) {
    const conversationId = asConversationId(input.conversationId);
    const { conversation } = await this.conversations.requireMember(by.tenantId, conversationId, by.userId);
    const message = await this.liveMessage(by, conversationId, input.messageId);
    const updated = await this.store.react(by.tenantId, conversationId, message.id, by.userId, input.emoji, input.op, this.nowIso());
    if (!updated) throw new SwitchboardError('NOT_FOUND', 'Message not found', { messageId: message.id });
    const data = { conversationId, messageId: updated.id, seq: updated.seq, userId: by.userId, emoji: input.emoji, op: input.op, reactions: updated.reactions };
    await this.deliver(conversation, 'event', 'message:reaction', data, socketId);
    return data;
  }

  /**
   * Moves the reader's cursor forward to `seq` (clamped to the newest message) and sends
   * a `message:read` receipt to the senders of the newly read messages and to the
   * reader's other devices.
   */
  async read(by: Principal, input: { conversationId: string; seq: Seq }, socketId?: SocketId): Promise<{ conversationId: ConversationId; seq: Seq }> {
    const conversationId = asConversationId(input.conversationId);
    await this.conversations.requireMember(by.tenantId, conversationId, by.userId);
    const last = (await this.sequencer.lastSeqs(by.tenantId, [conversationId])).get(conversationId) ?? 0;
    const at = this.nowIso();
    const { previous, current } = await this.store.advanceReadCursor(by.tenantId, conversationId, by.userId, Math.min(input.seq, last), at);
    if (current > previous) {
      const [stored, recent] = await Promise.all([
        this.store.sendersBetween(by.tenantId, conversationId, previous, current),
        this.sequencer.recent(by.tenantId, conversationId),
      ]);
      const pending = recent.filter((m) => m.seq > previous && m.seq <= current).map((m) => m.senderId);
      const senders = [...new Set([...stored, ...pending])].filter((u) => u !== by.userId);
      const env = this.envelopes.create(by.tenantId, 'event', 'message:read', { conversationId, userId: by.userId, seq: current, readAt: at });
      await this.router.toUsers(by.tenantId, [...senders, by.userId], env, { exceptSocket: socketId, stream: receiptStream(conversationId) });
    }
    return { conversationId, seq: current };
  }

  async history(by: Principal, input: MessageHistoryInput): Promise<HistoryPage> {
    const conversationId = asConversationId(input.conversationId);
    await this.conversations.requireMember(by.tenantId, conversationId, by.userId);
    return this.page(by.tenantId, conversationId, input);
  }

  /**
   * History without a membership check, for the trusted backend. Messages the store does not
   * have yet come from the sequencer's recent tail (read-after-write).
   */
  async page(tenantId: Principal['tenantId'], conversationId: ConversationId, q: { before?: Seq; after?: Seq; limit: number }): Promise<HistoryPage> {
    const [stored, recent] = await Promise.all([
      this.store.page(tenantId, conversationId, { before: q.before, after: q.after, limit: q.limit + 1 }),
      this.sequencer.recent(tenantId, conversationId),
    ]);
    const bySeq = new Map<Seq, Message>();
    const inRange = (m: Message) => (q.after === undefined || m.seq > q.after) && (q.before === undefined || m.seq < q.before);
    for (const m of recent) if (inRange(m)) bySeq.set(m.seq, m);
    // The store's copy wins: it carries edits, deletion and reactions.
    for (const m of stored) bySeq.set(m.seq, m);
    const all = [...bySeq.values()].sort((a, b) => a.seq - b.seq);
    const rows = q.after !== undefined ? all.slice(0, q.limit + 1) : all.slice(-(q.limit + 1));
    const hasMore = rows.length > q.limit;
    // Ascending order; the extra row sits on the far side of the page.
    const page = hasMore ? (q.after !== undefined ? rows.slice(0, q.limit) : rows.slice(1)) : rows;
    return { messages: page.map(toWireMessage), hasMore };
  }

  private async authorOnly(by: Principal, conversationIdRaw: string, messageIdRaw: string, what: string): Promise<{ conversation: Conversation; message: Message }> {
    const conversationId = asConversationId(conversationIdRaw);
    const { conversation } = await this.conversations.requireMember(by.tenantId, conversationId, by.userId);
    const message = await this.liveMessage(by, conversationId, messageIdRaw);
    if (message.senderId !== by.userId) throw new SwitchboardError('FORBIDDEN', `Only the author can ${what} a message`, { messageId: message.id });
    return { conversation, message };
  }

  private async liveMessage(by: Principal, conversationId: ConversationId, messageIdRaw: string): Promise<Message> {
    const message = await this.stored(by.tenantId, conversationId, asMessageId(messageIdRaw));
    if (!message) throw new SwitchboardError('NOT_FOUND', 'Message not found', { messageId: messageIdRaw });
    if (message.deletedAt) throw new SwitchboardError('CONFLICT', 'The message was deleted', { messageId: messageIdRaw });
    return message;
  }

  /** A message from the store or, if accepted but not stored yet, from the sequencer's tail. */
  private async find(tenantId: Principal['tenantId'], conversationId: ConversationId, id: MessageId): Promise<Message | null> {
    return (await this.store.get(tenantId, conversationId, id)) ?? (await this.sequencer.recent(tenantId, conversationId)).find((m) => m.id === id) ?? null;
  }

  /**
   * A message as stored, for changes to it: one the processor has not written yet is
   * written now (the processor's later insert of it is then a no-op).
   */
  private async stored(tenantId: Principal['tenantId'], conversationId: ConversationId, id: MessageId): Promise<Message | null> {
    const inStore = await this.store.get(tenantId, conversationId, id);
    if (inStore) return inStore;
    const pending = (await this.sequencer.recent(tenantId, conversationId)).find((m) => m.id === id);
    if (!pending) return null;
    await this.store.insert([pending]);
    return this.store.get(tenantId, conversationId, id);
  }

  /** Broadcast channels go through their topic; other conversations to each member (docs/decisions/001). */
  private async deliver(conversation: Conversation, type: 'message' | 'event', action: string, data: unknown, socketId?: SocketId): Promise<void> {
    const { tenantId, id } = conversation;
    const env = this.envelopes.create(tenantId, type, action, data);
    if (conversation.type === 'channel') {
      this.router.toTopic(channelTopic(tenantId, id), env, { exceptSocket: socketId });
      return;
    }
    await this.router.toUsers(tenantId, await this.conversations.memberIds(tenantId, id), env, { exceptSocket: socketId, stream: conversationStream(id) });
  }

  private nowIso(): string {
    return new Date(this.clock.now()).toISOString();
  }
}
