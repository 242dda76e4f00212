import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { asDeviceId, asSocketId, asTenantId, asUserId, type TenantId, type UserId } from '../../src/domain/ids.js';
import type { Envelope } from '../../src/domain/protocol/envelope.js';
import type { Inbox, InboxDeadLetter, InboxRetention } from '../../src/ports/inbox.js';

const acme = asTenantId('acme');
const globex = asTenantId('globex');
const u = asUserId;
const d = asDeviceId;

/** An inbox event; `data` defaults to a short text. */
const envelope = (id: string, data: unknown = { text: id }, tenantId: TenantId = acme): Envelope => ({
  v: 1,
  type: 'message',
  id,
  tenant_id: tenantId,
  timestamp: 1_700_000_000_000,
  payload: { action: 'message:new', data },
});

/** About 1 KB encoded, whatever the backend's encoding adds around the text. */
const kilobyte = (id: string): Envelope => envelope(id, { text: id.padEnd(1000, '.') });

/** Dead letters as [user, offset, reason, envelope id], in a stable order. */
const summary = (dead: readonly InboxDeadLetter[]) =>
  dead
    .map((x) => [x.userId, x.entry.offset, x.reason, x.entry.envelope.id] as const)
    .sort((a, b) => (a[0] === b[0] ? a[1] - b[1] : a[0] < b[0] ? -1 : 1));

const offsetsOf = async (inbox: Inbox, t: TenantId, user: UserId, after = 0) => (await inbox.read(t, user, after, 1000)).entries.map((e) => e.offset);

