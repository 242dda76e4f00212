import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { Envelope } from '../../packages/client/src/index.js';
import { startServer, type TestServer } from '../helpers/harness.js';
import { closeSdkClients, holdable, received, sdk } from './sdk-harness.js';

describe('SDK: inbox resends and retention', () => {
  let server: TestServer | undefined;
  afterEach(async () => {
    await closeSdkClients();
    await server?.dispose();
    server = undefined;
  });

  it('shows each message once although the server sends it again before the acknowledgement arrives', async () => {
    server = await startServer({ SWITCHBOARD_ACK_TIMEOUT_MS: '100' });
    const alice = await sdk(server, 'alice');
    // Acknowledging only every 2 s makes the server resend every entry in between.
    const bob = await sdk(server, 'bob', { ackIntervalMs: 2000 });
    const app = received(bob);
    const seen = new Map<number, number>();
    let repeated!: () => void;
    const aRepeat = new Promise<void>((resolve) => (repeated = resolve));
    bob.socket.onAny((_event: string, env: Envelope) => {
      if (env.offset === undefined) return;
      seen.set(env.offset, (seen.get(env.offset) ?? 0) + 1);
      if (seen.get(env.offset) === 2) repeated();
    });
    const { conversation } = await alice.createRoom({ type: 'direct', members: ['bob'] });
    for (const t of ['one', 'two', 'three']) await alice.send(conversation.id, t);
    await app.until(conversation.id, 3);
    await aRepeat;
    await alice.send(conversation.id, 'four');
    assert.deepEqual((await app.until(conversation.id, 4)).map((m) => m.content), ['one', 'two', 'three', 'four']);
    assert.ok([...seen.values()].some((n) => n > 1), 'the server did resend');
  });

  it('reads history when entries were lost to retention while offline: all messages, in order, once', async () => {
    server = await startServer({ SWITCHBOARD_INBOX_MAX_BYTES: '2048' });
    const alice = await sdk(server, 'alice');
    const bob = await holdable(server, 'bob');
    const { conversation } = await alice.createRoom({ type: 'direct', members: ['bob'] });
    await alice.send(conversation.id, 'seen');
    await bob.app.until(conversation.id, 1);
    await bob.offline();
    const texts = Array.from({ length: 20 }, (_, i) => `${i}`.padEnd(200, '.'));
    for (const t of texts) await alice.send(conversation.id, t);
    const synced = await bob.back();
    assert.equal(synced.lost, true);
    const got = await bob.app.until(conversation.id, 21);
    assert.deepEqual(got.map((m) => m.content), ['seen', ...texts]);
    assert.deepEqual(got.map((m) => m.seq), Array.from({ length: 21 }, (_, i) => i + 1));
  });
});
