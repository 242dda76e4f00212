import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryInbox } from '../../src/adapters/memory/memory-inbox.js';
import { DeliveryCounters } from '../../src/core/delivery/delivery-counters.js';
import { InboxRetentionSweeper } from '../../src/core/delivery/inbox-retention.js';
import { asDeviceId, asTenantId, asUserId } from '../../src/domain/ids.js';
import type { Envelope } from '../../src/domain/protocol/envelope.js';

const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
const acme = asTenantId('acme');
const envelope = (id: string): Envelope => ({ v: 1, type: 'message', id, tenant_id: acme, timestamp: 0, payload: { action: 'message:new', data: { text: id } } });

describe('inbox retention sweeper', () => {
  it('sweeps every due inbox, past rounds that made no dead letters, and counts only unacknowledged entries', async () => {
    const inbox = new MemoryInbox({ maxAgeMs: 1000 });
    // Six inboxes with an old entry: the first four acknowledged (no dead letters), the last two not.
    const users = ['u1', 'u2', 'u3', 'u4', 'u5', 'u6'].map(asUserId);
    for (const user of users) await inbox.append(acme, [user], envelope(`old-${user}`), null, 1000);
    for (const user of users.slice(0, 4)) await inbox.ack(acme, user, asDeviceId('phone'), 1);
    await inbox.append(acme, [users[0]!], envelope('fresh'), null, 9000);

    const counters = new DeliveryCounters();
    const sweeper = new InboxRetentionSweeper(inbox, counters, { now: () => 9500 }, quiet, { everyMs: 60_000, inboxesPerRound: 2 });
    assert.equal(await sweeper.sweep(), 2);
    assert.equal(counters.expired, 2);
    assert.equal(counters.deadLetters, 2);
    assert.deepEqual((await inbox.deadLetters(10)).map((x) => x.userId).sort(), ['u5', 'u6']);
    for (const user of users.slice(1)) assert.deepEqual((await inbox.read(acme, user, 0, 10)).entries, [], `${user} was swept`);
    assert.deepEqual((await inbox.read(acme, users[0]!, 0, 10)).entries.map((e) => e.envelope.id), ['fresh']);
    assert.equal(await sweeper.sweep(), 0, 'nothing is due any more');
  });
});
