import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe } from 'node:test';
import { MemoryConversationStore } from '../../src/adapters/memory/memory-conversation-store.js';
import { MemoryMessageStore } from '../../src/adapters/memory/memory-message-store.js';
import { openSqliteDatabase, type SqliteDatabase } from '../../src/adapters/sqlite/sqlite-database.js';
import { SqliteConversationStore } from '../../src/adapters/sqlite/sqlite-conversation-store.js';
import { SqliteMessageStore } from '../../src/adapters/sqlite/sqlite-message-store.js';
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
