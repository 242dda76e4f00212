import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { pino } from 'pino';
import { loadConfig } from '../../src/app/config.js';
import { createDeliveryBackend } from '../../src/app/delivery-backend.js';
import { createProcessorApp } from '../../src/app/processor-app.js';

// Kafka's brokers cannot run here; none is contacted: the log is only created and closed.
describe('the delivery backend of each shape', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'switchboard-backend-'));
  const logger = pino({ level: 'silent' });
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  it('stores messages as it accepts them with the embedded log and the SQLite store, and only then', async () => {
    const shapes: [Record<string, string>, boolean][] = [
      [{}, true],
      [{ SWITCHBOARD_STORE: 'memory' }, false],
      [{ SWITCHBOARD_LOG: 'kafka', SWITCHBOARD_KAFKA_BROKERS: '127.0.0.1:9' }, false],
    ];
    for (const [env, journal] of shapes) {
      const backend = await createDeliveryBackend(loadConfig({ SWITCHBOARD_DATA_DIR: dataDir, ...env }), null, logger);
      try {
        assert.equal(backend.sequencer.storesOnAccept, journal, JSON.stringify(env));
      } finally {
        await backend.close();
      }
    }
  });

  it('switchboard processor refuses the embedded log with the SQLite store: there is no log to process', async () => {
    await assert.rejects(createProcessorApp(loadConfig({ SWITCHBOARD_DATA_DIR: dataDir, SWITCHBOARD_LOG_LEVEL: 'silent' })), /no log to process/);
  });
});
