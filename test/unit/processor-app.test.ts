import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { loadConfig } from '../../src/app/config.js';
import { createProcessorApp } from '../../src/app/processor-app.js';

describe('switchboard processor', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'switchboard-processor-'));
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  it('refuses the embedded log with the SQLite store, where messages are stored as they are accepted', async () => {
    await assert.rejects(createProcessorApp(loadConfig({ SWITCHBOARD_DATA_DIR: dataDir, SWITCHBOARD_LOG_LEVEL: 'silent' })), /no log to process/);
  });
});
