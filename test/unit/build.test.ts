// scripts/build.mjs --if-changed, as `npm start` runs it: a second start with
// nothing changed builds nothing; any change to a source builds again.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const run = promisify(execFile);

describe('npm start’s build (scripts/build.mjs --if-changed)', () => {
  let checkout: string;
  const build = () => run(process.execPath, ['scripts/build.mjs', '--if-changed'], { cwd: checkout });
  const builtAt = async () => (await stat(path.join(checkout, 'dist/app.js'))).mtimeMs;

  before(async () => {
    checkout = await mkdtemp(path.join(tmpdir(), 'todoapp-build-'));
    for (const item of ['src', 'scripts', 'package.json', 'package-lock.json'])
      await cp(path.join(ROOT, item), path.join(checkout, item), { recursive: true });
    await symlink(path.join(ROOT, 'node_modules'), path.join(checkout, 'node_modules'));
  });
  after(() => rm(checkout, { recursive: true, force: true }));

  it('builds a fresh checkout, then nothing while the inputs are the same, then again after a change', async () => {
    await build();
    const first = await builtAt();
    assert.match(await readFile(path.join(checkout, 'dist/cli.js'), 'utf8'), /serve/);
    await build();
    assert.equal(await builtAt(), first, 'rebuilt although nothing changed');
    const source = path.join(checkout, 'src/app.ts');
    await writeFile(source, `${await readFile(source, 'utf8')}\nexport const changedByTheTest = 1;\n`);
    await build();
    assert.match(await readFile(path.join(checkout, 'dist/app.js'), 'utf8'), /changedByTheTest/);
  });
});
