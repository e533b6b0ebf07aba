// The Kubernetes manifests (deploy/k8s): every overlay renders with
// `kubectl kustomize`, alone and with every combination of the optional
// components it offers, every object passes its schema strictly, and the
// deployment holds together (test/deploy/k8s-invariants.ts).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import { argsOf, parseDockerfile } from './dockerfile.ts';
import { documentedSecrets, invariantProblems, type DeploymentFacts } from './k8s-invariants.ts';
import { schemaProblems } from './k8s-schemas.ts';
import {
  K8S_DIR,
  optionalComponents,
  overlays,
  render,
  renderWithComponents,
  ROOT,
  subsets,
  type K8sObject,
} from './k8s.ts';

const OVERLAYS = await overlays();
let facts: DeploymentFacts;

before(async () => {
  const pkg = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
  facts = {
    version: pkg.version,
    documentedSecrets: documentedSecrets(await readFile(path.join(ROOT, 'docs/deploy.md'), 'utf8')),
    clusterIssuers: new Set([(await clusterIssuer()).metadata.name]),
  };
});

const CLUSTER_ISSUER = path.join(K8S_DIR, 'cert-manager/cluster-issuer.yaml');
const clusterIssuer = async () => parseYaml(await readFile(CLUSTER_ISSUER, 'utf8')) as K8sObject;

/** What each optional component must add to the rendered deployment, as Kind/name. */
const COMPONENT_OBJECTS: Record<string, string[]> = {
  'cloudnativepg-backups': ['ObjectStore/todo-db-backups', 'ScheduledBackup/todo-db-nightly'],
  'cloudnativepg-recovery': ['Cluster/todo-db-restored', 'NetworkPolicy/todo-db-restored'],
  'cloudnativepg-monitoring': ['PodMonitor/todo-db', 'PrometheusRule/todo-db'],
  'ingress-tls': ['Ingress/todoapp', 'Certificate/todoapp-tls'],
  monitoring: ['PodMonitor/todoapp', 'PrometheusRule/todoapp', 'ConfigMap/todoapp-grafana-dashboard'],
};

/** Components that only make sense with others on (docs/deploy.md says so too). */
const NEEDS: Record<string, string[]> = { 'cloudnativepg-recovery': ['cloudnativepg-backups'] };

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

  it('each overlay offers its optional components, as docs/deploy.md lists them', async () => {
    assert.deepEqual(await optionalComponents(path.join(K8S_DIR, 'overlays/cloudnativepg')), [
      'cloudnativepg-backups',
      'ingress-tls',
      'monitoring',
      'cloudnativepg-monitoring',
      'cloudnativepg-recovery',
    ]);
    assert.deepEqual(await optionalComponents(path.join(K8S_DIR, 'overlays/kubedb')), ['ingress-tls', 'monitoring']);
    const docs = await readFile(path.join(ROOT, 'docs/deploy.md'), 'utf8');
    for (const component of Object.keys(COMPONENT_OBJECTS))
      assert.ok(docs.includes(`# - ../../components/${component}`), `docs/deploy.md says how to turn on ${component}`);
  });

  it('docs/deploy.md marks every command block as run by a test or not run here', async () => {
    const docs = await readFile(path.join(ROOT, 'docs/deploy.md'), 'utf8');
    const blocks = [...docs.matchAll(/^ *```sh\n *(.*)$/gm)].map((match) => match[1] ?? '');
    assert.ok(blocks.length > 20, `found ${blocks.length} blocks`);
    for (const first of blocks) {
      assert.match(first, /^# (not run here|tested: test\/\S+\.test\.ts)/, `a block starts with: ${first}`);
      const test = /^# tested: (\S+)/.exec(first)?.[1];
      if (test) assert.ok(existsSync(path.join(ROOT, test)), `${test} exists`);
    }
  });

  it('the ClusterIssuer to apply once per cluster passes the cert-manager model strictly', async () => {
    assert.deepEqual(schemaProblems(await clusterIssuer()), []);
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

  for (const { name, dir, createSuperuserDir } of OVERLAYS) {
    describe(`overlay ${name} with its optional components`, async () => {
      const optional = await optionalComponents(dir);
      const variants = subsets(optional).filter(
        (chosen) => chosen.length > 0 && chosen.every((c) => (NEEDS[c] ?? []).every((n) => chosen.includes(n))),
      );
      let adminJob: K8sObject[];
      before(async () => {
        adminJob = createSuperuserDir ? await render(createSuperuserDir) : [];
      });

      for (const chosen of variants) {
        it(`${chosen.join(' + ')}: renders, passes the schemas and holds together`, async () => {
          const objects = await renderWithComponents(name, chosen);
          const names = objects.map((object) => `${object.kind}/${object.metadata.name}`);
          for (const component of chosen)
            for (const expected of COMPONENT_OBJECTS[component] ?? [])
              assert.ok(names.includes(expected), `${component} adds ${expected}`);
          // After a recovery the first admin exists already; the createsuperuser Job (which knows todo-db
          // only) is not part of a restored deployment.
          const all = chosen.includes('cloudnativepg-recovery') ? objects : [...objects, ...adminJob];
          assert.deepEqual(all.flatMap(schemaProblems), []);
          assert.deepEqual(invariantProblems(all, facts), []);
        });
      }
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
      'components/cloudnativepg-backups',
      'components/cloudnativepg-monitoring',
      'components/cloudnativepg-recovery',
      'components/ingress-tls',
      'components/kubedb',
      'components/monitoring',
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
