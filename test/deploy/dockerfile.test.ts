// The Dockerfile and .dockerignore readers, what .dockerignore keeps out of the
// build context (containers.test.ts builds through it for real), and negative
// fixtures proving dockerfileProblems rejects what it should: each one is the
// real Dockerfile with one line changed.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import {
  dockerfileProblems,
  isIgnored,
  parseDockerfile,
  parseDockerignore,
  parseEnv,
  parseExecForm,
} from './dockerfile.ts';
import { ROOT } from './k8s.ts';

const DOCKERFILE = await readFile(path.join(ROOT, 'deploy/docker/Dockerfile'), 'utf8');

function problemsWith(search: RegExp, replacement: string): string[] {
  assert.match(DOCKERFILE, search, 'the fixture changes a line that exists');
  return dockerfileProblems(parseDockerfile(DOCKERFILE.replace(search, replacement)));
}

describe('the Dockerfile reader', () => {
  it('reads stages, joins continued lines and drops comments', () => {
    const stages = parseDockerfile(
      '# comment\nFROM node:22.1.0 AS build\nRUN a \\\n  && b\n\nFROM node:22.1.0\n# inside\nCMD ["serve"]\n',
    );
    assert.deepEqual(stages, [
      { base: 'node:22.1.0', name: 'build', instructions: [{ keyword: 'RUN', args: 'a    && b' }] },
      { base: 'node:22.1.0', name: undefined, instructions: [{ keyword: 'CMD', args: '["serve"]' }] },
    ]);
    assert.throws(() => parseDockerfile('RUN x\nFROM y'), /RUN before the first FROM/);
  });

  it('reads ENV and the exec form, and refuses what it does not understand', () => {
    assert.deepEqual(parseEnv('A=1 B=x=y'), { A: '1', B: 'x=y' });
    assert.throws(() => parseEnv('A 1'), /KEY=VALUE/);
    assert.deepEqual(parseExecForm('CMD', '["serve"]'), ['serve']);
    assert.throws(() => parseExecForm('ENTRYPOINT', 'node bin/todoapp.js'), /exec \(JSON array\) form/);
  });

  it('applies .dockerignore as Docker does: the last matching pattern wins, parent folders count', () => {
    const patterns = parseDockerignore('# only these\n*\n!src\n!scripts/build.mjs\nsrc/**/*.js\n');
    assert.equal(isIgnored(patterns, '.env'), true);
    assert.equal(isIgnored(patterns, 'src/app.ts'), false);
    assert.equal(isIgnored(patterns, 'src/views/static/app.js'), true);
    assert.equal(isIgnored(patterns, 'scripts/build.mjs'), false);
    assert.equal(isIgnored(patterns, 'scripts/test.ts'), true);
    assert.equal(isIgnored(patterns, 'node_modules/tsx/package.json'), true);
  });
});

describe('.dockerignore', () => {
  it('keeps secrets, data and build output out of the build context', async () => {
    const ignore = parseDockerignore(await readFile(path.join(ROOT, '.dockerignore'), 'utf8'));
    for (const file of [
      '.env',
      '.env.production',
      'data/pglite/base',
      'node_modules/tsx/package.json',
      'dist/cli.js',
      '.git/HEAD',
      'test/cli.test.ts',
      'test-artifacts/x.png',
      'src/views/static/app.js',
    ]) {
      assert.ok(isIgnored(ignore, file), `${file} is left out`);
    }
  });
});

describe('dockerfileProblems', () => {
  it('finds none in deploy/docker/Dockerfile', () => {
    assert.deepEqual(dockerfileProblems(parseDockerfile(DOCKERFILE)), []);
  });

  const fixtures: [string, RegExp, string, RegExp][] = [
    [
      'an unpinned base image',
      /^FROM node:[^\s]+ AS build$/m,
      'FROM node:latest AS build',
      /FROM node:latest: not a pinned Node.js LTS image/,
    ],
    [
      'a Node.js line that is no LTS',
      /^FROM node:[^\s]+$/m,
      'FROM node:23.11.0-bookworm-slim',
      /FROM node:23.11.0-bookworm-slim: not a pinned Node.js LTS/,
    ],
    ['root', /^USER .*$/m, 'USER root', /USER root: the final stage must run as a numeric non-root user/],
    ['a named user', /^USER .*$/m, 'USER node', /USER node: the final stage must run as a numeric non-root user/],
    ['listening on loopback', /HOST=0\.0\.0\.0/, 'HOST=127.0.0.1', /ENV HOST is not 0.0.0.0/],
    ['another port', /^EXPOSE 8000 9464$/m, 'EXPOSE 3000', /EXPOSE is not 8000 9464/],
    ['no metrics port', /METRICS_PORT=9464 /, '', /ENV METRICS_PORT is not 9464/],
    ['no tini', /^ENTRYPOINT .*$/m, 'ENTRYPOINT ["node", "bin/todoapp.js"]', /ENTRYPOINT must be tini -- node/],
    [
      'node without the measured V8 flags',
      /^ENTRYPOINT .*$/m,
      'ENTRYPOINT ["/usr/bin/tini", "--", "node", "bin/todoapp.js"]',
      /ENTRYPOINT must start node with the flags the benchmark measured/,
    ],
    [
      'a shell-form entry point (SIGTERM goes to the shell)',
      /^ENTRYPOINT .*$/m,
      'ENTRYPOINT /usr/bin/tini -- node bin/todoapp.js',
      /not in exec \(JSON array\) form/,
    ],
    [
      'tini not installed',
      /install -y --no-install-recommends tini/,
      'install -y --no-install-recommends curl',
      /tini is not installed/,
    ],
    [
      'building in the final stage',
      /^CMD .*$/m,
      'RUN npm install\nCMD ["serve"]',
      /RUN npm install: the final stage must not build/,
    ],
    ['another default command', /^CMD .*$/m, 'CMD ["migrate"]', /CMD is not \["serve"\]/],
  ];
  for (const [name, search, replacement, expected] of fixtures) {
    it(`rejects ${name}`, () => {
      const problems = problemsWith(search, replacement);
      assert.ok(
        problems.some((problem) => expected.test(problem)),
        `expected ${expected}, got:\n${problems.join('\n')}`,
      );
    });
  }
});
