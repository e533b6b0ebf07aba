#!/usr/bin/env node
// In a checkout (src/ present) run the TypeScript source through tsx, so a
// stale dist/ never shadows the code being edited; in the production image
// (compiled dist/ only, no tsx) run the compiled CLI.
import { existsSync } from 'node:fs';

const source = new URL('../src/cli.ts', import.meta.url);
if (existsSync(source)) {
  const { register } = await import('tsx/esm/api');
  register();
  await import(source.href);
} else {
  await import(new URL('../dist/cli.js', import.meta.url).href);
}
