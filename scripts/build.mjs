// `npm run build` (and the first half of `npm start`): what ships, in dist/.
//
//   - src/ (but src/client) → dist/, one JavaScript file per TypeScript file,
//     by esbuild, with relative `.ts` imports pointing at the `.js` files;
//   - src/client/app.ts → src/views/static/app.js, the page's script, bundled;
//   - src/views/static/ → dist/views/static/;
//   - unless `--client`: the empty PGlite cluster that new embedded data
//     folders are copied from (src/db/pglite-template.ts), made once per
//     PGlite version: `npm install` runs this, so the first `npm start` on a
//     fresh clone finds it ready.
//
// Plain JavaScript, so that it runs on node alone: under tsx every start would
// pay ~0.5 s for the loader before anything is built. Types are not checked
// here (esbuild strips them, ~0.1 s for the whole server); `npm test` runs tsc.
// See docs/decisions/010-build-with-esbuild.md.
import { cpSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

// Loaded only when something is built: `npm start` with nothing changed skips it (~0.2 s).
const build = async (options) => (await import('esbuild')).build(options);

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const src = path.join(root, 'src');
const dist = path.join(root, 'dist');

/** The page's script: one minified ES module (generated, git-ignored). */
export async function buildClient() {
  await build({
    entryPoints: [path.join(src, 'client/app.ts')],
    outfile: path.join(src, 'views/static/app.js'),
    bundle: true,
    minify: true,
    format: 'esm',
    target: 'es2020',
    legalComments: 'none',
    logLevel: 'warning',
  });
}

function serverSources(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return full === path.join(src, 'client') ? [] : serverSources(full);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [full] : [];
  });
}

/**
 * Every import stays an import: packages as they are, our own files with
 * `.js` for `.ts` (what tsc's rewriteRelativeImportExtensions does), so dist/
 * mirrors src/ file for file and `import.meta.url` paths hold in both.
 */
const keepImports = {
  name: 'keep-imports',
  setup(builder) {
    builder.onResolve({ filter: /.*/ }, (args) => {
      if (args.kind === 'entry-point') return undefined;
      if (VENDORED.includes(args.path)) {
        // dist/ mirrors src/, so the path from this file's folder to dist/vendor is the same in both.
        const target = path
          .relative(path.dirname(args.importer), path.join(src, 'vendor', `${args.path}.js`))
          .split(path.sep)
          .join('/');
        return { path: target.startsWith('.') ? target : `./${target}`, external: true };
      }
      return { path: args.path.replace(/^(\.\.?\/.*)\.ts$/, '$1.js'), external: true };
    });
  },
};

/**
 * Packages made into one file each in dist/vendor/ and imported from there:
 * typebox is some 200 files of ES modules, ~0.2 s to load on every start (and
 * every CLI command); as one file, ~15 ms. Only our own code imports it at
 * run time (Fastify validates the plain JSON schemas it makes), so there is
 * never a second copy beside it.
 */
const VENDORED = ['typebox'];

async function buildVendored() {
  for (const name of VENDORED) {
    await build({
      stdin: { contents: `export * from '${name}';`, resolveDir: root, loader: 'js' },
      outfile: path.join(dist, 'vendor', `${name}.js`),
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node22',
      legalComments: 'inline',
      logLevel: 'warning',
    });
  }
}

export async function buildServer() {
  rmSync(dist, { recursive: true, force: true });
  await build({
    entryPoints: serverSources(src),
    outdir: dist,
    outbase: src,
    bundle: true,
    plugins: [keepImports],
    platform: 'node',
    format: 'esm',
    target: 'node22',
    sourcemap: true,
    logLevel: 'warning',
  });
  await buildVendored();
  cpSync(path.join(src, 'views/static'), path.join(dist, 'views/static'), { recursive: true });
}

/** Every input of a build (src/, this script, the lockfile), by path, size and modification time. */
function inputsFingerprint() {
  const files = (dir) =>
    readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
      const full = path.join(dir, entry.name);
      return entry.isDirectory() ? files(full) : [full];
    });
  const generated = path.join(src, 'views/static/app.js');
  const inputs = [
    ...files(src).filter((file) => file !== generated),
    fileURLToPath(import.meta.url),
    path.join(root, 'package-lock.json'),
  ].sort();
  return inputs
    .map((file) => {
      const stat = statSync(file);
      return `${path.relative(root, file)} ${stat.size} ${stat.mtimeMs}`;
    })
    .join('\n');
}

const STAMP = path.join(dist, '.inputs');

/** `--if-changed` (npm start): nothing to do when dist/ was built from exactly these inputs. */
function upToDate(fingerprint) {
  try {
    return readFileSync(STAMP, 'utf8') === fingerprint;
  } catch {
    return false;
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  if (process.argv.includes('--client')) {
    await buildClient();
  } else {
    const fingerprint = inputsFingerprint();
    if (!(process.argv.includes('--if-changed') && upToDate(fingerprint))) {
      await buildClient();
      await buildServer();
      writeFileSync(STAMP, fingerprint);
    }
    const { ensureTemplate } = await import(pathToFileURL(path.join(dist, 'db/pglite-template.js')).href);
    await ensureTemplate();
  }
}
