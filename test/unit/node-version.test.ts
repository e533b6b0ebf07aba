// One Node 22 everywhere: the version package.json pins (the registry's `node`
// package, which npm scripts run), the image's base (deploy/docker/Dockerfile),
// the range `engines` states, and the Node this suite is running on.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { it } from 'node:test';
import { pinnedNodeVersion } from '../../scripts/node-version.ts';

const read = (file: string) => readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8');

it('package.json, the Dockerfile and the running suite agree on one Node 22', () => {
  const pinned = pinnedNodeVersion();
  assert.match(pinned, /^22\.\d+\.\d+$/, 'an exact Node 22 version');
  const manifest = JSON.parse(read('package.json')) as { engines: { node: string } };
  assert.equal(manifest.engines.node, `^${pinned}`, 'engines: the pinned version and later 22.x');
  const bases = [...read('deploy/docker/Dockerfile').matchAll(/^FROM node:(\S+?)-/gm)].map((match) => match[1]);
  assert.ok(bases.length > 0, 'the Dockerfile builds on node images');
  for (const base of bases) assert.equal(base, pinned, 'every stage of the image on the pinned Node');
  assert.equal(process.versions.node, pinned, `the suite runs on the pinned Node (it is ${process.execPath})`);
});
