// A freshly created, empty PGlite cluster, kept once per PGlite version, that a
// new DATA_DIR is copied from instead of running initdb. initdb in WebAssembly
// takes ~4 s and grows the process's WebAssembly heap by ~500 MB that is never
// given back; a copy of its result (39 MB of files) takes a few milliseconds.
// `npm install` makes it (package.json postinstall); without it the first
// fresh start makes it, and every later one copies it.
//
// Why a copy is sound: the files are those of a cluster that was shut down
// cleanly and has never held data, exactly what initdb would write again
// (PGlite's initdb takes no options from us: the settings come at start).
import { existsSync, readFileSync } from 'node:fs';
import { cp, mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PGLITE_VERSION = (
  JSON.parse(readFileSync(path.join(ROOT, 'node_modules/@electric-sql/pglite/package.json'), 'utf8')) as {
    version: string;
  }
).version;

/** In node_modules/.cache, where tools keep what a reinstall may throw away: a new PGlite version makes a new one. */
export const TEMPLATE_DIR = path.join(ROOT, 'node_modules', '.cache', 'todoapp', `pglite-${PGLITE_VERSION}-cluster`);
const COMPLETE = 'PG_VERSION';

export function templateExists(): boolean {
  return existsSync(path.join(TEMPLATE_DIR, COMPLETE));
}

/**
 * Makes the template unless it exists. Runs initdb in a folder of its own
 * beside the final one and renames it into place, so a reader never sees half
 * a cluster and two processes making it at once both end with the same result.
 */
export async function ensureTemplate(): Promise<void> {
  if (templateExists()) return;
  await mkdir(path.dirname(TEMPLATE_DIR), { recursive: true });
  const scratch = await mkdtemp(`${TEMPLATE_DIR}.tmp-`);
  try {
    // Loaded here, not at the top: `npm start` checks for the template on every start and only makes it once.
    const { PGlite } = await import('@electric-sql/pglite');
    const pg = await PGlite.create(scratch);
    await pg.close();
    await rename(scratch, TEMPLATE_DIR).catch((error: NodeJS.ErrnoException) => {
      // Another process got there first with an identical cluster.
      if (!templateExists()) throw error;
    });
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/**
 * Puts a copy of the template at `target`, which must hold no cluster (what is
 * there, a copy cut short by a crash, is removed); false when there is no
 * template. The copy is made beside it and renamed into place, so a crash
 * mid-copy never leaves a folder that looks like a whole cluster.
 */
export async function copyTemplate(target: string): Promise<boolean> {
  if (!templateExists()) return false;
  const scratch = `${target}.tmp-copy`;
  await rm(scratch, { recursive: true, force: true });
  await cp(TEMPLATE_DIR, scratch, { recursive: true });
  await rm(target, { recursive: true, force: true });
  await rename(scratch, target);
  return true;
}
