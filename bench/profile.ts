import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Row } from './common.js';

/*
 * Summaries of V8 CPU profiles (`node --cpu-prof`): self time per function and per
 * package/file, so a run can say where a server spends its CPU.
 */

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

export interface ProfileSummary {
  file: string;
  totalMs: number;
  idleMs: number;
  /** Self time per function. */
  functions: Row[];
  /** Self time per package or source folder. */
  areas: Row[];
  /** Inclusive time of the project's own functions (src/), each counted once per sample. */
  ownInclusive: Row[];
}

/** Only samples between these offsets from the start of the profile count (ms). */
export interface ProfileWindow {
  fromMs: number;
  toMs: number;
}

const ROOT = new URL('..', import.meta.url).pathname;

/** The servers run compiled (bench/compiled.ts): their frames are named after the source file, from the repository root. */
const BUILD = `${ROOT}bench/.build/`;

function pathOf(url: string): string {
  const path = url.replace(/^file:\/\//, '');
  return path.startsWith(BUILD) ? `${ROOT}${path.slice(BUILD.length).replace(/\.js$/, '.ts')}` : path;
}

/** Where a frame's code lives: `src/core/…`, `socket.io`, `node:internal`, … */
function area(url: string): string {
  if (!url) return '(native / V8)';
  const path = pathOf(url);
  const nm = path.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = path.slice(nm + '/node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  if (path.startsWith(ROOT)) {
    const rel = path.slice(ROOT.length);
    return rel.split('/').slice(0, 3).join('/');
  }
  if (path.startsWith('node:')) return path.split('/')[0]!.startsWith('node:internal') ? 'node:internal' : path;
  return path;
}

function where(url: string, line: number): string {
  const path = pathOf(url);
  const nm = path.lastIndexOf('/node_modules/');
  const short = nm >= 0 ? path.slice(nm + '/node_modules/'.length) : path.startsWith(ROOT) ? path.slice(ROOT.length) : path;
  // Lines are those of the compiled file; code loaded through tsx reports line 0: leave it out then.
  return short ? (line > 0 ? `${short}:${line + 1}` : short) : '';
}

/** Self time by function and by area of the biggest profile in `dir` (the busiest process). */
export function summarizeProfiles(dir: string, top = 15, window?: ProfileWindow): ProfileSummary[] {
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  } catch {
    return [];
  }
  return files.map((f) => summarize(join(dir, f), top, window)).sort((a, b) => (b.totalMs - b.idleMs) - (a.totalMs - a.idleMs));
}

export function summarize(file: string, top = 15, window?: ProfileWindow): ProfileSummary {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const keyOf = (n: ProfileNode) => `${n.callFrame.functionName || '(anonymous)'} ${where(n.callFrame.url, n.callFrame.lineNumber)}`.trim();
  const own = (n: ProfileNode) => pathOf(n.callFrame.url).startsWith(`${ROOT}src/`);
  const selfUs = new Map<number, number>();
  const inclusive = new Map<string, number>();
  const add = (id: number, us: number) => {
    selfUs.set(id, (selfUs.get(id) ?? 0) + us);
    const seen = new Set<string>();
    for (let at: number | undefined = id, depth = 0; at !== undefined && depth < 500; at = parent.get(at), depth++) {
      const n = byId.get(at);
      if (!n || !own(n)) continue;
      const k = keyOf(n);
      if (seen.has(k)) continue;
      seen.add(k);
      inclusive.set(k, (inclusive.get(k) ?? 0) + us);
    }
  };
  if (p.samples && p.timeDeltas) {
    let t = 0;
    for (let i = 0; i < p.samples.length; i++) {
      const delta = p.timeDeltas[i] ?? 0;
      t += delta;
      if (window && (t / 1000 < window.fromMs || t / 1000 > window.toMs)) continue;
      // A sample's time is the gap to the next one.
      add(p.samples[i]!, p.timeDeltas[i + 1] ?? delta);
    }
  } else {
    const interval = (p.endTime - p.startTime) / Math.max(1, p.nodes.reduce((a, n) => a + (n.hitCount ?? 0), 0));
    for (const n of p.nodes) add(n.id, (n.hitCount ?? 0) * interval);
  }
  const fn = new Map<string, number>();
  const ar = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (const [id, us] of selfUs) {
    const n = byId.get(id);
    if (!n) continue;
    total += us;
    const { functionName, url } = n.callFrame;
    if (functionName === '(idle)') idle += us;
    const key = keyOf(n);
    fn.set(key, (fn.get(key) ?? 0) + us);
    const a = functionName === '(idle)' ? '(idle)' : functionName === '(garbage collector)' ? '(garbage collector)' : area(url);
    ar.set(a, (ar.get(a) ?? 0) + us);
  }
  const busy = Math.max(1, total - idle);
  const rows = (m: Map<string, number>, label: string): Row[] =>
    [...m].filter(([k]) => !k.startsWith('(idle)')).sort((a, b) => b[1] - a[1]).slice(0, top)
      .map(([k, us]) => ({ [label]: k, 'ms': Math.round(us / 1000), '% of busy': Math.round((us / busy) * 1000) / 10 }));
  return { file, totalMs: Math.round(total / 1000), idleMs: Math.round(idle / 1000), functions: rows(fn, 'function'), areas: rows(ar, 'area'), ownInclusive: rows(inclusive, 'src/ function (inclusive)') };
}
