// The key behind session and token hashes. A server database needs SECRET_KEY
// (the same on every replica); the embedded database gets a random one made
// once and kept in DATA_DIR, so `npm start` needs no setup.
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from './config.ts';

export async function resolveSecretKey(config: Config): Promise<string> {
  if (config.secretKey !== undefined) return config.secretKey;
  const file = path.join(config.dataDir, 'secret-key');
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  await mkdir(config.dataDir, { recursive: true });
  const key = randomBytes(48).toString('base64url');
  // 'wx' fails if another process wrote it first; then use theirs.
  await writeFile(file, `${key}\n`, { mode: 0o600, flag: 'wx' }).catch(() => {});
  return (await readFile(file, 'utf8')).trim();
}
