import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { MemoryConversationStore } from '../../src/adapters/memory/memory-conversation-store.js';
import { MemoryMessageStore } from '../../src/adapters/memory/memory-message-store.js';
import { openSqliteDatabase, type SqliteDatabase } from '../../src/adapters/sqlite/sqlite-database.js';
import { SqliteConversationStore } from '../../src/adapters/sqlite/sqlite-conversation-store.js';
import { SqliteMessageStore } from '../../src/adapters/sqlite/sqlite-message-store.js';
import { asConversationId, asMessageId, asTenantId, asUserId } from '../../src/domain/ids.js';
import { storesContract } from './stores.contract.js';

describe('in memory', () => {
  storesContract('memory', async () => ({ conversations: new MemoryConversationStore(), messages: new MemoryMessageStore() }));
});

describe('in SQLite', () => {
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-contract-'));
  const open: SqliteDatabase[] = [];
  after(() => {
    for (const db of open) db.close();
    rmSync(dir, { recursive: true, force: true });
  });
  storesContract('sqlite', async () => {
    const db = openSqliteDatabase(join(dir, `db-${open.length}.sqlite`));
    open.push(db);
    return { conversations: new SqliteConversationStore(db), messages: new SqliteMessageStore(db) };
  });
});

describe('SQLite group commit', () => {
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-group-commit-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('commits concurrent appends together, and one that fails does not take the others with it', async () => {
    const db = openSqliteDatabase(join(dir, 'db.sqlite'));
    try {
      const conversations = new SqliteConversationStore(db);
      const messages = new SqliteMessageStore(db);
      const tenantId = asTenantId('acme');
      const at = '2026-11-22T10:00:00.000Z';
      await conversations.create({ tenantId, id: asConversationId('c'), type: 'group', name: null, isPublic: false, metadata: {}, createdBy: asUserId('ann'), createdAt: at }, []);
      const append = (conversation: string, i: number) => messages.append({
        tenantId, conversationId: asConversationId(conversation), id: asMessageId(`m${i}`), senderId: asUserId('ann'), clientMessageId: `c${i}`,
        type: 'text', content: `m${i}`, metadata: {}, attachment: null, replyTo: null, createdAt: at,
      });
      const results = await Promise.allSettled([append('c', 1), append('c', 2), append('missing', 3), append('c', 4)]);
      assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
      assert.deepEqual(results.flatMap((r) => (r.status === 'fulfilled' ? [r.value.message.seq] : [])), [1, 2, 3]);
      assert.deepEqual((await messages.page(tenantId, asConversationId('c'), { limit: 10 })).map((m) => m.content), ['m1', 'm2', 'm4']);
    } finally {
      db.close();
    }
  });
});
