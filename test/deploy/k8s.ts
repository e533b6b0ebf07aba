// Renders the Kubernetes manifests in deploy/k8s with `kubectl kustomize`
// (offline: it only reads files) into plain objects for the checks.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const K8S_DIR = path.join(ROOT, 'deploy/k8s');

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

const run = promisify(execFile);

/** `kubectl kustomize DIR`, parsed. */
export async function render(dir: string): Promise<K8sObject[]> {
  let stdout: string;
  try {
    ({ stdout } = await run('kubectl', ['kustomize', dir], { maxBuffer: 16 * 1024 * 1024 }));
  } catch (error) {
    const { code, stderr } = error as { code?: string; stderr?: string };
    if (code === 'ENOENT')
      throw new Error('kubectl is not installed; the deploy tests render the manifests with `kubectl kustomize`.', {
        cause: error,
      });
    throw new Error(`kubectl kustomize ${path.relative(ROOT, dir)} failed:\n${stderr ?? (error as Error).message}`, {
      cause: error,
    });
  }
  return parseAllDocuments(stdout).map((document) => {
    if (document.errors.length > 0)
      throw new Error(`kubectl kustomize ${dir} printed invalid YAML: ${document.errors[0]?.message}`);
    return document.toJS() as K8sObject;
  });
}

/** Every kustomization a person applies: deploy/k8s/overlays/NAME, and NAME/createsuperuser where it exists. */
export async function overlays(): Promise<{ name: string; dir: string; createSuperuserDir: string | undefined }[]> {
  const entries = await readdir(path.join(K8S_DIR, 'overlays'), { withFileTypes: true });
  return entries
    .filter((entry) => entry.isDirectory())
    .map((entry) => {
      const dir = path.join(K8S_DIR, 'overlays', entry.name);
      const createSuperuserDir = path.join(dir, 'createsuperuser');
      return {
        name: entry.name,
        dir,
        createSuperuserDir: existsSync(createSuperuserDir) ? createSuperuserDir : undefined,
      };
    })
    .sort((a, b) => a.name.localeCompare(b.name));
}

export function describeObject(object: K8sObject): string {
  return `${object.kind}/${object.metadata?.name}`;
}

/** The optional components an overlay lists commented out (`# - ../../components/NAME`), for a person to turn on. */
export async function optionalComponents(overlayDir: string): Promise<string[]> {
  const text = await readFile(path.join(overlayDir, 'kustomization.yaml'), 'utf8');
  return [...text.matchAll(/^ {2}# - \.\.\/\.\.\/components\/([a-z0-9-]+)$/gm)].map((match) => match[1] ?? '');
}

/**
 * `kubectl kustomize` of an overlay with some of its optional components
 * turned on exactly as docs/deploy.md tells a person to: by uncommenting
 * their lines. Done in a copy of deploy/k8s, so the repository is never written.
 */
export async function renderWithComponents(overlayName: string, components: string[]): Promise<K8sObject[]> {
  const copy = await mkdtemp(path.join(tmpdir(), 'todoapp-k8s-'));
  try {
    await cp(K8S_DIR, copy, { recursive: true });
    const file = path.join(copy, 'overlays', overlayName, 'kustomization.yaml');
    let text = await readFile(file, 'utf8');
    for (const component of components) {
      const line = `  # - ../../components/${component}\n`;
      if (!text.includes(line)) throw new Error(`overlays/${overlayName} does not offer components/${component}`);
      text = text.replace(line, `  - ../../components/${component}\n`);
    }
    await writeFile(file, text);
    return await render(path.dirname(file));
  } finally {
    await rm(copy, { recursive: true, force: true });
  }
}

/** Every subset of `items`, the empty one first. */
export function subsets<T>(items: T[]): T[][] {
  return items.reduce<T[][]>((all, item) => [...all, ...all.map((subset) => [...subset, item])], [[]]);
}
