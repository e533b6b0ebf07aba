// The Kubernetes manifests (deploy/k8s): every overlay renders with
// `kubectl kustomize`, every object passes its schema strictly, and the
// deployment holds together (test/deploy/k8s-invariants.ts).
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import { argsOf, parseDockerfile } from './dockerfile.ts';
import { documentedSecrets, invariantProblems, type DeploymentFacts } from './k8s-invariants.ts';
import { schemaProblems } from './k8s-schemas.ts';
import { K8S_DIR, overlays, render, ROOT, type K8sObject } from './k8s.ts';

const OVERLAYS = await overlays();
let facts: DeploymentFacts;

before(async () => {
  const pkg = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
  facts = {
    version: pkg.version,
    documentedSecrets: documentedSecrets(await readFile(path.join(ROOT, 'docs/deploy.md'), 'utf8')),
  };
});

describe('deploy/k8s', () => {
  it('has the two overlays, CloudNativePG and KubeDB, each with its createsuperuser Job', () => {
    assert.deepEqual(
      OVERLAYS.map((overlay) => [overlay.name, overlay.createSuperuserDir !== undefined]),
      [
        ['cloudnativepg', true],
        ['kubedb', true],
      ],
    );
  });

  it('docs/deploy.md says how to create the secrets the manifests need, in namespace todolist', () => {
    assert.deepEqual([...(facts.documentedSecrets.get('todoapp-secret-key') ?? [])], ['SECRET_KEY']);
    assert.deepEqual([...(facts.documentedSecrets.get('todoapp-admin') ?? [])].sort(), ['password', 'username']);
  });

  for (const { name, dir, createSuperuserDir } of OVERLAYS) {
    describe(`overlay ${name}`, () => {
      let objects: K8sObject[];
      let adminJob: K8sObject[];

      before(async () => {
        objects = await render(dir);
        adminJob = createSuperuserDir ? await render(createSuperuserDir) : [];
      });

      it('renders the app, its migration Job and a database', () => {
        const kinds = objects.map((object) => object.kind).sort();
        for (const kind of [
          'Namespace',
          'ServiceAccount',
          'ConfigMap',
          'Deployment',
          'Service',
          'PodDisruptionBudget',
          'HorizontalPodAutoscaler',
          'NetworkPolicy',
          'Job',
        ]) {
          assert.ok(kinds.includes(kind), `no ${kind} in ${kinds.join(', ')}`);
        }
        assert.ok(
          objects.every((object) => object.kind === 'Namespace' || object.metadata.namespace === 'todolist'),
          'everything lives in namespace todolist',
        );
        assert.deepEqual(
          adminJob.map((object) => object.kind),
          ['Job'],
        );
      });

      it('passes the schemas strictly (kubernetes-models, the operator CRDs, no unknown fields)', () => {
        assert.deepEqual([...objects, ...adminJob].flatMap(schemaProblems), []);
      });

      it('holds together: selectors, probes, ports, secrets, security, database, release', () => {
        assert.deepEqual(invariantProblems([...objects, ...adminJob], facts), []);
      });

      it("runs the image as the Dockerfile's user, on the port it exposes", async () => {
        const stages = parseDockerfile(await readFile(path.join(ROOT, 'deploy/docker/Dockerfile'), 'utf8'));
        const final = stages.at(-1)!;
        const [uid, gid] = (argsOf(final, 'USER').at(-1) ?? '').split(':').map(Number);
        for (const object of [...objects, ...adminJob].filter((o) => o.kind === 'Deployment' || o.kind === 'Job')) {
          const pod = (object as unknown as IDeployment).spec?.template.spec;
          assert.equal(pod?.securityContext?.runAsUser, uid, `${object.metadata.name}: runAsUser`);
          assert.equal(pod?.securityContext?.runAsGroup, gid ?? uid, `${object.metadata.name}: runAsGroup`);
        }
        const deployment = objects.find((o) => o.kind === 'Deployment') as unknown as IDeployment;
        const ports = deployment.spec?.template.spec?.containers[0]?.ports?.map((port) => String(port.containerPort));
        assert.deepEqual(
          ports,
          argsOf(final, 'EXPOSE').flatMap((exposed) => exposed.split(/\s+/)),
        );
      });
    });
  }

  it('has no kustomization outside the overlays that is missed by these tests', async () => {
    const entries = await readdir(K8S_DIR, { recursive: true });
    const kustomizations = entries
      .filter((entry) => path.basename(entry) === 'kustomization.yaml')
      .map((entry) => path.dirname(entry))
      .sort();
    // base, migrations, createsuperuser and components are reached only through the overlays.
    assert.deepEqual(kustomizations, [
      'base',
      'components/cloudnativepg',
      'components/kubedb',
      'components/release',
      'createsuperuser',
      'migrations',
      'overlays/cloudnativepg',
      'overlays/cloudnativepg/createsuperuser',
      'overlays/kubedb',
      'overlays/kubedb/createsuperuser',
    ]);
  });
});
