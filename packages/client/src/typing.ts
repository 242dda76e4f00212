import type { ConversationId } from './protocol.js';

export interface TypingOptions {
  /** At most one `typing:start` per conversation this often, in ms (default 2000; the server's timeout is 6 s). */
  throttleMs?: number;
  /** Send `typing:stop` this long after the last {@link TypingIndicator.typing} call, in ms (default 5000). */
  idleMs?: number;
}

interface Active {
  lastStart: number;
  idle: ReturnType<typeof setTimeout>;
}

/**
 * The user's own typing indicator: call `typing()` on every keystroke; it sends a throttled
 * `typing:start` and a `typing:stop` once the user pauses. Typing is best effort (the server
 * drops it under load and ends it by itself), so sends are fire-and-forget.
 */
export class TypingIndicator {
  private readonly active = new Map<ConversationId, Active>();
  private readonly throttleMs: number;
  private readonly idleMs: number;

  constructor(
    private readonly send: (event: 'typing:start' | 'typing:stop', conversationId: ConversationId) => void,
    options: TypingOptions = {},
    private readonly now: () => number = Date.now,
  ) {
    this.throttleMs = options.throttleMs ?? 2000;
    this.idleMs = options.idleMs ?? 5000;
  }

  /** The user typed in the conversation. */
  typing(conversationId: ConversationId): void {
    const current = this.active.get(conversationId);
    const now = this.now();
    if (current) clearTimeout(current.idle);
    const due = !current || now - current.lastStart >= this.throttleMs;
    if (due) this.send('typing:start', conversationId);
    this.active.set(conversationId, {
      lastStart: due || !current ? now : current.lastStart,
      idle: setTimeout(() => this.stop(conversationId), this.idleMs),
    });
  }

  /** The user stopped typing (cleared the input, left the conversation). */
  stop(conversationId: ConversationId): void {
    if (!this.forget(conversationId)) return;
    this.send('typing:stop', conversationId);
  }

  /** A message was sent: the server ended the indicator itself, so nothing is sent. */
  sent(conversationId: ConversationId): void {
    this.forget(conversationId);
  }

  /** Forgets every indicator without sending anything (the connection went down or closed). */
  reset(): void {
    for (const conversationId of [...this.active.keys()]) this.forget(conversationId);
  }

  private forget(conversationId: ConversationId): boolean {
    const current = this.active.get(conversationId);
    if (!current) return false;
    clearTimeout(current.idle);
    this.active.delete(conversationId);
    return true;
  }
}
