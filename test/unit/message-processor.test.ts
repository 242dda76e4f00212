import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryDurableLog, MemoryLogBroker } from '../../src/adapters/memory/memory-durable-log.js';
import { MemoryMessageSequencer } from '../../src/adapters/memory/memory-message-sequencer.js';
import { MemoryMessageStore } from '../../src/adapters/memory/memory-message-store.js';
import { MessageProcessor, type MessageProcessorOptions } from '../../src/core/processor/message-processor.js';
import { asConversationId, asMessageId, asTenantId, asUserId } from '../../src/domain/ids.js';
import type { Message } from '../../src/domain/model.js';

const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
const tenant = asTenantId('acme');
const conversation = asConversationId('c1');
const OPTIONS: MessageProcessorOptions = { group: 'processor', consumer: 'p1', batchSize: 50, retryMs: 1, maxRetryMs: 5, attemptsBeforeSplit: 2 };

/** The real in-memory store, with failures switched on per message content, and a signal on every write. */
class FlakyStore extends MemoryMessageStore {
  /** Every insert fails while this is above zero (and counts it down). */
  failNext = 0;
  /** Every insert fails, until switched off. */
  down = false;
  /** Contents the store refuses as invalid. */
  readonly refuse = new Set<string>();
  failures = 0;
  private readonly waiters: { done: () => boolean; resolve: () => void }[] = [];

  override async insert(messages: readonly Message[]): Promise<number> {
    try {
      if (this.down || this.failNext > 0) {
        this.failNext = Math.max(0, this.failNext - 1);
        throw new Error('connection reset');
      }
      const bad = messages.find((m) => this.refuse.has(m.content));
      if (bad) throw new Error(`invalid document ${bad.id}`);
      return await super.insert(messages);
    } catch (err) {
      this.failures++;
      throw err;
    } finally {
      this.check();
    }
  }

  /** Resolves once `done` holds after some write. */
  until(done: () => boolean): Promise<void> {
    if (done()) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ done, resolve }));
  }

  check(): void {
    for (const w of [...this.waiters]) {
      if (!w.done()) continue;
      this.waiters.splice(this.waiters.indexOf(w), 1);
      w.resolve();
    }
  }
}

/** The sequencer, with a signal each time the processor finishes a batch (it reports what it stored). */
class WatchedSequencer extends MemoryMessageSequencer {
  batches = 0;
  private readonly waiters: { done: () => boolean; resolve: () => void }[] = [];

  override async stored(messages: readonly Message[]): Promise<void> {
    await super.stored(messages);
    this.batches++;
    for (const w of [...this.waiters]) {
      if (!w.done()) continue;
      this.waiters.splice(this.waiters.indexOf(w), 1);
      w.resolve();
    }
  }

  until(done: () => boolean): Promise<void> {
    if (done()) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ done, resolve }));
  }
}

async function accept(sequencer: MemoryMessageSequencer, content: string): Promise<Message> {
  const { message } = await sequencer.accept({
    tenantId: tenant,
    conversationId: conversation,
    id: asMessageId(`m-${content}`),
    senderId: asUserId('alice'),
    clientMessageId: `cm-${content}`,
    type: 'text',
    content,
    metadata: {},
    attachment: null,
    replyTo: null,
    createdAt: new Date(0).toISOString(),
  });
  return message;
}

async function storedContents(store: MemoryMessageStore): Promise<string[]> {
  return (await store.page(tenant, conversation, { after: 0, limit: 1000 })).map((m) => m.content);
}

function setup(broker = new MemoryLogBroker()) {
  const log = new MemoryDurableLog(quiet, broker);
  const store = new FlakyStore();
  const sequencer = new WatchedSequencer();
  const processor = new MessageProcessor(log, store, sequencer, quiet, OPTIONS);
  return { broker, log, store, sequencer, processor };
}

