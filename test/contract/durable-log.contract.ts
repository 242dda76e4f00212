import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { encode } from '@msgpack/msgpack';
import { asConversationId, asMessageId, asTenantId, asUserId, type ConversationId, type TenantId } from '../../src/domain/ids.js';
import type { Message } from '../../src/domain/model.js';
import type { DurableLog, LogEntry } from '../../src/ports/durable-log.js';

/** One log as several processes see it: each `open()` is a new client of the same records. */
export interface DurableLogHarness {
  open(): Promise<DurableLog>;
  /** Stores bytes as a record without encoding them, as a broken producer would. */
  appendRaw(tenantId: TenantId, conversationId: ConversationId, raw: Uint8Array): Promise<void>;
  /** What `deadLetter` parked so far. */
  deadLetters(): Promise<{ recordId: string; reason: string; raw: Uint8Array }[]>;
  /** Closes every log it opened. */
  close(): Promise<void>;
}

export interface DurableLogContractOptions {
  /** Longest wait for a condition (default 10 s). */
  timeoutMs?: number;
  /** False when a member that joins late may find the work taken (Kafka assigns partitions on join). */
  membersShareFromTheStart?: boolean;
}

const T0 = '2026-11-22T10:00:00.000Z';
let tenants = 0;

/** A tenant of its own per test, so logs that outlive a test (Kafka topics) do not mix them up. */
function freshTenant(): TenantId {
  return asTenantId(`t${Date.now().toString(36)}${(tenants++).toString(36)}${randomBytes(2).toString('hex')}`);
}

function message(tenantId: TenantId, conversation: string, seq: number): Message {
  return {
    tenantId,
    conversationId: asConversationId(conversation),
    id: asMessageId(`${conversation}-${seq}`),
    seq,
    senderId: asUserId('ann'),
    clientMessageId: `client-${conversation}-${seq}`,
    type: 'text',
    content: `${conversation} #${seq}`,
    metadata: { seq, tags: ['a', 'b'], nested: { ok: true } },
    attachment: seq % 3 === 0 ? new Uint8Array([seq, 0, 255, 128]) : null,
    replyTo: seq > 1 ? asMessageId(`${conversation}-${seq - 1}`) : null,
    createdAt: T0,
    editedAt: null,
    deletedAt: null,
    reactions: seq === 2 ? [{ emoji: '👍', userIds: [asUserId('bob')] }] : [],
  };
}

/** Records what handlers receive and wakes the tests waiting for a condition on it. */
class Received {
  readonly batches: { member: string; entries: LogEntry[] }[] = [];
  private readonly waiters = new Set<() => void>();

  constructor(private readonly timeoutMs: number) {}

  /** A handler that records each batch under `member`, after `before` and before `after` resolve. */
  handler(member: string, hooks: { before?: (entries: LogEntry[]) => Promise<void>; after?: (entries: LogEntry[]) => Promise<void> } = {}) {
    return async (entries: LogEntry[]): Promise<void> => {
      await hooks.before?.(entries);
      this.batches.push({ member, entries });
      for (const wake of this.waiters) wake();
      await hooks.after?.(entries);
    };
  }

  entries(member?: string): LogEntry[] {
    return this.batches.filter((b) => member === undefined || b.member === member).flatMap((b) => b.entries);
  }

  /** The messages of `tenantId` received, in handling order (other tenants' records are ignored). */
  messages(tenantId: TenantId, member?: string): Message[] {
    return this.entries(member).flatMap((e) => (e.message?.tenantId === tenantId ? [e.message] : []));
  }

  async until(condition: () => boolean, what: string): Promise<void> {
    if (condition()) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`timed out waiting for ${what}`));
      }, this.timeoutMs);
      const check = () => {
        if (!condition()) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve();
      };
      this.waiters.add(check);
    });
  }
}

/** A promise the test opens (or fails) when it chooses. */
function gate(): { wait: () => Promise<void>; open: () => void; fail: (err: Error) => void } {
  let open!: () => void;
  let fail!: (err: Error) => void;
  const opened = new Promise<void>((resolve, reject) => {
    open = resolve;
    fail = reject;
  });
  opened.catch(() => undefined);
  return { wait: () => opened, open, fail };
}

