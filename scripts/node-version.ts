// The Node that runs the suite, the benchmark and the app is the one pinned in
// package.json: the registry's `node` package, whose binary npm puts in
// node_modules/.bin, first on the PATH of every npm script, whatever Node the
// machine has. The image uses the same version (deploy/docker/Dockerfile);
// test/unit/node-version.test.ts checks that they agree. Decision 014 says why.
import { readFileSync } from 'node:fs';

const REQUIRED_MAJOR = 22;

/** The version package.json pins (devDependencies.node), e.g. "22.22.2". */
export function pinnedNodeVersion(): string {
  const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    devDependencies?: Record<string, string>;
  };
  const pinned = manifest.devDependencies?.node;
  if (!pinned) throw new Error('package.json pins no Node version (devDependencies.node).');
  return pinned;
}

/** Prints the Node in use; throws, saying what to do, unless it is Node 22. */
export function requireNode22(what: string): void {
  const pinned = pinnedNodeVersion();
  console.log(`Node ${process.version} (${process.execPath})`);
  const major = Number(process.versions.node.split('.')[0]);
  if (major !== REQUIRED_MAJOR)
    throw new Error(
      `${what} runs on Node ${REQUIRED_MAJOR} (package.json pins node ${pinned}), not ${process.version}. ` +
        'Run it through npm (npm test, npm run bench), which finds the pinned node in node_modules/.bin first; ' +
        'if node_modules/.bin/node is missing, run npm install (or npm ci) first.',
    );
  if (process.versions.node !== pinned)
    console.log(`(not the pinned ${pinned}: run through npm to use node_modules/.bin/node)`);
}
