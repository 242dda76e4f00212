import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { closeClients, connect, createRoom, next, ok, startServer, type TestServer } from '../helpers/harness.js';
import { startSentinel, type TestSentinel } from '../helpers/redis-sentinel.js';

interface Msg { clientMessageId: string; content: string }
interface Presence { userId: string; status: string }

/* Two servers that find their Redis master through Sentinel. */
describe('through Redis Sentinel', () => {
  let sentinel: TestSentinel;
  const servers: TestServer[] = [];
  const dataDir = mkdtempSync(join(tmpdir(), 'switchboard-sentinel-data-'));

  before(async () => {
    sentinel = await startSentinel();
    const env = { SWITCHBOARD_REDIS_URL: sentinel.url, SWITCHBOARD_REDIS_MODE: 'sentinel', SWITCHBOARD_REDIS_SENTINEL_NAME: sentinel.masterName, SWITCHBOARD_PRESENCE_GRACE_MS: '0' };
    for (let i = 0; i < 2; i++) servers.push(await startServer(env, dataDir));
  });
  after(async () => {
    closeClients();
    for (const s of servers) await s.stop();
    await sentinel?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('joins the servers: messages, presence and membership cross between them', async () => {
    const [a, b] = servers as [TestServer, TestServer];
    const ready = await fetch(`${a.url}/health/ready`);
    assert.equal(ready.status, 200);
    const alice = await connect(a, 'alice');
    const bob = await connect(b, 'bob');
    const online = next<Presence>(alice, 'presence:changed', (p) => p.userId === 'carol' && p.status === 'online');
    await ok(alice, 'presence:subscribe', { userIds: ['carol'] });
    await connect(b, 'carol');
    await online;

    const channel = (await createRoom(alice, 'channel', ['bob'], { name: 'sentinel' })).conversation.id;
    const got = next<Msg>(bob, 'message:new', (m) => m.clientMessageId === 'sn-1');
    await ok(alice, 'message:send', { conversationId: channel, clientMessageId: 'sn-1', content: 'via sentinel' });
    assert.equal((await got).payload.data.content, 'via sentinel');
  });
});
