import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { asConversationId, asMessageId, asTenantId, asUserId } from '../../src/domain/ids.js';
import type { Message } from '../../src/domain/model.js';
import type { MessageSequencer } from '../../src/ports/message-sequencer.js';
import type { MessageStore, NewMessage } from '../../src/ports/message-store.js';

const acme = asTenantId('acme');
const globex = asTenantId('globex');
const c = asConversationId;
const u = asUserId;
const T = '2026-11-22T10:00:00.000Z';

let drafts = 0;
/** A message as sent, with a new id and client id unless given. */
const draft = (over: Partial<NewMessage> = {}): NewMessage => {
  const n = ++drafts;
  return {
    tenantId: acme,
    conversationId: c('general'),
    id: asMessageId(`m${n}`),
    senderId: u('ann'),
    clientMessageId: `cm${n}`,
    type: 'text',
    content: `hello ${n}`,
    metadata: { n },
    attachment: null,
    replyTo: null,
    createdAt: T,
    ...over,
  };
};

const seqsOf = (messages: readonly Message[]) => messages.map((m) => m.seq);

/** Resolves once `check` is true, polling; fails after `timeoutMs`. */
async function eventually(check: () => Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A sequencer under test; one that stores on accept comes with the store it writes. */
export interface SequencerSubject {
  sequencer: MessageSequencer;
  store?: MessageStore;
}

/**
 * The behaviour every MessageSequencer must have, run against each implementation on an
 * empty backend. "Kept" is the tail, or for a sequencer that stores on accept, the store
 * (its tail must stay empty).
 */
export function messageSequencerContract(name: string, makeSubject: (options?: { dedupWindowMs?: number }) => Promise<SequencerSubject>): void {
  let subject: SequencerSubject;
  const make = async (options?: { dedupWindowMs?: number }) => {
    subject = await makeSubject(options);
    return subject.sequencer;
  };
  /** The accepted messages that reads see before a processor ran, ascending by seq. */
  const kept = async (t: typeof acme, conversationId: ReturnType<typeof c>): Promise<Message[]> => {
    const recent = await subject.sequencer.recent(t, conversationId);
    if (!subject.sequencer.storesOnAccept) return recent;
    assert.deepEqual(recent, [], 'a sequencer that stores on accept has no tail');
    assert.ok(subject.store, 'a sequencer that stores on accept is tested with its store');
    return subject.store.page(t, conversationId, { limit: 1000 });
  };
  describe(`MessageSequencer contract: ${name}`, () => {
    it('numbers concurrent accepts 1..n without gaps or repeats, and keeps them in seq order', async () => {
      const sequencer = await make();
      const accepted = await Promise.all(Array.from({ length: 50 }, () => sequencer.accept(draft())));
      assert.ok(accepted.every((a) => !a.duplicate));
      assert.deepEqual(seqsOf(accepted.map((a) => a.message)).sort((a, b) => a - b), Array.from({ length: 50 }, (_, i) => i + 1));
      const recent = await kept(acme, c('general'));
      assert.deepEqual(seqsOf(recent), Array.from({ length: 50 }, (_, i) => i + 1));
      assert.deepEqual(recent, [...accepted.map((a) => a.message)].sort((a, b) => a.seq - b.seq));
      assert.deepEqual(await sequencer.lastSeqs(acme, [c('general')]), new Map([[c('general'), 50]]));
    });

    it('gives an accepted message its seq, no edit, no deletion, no reactions, and keeps binary attachments', async () => {
      const sequencer = await make();
      const sent = draft({ attachment: new Uint8Array([0, 1, 2, 254, 255]), replyTo: asMessageId('m0'), metadata: { nested: { list: [1, 'a', null] } } });
      const { message, duplicate } = await sequencer.accept(sent);
      const expected: Message = { ...sent, seq: 1, editedAt: null, deletedAt: null, reactions: [] };
      assert.deepEqual([message, duplicate], [expected, false]);
      const [inTail] = await kept(acme, c('general'));
      assert.deepEqual(inTail, expected);
      assert.equal(Object.getPrototypeOf(inTail!.attachment), Uint8Array.prototype, 'a plain Uint8Array, not a Buffer');
      assert.deepEqual((await sequencer.accept({ ...sent, id: asMessageId('retry') })).message, expected);
    });

    it('answers a repeat of the client message id with the first message, also once it is stored', async () => {
      const sequencer = await make();
      const sent = draft();
      const first = await sequencer.accept(sent);
      const repeat = await sequencer.accept({ ...sent, id: asMessageId('another-id'), content: 'changed on retry' });
      assert.deepEqual(repeat, { message: first.message, duplicate: true });
      await sequencer.stored([first.message]);
      assert.deepEqual(await sequencer.recent(acme, c('general')), []);
      assert.deepEqual(await sequencer.accept({ ...sent, id: asMessageId('third-id') }), { message: first.message, duplicate: true });
      assert.deepEqual(await sequencer.lastSeqs(acme, [c('general')]), new Map([[c('general'), 1]]), 'a repeat takes no seq');
    });

    it('accepts exactly one of concurrent repeats', async () => {
      const sequencer = await make();
      const sent = draft();
      const results = await Promise.all(Array.from({ length: 10 }, (_, i) => sequencer.accept({ ...sent, id: asMessageId(`try-${i}`) })));
      assert.equal(results.filter((r) => !r.duplicate).length, 1);
      const first = results.find((r) => !r.duplicate)!.message;
      for (const r of results) assert.deepEqual(r.message, first);
      assert.equal(first.seq, 1);
      assert.deepEqual(seqsOf(await kept(acme, c('general'))), [1]);
      assert.deepEqual(await sequencer.lastSeqs(acme, [c('general')]), new Map([[c('general'), 1]]), 'the repeats took no seq');
    });

    it('tells apart senders that use the same client message id', async () => {
      const sequencer = await make();
      const ann = await sequencer.accept(draft({ senderId: u('ann'), clientMessageId: 'same' }));
      const bob = await sequencer.accept(draft({ senderId: u('bob'), clientMessageId: 'same' }));
      assert.deepEqual([ann.duplicate, bob.duplicate, ann.message.seq, bob.message.seq], [false, false, 1, 2]);
      const elsewhere = await sequencer.accept(draft({ conversationId: c('random'), senderId: u('ann'), clientMessageId: 'same' }));
      assert.deepEqual([elsewhere.duplicate, elsewhere.message.seq], [false, 1], 'nor is the same id in another conversation a repeat');
    });

    it('keeps a message in the tail until `stored` covers its seq', async () => {
      const sequencer = await make();
      const messages: Message[] = [];
      for (let i = 0; i < 5; i++) messages.push((await sequencer.accept(draft())).message);
      await sequencer.stored([messages[1]!, messages[3]!]);
      if (sequencer.storesOnAccept) {
        // Nothing waits for a processor: the store has all five from the start, and keeps them.
        assert.deepEqual(seqsOf(await kept(acme, c('general'))), [1, 2, 3, 4, 5]);
        await sequencer.stored(messages);
        assert.deepEqual(await subject.store!.page(acme, c('general'), { limit: 10 }), messages);
        return;
      }
      assert.deepEqual(seqsOf(await sequencer.recent(acme, c('general'))), [1, 3, 5]);
      await sequencer.stored([{ ...messages[0]!, conversationId: c('random') }, { ...messages[2]!, tenantId: globex }]);
      assert.deepEqual(seqsOf(await sequencer.recent(acme, c('general'))), [1, 3, 5], 'another conversation’s seqs leave this tail alone');
      await sequencer.stored(messages);
      await sequencer.stored(messages);
      await sequencer.stored([]);
      assert.deepEqual(await sequencer.recent(acme, c('general')), []);
      assert.deepEqual(await sequencer.recent(acme, c('never')), []);
      assert.deepEqual(await sequencer.lastSeqs(acme, [c('general')]), new Map([[c('general'), 5]]));
    });

    it('tells the newest seq of each conversation asked, 0 for one without messages', async () => {
      const sequencer = await make();
      await sequencer.accept(draft({ conversationId: c('a') }));
      await sequencer.accept(draft({ conversationId: c('a') }));
      await sequencer.accept(draft({ conversationId: c('b') }));
      const seqs = await sequencer.lastSeqs(acme, [c('b'), c('unknown'), c('a')]);
      assert.deepEqual([...seqs], [[c('b'), 1], [c('unknown'), 0], [c('a'), 2]]);
      assert.deepEqual(await sequencer.lastSeqs(acme, []), new Map());
    });

    it('forgets a client message id once the dedup window has passed (or, storing on accept, remembers it while stored)', async () => {
      const sequencer = await make({ dedupWindowMs: 1000 });
      const sent = draft();
      if (sequencer.storesOnAccept) {
        const first = await sequencer.accept(sent);
        const repeat = await sequencer.accept({ ...sent, id: asMessageId('long-after'), content: 'changed' });
        assert.deepEqual(repeat, { message: first.message, duplicate: true });
        assert.deepEqual((await kept(acme, c('general'))).map((m) => [m.id, m.content]), [[first.message.id, sent.content]]);
        return;
      }
      const first = await sequencer.accept(sent);
      await sequencer.stored([first.message]);
      let again: { message: Message; duplicate: boolean } | undefined;
      // Each try within the window is a repeat (and changes nothing); the first try after it is new.
      await eventually(async () => {
        again = await sequencer.accept({ ...sent, id: asMessageId('after-window') });
        if (again.duplicate) assert.deepEqual(again.message, first.message);
        return !again.duplicate;
      }, 'the dedup window to pass');
      assert.equal(again!.message.seq, 2);
      assert.equal(again!.message.id, 'after-window');
      assert.deepEqual(await sequencer.accept({ ...sent, id: asMessageId('later') }), { message: again!.message, duplicate: true }, 'the new message is remembered in turn');
    });

    it('keeps tenants apart', async () => {
      const sequencer = await make();
      const sent = draft({ clientMessageId: 'shared' });
      const a = await sequencer.accept(sent);
      const g = await sequencer.accept({ ...sent, tenantId: globex, id: asMessageId('g1') });
      assert.deepEqual([a.duplicate, g.duplicate, a.message.seq, g.message.seq], [false, false, 1, 1]);
      await sequencer.accept(draft());
      assert.deepEqual(seqsOf(await kept(globex, c('general'))), [1]);
      assert.deepEqual(await sequencer.lastSeqs(globex, [c('general')]), new Map([[c('general'), 1]]));
      assert.deepEqual(await sequencer.lastSeqs(acme, [c('general')]), new Map([[c('general'), 2]]));
    });
  });
}
