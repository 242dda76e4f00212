import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { asServerId, asSocketId, asTenantId } from '../../src/domain/ids.js';
import type { ClusterBus, DeliveryBatch } from '../../src/ports/cluster-bus.js';

const batch = (n: number, extra: Partial<DeliveryBatch['items'][number]> = {}): DeliveryBatch => ({
  from: asServerId('a'),
  items: [{
    socketIds: [asSocketId(`s${n}`), asSocketId('t')],
    envelope: { v: 1, type: 'message', id: `e${n}`, tenant_id: asTenantId('acme'), timestamp: 1_795_000_000_000 + n, payload: { action: 'message:new', data: { n, text: 'héllo ✓' } } },
    volatile: false,
    ...extra,
  }],
});

/** Resolves after `count` batches arrived at `inbox`, or rejects after a while. */
function collect(count: number, timeoutMs = 10_000): { handler: (b: DeliveryBatch) => void; done: Promise<DeliveryBatch[]> } {
  const got: DeliveryBatch[] = [];
  let resolve!: (b: DeliveryBatch[]) => void;
  let timer: NodeJS.Timeout | undefined;
  const done = new Promise<DeliveryBatch[]>((r, reject) => {
    resolve = r;
    timer = setTimeout(() => reject(new Error(`${got.length} of ${count} batches arrived within ${timeoutMs} ms`)), timeoutMs);
  });
  return { handler: (b) => (got.push(b), got.length === count && (clearTimeout(timer), resolve(got))), done };
}

/** The behaviour every ClusterBus must have; `make` returns two buses of one cluster (two servers). */
export function clusterBusContract(name: string, make: () => Promise<[ClusterBus, ClusterBus]>): void {
  describe(`ClusterBus contract: ${name}`, () => {
    it('delivers batches to the server they are addressed to, in publish order, intact', async () => {
      const [a, b] = await make();
      const inbox = collect(50);
      await b.subscribe(asServerId('b'), inbox.handler);
      for (let i = 0; i < 50; i++) await a.publish(asServerId('b'), batch(i));
      const got = await inbox.done;
      assert.deepEqual(got.map((x) => x.items[0]!.envelope.id), Array.from({ length: 50 }, (_, i) => `e${i}`));
      assert.deepEqual(got[7], batch(7));
    });

    it('carries binary data as bytes', async () => {
      const [a, b] = await make();
      const inbox = collect(1);
      await b.subscribe(asServerId('b'), inbox.handler);
      const bytes = new Uint8Array([0, 1, 2, 250, 255]);
      await a.publish(asServerId('b'), batch(1, { envelope: { ...batch(1).items[0]!.envelope, payload: { action: 'message:new', data: { attachment: bytes } } } }));
      const [got] = await inbox.done;
      const data = got!.items[0]!.envelope.payload.data as { attachment: Uint8Array };
      assert.deepEqual([...data.attachment], [...bytes]);
    });

    it('does not deliver to other servers, and publishing to a server nobody holds is not an error', async () => {
      const [a, b] = await make();
      const forC: DeliveryBatch[] = [];
      const inbox = collect(1);
      await b.subscribe(asServerId('c'), (x) => forC.push(x));
      await a.subscribe(asServerId('a'), inbox.handler);
      await a.publish(asServerId('nobody'), batch(1));
      await b.publish(asServerId('a'), batch(2));
      await inbox.done;
      assert.deepEqual(forC, []);
    });

    it('stops delivering after close', async () => {
      const [a, b] = await make();
      const late: DeliveryBatch[] = [];
      await b.subscribe(asServerId('b'), (x) => late.push(x));
      await b.close();
      const probe = collect(1);
      await a.subscribe(asServerId('a'), probe.handler);
      await a.publish(asServerId('b'), batch(1));
      await a.publish(asServerId('a'), batch(2));
      await probe.done;
      assert.deepEqual(late, []);
    });
  });
}
