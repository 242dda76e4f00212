import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

/**
 * The servers under test run as compiled JavaScript, as they are deployed (`npm start`), not
 * through tsx: that would add its transform hooks to every module load and about half a
 * second to each start. Switchboard (`src/`) and the relays are compiled once per bench
 * run into `bench/.build/` (`bench/tsconfig.servers.json`).
 */
const BUILD_DIR = fileURLToPath(new URL('./.build/', import.meta.url));
const TSCONFIG = fileURLToPath(new URL('./tsconfig.servers.json', import.meta.url));

let built: Promise<void> | null = null;

/** Compiles the servers (once per process). */
export function buildServers(): Promise<void> {
  built ??= (async () => {
    const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
    await promisify(execFile)(process.execPath, [tsc, '-p', TSCONFIG], { maxBuffer: 16 * 1024 * 1024 });
  })();
  return built;
}

/** Node arguments that run the compiled form of `script` (a path from the repository root, e.g. `src/app/cli.ts`). */
export async function compiled(script: string): Promise<string> {
  await buildServers();
  return `${BUILD_DIR}${script.replace(/\.ts$/, '.js')}`;
}
