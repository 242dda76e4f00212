import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Outbox, SwitchboardClientError, type JsonValue, type Message, type OutboxEntry, type SendResult } from '../../packages/client/src/index.js';

const fast = { baseMs: 1, maxMs: 2 };
const entry = (clientMessageId: string, conversationId = 'c1'): OutboxEntry => ({ clientMessageId, conversationId, content: clientMessageId, queuedAt: 0 });
const stored = (e: OutboxEntry, seq: number): SendResult => ({ duplicate: false, message: { id: `m-${e.clientMessageId}`, seq, conversationId: e.conversationId, clientMessageId: e.clientMessageId } as Message });

/** An outbox whose transport answers from a script of outcomes per clientMessageId. */
function outboxWith(script: Record<string, ('ok' | SwitchboardClientError)[]>) {
  const attempts: string[] = [];
  const persisted: JsonValue[] = [];
  const seqs = new Map<string, number>();
  let gate: Promise<void> = Promise.resolve();
  const outbox = new Outbox({
    async transmit(e) {
      attempts.push(e.clientMessageId);
      const outcome = script[e.clientMessageId]?.shift() ?? 'ok';
      if (outcome !== 'ok') throw outcome;
      const seq = seqs.get(e.conversationId) ?? 0;
      seqs.set(e.conversationId, seq + 1);
      return stored(e, seq + 1);
    },
    ready: () => gate,
    persist: (entries) => persisted.push(entries),
    sent() {},
    failed() {},
    backoff: fast,
  });
  return { outbox, attempts, persisted, setGate: (p: Promise<void>) => (gate = p) };
}

describe('Outbox', () => {
  it('resends with the same clientMessageId after timeouts, disconnects and retryable errors until accepted', async () => {
    const o = outboxWith({
      a: [SwitchboardClientError.timeout('message:send'), SwitchboardClientError.disconnected('message:send'), new SwitchboardClientError('RATE_LIMITED', 'slow down', true, { retryAfterMs: 1 }), 'ok'],
    });
    const result = await o.outbox.enqueue(entry('a'));
    assert.equal(result.message.clientMessageId, 'a');
    assert.deepEqual(o.attempts, ['a', 'a', 'a', 'a']);
    assert.deepEqual(o.outbox.pending(), []);
  });

  it('rejects on a non-retryable error and goes on with the next message of the conversation', async () => {
    const o = outboxWith({ bad: [new SwitchboardClientError('NOT_A_MEMBER', 'no', false)] });
    const bad = o.outbox.enqueue(entry('bad'));
    const good = o.outbox.enqueue(entry('good'));
    await assert.rejects(bad, (err: SwitchboardClientError) => err.code === 'NOT_A_MEMBER');
    assert.equal((await good).message.seq, 1);
  });

  it('keeps the order of a conversation: a later message waits until the earlier one is accepted', async () => {
    const o = outboxWith({ first: [SwitchboardClientError.timeout('x'), SwitchboardClientError.timeout('x'), 'ok'] });
    const results = await Promise.all(['first', 'second', 'third'].map((id) => o.outbox.enqueue(entry(id))));
    assert.deepEqual(results.map((r) => [r.message.clientMessageId, r.message.seq]), [['first', 1], ['second', 2], ['third', 3]]);
    assert.deepEqual(o.attempts, ['first', 'first', 'first', 'second', 'third']);
  });

  it('does not hold one conversation up behind another', async () => {
    let open!: () => void;
    const o = outboxWith({});
    o.setGate(new Promise<void>((resolve) => (open = resolve)));
    const slow = o.outbox.enqueue(entry('s', 'c1'));
    o.setGate(Promise.resolve());
    const quick = await o.outbox.enqueue(entry('q', 'c2'));
    assert.equal(quick.message.conversationId, 'c2');
    open();
    await slow;
  });

  it('persists what is pending (without attachments) and restores it after a restart', async () => {
    const first = outboxWith({});
    let hold!: () => void;
    first.setGate(new Promise<void>((resolve) => (hold = resolve)));
    void first.outbox.enqueue(entry('x')).catch(() => undefined);
    void first.outbox.enqueue({ ...entry('bin'), attachment: new Uint8Array([1]) }).catch(() => undefined);
    const snapshot = first.persisted.at(-1) as unknown as OutboxEntry[];
    assert.deepEqual(snapshot.map((e) => e.clientMessageId), ['x']);
    first.outbox.close();
    hold();

    let sent!: (id: string) => void;
    const resent = new Promise<string>((resolve) => (sent = resolve));
    const second = new Outbox({
      transmit: async (e) => stored(e, 1),
      ready: async () => undefined,
      persist: () => {},
      sent: (e) => sent(e.clientMessageId),
      failed() {},
    });
    second.restore(snapshot as unknown as JsonValue);
    assert.equal(await resent, 'x');
    assert.deepEqual(second.pending(), []);
  });

  it('rejects pending promises with CLOSED on close', async () => {
    const o = outboxWith({});
    o.setGate(new Promise<void>(() => undefined));
    const pending = o.outbox.enqueue(entry('p'));
    o.outbox.close();
    await assert.rejects(pending, (err: SwitchboardClientError) => err.code === 'CLOSED');
    await assert.rejects(o.outbox.enqueue(entry('late')), (err: SwitchboardClientError) => err.code === 'CLOSED');
  });
});
