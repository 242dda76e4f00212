import Database from 'better-sqlite3';
import { SQLITE_MIGRATIONS } from '../../src/adapters/sqlite/sqlite-database.js';

/** A new SQLite file with the schema of the first `version` migrations, as an older release left it; open, for the test to fill. */
export function sqliteFileAtVersion(file: string, version: number): Database.Database {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  for (const migration of SQLITE_MIGRATIONS.slice(0, version)) db.exec(migration);
  db.pragma(`user_version = ${version}`);
  return db;
}
