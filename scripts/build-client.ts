// Bundles the browser script (src/client/app.ts) into src/views/static/app.js,
// which views/assets.ts serves under a fingerprinted name. The output is
// generated (git-ignored): `npm start`, `npm run build` and `npm test` build it.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export async function buildClient(): Promise<void> {
  await build({
    entryPoints: [path.join(root, 'src/client/app.ts')],
    outfile: path.join(root, 'src/views/static/app.js'),
    bundle: true,
    minify: true,
    format: 'esm',
    target: 'es2020',
    legalComments: 'none',
    logLevel: 'warning',
  });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await buildClient();
  console.log('Built src/views/static/app.js');
}