describe('message processor', { timeout: 20_000 }, () => {
  it('writes every logged message once, counts replays as repeats and empties the recent tail', async () => {
    const { log, store, sequencer, processor } = setup();
    const messages = [];
    for (const c of ['a', 'b', 'c']) messages.push(await accept(sequencer, c));
    await log.append(messages);
    await log.append([messages[1]!]);
    processor.start();
    await sequencer.until(() => processor.counts.stored + processor.counts.repeats === 4);
    await processor.stop();
    assert.deepEqual(await storedContents(store), ['a', 'b', 'c']);
    assert.equal(processor.counts.stored, 3);
    assert.equal(processor.counts.repeats, 1);
    assert.deepEqual(await sequencer.recent(tenant, conversation), []);
    await log.close();
  });

  it('retries a store that fails for a while, then commits', async () => {
    const { log, store, sequencer, processor } = setup();
    store.failNext = 3;
    await log.append([await accept(sequencer, 'a'), await accept(sequencer, 'b')]);
    processor.start();
    await sequencer.until(() => processor.counts.stored === 2);
    await processor.stop();
    assert.deepEqual(await storedContents(store), ['a', 'b']);
    assert.equal(processor.counts.retries, 2, "a pause before each second try; the split starts at once");
    assert.equal(processor.counts.deadLetters, 0);
    assert.equal(store.failures, 3);
    await log.close();
  });

  it('parks a message the store refuses in the dead letters, with the reason, and stores the rest of its batch', async () => {
    const { broker, log, store, sequencer, processor } = setup();
    store.refuse.add('poison');
    const poison = await accept(sequencer, 'poison');
    await log.append([await accept(sequencer, 'a'), poison, await accept(sequencer, 'b')]);
    processor.start();
    await sequencer.until(() => processor.counts.deadLetters === 1);
    await processor.stop();
    assert.deepEqual(await storedContents(store), ['a', 'b']);
    assert.equal(broker.deadLetters.length, 1);
    assert.match(broker.deadLetters[0]!.reason, /store refused the message: invalid document m-poison/);
    assert.ok(broker.deadLetters[0]!.raw.byteLength > 0);
    await log.close();
  });

  it('parks an undecodable record in the dead letters', async () => {
    const { broker, log, store, sequencer, processor } = setup();
    broker.appendRaw(`${tenant}/${conversation}`, new Uint8Array([0xc1, 0x00, 0xff]));
    await log.append([await accept(sequencer, 'a')]);
    processor.start();
    await sequencer.until(() => processor.counts.deadLetters === 1 && processor.counts.stored === 1);
    await processor.stop();
    assert.deepEqual(await storedContents(store), ['a']);
    assert.match(broker.deadLetters[0]!.reason, /^undecodable record/);
    await log.close();
  });

  it('keeps retrying while the store is down and dead-letters nothing', async () => {
    const { log, store, sequencer, processor } = setup();
    store.down = true;
    await log.append([await accept(sequencer, 'a'), await accept(sequencer, 'b')]);
    processor.start();
    await store.until(() => store.failures >= 8);
    store.down = false;
    await sequencer.until(() => processor.counts.stored === 2);
    await processor.stop();
    assert.equal(processor.counts.deadLetters, 0);
    assert.deepEqual(await storedContents(store), ['a', 'b']);
    await log.close();
  });

  it('stops in the middle of retrying without committing: the next processor gets the batch', async () => {
    const first = setup();
    first.store.down = true;
    await first.log.append([await accept(first.sequencer, 'a')]);
    first.processor.start();
    await first.store.until(() => first.store.failures >= 2);
    await first.processor.stop();
    assert.equal(first.processor.counts.stored, 0);
    await first.log.close();

    const second = setup(first.broker);
    second.processor.start();
    await second.sequencer.until(() => second.processor.counts.stored === 1);
    await second.processor.stop();
    assert.deepEqual(await storedContents(second.store), ['a']);
    await second.log.close();
  });
});
