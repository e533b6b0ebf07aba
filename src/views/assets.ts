// The files in views/static, served from memory under fingerprinted names
// (app.3f2a9c1b.css) so browsers may cache them forever: a changed file gets
// a new name, and pages always link the current one.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

const STATIC_DIR = new URL('./static/', import.meta.url);

const CONTENT_TYPES: Record<string, string> = {
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
};

export interface Asset {
  body: Buffer;
  contentType: string;
}

const byName = new Map<string, string>();
const byFingerprint = new Map<string, Asset>();

for (const file of readdirSync(STATIC_DIR)) {
  const extension = path.extname(file);
  const contentType = CONTENT_TYPES[extension];
  if (!contentType) continue;
  const body = readFileSync(new URL(file, STATIC_DIR));
  const hash = createHash('sha256').update(body).digest('hex').slice(0, 10);
  const fingerprinted = `${path.basename(file, extension)}.${hash}${extension}`;
  byName.set(file, `/static/${fingerprinted}`);
  byFingerprint.set(fingerprinted, { body, contentType });
}

/** The URL of a static file by its plain name, e.g. assetUrl('app.css'). */
export function assetUrl(name: string): string {
  const url = byName.get(name);
  if (!url) throw new Error(`No static asset named ${name}`);
  return url;
}

export function findAsset(fingerprintedName: string): Asset | undefined {
  return byFingerprint.get(fingerprintedName);
}
