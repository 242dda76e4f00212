import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** The PostgreSQL server the tests use (started by `scripts/test-tools.sh` when it is local). */
export const TEST_POSTGRES_URL = process.env.SWITCHBOARD_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** A database of one test file, so concurrent test files never see each other's rows. */
export interface TestDatabase {
  url: string;
  /** Creates a new, empty schema and returns a URL whose connections work in it. */
  freshSchema(): Promise<string>;
  /** Drops the database, disconnecting whoever is still connected. */
  drop(): Promise<void>;
}

async function withClient(url: string, work: (client: pg.Client) => Promise<unknown>): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await work(client);
  } finally {
    await client.end();
  }
}

/** Creates a uniquely named database on the test server. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `switchboard_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  await withClient(TEST_POSTGRES_URL, (c) => c.query(`CREATE DATABASE ${name}`));
  const url = new URL(TEST_POSTGRES_URL);
  url.pathname = `/${name}`;
  let schemas = 0;
  return {
    url: url.href,
    async freshSchema() {
      const schema = `contract_${++schemas}`;
      await withClient(url.href, (c) => c.query(`CREATE SCHEMA ${schema}`));
      const inSchema = new URL(url);
      inSchema.searchParams.set('options', `-c search_path=${schema}`);
      return inSchema.href;
    },
    drop: () => withClient(TEST_POSTGRES_URL, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)),
  };
}
