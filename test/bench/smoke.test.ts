import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';

/*
 * `npm run bench -- smoke`: every default benchmark scenario at a tiny scale. This checks
 * that the benchmark runs and writes well-formed JSON with every scenario — never how fast
 * anything is.
 */
const SCENARIOS = ['connect', 'fanout', 'p2p', 'cross', 'reconnect', 'redis', 'throughput'];

interface Table { title: string; rows: Record<string, unknown>[] }
interface Results {
  startedAt: string;
  machine: { cpu: string; cores: number; node: string };
  options: { smoke: boolean };
  scenarios: string[];
  results: Record<string, { tables?: Table[]; error?: string; seconds?: number }>;
}

describe('npm run bench -- smoke', () => {
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-bench-smoke-'));
  const out = join(dir, 'smoke.json');
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('runs every scenario and writes well-formed JSON with each of them', { timeout: 480_000 }, async () => {
    const output: string[] = [];
    const code = await new Promise<number | null>((resolve, reject) => {
      const child = spawn('npm', ['run', '--silent', 'bench', '--', 'smoke', '--out', out], { stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout.on('data', (d: Buffer) => output.push(d.toString()));
      child.stderr.on('data', (d: Buffer) => output.push(d.toString()));
      child.once('error', reject);
      child.once('exit', (c) => resolve(c));
    });
    assert.equal(code, 0, `the smoke run failed:\n${output.join('').slice(-4000)}`);

    const json = JSON.parse(readFileSync(out, 'utf8')) as Results;
    assert.equal(json.options.smoke, true);
    assert.ok(!Number.isNaN(Date.parse(json.startedAt)));
    assert.equal(typeof json.machine.cpu, 'string');
    assert.ok(json.machine.cores >= 1);
    assert.deepEqual([...json.scenarios].sort(), [...SCENARIOS].sort());
    for (const name of SCENARIOS) {
      const r = json.results[name];
      assert.ok(r, `no results for ${name}`);
      assert.equal(r.error, undefined, `${name} failed: ${r.error}`);
      assert.equal(typeof r.seconds, 'number', `${name} did not finish`);
      assert.ok(Array.isArray(r.tables) && r.tables.length > 0, `${name} printed no table`);
      for (const t of r.tables) {
        assert.equal(typeof t.title, 'string');
        assert.ok(Array.isArray(t.rows) && t.rows.length > 0, `${name}: table '${t.title}' has no rows`);
      }
    }
    // The tables went to stdout as markdown too.
    assert.match(output.join(''), /\| server +\|/);
  });
});
