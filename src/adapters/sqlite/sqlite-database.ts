import Database from 'better-sqlite3';

export type SqliteDatabase = Database.Database;

/** Schema migrations, applied in order; `PRAGMA user_version` records how many ran. */
export const SQLITE_MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE conversations (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    type TEXT NOT NULL,
    name TEXT,
    is_public INTEGER NOT NULL,
    metadata TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    direct_key TEXT,
    last_seq INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, id)
  );
  CREATE UNIQUE INDEX conversations_direct ON conversations (tenant_id, direct_key) WHERE direct_key IS NOT NULL;
  CREATE TABLE members (
    tenant_id TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    role TEXT NOT NULL,
    joined_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, conversation_id, user_id)
  );
  CREATE INDEX members_by_user ON members (tenant_id, user_id);
  CREATE TABLE messages (
    tenant_id TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    id TEXT NOT NULL,
    sender_id TEXT NOT NULL,
    client_message_id TEXT NOT NULL,
    type TEXT NOT NULL,
    content TEXT NOT NULL,
    metadata TEXT NOT NULL,
    attachment BLOB,
    reply_to TEXT,
    created_at TEXT NOT NULL,
    edited_at TEXT,
    deleted_at TEXT,
    PRIMARY KEY (tenant_id, conversation_id, seq)
  );
  CREATE UNIQUE INDEX messages_by_id ON messages (tenant_id, conversation_id, id);
  CREATE UNIQUE INDEX messages_dedup ON messages (tenant_id, conversation_id, sender_id, client_message_id);
  CREATE TABLE reactions (
    tenant_id TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    emoji TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, conversation_id, message_id, emoji, user_id)
  );
  CREATE TABLE read_cursors (
    tenant_id TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, conversation_id, user_id)
  );
  `,
  // Delivery guarantees: the sequencer, the per-user inboxes and the embedded durable log.
  // Records and envelopes are MessagePack. Sequence numbers continue from conversations.last_seq.
  `
  CREATE TABLE sequences (
    tenant_id TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    last_seq INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, conversation_id)
  );
  INSERT INTO sequences (tenant_id, conversation_id, last_seq) SELECT tenant_id, id, last_seq FROM conversations WHERE last_seq > 0;
  CREATE TABLE accepted (
    tenant_id TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    sender_id TEXT NOT NULL,
    client_message_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    message BLOB NOT NULL,
    accepted_at INTEGER NOT NULL,
    stored INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, conversation_id, sender_id, client_message_id)
  );
  CREATE INDEX accepted_tail ON accepted (tenant_id, conversation_id, seq) WHERE stored = 0;
  CREATE INDEX accepted_age ON accepted (accepted_at);
  CREATE TABLE inbox_heads (
    tenant_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    head INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
  );
  CREATE TABLE inbox_entries (
    tenant_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    offset INTEGER NOT NULL,
    envelope BLOB NOT NULL,
    bytes INTEGER NOT NULL,
    at INTEGER NOT NULL,
    except_socket TEXT,
    PRIMARY KEY (tenant_id, user_id, offset)
  );
  CREATE INDEX inbox_entries_age ON inbox_entries (at);
  CREATE TABLE inbox_acks (
    tenant_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    offset INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, user_id, device_id)
  );
  CREATE TABLE inbox_dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    offset INTEGER NOT NULL,
    envelope BLOB NOT NULL,
    at INTEGER NOT NULL,
    except_socket TEXT,
    reason TEXT NOT NULL,
    dead_at INTEGER NOT NULL
  );
  CREATE TABLE log_records (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    record BLOB NOT NULL,
    appended_at INTEGER NOT NULL
  );
  CREATE TABLE log_groups (
    group_name TEXT PRIMARY KEY,
    committed INTEGER NOT NULL
  );
  CREATE TABLE log_dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    record_id TEXT NOT NULL,
    record BLOB NOT NULL,
    reason TEXT NOT NULL,
    dead_at INTEGER NOT NULL
  );
  `,
  // An event for several users keeps its envelope once, in inbox_envelopes; their entries
  // point at it (envelope_id) and keep an empty inline envelope.
  `
  CREATE TABLE inbox_envelopes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    envelope BLOB NOT NULL,
    at INTEGER NOT NULL
  );
  CREATE INDEX inbox_envelopes_age ON inbox_envelopes (at);
  ALTER TABLE inbox_entries ADD COLUMN envelope_id INTEGER;
  `,
  // Inboxes as runs: an event is kept once in its stream (inbox_events, numbered 1, 2, 3… per
  // stream, with the count of inboxes holding it), and a user's offsets a, a+1… that are
  // consecutive events of one stream are one row of inbox_runs. inbox_users (was inbox_heads)
  // keeps the head, the first offset held, its age and where the newest run stands, so an
  // append that continues the run updates one row per user. Existing entries move over as
  // runs of one entry each: an inline envelope becomes an event of a stream of the user's
  // whose numbers are the offsets, a shared one an event of a stream of its own, held by
  // every entry that pointed at it. No migrated run goes on (run_stream 0).
  `
  CREATE TABLE inbox_streams (
    id INTEGER PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    key TEXT NOT NULL,
    last_n INTEGER NOT NULL,
    UNIQUE (tenant_id, key)
  );
  CREATE TABLE inbox_events (
    stream_id INTEGER NOT NULL,
    n INTEGER NOT NULL,
    envelope BLOB NOT NULL,
    bytes INTEGER NOT NULL,
    at INTEGER NOT NULL,
    except_socket TEXT,
    refs INTEGER NOT NULL,
    PRIMARY KEY (stream_id, n)
  ) WITHOUT ROWID;
  CREATE TABLE inbox_runs (
    tenant_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    first_offset INTEGER NOT NULL,
    stream_id INTEGER NOT NULL,
    first_n INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, user_id, first_offset)
  ) WITHOUT ROWID;
  CREATE TABLE inbox_users (
    tenant_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    head INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    first INTEGER NOT NULL,
    first_at INTEGER,
    run_stream INTEGER NOT NULL,
    run_n INTEGER NOT NULL,
    run_first INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
  ) WITHOUT ROWID;

  INSERT INTO inbox_streams (tenant_id, key, last_n)
    SELECT tenant_id, 'migrated:' || user_id, head FROM inbox_heads;
  INSERT INTO inbox_streams (tenant_id, key, last_n)
    SELECT DISTINCT tenant_id, 'migrated-envelope:' || envelope_id, 1 FROM inbox_entries WHERE envelope_id IS NOT NULL;
  INSERT INTO inbox_events (stream_id, n, envelope, bytes, at, except_socket, refs)
    SELECT s.id, e.offset, e.envelope, e.bytes, e.at, e.except_socket, 1
    FROM inbox_entries e JOIN inbox_streams s ON s.tenant_id = e.tenant_id AND s.key = 'migrated:' || e.user_id
    WHERE e.envelope_id IS NULL;
  INSERT INTO inbox_events (stream_id, n, envelope, bytes, at, except_socket, refs)
    SELECT s.id, 1, v.envelope, min(e.bytes), v.at, min(e.except_socket), count(*)
    FROM inbox_entries e
    JOIN inbox_envelopes v ON v.id = e.envelope_id
    JOIN inbox_streams s ON s.tenant_id = e.tenant_id AND s.key = 'migrated-envelope:' || e.envelope_id
    GROUP BY s.id;
  INSERT INTO inbox_runs (tenant_id, user_id, first_offset, stream_id, first_n)
    SELECT e.tenant_id, e.user_id, e.offset, s.id, CASE WHEN e.envelope_id IS NULL THEN e.offset ELSE 1 END
    FROM inbox_entries e JOIN inbox_streams s ON s.tenant_id = e.tenant_id
      AND s.key = CASE WHEN e.envelope_id IS NULL THEN 'migrated:' || e.user_id ELSE 'migrated-envelope:' || e.envelope_id END;
  -- With min() alone, SQLite takes the other columns (at) from the row holding the minimum.
  INSERT INTO inbox_users (tenant_id, user_id, head, bytes, first, first_at, run_stream, run_n, run_first)
    SELECT h.tenant_id, h.user_id, h.head, h.bytes, coalesce(e.first, h.head + 1), e.first_at, 0, 0, 0
    FROM inbox_heads h
    LEFT JOIN (SELECT tenant_id, user_id, min(offset) AS first, at AS first_at FROM inbox_entries GROUP BY tenant_id, user_id) e
      ON e.tenant_id = h.tenant_id AND e.user_id = h.user_id;
  CREATE INDEX inbox_users_age ON inbox_users (first_at);
  DROP TABLE inbox_heads;
  DROP TABLE inbox_entries;
  DROP TABLE inbox_envelopes;
  `,
  // The message store's unique indexes lead with the id and the client message id instead of
  // the conversation: same columns, same uniqueness. Ids are ULIDs, so a commit's new messages
  // go to the end of messages_by_id together, whatever their conversations, instead of one
  // page per conversation; the same for messages_dedup when clients number their messages in
  // time order (the SDK's UUIDv7). Each page a commit touches is written to the WAL.
  `
  DROP INDEX messages_by_id;
  CREATE UNIQUE INDEX messages_by_id ON messages (id, tenant_id, conversation_id);
  DROP INDEX messages_dedup;
  CREATE UNIQUE INDEX messages_dedup ON messages (client_message_id, tenant_id, conversation_id, sender_id);
  `,
];

/** How long a statement waits for another process's lock on the file. */
export const BUSY_TIMEOUT_MS = 5000;

/**
 * Puts the file in WAL mode. On a new file that takes its exclusive lock, and SQLite answers
 * BUSY at once, without waiting, while another process opening the same file holds a lock:
 * retried every 20 ms for up to the busy timeout.
 */
function switchToWal(db: SqliteDatabase): void {
  const deadline = Date.now() + BUSY_TIMEOUT_MS;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    try {
      db.pragma('journal_mode = WAL');
      return;
    } catch (err) {
      if (!(err instanceof Database.SqliteError && err.code.startsWith('SQLITE_BUSY')) || Date.now() > deadline) throw err;
      Atomics.wait(pause, 0, 0, 20);
    }
  }
}

/**
 * Opens (creating if needed) the SQLite database and brings its schema up to date.
 * WAL mode with `synchronous=NORMAL`: a committed write survives a process crash. Writes take
 * the write lock up front (IMMEDIATE), so processes sharing the file queue instead of failing.
 */
export function openSqliteDatabase(file: string): SqliteDatabase {
  const db = new Database(file, { timeout: BUSY_TIMEOUT_MS });
  // Several processes may open the same file at once (workers, servers sharing a data
  // directory): the version is read inside the write lock, so exactly one of them migrates.
  try {
    switchToWal(db);
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    db.transaction(() => {
      const version = db.pragma('user_version', { simple: true }) as number;
      // A file a newer release migrated has data this one would misread (e.g. inbox runs).
      if (version > SQLITE_MIGRATIONS.length) {
        throw new Error(`${file} has schema version ${version}; this release knows up to ${SQLITE_MIGRATIONS.length}. Run the newer release, or restore a backup.`);
      }
      for (let i = version; i < SQLITE_MIGRATIONS.length; i++) db.exec(SQLITE_MIGRATIONS[i]!);
      if (version < SQLITE_MIGRATIONS.length) db.pragma(`user_version = ${SQLITE_MIGRATIONS.length}`);
    }).immediate();
  } catch (err) {
    db.close();
    throw err;
  }
  return db;
}