/**
 * Holds a batch that has records of `tenantId` until `wait` resolves. A log that outlives a
 * test (Kafka, a Redis not flushed) also hands a new group older tests' records: those pass.
 */
function holdIfFrom(tenantId: TenantId, wait: () => Promise<void>): (entries: LogEntry[]) => Promise<void> {
  return async (entries) => {
    if (entries.some((e) => e.message?.tenantId === tenantId)) await wait();
  };
}

/** Polls `read` until `check` holds: for state a backend exposes only by reading (dead letters). */
async function eventually<T>(read: () => Promise<T>, check: (value: T) => boolean, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (check(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const seqsOf = (messages: Message[], conversation: string) => messages.filter((m) => m.conversationId === conversation).map((m) => m.seq);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** The behaviour every DurableLog must have, run against each implementation. */
export function durableLogContract(name: string, make: () => Promise<DurableLogHarness>, options: DurableLogContractOptions = {}): void {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const group = () => `g-${randomBytes(4).toString('hex')}`;

  describe(`DurableLog contract: ${name}`, () => {
    it('delivers every record, intact and in append order per conversation', async () => {
      const h = await make();
      try {
        const log = await h.open();
        const tenant = freshTenant();
        const conversations = ['c1', 'c2', 'c3'];
        const sent: Message[] = [];
        for (let seq = 1; seq <= 10; seq += 2) {
          const batch = conversations.flatMap((c) => [message(tenant, c, seq), message(tenant, c, seq + 1)]);
          sent.push(...batch);
          await log.append(batch);
        }
        const got = new Received(timeoutMs);
        const consumer = log.consume({ group: group(), consumer: 'a', batchSize: 4 }, got.handler('a'));
        await got.until(() => got.messages(tenant).length >= 30, '30 messages');
        await consumer.stop();
        assert.ok(got.batches.every((b) => b.entries.length <= 4), 'no batch is larger than batchSize');
        for (const c of conversations) {
          assert.deepEqual(seqsOf(got.messages(tenant), c), range(1, 10), `${c} in order`);
          const expected = sent.filter((m) => m.conversationId === c);
          assert.deepEqual(got.messages(tenant).filter((m) => m.conversationId === c), expected, `${c} intact, attachments included`);
        }
        assert.ok(got.messages(tenant).some((m) => m.attachment instanceof Uint8Array), 'attachments come back as bytes');
      } finally {
        await h.close();
      }
    });

    it('shares the records of a group between its members without overlap', async () => {
      const h = await make();
      try {
        const log = await h.open();
        const tenant = freshTenant();
        const g = group();
        const got = new Received(timeoutMs);
        const a = log.consume({ group: g, consumer: 'a', batchSize: 3 }, got.handler('a'));
        const b = log.consume({ group: g, consumer: 'b', batchSize: 3 }, got.handler('b'));
        for (let seq = 1; seq <= 4; seq++) await log.append(range(1, 8).map((c) => message(tenant, `c${c}`, seq)));
        await got.until(() => got.messages(tenant).length >= 32, '32 messages');
        await Promise.all([a.stop(), b.stop()]);
        const ids = got.messages(tenant).map((m) => m.id);
        assert.equal(new Set(ids).size, 32, 'every record once');
        assert.equal(ids.length, 32, 'no record twice');
        if (options.membersShareFromTheStart ?? true) {
          assert.ok(got.messages(tenant, 'a').length > 0 && got.messages(tenant, 'b').length > 0, 'both members did some of the work');
        }
      } finally {
        await h.close();
      }
    });

    it('gives every group all the records', async () => {
      const h = await make();
      try {
        const log = await h.open();
        const tenant = freshTenant();
        const got = new Received(timeoutMs);
        const one = log.consume({ group: group(), consumer: 'x', batchSize: 5 }, got.handler('one'));
        const two = log.consume({ group: group(), consumer: 'x', batchSize: 2 }, got.handler('two'));
        await log.append(range(1, 6).map((seq) => message(tenant, 'c1', seq)));
        await got.until(() => got.messages(tenant, 'one').length >= 6 && got.messages(tenant, 'two').length >= 6, 'both groups');
        await Promise.all([one.stop(), two.stop()]);
        assert.deepEqual(seqsOf(got.messages(tenant, 'one'), 'c1'), range(1, 6));
        assert.deepEqual(seqsOf(got.messages(tenant, 'two'), 'c1'), range(1, 6));
      } finally {
        await h.close();
      }
    });

    it('hands a batch whose consumer died before its handler resolved to the next consumer', async () => {
      const h = await make();
      const never = gate();
      try {
        const g = group();
        const tenant = freshTenant();
        const first = await h.open();
        await first.append(range(1, 3).map((seq) => message(tenant, 'c1', seq)));
        const lost = new Received(timeoutMs);
        first.consume({ group: g, consumer: 'worker-1', batchSize: 10 }, lost.handler('first', { after: holdIfFrom(tenant, never.wait) }));
        // The held batch holds 1, 1 and 2, or all three: records left by earlier tests in a shared log may fill it up.
        await lost.until(() => lost.messages(tenant).length >= 1, 'the first delivery');
        await first.close(); // the process dies with the batch in hand

        const second = await h.open();
        const again = new Received(timeoutMs);
        const consumer = second.consume({ group: g, consumer: 'worker-1', batchSize: 10 }, again.handler('second'));
        await again.until(() => again.messages(tenant).length >= 3, 'the redelivery');
        await consumer.stop();
        assert.deepEqual(seqsOf(again.messages(tenant), 'c1'), [1, 2, 3]);
      } finally {
        never.open();
        await h.close();
      }
    });

    it('does not deliver committed records again after a restart', async () => {
      const h = await make();
      try {
        const g = group();
        const tenant = freshTenant();
        const first = await h.open();
        await first.append(range(1, 4).map((seq) => message(tenant, 'c1', seq)));
        const before = new Received(timeoutMs);
        const consumer = first.consume({ group: g, consumer: 'worker-1', batchSize: 2 }, before.handler('first'));
        await before.until(() => before.messages(tenant).length >= 4, 'the first four');
        await consumer.stop();
        await first.close();

        const second = await h.open();
        await second.append([message(tenant, 'c1', 5), message(tenant, 'c1', 6)]);
        const after = new Received(timeoutMs);
        const restarted = second.consume({ group: g, consumer: 'worker-1', batchSize: 2 }, after.handler('second'));
        await after.until(() => after.messages(tenant).length >= 2, 'the two new records');
        await restarted.stop();
        assert.deepEqual(seqsOf(after.messages(tenant), 'c1'), [5, 6]);
      } finally {
        await h.close();
      }
    });

    it('hands over undecodable records without a message, and parks them as dead letters', async () => {
      const h = await make();
      try {
        const log = await h.open();
        const tenant = freshTenant();
        // 0xc1 is never used in MessagePack; the map lacks what a Message needs.
        const garbage = new Uint8Array([0xc1, ...randomBytes(8)]);
        const wrongShape = encode({ hello: 'world', nonce: randomBytes(8).toString('hex') });
        const isOurs = (e: LogEntry) => [garbage, wrongShape].some((raw) => Buffer.from(e.raw).equals(raw));
        await h.appendRaw(tenant, asConversationId('c1'), garbage);
        await h.appendRaw(tenant, asConversationId('c1'), wrongShape);
        await log.append([message(tenant, 'c1', 1)]);
        const got = new Received(timeoutMs);
        const consumer = log.consume(
          { group: group(), consumer: 'a', batchSize: 10 },
          got.handler('a', {
            before: (entries) => log.deadLetter(entries.filter((e) => e.message === null && isOurs(e)).map((entry) => ({ entry, reason: `undecodable: ${entry.error}` }))),
          }),
        );
        await got.until(() => got.entries().filter(isOurs).length >= 2 && got.messages(tenant).length >= 1, 'both bad records and the good one');
        await consumer.stop();
        for (const e of got.entries().filter(isOurs)) {
          assert.equal(e.message, null);
          assert.equal(typeof e.error, 'string');
          assert.ok(e.error!.length > 0);
        }
        const parked = await eventually(h.deadLetters, (list) => list.filter((d) => isOursRaw(d.raw)).length >= 2, timeoutMs, 'the dead letters');
        for (const d of parked.filter((x) => isOursRaw(x.raw))) assert.match(d.reason, /^undecodable: /);
        function isOursRaw(raw: Uint8Array): boolean {
          return [garbage, wrongShape].some((r) => Buffer.from(raw).equals(r));
        }
      } finally {
        await h.close();
      }
    });

    it('leaves a batch uncommitted when its handler rejects because the consumer stops', async () => {
      const h = await make();
      const giveUp = gate();
      try {
        const g = group();
        const tenant = freshTenant();
        const log = await h.open();
        await log.append([message(tenant, 'c1', 1), message(tenant, 'c1', 2)]);
        const got = new Received(timeoutMs);
        const consumer = log.consume({ group: g, consumer: 'worker-1', batchSize: 10 }, got.handler('a', { after: holdIfFrom(tenant, giveUp.wait) }));
        // The held batch holds 1, or 1 and 2: records left by earlier tests in a shared log may fill it up.
        await got.until(() => got.messages(tenant).length >= 1, 'the batch');
        const stopping = consumer.stop();
        giveUp.fail(new Error('the processor is stopping'));
        await stopping;

        const again = new Received(timeoutMs);
        const restarted = log.consume({ group: g, consumer: 'worker-1', batchSize: 10 }, again.handler('b'));
        await again.until(() => again.messages(tenant).length >= 2, 'the batch again');
        await restarted.stop();
        assert.deepEqual(seqsOf(again.messages(tenant), 'c1'), [1, 2]);
      } finally {
        await h.close();
      }
    });

    it('hands a batch whose handler rejected to the handler again', async () => {
      const h = await make();
      try {
        const log = await h.open();
        const tenant = freshTenant();
        await log.append([message(tenant, 'c1', 1), message(tenant, 'c1', 2)]);
        const got = new Received(timeoutMs);
        // The batch that fails holds 1, or 1 and 2: records left by earlier tests in a shared log may fill it up.
        let failed: number[] | null = null;
        const consumer = log.consume(
          { group: group(), consumer: 'a', batchSize: 10 },
          got.handler('a', {
            after: async (entries) => {
              const ours = entries.filter((e) => e.message?.tenantId === tenant);
              if (failed || ours.length === 0) return;
              failed = ours.map((e) => e.message!.seq);
              throw new Error('the store is down');
            },
          }),
        );
        const expected = () => (failed ? [...failed, ...failed, ...[1, 2].filter((seq) => !failed!.includes(seq))] : null);
        await got.until(() => got.messages(tenant).length >= (expected()?.length ?? Infinity), 'the failed batch again, then the rest');
        await consumer.stop();
        assert.deepEqual(seqsOf(got.messages(tenant), 'c1'), expected());
      } finally {
        await h.close();
      }
    });

    it('stop() waits for the batch in hand, which is then committed', async () => {
      const h = await make();
      const release = gate();
      try {
        const g = group();
        const tenant = freshTenant();
        const log = await h.open();
        await log.append([message(tenant, 'c1', 1), message(tenant, 'c1', 2)]);
        const got = new Received(timeoutMs);
        const consumer = log.consume({ group: g, consumer: 'worker-1', batchSize: 10 }, got.handler('a', { after: holdIfFrom(tenant, release.wait) }));
        // The held batch holds 1, or 1 and 2: records left by earlier tests in a shared log may fill it up.
        await got.until(() => got.messages(tenant).length >= 1, 'the batch');
        const held = seqsOf(got.messages(tenant), 'c1');
        let stopped = false;
        const stopping = consumer.stop().then(() => (stopped = true));
        for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
        assert.equal(stopped, false, 'stop() is still waiting for the handler');
        release.open();
        await stopping;

        await log.append([message(tenant, 'c1', 3)]);
        const next = new Received(timeoutMs);
        const restarted = log.consume({ group: g, consumer: 'worker-1', batchSize: 10 }, next.handler('b'));
        const rest = [...[1, 2].filter((seq) => !held.includes(seq)), 3];
        await next.until(() => next.messages(tenant).length >= rest.length, 'the records after the committed batch');
        await restarted.stop();
        assert.deepEqual(seqsOf(next.messages(tenant), 'c1'), rest, 'nothing of the committed batch comes again');
      } finally {
        release.open();
        await h.close();
      }
    });
  });
}

export { freshTenant, gate, holdIfFrom, message, Received };