/** The behaviour every Inbox must have, run against each implementation on an empty backend. */
export function inboxContract(name: string, make: (retention?: Partial<InboxRetention>) => Promise<Inbox>): void {
  describe(`Inbox contract: ${name}`, () => {
    it('numbers each user’s entries 1, 2, 3… without gaps under concurrent appends to many users', async () => {
      const inbox = await make();
      const users = ['ann', 'bob', 'cy', 'dee', 'eve', 'fay'].map(u);
      // Append i goes to every user but one, so the users' inboxes fill at different rates.
      const appends = await Promise.all(
        Array.from({ length: 40 }, (_, i) => inbox.append(acme, users.filter((_, j) => j !== i % users.length), envelope(`e${i}`), null, 1000 + i)),
      );
      for (const user of users) {
        const got = appends.flatMap((a, i) => (a.offsets.has(user) ? [{ offset: a.offsets.get(user)!, id: `e${i}` }] : []));
        assert.deepEqual(got.map((g) => g.offset).sort((a, b) => a - b), Array.from({ length: got.length }, (_, k) => k + 1), `${user}'s offsets`);
        const read = await inbox.read(acme, user, 0, 1000);
        assert.equal(read.head, got.length);
        assert.deepEqual(
          read.entries.map((e) => [e.offset, e.envelope.id]),
          got.sort((a, b) => a.offset - b.offset).map((g) => [g.offset, g.id]),
          'each entry sits at the offset its append returned',
        );
      }
      assert.ok(appends.every((a) => a.deadLetters.length === 0));
    });

    it('reads in pages after an offset, and says when entries after it were removed by retention', async () => {
      const inbox = await make({ maxAgeMs: 1000 });
      for (let i = 1; i <= 10; i++) await inbox.append(acme, [u('ann')], envelope(`e${i}`), null, i <= 3 ? 1000 : 5000);
      const pages = [];
      for (let after = 0; after < 10; after += 4) pages.push(await inbox.read(acme, u('ann'), after, 4));
      assert.deepEqual(pages.map((p) => p.entries.map((e) => e.offset)), [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10]]);
      assert.ok(pages.every((p) => p.head === 10 && !p.lost));
      assert.deepEqual(await inbox.read(acme, u('ann'), 10, 4), { entries: [], head: 10, lost: false });
      assert.deepEqual(await inbox.read(acme, u('ann'), 0, 0), { entries: [], head: 10, lost: false }, 'limit 0 asks for the head only');
      assert.deepEqual(await inbox.read(acme, u('nobody'), 0, 10), { entries: [], head: 0, lost: false });

      await inbox.expire(2500, 10);
      const afterZero = await inbox.read(acme, u('ann'), 0, 100);
      assert.deepEqual([afterZero.entries.map((e) => e.offset), afterZero.head, afterZero.lost], [[4, 5, 6, 7, 8, 9, 10], 10, true]);
      assert.equal((await inbox.read(acme, u('ann'), 2, 100)).lost, true);
      assert.equal((await inbox.read(acme, u('ann'), 3, 100)).lost, false, 'nothing after 3 is missing');
      assert.equal((await inbox.read(acme, u('ann'), 10, 100)).lost, false, 'nothing after the head is missing');
    });

    it('keeps the envelope, binary data included, the time and the socket to leave out', async () => {
      const inbox = await make();
      const binary = envelope('bin', { text: 'hi', bytes: new Uint8Array([0, 1, 2, 254, 255]), nested: { list: [1, 'two', null, { deep: true }] } });
      await inbox.append(acme, [u('ann'), u('bob')], binary, asSocketId('sock-1'), 1234);
      await inbox.append(acme, [u('ann')], envelope('plain'), null, 1235);
      const { entries } = await inbox.read(acme, u('ann'), 0, 10);
      assert.deepEqual(entries, [
        { offset: 1, envelope: binary, at: 1234, exceptSocket: 'sock-1' },
        { offset: 2, envelope: envelope('plain'), at: 1235, exceptSocket: null },
      ]);
      const bytes = (entries[0]!.envelope.payload.data as { bytes: unknown }).bytes;
      assert.equal(Object.getPrototypeOf(bytes), Uint8Array.prototype, 'binary comes back as a plain Uint8Array');
      assert.deepEqual((await inbox.read(acme, u('bob'), 0, 10)).entries, [{ offset: 1, envelope: binary, at: 1234, exceptSocket: 'sock-1' }]);
    });

    it('acknowledges cumulatively per device and never moves an acknowledgement back', async () => {
      const inbox = await make();
      for (let i = 1; i <= 5; i++) await inbox.append(acme, [u('ann')], envelope(`e${i}`), null, 1000);
      assert.equal(await inbox.acked(acme, u('ann'), d('phone')), 0);
      await inbox.ack(acme, u('ann'), d('phone'), 3);
      assert.equal(await inbox.acked(acme, u('ann'), d('phone')), 3);
      await inbox.ack(acme, u('ann'), d('phone'), 2);
      assert.equal(await inbox.acked(acme, u('ann'), d('phone')), 3, 'an older ack changes nothing');
      await inbox.ack(acme, u('ann'), d('laptop'), 1);
      await inbox.ack(acme, u('ann'), d('phone'), 5);
      assert.deepEqual([await inbox.acked(acme, u('ann'), d('phone')), await inbox.acked(acme, u('ann'), d('laptop'))], [5, 1]);
      await inbox.ack(acme, u('ann'), d('tablet'), 99);
      assert.equal(await inbox.acked(acme, u('ann'), d('tablet')), 5, 'nothing beyond the head can be acknowledged');
      assert.equal(await inbox.acked(acme, u('bob'), d('phone')), 0);
      assert.equal(await inbox.acked(globex, u('ann'), d('phone')), 0);
    });

    it('pushes the oldest entries out over the size cap, as dead letters only when no device had acknowledged them', async () => {
      const inbox = await make({ maxBytes: 3500 });
      for (let i = 1; i <= 3; i++) {
        const appended = await inbox.append(acme, [u('ann'), u('bob')], kilobyte(`k${i}`), null, 1000);
        assert.deepEqual(appended.deadLetters, [], 'three entries fit');
      }
      await inbox.ack(acme, u('ann'), d('phone'), 2);
      const fourth = await inbox.append(acme, [u('ann'), u('bob')], kilobyte('k4'), null, 1000);
      assert.deepEqual(fourth.offsets, new Map([[u('ann'), 4], [u('bob'), 4]]));
      assert.deepEqual(summary(fourth.deadLetters), [['bob', 1, 'size_cap', 'k1']]);
      const fifth = await inbox.append(acme, [u('ann'), u('bob')], kilobyte('k5'), null, 1000);
      assert.deepEqual(summary(fifth.deadLetters), [['bob', 2, 'size_cap', 'k2']]);
      const sixth = await inbox.append(acme, [u('ann')], kilobyte('k6'), asSocketId('s6'), 1000);
      assert.deepEqual(sixth.deadLetters, [{ tenantId: acme, userId: u('ann'), reason: 'size_cap', entry: { offset: 3, envelope: kilobyte('k3'), at: 1000, exceptSocket: null } }]);

      assert.deepEqual(await offsetsOf(inbox, acme, u('ann')), [4, 5, 6]);
      assert.equal((await inbox.read(acme, u('ann'), 0, 10)).lost, true);
      assert.equal((await inbox.read(acme, u('ann'), 3, 10)).lost, false);
      assert.deepEqual(await offsetsOf(inbox, acme, u('bob')), [3, 4, 5]);
    });

    it('expires entries past the age, as dead letters only when no device had acknowledged them, and keeps newer entries', async () => {
      const inbox = await make({ maxAgeMs: 1000 });
      await inbox.append(acme, [u('ann')], envelope('a1'), null, 1000);
      await inbox.append(acme, [u('ann')], envelope('a2'), asSocketId('s2'), 1000);
      await inbox.append(acme, [u('ann')], envelope('a3'), null, 1200);
      await inbox.append(acme, [u('ann'), u('bob')], envelope('a4'), null, 3000);
      await inbox.ack(acme, u('ann'), d('phone'), 1);

      const { deadLetters: dead, inboxes } = await inbox.expire(2500, 10);
      assert.equal(inboxes, 1, "only ann's inbox had entries past the age");
      assert.deepEqual(summary(dead), [['ann', 2, 'expired', 'a2'], ['ann', 3, 'expired', 'a3']]);
      assert.deepEqual(dead.find((x) => x.entry.offset === 2), { tenantId: acme, userId: u('ann'), reason: 'expired', entry: { offset: 2, envelope: envelope('a2'), at: 1000, exceptSocket: 's2' } });
      assert.deepEqual(await offsetsOf(inbox, acme, u('ann')), [4]);
      assert.deepEqual(await offsetsOf(inbox, acme, u('bob')), [1]);
      assert.deepEqual(await inbox.expire(2500, 10), { inboxes: 0, deadLetters: [] }, 'a second sweep finds nothing');

      assert.deepEqual(summary((await inbox.expire(4500, 10)).deadLetters), [['ann', 4, 'expired', 'a4'], ['bob', 1, 'expired', 'a4']]);
      assert.deepEqual(await inbox.read(acme, u('ann'), 0, 10), { entries: [], head: 4, lost: true });
      const next = await inbox.append(acme, [u('ann')], envelope('a5'), null, 5000);
      assert.equal(next.offsets.get(u('ann')), 5, 'offsets go on after the inbox emptied');
      assert.deepEqual(await inbox.expire(5500, 10), { inboxes: 0, deadLetters: [] }, 'the new entry is not due yet');
      assert.deepEqual(await offsetsOf(inbox, acme, u('ann')), [5]);
    });

    it('expires every due entry of a long inbox in one call', async () => {
      const inbox = await make({ maxAgeMs: 1000 });
      const append = (count: number, at: number) => Promise.all(Array.from({ length: count }, (_, i) => inbox.append(acme, [u('ann')], envelope(`e${at}-${i}`), null, at)));
      await append(1200, 1000);
      await append(300, 9000);
      await inbox.ack(acme, u('ann'), d('phone'), 200);
      const { deadLetters: dead } = await inbox.expire(5000, 1);
      assert.deepEqual([dead.length, Math.min(...dead.map((x) => x.entry.offset)), Math.max(...dead.map((x) => x.entry.offset))], [1000, 201, 1200]);
      assert.deepEqual(await offsetsOf(inbox, acme, u('ann'), 1200), Array.from({ length: 300 }, (_, i) => 1201 + i));
      assert.equal((await inbox.read(acme, u('ann'), 1199, 1)).lost, true);
    });

    it('expires at most `limit` inboxes per call', async () => {
      const inbox = await make({ maxAgeMs: 1000 });
      for (const user of ['ann', 'bob', 'cy']) await inbox.append(acme, [u(user)], envelope(user), null, 1000);
      const rounds = [];
      for (let i = 0; i < 3; i++) rounds.push(await inbox.expire(5000, 2));
      assert.deepEqual(rounds.map((r) => [r.inboxes, r.deadLetters.length]), [[2, 2], [1, 1], [0, 0]]);
      assert.deepEqual(summary(rounds.flatMap((r) => r.deadLetters)).map(([user]) => user), ['ann', 'bob', 'cy']);
    });

    it('counts an inbox trimmed of acknowledged entries only, which makes no dead letter', async () => {
      const inbox = await make({ maxAgeMs: 1000 });
      await inbox.append(acme, [u('ann')], envelope('a1'), null, 1000);
      await inbox.ack(acme, u('ann'), d('phone'), 1);
      assert.deepEqual(await inbox.expire(5000, 10), { inboxes: 1, deadLetters: [] });
      assert.deepEqual(await offsetsOf(inbox, acme, u('ann')), []);
    });

    it('lists the newest dead letters first', async () => {
      const inbox = await make({ maxAgeMs: 1000 });
      await inbox.append(acme, [u('ann')], envelope('a1'), null, 1000);
      await inbox.append(acme, [u('ann')], envelope('a2'), null, 1000);
      await inbox.expire(5000, 10);
      await inbox.append(globex, [u('cy')], envelope('c1', { text: 'c1' }, globex), null, 6000);
      await inbox.expire(10_000, 10);
      const newest = await inbox.deadLetters(10);
      assert.deepEqual(newest.map((x) => [x.tenantId, x.userId, x.entry.offset, x.entry.envelope.id, x.reason]), [
        ['globex', 'cy', 1, 'c1', 'expired'],
        ['acme', 'ann', 2, 'a2', 'expired'],
        ['acme', 'ann', 1, 'a1', 'expired'],
      ]);
      assert.deepEqual(newest[1], { tenantId: acme, userId: u('ann'), reason: 'expired', entry: { offset: 2, envelope: envelope('a2'), at: 1000, exceptSocket: null } });
      assert.deepEqual((await inbox.deadLetters(2)).map((x) => x.entry.envelope.id), ['c1', 'a2']);
    });

    it('holds the same entries whatever the stream hints say: streams interleaved, members skipped, inboxes emptied by age and refilled', async () => {
      const inbox = await make({ maxAgeMs: 1000 });
      const users = ['ann', 'bob', 'cy', 'dee'].map(u);
      const streams = ['group', 'group', 'group', 'direct', 'other', undefined];
      /** What each user's inbox must hold: [offset, envelope id, at]. */
      const model = new Map<UserId, [number, string, number][]>(users.map((user) => [user, []]));
      let seed = 7;
      const random = (n: number) => {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        return seed % n;
      };
      const appendSome = async (count: number, at: number) => {
        for (let i = 0; i < count; i++) {
          // Mostly the whole group, sometimes one member left out or one user alone.
          const pick = random(10);
          const to = pick < 6 ? users : pick < 8 ? users.filter((_, k) => k !== random(users.length)) : [users[random(users.length)]!];
          const id = `e${at}-${i}`;
          const { offsets } = await inbox.append(acme, to, envelope(id), null, at, streams[random(streams.length)]);
          for (const user of to) {
            const entries = model.get(user)!;
            const offset = (entries.at(-1)?.[0] ?? 0) + 1;
            entries.push([offset, id, at]);
            assert.equal(offsets.get(user), offset);
          }
        }
      };
      const check = async (label: string) => {
        for (const user of users) {
          const entries = model.get(user)!;
          const all = (await inbox.read(acme, user, 0, 10_000)).entries.map((e) => [e.offset, e.envelope.id, e.at]);
          assert.deepEqual(all, entries, `${label}: ${user}'s entries`);
          // Pages from anywhere: a page starts inside a run and ends inside another.
          for (let k = 0; k < 5 && entries.length > 0; k++) {
            const after = entries[random(entries.length)]![0] - 1;
            const limit = 1 + random(7);
            const page = (await inbox.read(acme, user, after, limit)).entries.map((e) => e.offset);
            assert.deepEqual(page, entries.filter(([o]) => o > after).slice(0, limit).map(([o]) => o), `${label}: ${user}'s page after ${after}`);
          }
        }
      };
      await appendSome(150, 1000);
      await check('after the appends');
      await inbox.ack(acme, u('ann'), d('phone'), 40);
      await appendSome(60, 3000);
      const { deadLetters } = await inbox.expire(2500, 10);
      const removed = [...model].flatMap(([user, entries]) => entries.filter(([, , at]) => at < 1500).map(([offset]) => [user, offset] as const));
      for (const [user, entries] of model) model.set(user, entries.filter(([, , at]) => at >= 1500));
      assert.deepEqual(
        deadLetters.map((x) => [x.userId, x.entry.offset]).sort(),
        removed.filter(([user, offset]) => user !== u('ann') || offset > 40).map(([user, offset]) => [user, offset]).sort(),
      );
      await check('after the first expiry');
      // Everything expires; the streams go on where they were.
      await inbox.expire(10_000, 10);
      for (const user of users) model.set(user, []);
      await check('with every inbox empty');
      for (const user of users) model.set(user, [[(await inbox.read(acme, user, 0, 0)).head, '', 0]]);
      await appendSome(40, 20_000);
      for (const user of users) model.set(user, model.get(user)!.slice(1));
      await check('refilled');
    });

    it('keeps tenants apart', async () => {
      const inbox = await make();
      const a = await inbox.append(acme, [u('ann')], envelope('for-acme'), null, 1000);
      const g = await inbox.append(globex, [u('ann')], envelope('for-globex', {}, globex), null, 1000);
      assert.deepEqual([a.offsets.get(u('ann')), g.offsets.get(u('ann'))], [1, 1]);
      await inbox.ack(acme, u('ann'), d('phone'), 1);
      assert.equal(await inbox.acked(globex, u('ann'), d('phone')), 0);
      assert.deepEqual((await inbox.read(globex, u('ann'), 0, 10)).entries.map((e) => e.envelope.id), ['for-globex']);
    });
  });
}
