import { profileDir, reportProfile, round, sleep, targetsOf, withServer, type BenchOptions, type MeasuredWindow, type Report, type Row } from '../common.js';
import { GeneratorPool, MAX_CLIENTS_PER_PROCESS } from '../generators.js';
import { SECRET } from '../processes.js';
import { wallClock } from '../wire.js';
import { createConversation } from './traffic.js';

/** Users per room: each client is in one room (a Switchboard channel), restored on reconnect. */
const ROOM_SIZE = 1000;

/**
 * Reconnect storm: a server holding `connections` clients, each in a room, is killed with
 * SIGKILL and started again at once on the same port (and data). Clients reconnect with
 * full-jitter backoff (random delay in [0, min(cap, base·2^attempt))). Per client: time
 * from its drop to being usable with its rooms again (Switchboard: reconnected and
 * `session:ready`, its channels re-joined by the server; relays: rooms re-joined in the
 * handshake); and the time from the kill until every client is back.
 */
export async function reconnectStorm(o: BenchOptions, report: Report): Promise<void> {
  const scenario = 'reconnect';
  const pool = await GeneratorPool.start(Math.max(o.generators, Math.ceil(o.connections / MAX_CLIENTS_PER_PROCESS)));
  const deadlineMs = o.smoke ? 15_000 : 120_000;
  const rows: Row[] = [];
  try {
    for (const t of targetsOf(o, ['sio', 'switchboard', 'raw'])) {
      // Profiled: the restarted process (the killed one writes no profile).
      const prof = profileDir(o, scenario, t.key);
      let window: MeasuredWindow | undefined;
      const row = await withServer(() => t.start({ cpuProfDir: prof }), async (server) => {
        const users = Array.from({ length: o.connections }, (_, i) => `r${i}`);
        const roomOf = (i: number) => `g${Math.floor(i / ROOM_SIZE)}`;
        await pool.prepare({ dialect: t.dialect, urls: server.urls, clients: users.map((user, i) => ({ user, rooms: [roomOf(i)] })), secret: SECRET, connectTimeoutMs: 20_000 });
        const opened = await pool.open({ concurrency: 100, deadlineMs: 180_000, attempts: 3 });
        if (t.key === 'switchboard') {
          for (let first = 0; first < users.length; first += ROOM_SIZE) {
            await createConversation(pool, first, { type: 'channel', name: roomOf(first), members: users.slice(first + 1, first + ROOM_SIZE) });
          }
        }
        await sleep(o.smoke ? 200 : 2000);
        await pool.armReconnect({ baseMs: o.backoffBaseMs, capMs: o.backoffCapMs, deadlineMs });
        const killedAt = wallClock();
        await server.kill(0);
        await server.restart(0);
        const upAt = wallClock();
        const until = Date.now() + deadlineMs;
        let stats = await pool.reconnectStats();
        while (Date.now() < until && (stats.restored < opened.opened || stats.dropped < opened.opened)) {
          await sleep(250);
          stats = await pool.reconnectStats();
          // Everyone who dropped is back, and no more drops are coming in.
          if (stats.dropped > 0 && stats.restored === stats.dropped && wallClock() - killedAt > 5000) break;
        }
        window = { from: Date.now() - (wallClock() - upAt), to: Date.now(), spawnedAt: server.spawnedAt() };
        const s = stats.restoreMs.summary();
        await pool.closeClients();
        return {
          server: t.name,
          clients: opened.opened,
          restored: `${stats.restored}/${stats.dropped}`,
          'restart s': round((upAt - killedAt) / 1000, 2),
          'p50 s': s.p50 === null ? null : round(s.p50 / 1000, 2),
          'p99 s': s.p99 === null ? null : round(s.p99 / 1000, 2),
          'max s': s.max === null ? null : round(s.max / 1000, 2),
          'all back s': stats.lastRestoredAt ? round((stats.lastRestoredAt - killedAt) / 1000, 2) : null,
          'failed attempts': Object.entries(stats.errors).sort((x, y) => y[1] - x[1]).map(([k, v]) => `${k}×${v}`).join(' ') || 0,
          'p99 < 3 s': s.p99 === null ? 'n/a' : s.p99 < 3000 ? 'PASS' : 'FAIL',
        } satisfies Row;
      }, prof ? 30_000 : 0);
      await reportProfile(report, scenario, prof, window);
      rows.push(row);
    }
  } finally {
    await pool.stop();
  }
  report.set(scenario, 'rows', rows);
  const sb = rows.find((r) => r.server === 'Switchboard');
  if (sb) report.set(scenario, 'budget', [{ check: 'reconnect storm, Switchboard: per-client p99 drop → session:ready (s)', ratio: sb['p99 s'] === null ? 'n/a' : `${sb['p99 s']} (< 3 ${Number(sb['p99 s']) < 3 ? 'PASS' : 'FAIL'})` }]);
  report.table(scenario, `Reconnect storm: kill -9 a server holding ${o.connections} clients (rooms of ${ROOM_SIZE}), restart it at once; full-jitter backoff, base ${o.backoffBaseMs} ms, cap ${o.backoffCapMs} ms`, rows,
    'p50/p99/max: per client, drop → usable with its rooms (Switchboard: session:ready). restart: kill → the new process listens. all back: kill → last client restored.');
}
