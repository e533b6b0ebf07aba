// Reads deploy/docker/Dockerfile and .dockerignore for the static checks of
// dockerfile.test.ts and k8s.test.ts (containers.test.ts builds and runs the
// image for real). Only what that Dockerfile uses is understood; anything else
// is an error, not a silent skip.
import path from 'node:path';
import { NODE_FLAGS } from '../../bench/http/app-process.ts';

export interface Instruction {
  keyword: string;
  args: string;
}

export interface Stage {
  base: string;
  name: string | undefined;
  instructions: Instruction[];
}

/** The Dockerfile's stages, in order, with continuation lines joined and comments dropped. */
export function parseDockerfile(text: string): Stage[] {
  const stages: Stage[] = [];
  const logicalLines = text
    .split('\n')
    .filter((line) => !/^\s*#/.test(line))
    .join('\n')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
  for (const line of logicalLines) {
    const [, keyword = '', args = ''] = /^(\S+)\s*(.*)$/.exec(line) ?? [];
    const upper = keyword.toUpperCase();
    if (upper === 'FROM') {
      const from = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      if (!from?.[1]) throw new Error(`Dockerfile: cannot read "FROM ${args}"`);
      stages.push({ base: from[1], name: from[2], instructions: [] });
      continue;
    }
    const stage = stages.at(-1);
    if (!stage) throw new Error(`Dockerfile: ${upper} before the first FROM`);
    stage.instructions.push({ keyword: upper, args });
  }
  return stages;
}

/** `ENV A=1 B=2` (the form this Dockerfile uses). */
export function parseEnv(args: string): Record<string, string> {
  return Object.fromEntries(
    args.split(/\s+/).map((pair) => {
      const at = pair.indexOf('=');
      if (at <= 0) throw new Error(`Dockerfile: ENV ${args} is not in KEY=VALUE form`);
      return [pair.slice(0, at), pair.slice(at + 1)];
    }),
  );
}

/** ENTRYPOINT and CMD must be JSON arrays (exec form): a shell in between would not pass SIGTERM on. */
export function parseExecForm(keyword: string, args: string): string[] {
  try {
    const parsed = JSON.parse(args) as unknown;
    if (Array.isArray(parsed) && parsed.every((item) => typeof item === 'string')) return parsed as string[];
  } catch {
    // reported below
  }
  throw new Error(`Dockerfile: ${keyword} ${args} is not in exec (JSON array) form`);
}

interface IgnorePattern {
  negated: boolean;
  regex: RegExp;
}

function globToRegex(glob: string): RegExp {
  let source = '';
  for (let i = 0; i < glob.length; i++) {
    const char = glob[i] ?? '';
    if (char === '*' && glob[i + 1] === '*') {
      source += '.*';
      i++;
    } else if (char === '*') source += '[^/]*';
    else if (char === '?') source += '[^/]';
    else source += char.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${source}$`);
}

export function parseDockerignore(text: string): IgnorePattern[] {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const negated = line.startsWith('!');
      const pattern = path.posix.normalize((negated ? line.slice(1) : line).trim()).replace(/^\/+|\/+$/g, '');
      return { negated, regex: globToRegex(pattern) };
    });
}

/**
 * Whether Docker leaves `relativePath` out of the build context: the last
 * pattern matching the path or one of its parent folders decides.
 */
export function isIgnored(patterns: IgnorePattern[], relativePath: string): boolean {
  const parts = relativePath.split('/');
  const candidates = parts.map((_, index) => parts.slice(0, index + 1).join('/'));
  let ignored = false;
  for (const { negated, regex } of patterns) {
    if (candidates.some((candidate) => regex.test(candidate))) ignored = !negated;
  }
  return ignored;
}

export const argsOf = (stage: Stage, keyword: string): string[] =>
  stage.instructions.filter((instruction) => instruction.keyword === keyword).map((instruction) => instruction.args);

/** The final stage's ENV, merged. */
export function finalEnv(stages: Stage[]): Record<string, string> {
  const last = stages.at(-1);
  return Object.assign({}, ...(last ? argsOf(last, 'ENV').map(parseEnv) : [])) as Record<string, string>;
}

/** What the image must be, read from the Dockerfile; each problem as text. */
export function dockerfileProblems(stages: Stage[]): string[] {
  const problems: string[] = [];
  const last = stages.at(-1);
  if (stages.length < 2 || !last) return ['not a multi-stage build'];
  for (const stage of stages) {
    const node = /^node:(\d+)\.\d+\.\d+(-[a-z0-9-]+)?(@sha256:[0-9a-f]{64})?$/.exec(stage.base);
    const major = Number(node?.[1]);
    // Even majors are the LTS lines; some dependencies need Node 22 or later.
    if (!node || major < 22 || major % 2 !== 0)
      problems.push(`FROM ${stage.base}: not a pinned Node.js LTS image (node:X.Y.Z…, X even and 22 or later)`);
  }
  const user = argsOf(last, 'USER').at(-1);
  if (!user || !/^[1-9]\d*(:\d+)?$/.test(user))
    problems.push(
      `USER ${user ?? '(unset)'}: the final stage must run as a numeric non-root user (runAsNonRoot can only check a number)`,
    );
  const env = finalEnv(stages);
  if (env.HOST !== '0.0.0.0') problems.push('ENV HOST is not 0.0.0.0');
  if (env.PORT !== '8000') problems.push('ENV PORT is not 8000');
  if (env.METRICS_PORT !== '9464') problems.push('ENV METRICS_PORT is not 9464');
  if (argsOf(last, 'EXPOSE').join() !== '8000 9464') problems.push('EXPOSE is not 8000 9464');
  try {
    const entrypoint = parseExecForm('ENTRYPOINT', argsOf(last, 'ENTRYPOINT').at(-1) ?? '');
    if (entrypoint[0] !== '/usr/bin/tini' || entrypoint[1] !== '--' || entrypoint[2] !== 'node')
      problems.push('ENTRYPOINT must be tini -- node … (tini passes SIGTERM on)');
    if (entrypoint.slice(3, -1).join(' ') !== NODE_FLAGS.join(' ') || entrypoint.at(-1) !== 'bin/todoapp.js') {
      problems.push(
        `ENTRYPOINT must start node with the flags the benchmark measured (${NODE_FLAGS.join(' ')}), then bin/todoapp.js`,
      );
    }
    if (parseExecForm('CMD', argsOf(last, 'CMD').at(-1) ?? '').join(' ') !== 'serve')
      problems.push('CMD is not ["serve"]');
  } catch (error) {
    problems.push((error as Error).message);
  }
  const runs = argsOf(last, 'RUN');
  if (!runs.some((command) => /apt-get install .*\btini\b/.test(command))) problems.push('tini is not installed');
  for (const command of runs)
    if (/\b(npm|npx|tsc|tsx)\b/.test(command))
      problems.push(`RUN ${command}: the final stage must not build or install packages`);
  return problems;
}
