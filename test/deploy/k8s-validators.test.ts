// Negative fixtures: each one changes one thing in the rendered manifests and
// proves that the validator meant to catch it does. Without these, a
// validator that accepts everything would pass k8s.test.ts just as well.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IHorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import type { IJob } from 'kubernetes-models/batch/v1/Job';
import type { INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IService } from 'kubernetes-models/v1/Service';
import type { IServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { documentedSecrets, invariantProblems, isPinnedImage, type DeploymentFacts } from './k8s-invariants.ts';
import { compileCrdSchema, schemaProblems } from './k8s-schemas.ts';
import { K8S_DIR, render, renderWithComponents, ROOT, type K8sObject } from './k8s.ts';

type Objects = K8sObject[];

let cloudnativepg: Objects;
let kubedb: Objects;
/** The CloudNativePG overlay with every optional component but the recovery on; then with it. */
let full: Objects;
let restored: Objects;
let facts: DeploymentFacts;

before(async () => {
  const overlay = (name: string) => path.join(K8S_DIR, 'overlays', name);
  cloudnativepg = [
    ...(await render(overlay('cloudnativepg'))),
    ...(await render(path.join(overlay('cloudnativepg'), 'createsuperuser'))),
  ];
  kubedb = [...(await render(overlay('kubedb'))), ...(await render(path.join(overlay('kubedb'), 'createsuperuser')))];
  const components = ['cloudnativepg-backups', 'ingress-tls', 'monitoring', 'cloudnativepg-monitoring'];
  full = await renderWithComponents('cloudnativepg', components);
  restored = await renderWithComponents('cloudnativepg', [...components, 'cloudnativepg-recovery']);
  const pkg = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
  facts = {
    version: pkg.version,
    documentedSecrets: documentedSecrets(await readFile(path.join(ROOT, 'docs/deploy.md'), 'utf8')),
    clusterIssuers: new Set(['letsencrypt']),
  };
});

// Typed handles on the objects a fixture changes.
const one = <T>(objects: Objects, kind: string, name?: string) => {
  const found = objects.find((object) => object.kind === kind && (name === undefined || object.metadata.name === name));
  assert.ok(found, `no ${kind} ${name ?? ''}`);
  return found as unknown as T & K8sObject;
};
const deployment = (objects: Objects) => one<IDeployment>(objects, 'Deployment');
const app = (objects: Objects): IContainer => deployment(objects).spec!.template.spec!.containers[0]!;
const migrateJob = (objects: Objects) =>
  objects.find(
    (object) => object.kind === 'Job' && object.metadata.name.startsWith('todoapp-migrate'),
  ) as unknown as IJob & K8sObject;
const adminJob = (objects: Objects) => one<IJob>(objects, 'Job', 'todoapp-createsuperuser');
const envVar = (container: IContainer, name: string) => {
  const variable = container.env?.find((v) => v.name === name);
  assert.ok(variable, `no env ${name}`);
  return variable;
};
const configMap = (objects: Objects) => one<IConfigMap>(objects, 'ConfigMap').data!;
const databasePolicy = (objects: Objects, name = 'todo-db') => one<INetworkPolicy>(objects, 'NetworkPolicy', name);
// The custom resources' specs, loosely typed: fixtures write fields the schema may not even know.
const databaseSpec = (objects: Objects) =>
  objects.find((object) => object.kind === 'Cluster' || object.kind === 'Postgres')!.spec as Record<string, unknown> & {
    postgresql: { synchronous: Record<string, unknown> };
    resources: { requests: Record<string, unknown> };
  };

// Loosely typed handles on the optional components' objects.
type Loose = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const specOf = (objects: Objects, kind: string, name?: string) => one<{ spec: Loose }>(objects, kind, name).spec;
const appPolicy = (objects: Objects) => one<INetworkPolicy>(objects, 'NetworkPolicy', 'todoapp');

interface Fixture {
  name: string;
  overlay?: 'cloudnativepg' | 'kubedb' | 'full' | 'restored';
  change: (objects: Objects) => void;
  /** A problem matching this must be reported. */
  expect: RegExp;
}

function problemsAfter(fixture: Fixture): string[] {
  const rendered = { cloudnativepg, kubedb, full, restored }[fixture.overlay ?? 'cloudnativepg'];
  const objects = structuredClone(rendered);
  fixture.change(objects);
  return [...objects.flatMap(schemaProblems), ...invariantProblems(objects, facts)];
}

const SCHEMA_FIXTURES: Fixture[] = [
  {
    name: 'a misspelt field (readinessProbes)',
    change: (o) => {
      const container = app(o) as IContainer & Record<string, unknown>;
      container.readinessProbes = container.readinessProbe;
      delete container.readinessProbe;
    },
    expect: /Deployment\/todoapp: unknown field \/spec\/template\/spec\/containers\/0\/readinessProbes/,
  },
  {
    name: 'an unknown top-level field',
    change: (o) => void ((deployment(o) as Record<string, unknown>).specs = {}),
    expect: /unknown field \/specs$/,
  },
  {
    name: 'a wrong type (replicas: "three")',
    change: (o) => void ((deployment(o).spec as unknown as Record<string, unknown>).replicas = 'three'),
    expect: /kubernetes-models: .*replicas must be integer/,
  },
  {
    name: 'a malformed quantity',
    change: (o) => void (app(o).resources!.limits!.memory = '384Mx'),
    expect: /must match format "quantity"/,
  },
  {
    name: 'a value outside an enum',
    change: (o) => void ((one<IService>(o, 'Service').spec as Record<string, unknown>).type = 'LoadBalancers'),
    expect: /kubernetes-models: .*allowed values/,
  },
  {
    name: 'a kind without a schema',
    change: (o) => void (deployment(o).apiVersion = 'apps/v1beta1' as never),
    expect: /no schema for apps\/v1beta1\/Deployment/,
  },
  {
    name: 'a misspelt CloudNativePG field (spec.instance)',
    change: (o) => void (databaseSpec(o).instance = 3),
    expect: /Cluster\/todo-db: unknown field \/spec\/instance$/,
  },
  {
    name: 'a misspelt nested CloudNativePG field',
    change: (o) => void (databaseSpec(o).postgresql.synchronous.numbr = 1),
    expect: /unknown field \/spec\/postgresql\/synchronous\/numbr/,
  },
  {
    name: 'a CloudNativePG enum',
    change: (o) => void (databaseSpec(o).postgresql.synchronous.method = 'all'),
    expect: /\/spec\/postgresql\/synchronous\/method must be equal to one of the allowed values \(any, first\)/,
  },
  {
    name: 'a CloudNativePG int-or-string that is neither',
    change: (o) => void (databaseSpec(o).resources.requests.memory = true),
    expect: /\/spec\/resources\/requests\/memory must be integer/,
  },
  {
    name: 'an unknown metadata field on a custom resource',
    change: (o) => void ((one<K8sObject>(o, 'Cluster').metadata as Record<string, unknown>).label = {}),
    expect: /Cluster\/todo-db: unknown field \/metadata\/label$/,
  },
  {
    name: 'a KubeDB enum (standbyMode: hot)',
    overlay: 'kubedb',
    change: (o) => void (databaseSpec(o).standbyMode = 'hot'),
    expect: /Postgres\/todo-db: \/spec\/standbyMode must be equal to one of the allowed values \(Hot, Warm\)/,
  },
  {
    name: 'a KubeDB type (replicas: "3")',
    overlay: 'kubedb',
    change: (o) => void (databaseSpec(o).replicas = '3'),
    expect: /\/spec\/replicas must be integer/,
  },
  {
    name: 'a KubeDB name the CRD forbids',
    overlay: 'kubedb',
    change: (o) => void (one<K8sObject>(o, 'Postgres').metadata.name = 'Todo_DB'),
    expect: /Postgres\/Todo_DB: \/metadata\/name must match pattern/,
  },
  {
    name: 'a field of the older KubeDB API (terminationPolicy)',
    overlay: 'kubedb',
    change: (o) => void (databaseSpec(o).terminationPolicy = 'Halt'),
    expect: /unknown field \/spec\/terminationPolicy/,
  },
];

SCHEMA_FIXTURES.push(
  {
    name: 'a misspelt ObjectStore field',
    overlay: 'full',
    change: (o) => void (specOf(o, 'ObjectStore').configuration.destinationpath = 's3://x/'),
    expect: /ObjectStore\/todo-db-backups: unknown field \/spec\/configuration\/destinationpath/,
  },
  {
    name: 'an ObjectStore compression the plugin does not know',
    overlay: 'full',
    change: (o) => void (specOf(o, 'ObjectStore').configuration.wal.compression = 'zip'),
    expect: /\/spec\/configuration\/wal\/compression must be equal to one of the allowed values/,
  },
  {
    name: 'a ScheduledBackup method the operator does not know',
    overlay: 'full',
    change: (o) => void (specOf(o, 'ScheduledBackup').method = 'barman'),
    expect: /ScheduledBackup\/todo-db-nightly: \/spec\/method must be equal to one of the allowed values/,
  },
  {
    name: 'a misspelt PodMonitor field',
    overlay: 'full',
    change: (o) => void (specOf(o, 'PodMonitor', 'todoapp').podMetricsEndpoints[0].intervl = '30s'),
    expect: /PodMonitor\/todoapp: unknown field \/spec\/podMetricsEndpoints\/0\/intervl/,
  },
  {
    name: 'a PrometheusRule with a wrong type',
    overlay: 'full',
    change: (o) => void (specOf(o, 'PrometheusRule', 'todoapp').groups[0].rules[0].labels = 'critical'),
    expect: /PrometheusRule\/todoapp: kubernetes-models: .*labels must be object/,
  },
  {
    name: 'a Certificate key algorithm cert-manager does not know',
    overlay: 'full',
    change: (o) => void (specOf(o, 'Certificate').privateKey.algorithm = 'DSA'),
    expect: /Certificate\/todoapp-tls: kubernetes-models: .*algorithm must be equal to one of the allowed values/,
  },
  {
    name: 'a misspelt Ingress field',
    overlay: 'full',
    change: (o) => void (specOf(o, 'Ingress').rules[0].htp = {}),
    expect: /Ingress\/todoapp: unknown field \/spec\/rules\/0\/htp/,
  },
  {
    name: 'a misspelt recovery field',
    overlay: 'restored',
    change: (o) => void (specOf(o, 'Cluster').bootstrap.recovery.recoveryTarget.targetTme = 'x'),
    expect: /Cluster\/todo-db-restored: unknown field \/spec\/bootstrap\/recovery\/recoveryTarget\/targetTme/,
  },
);

const SECRET = { name: 'todo-db-app', key: 'password' };

const INVARIANT_FIXTURES: Fixture[] = [
  // Selectors and ports
  {
    name: 'a Service selecting other pods',
    change: (o) => void (one<IService>(o, 'Service').spec!.selector = { 'app.kubernetes.io/name': 'web' }),
    expect: /Service\/todoapp: selector does not match the Deployment's pods/,
  },
  {
    name: 'a Deployment selector that misses its pods',
    change: (o) => void (deployment(o).spec!.selector.matchLabels = { 'app.kubernetes.io/name': 'todo' }),
    expect: /Deployment\/todoapp: selector does not match the pod template labels/,
  },
  {
    name: 'the metrics port in the LoadBalancer Service',
    change: (o) =>
      void one<IService>(o, 'Service').spec!.ports!.push({
        name: 'metrics',
        port: 9464,
        targetPort: 'metrics',
        protocol: 'TCP',
      }),
    expect: /Service\/todoapp: exposes the metrics port 9464 outside the cluster \(port 9464\)/,
  },
  {
    name: 'a NodePort Service for the metrics',
    change: (o) => {
      const front = one<IService>(o, 'Service');
      o.push({
        ...structuredClone(front),
        metadata: { ...front.metadata, name: 'todoapp-metrics' },
        spec: { type: 'NodePort', selector: front.spec!.selector, ports: [{ port: 9464, targetPort: 9464 }] },
      } as unknown as K8sObject);
    },
    expect: /Service\/todoapp-metrics: exposes the metrics port 9464 outside the cluster/,
  },
  {
    name: 'no named metrics port',
    change: (o) => void (app(o).ports![1]!.name = 'prometheus'),
    expect: /the metrics listen on 9464, which is no containerPort named metrics/,
  },
  {
    name: 'a Service port leading nowhere',
    change: (o) => void (one<IService>(o, 'Service').spec!.ports![0]!.targetPort = 'web'),
    expect: /port 80 does not lead to the app's port 8000/,
  },
  {
    name: 'a PodDisruptionBudget for other pods',
    change: (o) =>
      void (one<{ spec: { selector: object } }>(o, 'PodDisruptionBudget').spec.selector = { matchLabels: { x: 'y' } }),
    expect: /PodDisruptionBudget\/todoapp: selector does not match/,
  },
  // Probes
  {
    name: 'a liveness probe on a path the app does not serve',
    change: (o) => void (app(o).livenessProbe!.httpGet!.path = '/health'),
    expect: /livenessProbe asks \/health, not \/healthz/,
  },
  {
    name: 'a liveness probe on /readyz (restarts pods during a failover)',
    change: (o) => void (app(o).livenessProbe!.httpGet!.path = '/readyz'),
    expect: /livenessProbe asks \/readyz, not \/healthz/,
  },
  {
    name: 'a probe on an unknown port',
    change: (o) => void (app(o).readinessProbe!.httpGet!.port = 'metrics'),
    expect: /readinessProbe port metrics is not the app's port 8000/,
  },
  { name: 'no readiness probe', change: (o) => void delete app(o).readinessProbe, expect: /readinessProbe is missing/ },
  {
    name: 'readiness that gives up within a failover',
    change: (o) => void (app(o).readinessProbe!.failureThreshold = 2),
    expect: /readinessProbe gives up after 10 s, within the retry budget/,
  },
  {
    name: 'a grace period shorter than the shutdown',
    change: (o) => void (deployment(o).spec!.template.spec!.terminationGracePeriodSeconds = 20),
    expect: /terminationGracePeriodSeconds 20 does not cover/,
  },
  { name: 'no preStop pause', change: (o) => void delete app(o).lifecycle, expect: /no preStop pause/ },
  // Availability
  {
    name: 'maxUnavailable 1',
    change: (o) => void (deployment(o).spec!.strategy!.rollingUpdate!.maxUnavailable = 1),
    expect: /strategy must be RollingUpdate with maxUnavailable 0/,
  },
  {
    name: 'two replicas',
    change: (o) => void (deployment(o).spec!.replicas = 2),
    expect: /replicas is 2, fewer than 3/,
  },
  {
    name: 'no spread over nodes',
    change: (o) => void delete deployment(o).spec!.template.spec!.topologySpreadConstraints,
    expect: /no topology spread across nodes/,
  },
  {
    name: 'more pods than database connections',
    change: (o) => void (one<IHorizontalPodAutoscaler>(o, 'HorizontalPodAutoscaler').spec!.maxReplicas = 20),
    expect: /20 pods x DB_POOL_SIZE 10 connections exceed/,
  },
  // Secrets and configuration
  {
    name: 'a secret key the operator does not make',
    change: (o) => void (envVar(app(o), 'POSTGRES_PASSWORD').valueFrom!.secretKeyRef!.key = 'passwd'),
    expect: /secret todo-db-app has no key passwd/,
  },
  {
    name: 'a secret nobody makes',
    change: (o) => void (envVar(app(o), 'SECRET_KEY').valueFrom!.secretKeyRef!.name = 'todoapp-secrets'),
    expect: /secret todoapp-secrets is neither made by the operator nor created as docs\/deploy.md says/,
  },
  {
    name: 'the admin secret with a key the docs do not create',
    change: (o) =>
      void (envVar(adminJob(o).spec!.template.spec!.containers[0]!, 'TODOAPP_PASSWORD').valueFrom!.secretKeyRef!.key =
        'pass'),
    expect: /secret todoapp-admin has no key pass/,
  },
  {
    name: 'a Cluster told to use another secret (no <cluster>-app is made then)',
    change: (o) =>
      void (databaseSpec(o).bootstrap = {
        initdb: { database: 'todoapp', owner: 'todoapp', secret: { name: 'mine' } },
      }),
    expect: new RegExp(`secret ${SECRET.name} is neither made by the operator`),
  },
  {
    name: 'a ConfigMap that does not exist',
    change: (o) => void (app(o).envFrom![0]!.configMapRef!.name = 'todoapp-settings'),
    expect: /there is no ConfigMap todoapp-settings/,
  },
  {
    name: 'a password written into the manifest',
    change: (o) =>
      void (app(o).env = [
        ...(app(o).env ?? []).filter((v) => v.name !== 'POSTGRES_PASSWORD'),
        { name: 'POSTGRES_PASSWORD', value: 'hunter2' },
      ]),
    expect: /env POSTGRES_PASSWORD must come from a secretKeyRef/,
  },
  {
    name: 'a committed Secret',
    change: (o) =>
      void o.push({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'todo-db-app', namespace: 'todolist', labels: o[0]!.metadata.labels ?? {} },
        stringData: { password: 'x' },
      }),
    expect: /Secret\/todo-db-app: a Secret is committed/,
  },
  {
    name: 'a secret in the ConfigMap',
    change: (o) => void (configMap(o).SECRET_KEY = 'x'.repeat(40)),
    expect: /SECRET_KEY looks like a secret/,
  },
  {
    name: 'a setting the app rejects',
    change: (o) => void (configMap(o).LOG_LEVEL = 'verbose'),
    expect: /the app rejects its configuration: Invalid configuration: LOG_LEVEL/,
  },
  {
    name: 'listening on loopback only',
    change: (o) => void (configMap(o).HOST = '127.0.0.1'),
    expect: /HOST 127.0.0.1 is not reachable from outside the pod/,
  },
  {
    name: 'an argument naming an unset variable',
    change: (o) =>
      void (adminJob(o).spec!.template.spec!.containers[0]!.args = ['createsuperuser', '--username', '$(ADMIN_NAME)']),
    expect: /\$\(ADMIN_NAME\) in its arguments is not in its env/,
  },
  // Security
  {
    name: 'a pod that may run as root',
    change: (o) => void (deployment(o).spec!.template.spec!.securityContext!.runAsNonRoot = false),
    expect: /Deployment\/todoapp: pod securityContext.runAsNonRoot is not true/,
  },
  {
    name: 'a writable root filesystem',
    change: (o) =>
      void (migrateJob(o).spec!.template.spec!.containers[0]!.securityContext!.readOnlyRootFilesystem = false),
    expect: /Job\/todoapp-migrate-v[\d.]+: container todoapp: readOnlyRootFilesystem is not true/,
  },
  {
    name: 'capabilities kept',
    change: (o) => void (app(o).securityContext!.capabilities = { drop: ['NET_RAW'] }),
    expect: /capabilities do not drop ALL/,
  },
  {
    name: 'privilege escalation allowed',
    change: (o) => void (app(o).securityContext!.allowPrivilegeEscalation = true),
    expect: /allowPrivilegeEscalation is not false/,
  },
  {
    name: 'no seccomp profile',
    change: (o) => void delete deployment(o).spec!.template.spec!.securityContext!.seccompProfile,
    expect: /seccomp profile is not RuntimeDefault/,
  },
  { name: 'no memory limit', change: (o) => void delete app(o).resources!.limits!.memory, expect: /no memory limit/ },
  {
    name: 'no /tmp for a read-only filesystem',
    change: (o) => void delete app(o).volumeMounts,
    expect: /a read-only root filesystem needs an emptyDir at \/tmp/,
  },
  {
    name: 'a service-account token mounted',
    change: (o) => {
      delete deployment(o).spec!.template.spec!.automountServiceAccountToken;
      one<IServiceAccount>(o, 'ServiceAccount').automountServiceAccountToken = true;
    },
    expect: /the service account token is mounted/,
  },
  // Images and release
  {
    name: 'an image tagged latest',
    change: (o) => void (app(o).image = 'registry.example.com/todoapp:latest'),
    expect: /image registry.example.com\/todoapp:latest is not pinned/,
  },
  {
    name: 'an image of another version',
    change: (o) => void (app(o).image = 'registry.example.com/todoapp:0.0.9'),
    expect: /image registry.example.com\/todoapp:0.0.9 is not todoapp:/,
  },
  {
    name: 'a migration Job named without the version',
    change: (o) => void (migrateJob(o).metadata.name = 'todoapp-migrate'),
    expect: /the migration Job should be named todoapp-migrate-v/,
  },
  {
    name: 'a Job restarted in place',
    change: (o) => void (migrateJob(o).spec!.template.spec!.restartPolicy = 'OnFailure'),
    expect: /restartPolicy is not Never/,
  },
  {
    name: 'a Job kept forever',
    change: (o) => void delete adminJob(o).spec!.ttlSecondsAfterFinished,
    expect: /Job\/todoapp-createsuperuser: no ttlSecondsAfterFinished/,
  },
  {
    name: 'a missing version label',
    change: (o) => void delete o[0]!.metadata.labels!['app.kubernetes.io/version'],
    expect: /Namespace\/todolist: label app.kubernetes.io\/version is not/,
  },
  // The database
  {
    name: 'the app pointed at the standbys',
    change: (o) => void (envVar(app(o), 'POSTGRES_HOST').value = 'todo-db-ro'),
    expect: /POSTGRES_HOST is todo-db-ro, not the primary's Service todo-db-rw/,
  },
  {
    name: 'a Job pointed at the wrong KubeDB Service',
    overlay: 'kubedb',
    change: (o) =>
      void (envVar(migrateJob(o).spec!.template.spec!.containers[0]!, 'POSTGRES_HOST').value = 'todo-db-standby'),
    expect: /POSTGRES_HOST is todo-db-standby, not the primary's Service todo-db$/,
  },
  {
    name: 'synchronous.number not below instances',
    change: (o) => void (databaseSpec(o).postgresql.synchronous.number = 3),
    expect: /synchronous.number \(3\) must be below instances \(3\)/,
  },
  {
    name: 'legacy and new synchronous settings mixed',
    change: (o) => void Object.assign(databaseSpec(o), { minSyncReplicas: 1, maxSyncReplicas: 1 }),
    expect: /cannot be mixed with the legacy minSyncReplicas\/maxSyncReplicas/,
  },
  {
    name: 'minSyncReplicas above maxSyncReplicas',
    change: (o) => {
      delete (databaseSpec(o).postgresql as Record<string, unknown>).synchronous;
      Object.assign(databaseSpec(o), { minSyncReplicas: 2, maxSyncReplicas: 1 });
    },
    expect: /minSyncReplicas \(2\) must not exceed maxSyncReplicas \(1\)/,
  },
  {
    name: 'asynchronous replication',
    change: (o) => void delete (databaseSpec(o).postgresql as Record<string, unknown>).synchronous,
    expect: /no synchronous replication/,
  },
  {
    name: 'dataDurability preferred',
    change: (o) => void (databaseSpec(o).postgresql.synchronous.dataDurability = 'preferred'),
    expect: /dataDurability "preferred" drops to asynchronous/,
  },
  {
    name: 'two instances with required durability',
    change: (o) => void (databaseSpec(o).instances = 2),
    expect: /2 instances with dataDurability "required" stop all writes/,
  },
  {
    name: 'a single instance',
    change: (o) => void Object.assign(databaseSpec(o), { instances: 1, postgresql: {} }),
    expect: /instances is 1: a primary and at least one standby are needed/,
  },
  {
    name: 'an unpinned PostgreSQL image',
    change: (o) => void (databaseSpec(o).imageName = 'ghcr.io/cloudnative-pg/postgresql:17'),
    expect: /imageName ghcr.io\/cloudnative-pg\/postgresql:17 is not pinned/,
  },
  {
    name: 'KubeDB asynchronous streaming',
    overlay: 'kubedb',
    change: (o) => void (databaseSpec(o).streamingMode = 'Asynchronous'),
    expect: /streamingMode is Asynchronous/,
  },
  {
    name: 'KubeDB warm standbys',
    overlay: 'kubedb',
    change: (o) => void (databaseSpec(o).standbyMode = 'Warm'),
    expect: /standbyMode is Warm, not Hot/,
  },
  {
    name: 'KubeDB deleting data with the object',
    overlay: 'kubedb',
    change: (o) => void (databaseSpec(o).deletionPolicy = 'WipeOut'),
    expect: /deletionPolicy WipeOut would delete the data/,
  },
  {
    name: "KubeDB's app password from an undocumented secret",
    overlay: 'kubedb',
    change: (o) => void (envVar(app(o), 'POSTGRES_PASSWORD').valueFrom!.secretKeyRef!.name = 'mine'),
    expect: /secret mine is neither made by the operator/,
  },
  {
    name: 'the KubeDB app as the superuser of todo-db-auth',
    overlay: 'kubedb',
    change: (o) => void (envVar(app(o), 'POSTGRES_PASSWORD').valueFrom!.secretKeyRef!.name = 'todo-db-auth'),
    expect: /POSTGRES_PASSWORD comes from todo-db-auth, the database's superuser secret/,
  },
  {
    name: 'the KubeDB app as postgres',
    overlay: 'kubedb',
    change: (o) => void (envVar(app(o), 'POSTGRES_USER').value = 'postgres'),
    expect: /Deployment\/todoapp: connects as the superuser postgres/,
  },
  {
    name: "the CloudNativePG app as the operator's superuser",
    change: (o) => void (envVar(app(o), 'POSTGRES_USER').valueFrom!.secretKeyRef!.name = 'todo-db-superuser'),
    expect: /POSTGRES_USER comes from todo-db-superuser/,
  },
  // Network policies
  {
    name: 'an app policy rule without ports',
    change: (o) => void delete one<INetworkPolicy>(o, 'NetworkPolicy', 'todoapp').spec!.ingress![0]!.ports,
    expect: /NetworkPolicy\/todoapp: an ingress rule opens every port of the app/,
  },
  {
    name: 'an app policy opening another port',
    change: (o) => void (one<INetworkPolicy>(o, 'NetworkPolicy', 'todoapp').spec!.ingress![0]!.ports![0]!.port = 9090),
    expect: /opens port 9090, not the app's port 8000/,
  },
  {
    name: 'the metrics port open to everyone',
    change: (o) => void delete one<INetworkPolicy>(o, 'NetworkPolicy', 'todoapp').spec!.ingress![1]!.from,
    expect: /NetworkPolicy\/todoapp: opens the metrics port 9464 to every pod and address/,
  },
  {
    name: 'the metrics port open to every namespace',
    change: (o) =>
      void (one<INetworkPolicy>(o, 'NetworkPolicy', 'todoapp').spec!.ingress![1]!.from = [{ namespaceSelector: {} }]),
    expect: /opens the metrics port 9464 to every pod and address/,
  },
  {
    name: 'a database open to everyone',
    change: (o) => void databasePolicy(o).spec!.ingress!.push({}),
    expect: /an ingress rule lets every pod and address reach the database/,
  },
  {
    name: 'a database open to the whole namespace',
    change: (o) => void databasePolicy(o).spec!.ingress!.push({ from: [{ podSelector: {} }] }),
    expect: /every pod of the namespace reaches the database/,
  },
  {
    name: 'a database open to another namespace',
    change: (o) =>
      void databasePolicy(o).spec!.ingress!.push({ from: [{ namespaceSelector: { matchLabels: { team: 'x' } } }] }),
    expect: /pods of other namespaces than the operator's \(cnpg-system\)/,
  },
  {
    name: 'an address range reaching the database',
    change: (o) =>
      void databasePolicy(o).spec!.ingress!.push({
        from: [{ ipBlock: { cidr: '10.0.0.0/8' } }],
        ports: [{ port: 5432 }],
      }),
    expect: /an ipBlock reaches the database/,
  },
  {
    name: 'the app shut out of the database',
    change: (o) => void databasePolicy(o).spec!.ingress!.shift(),
    expect: /Deployment\/todoapp: its pods may not reach the database/,
  },
  {
    name: 'a database policy for other pods',
    overlay: 'kubedb',
    change: (o) =>
      void (databasePolicy(o).spec!.podSelector = { matchLabels: { 'app.kubernetes.io/instance': 'other-db' } }),
    expect: /no NetworkPolicy selects the database's pods/,
  },
];

INVARIANT_FIXTURES.push(
  // Backups
  {
    name: 'a plugin entry naming no ObjectStore',
    overlay: 'full',
    change: (o) => void (specOf(o, 'Cluster').plugins[0].parameters.barmanObjectName = 'backups'),
    expect: /Cluster\/todo-db: the plugin's barmanObjectName backups is no ObjectStore/,
  },
  {
    name: 'the plugin without WAL archiving',
    overlay: 'full',
    change: (o) => void (specOf(o, 'Cluster').plugins[0].isWALArchiver = false),
    expect: /does not archive the WAL \(isWALArchiver\): no point-in-time recovery/,
  },
  {
    name: 'WAL archiving without base backups',
    overlay: 'full',
    change: (o) =>
      void o.splice(
        o.findIndex((x) => x.kind === 'ScheduledBackup'),
        1,
      ),
    expect: /Cluster\/todo-db: its WAL is archived but no ScheduledBackup makes base backups of it/,
  },
  {
    name: 'a ScheduledBackup of another cluster',
    overlay: 'full',
    change: (o) => void (specOf(o, 'ScheduledBackup').cluster.name = 'todo'),
    expect: /ScheduledBackup\/todo-db-nightly: backs up todo, which is no Cluster/,
  },
  {
    name: 'a five-field schedule',
    overlay: 'full',
    change: (o) => void (specOf(o, 'ScheduledBackup').schedule = '0 3 * * *'),
    expect: /schedule "0 3 \* \* \*" does not have the six fields/,
  },
  {
    name: 'a backup outside the plugin',
    overlay: 'full',
    change: (o) => void (specOf(o, 'ScheduledBackup').method = 'volumeSnapshot'),
    expect: /not a backup through the Barman Cloud plugin/,
  },
  {
    name: 'bucket credentials from a secret the docs do not create',
    overlay: 'full',
    change: (o) => void (specOf(o, 'ObjectStore').configuration.s3Credentials.accessKeyId.name = 's3-keys'),
    expect: /ObjectStore\/todo-db-backups: secret s3-keys is not created as docs\/deploy.md says/,
  },
  {
    name: 'a bucket credential key the docs do not create',
    overlay: 'full',
    change: (o) => void (specOf(o, 'ObjectStore').configuration.s3Credentials.secretAccessKey.key = 'SECRET'),
    expect: /secret todo-db-backup-s3 has no key SECRET/,
  },
  {
    name: "a serverName in the ObjectStore (the CRD's CEL rule)",
    overlay: 'full',
    change: (o) => void (specOf(o, 'ObjectStore').configuration.serverName = 'todo-db'),
    expect: /configuration.serverName must not be set/,
  },
  // Recovery
  {
    name: 'a recovery from an unknown source',
    overlay: 'restored',
    change: (o) => void (specOf(o, 'Cluster').bootstrap.recovery.source = 'origin'),
    expect: /recovery.source origin is no externalClusters entry using the Barman Cloud plugin/,
  },
  {
    name: 'a recovery archiving into the folder it reads',
    overlay: 'restored',
    change: (o) => void (specOf(o, 'Cluster').externalClusters[0].plugin.parameters.serverName = 'todo-db-restored'),
    expect: /would archive its WAL into todo-db-restored\/, the folder it recovers from/,
  },
  {
    name: 'a target time without its zone',
    overlay: 'restored',
    change: (o) => void (specOf(o, 'Cluster').bootstrap.recovery.recoveryTarget.targetTime = '2026-12-01 09:00:00'),
    expect: /targetTime 2026-12-01 09:00:00 is not a time with its zone/,
  },
  {
    name: 'the app left on the old cluster after a recovery',
    overlay: 'restored',
    change: (o) => void (envVar(app(o), 'POSTGRES_HOST').value = 'todo-db-rw'),
    expect: /POSTGRES_HOST is todo-db-rw, not the primary's Service todo-db-restored-rw/,
  },
  {
    name: "the restored cluster's instances shut out of each other",
    overlay: 'restored',
    change: (o) =>
      void (databasePolicy(o, 'todo-db-restored').spec!.ingress![1]!.from![0]!.podSelector!.matchLabels = {
        'cnpg.io/cluster': 'todo-db',
      }),
    expect: /NetworkPolicy\/todo-db-restored: a rule selects pods that are neither the app's nor the database's/,
  },
  // TLS and the edge
  {
    name: 'a host without TLS',
    overlay: 'full',
    change: (o) => void (specOf(o, 'Ingress').tls[0].hosts = ['other.example.com']),
    expect: /Ingress\/todoapp: todo.example.com has no TLS/,
  },
  {
    name: 'a certificate for another name',
    overlay: 'full',
    change: (o) => void (specOf(o, 'Certificate').dnsNames = ['www.example.com']),
    expect: /Certificate\/todoapp-tls: its dnsNames do not include todo.example.com/,
  },
  {
    name: 'TLS from a secret no Certificate keeps',
    overlay: 'full',
    change: (o) => void (specOf(o, 'Ingress').tls[0].secretName = 'tls'),
    expect: /no Certificate keeps the secret tls/,
  },
  {
    name: 'an issuer nobody applies',
    overlay: 'full',
    change: (o) => void (specOf(o, 'Certificate').issuerRef.name = 'letsencrypt-prod'),
    expect: /its issuer ClusterIssuer\/letsencrypt-prod is not one of ours/,
  },
  {
    name: 'plain HTTP not redirected',
    overlay: 'full',
    change: (o) =>
      void delete one<K8sObject>(o, 'Ingress').metadata.annotations!['nginx.ingress.kubernetes.io/force-ssl-redirect'],
    expect: /plain HTTP is not redirected to HTTPS/,
  },
  {
    name: 'a PUBLIC_URL on http',
    overlay: 'full',
    change: (o) => void (configMap(o).PUBLIC_URL = 'http://todo.example.com'),
    expect: /the app's PUBLIC_URL is http:\/\/todo.example.com, not https:\/\/todo.example.com/,
  },
  {
    name: 'TRUST_PROXY as a hop count (Fastify trusts no proxy then)',
    overlay: 'full',
    change: (o) => void (configMap(o).TRUST_PROXY = '1'),
    expect: /TRUST_PROXY must name the proxy's addresses \(CIDRs\), not 1/,
  },
  {
    name: 'the LoadBalancer Service kept beside the Ingress',
    overlay: 'full',
    change: (o) => void (one<IService>(o, 'Service').spec!.type = 'LoadBalancer'),
    expect: /Service\/todoapp: is a LoadBalancer besides the Ingress: plain HTTP around TLS/,
  },
  {
    name: 'an Ingress to a port the Service does not have',
    overlay: 'full',
    change: (o) => void (specOf(o, 'Ingress').rules[0].http.paths[0].backend.service.port = { name: 'web' }),
    expect: /sends to port web, which the Service todoapp does not have/,
  },
  {
    name: "forwarded headers trusted from anyone who reaches the app's port",
    overlay: 'full',
    change: (o) => void delete appPolicy(o).spec!.ingress![0]!.from,
    expect: /TRUST_PROXY is 10.0.0.0\/8,.*but the app's port is open to every address/,
  },
  // Monitoring
  {
    name: 'a PodMonitor for other pods',
    overlay: 'full',
    change: (o) => void (specOf(o, 'PodMonitor', 'todoapp').selector = { matchLabels: { app: 'web' } }),
    expect: /PodMonitor\/todoapp: selects neither the app's pods nor the database's/,
  },
  {
    name: 'a PodMonitor on a port the pods do not have',
    overlay: 'full',
    change: (o) => void (specOf(o, 'PodMonitor', 'todoapp').podMetricsEndpoints[0].port = 'prometheus'),
    expect: /PodMonitor\/todoapp: the pods have no port named prometheus/,
  },
  {
    name: "the database's exporter closed to Prometheus",
    overlay: 'full',
    change: (o) => void databasePolicy(o).spec!.ingress!.pop(),
    expect: /PodMonitor\/todo-db: no NetworkPolicy lets the namespace monitoring reach port 9187/,
  },
  {
    name: 'Prometheus let into the database beyond its exporter',
    change: (o) => void (databasePolicy(o).spec!.ingress!.at(-1)!.ports![0]!.port = 5432),
    expect:
      /pods of other namespaces than the operator's \(cnpg-system\) reach the database on other ports than the exporter's/,
  },
);

describe('the schema validators reject', () => {
  for (const fixture of SCHEMA_FIXTURES) {
    it(fixture.name, () => {
      const problems = problemsAfter(fixture);
      assert.ok(
        problems.some((problem) => fixture.expect.test(problem)),
        `expected a problem matching ${fixture.expect}, got:\n${problems.join('\n')}`,
      );
    });
  }

  it('neither field of an int-or-string that has no anyOf in the schema', () => {
    const validate = compileCrdSchema({ type: 'object', properties: { port: { 'x-kubernetes-int-or-string': true } } });
    assert.equal(validate({ port: 5432 }), true);
    assert.equal(validate({ port: 'postgres' }), true);
    assert.equal(validate({ port: true }), false);
    assert.equal(validate({ prot: 5432 }), false);
  });

  it('nothing in the unchanged manifests (the fixtures above are the only difference)', () => {
    assert.deepEqual(problemsAfter({ name: 'unchanged', change: () => {}, expect: /^/ }), []);
    assert.deepEqual(problemsAfter({ name: 'unchanged', overlay: 'kubedb', change: () => {}, expect: /^/ }), []);
    assert.deepEqual(problemsAfter({ name: 'unchanged', overlay: 'full', change: () => {}, expect: /^/ }), []);
    assert.deepEqual(problemsAfter({ name: 'unchanged', overlay: 'restored', change: () => {}, expect: /^/ }), []);
  });
});

describe('the invariant checks reject', () => {
  for (const fixture of INVARIANT_FIXTURES) {
    it(fixture.name, () => {
      const problems = problemsAfter(fixture);
      assert.ok(
        problems.some((problem) => fixture.expect.test(problem)),
        `expected a problem matching ${fixture.expect}, got:\n${problems.join('\n')}`,
      );
    });
  }
});

describe('helpers', () => {
  it('isPinnedImage wants a version tag or a digest', () => {
    assert.equal(isPinnedImage('node:22.22.2-bookworm-slim'), true);
    assert.equal(isPinnedImage(`busybox@sha256:${'a'.repeat(64)}`), true);
    assert.equal(isPinnedImage('registry.example.com:5000/todoapp'), false);
    assert.equal(isPinnedImage('todoapp:latest'), false);
    assert.equal(isPinnedImage('postgres:17'), false);
    assert.equal(isPinnedImage(undefined), false);
  });

  it('documentedSecrets reads kubectl commands for namespace todolist only', () => {
    const secrets = documentedSecrets(
      [
        'kubectl -n todolist create secret generic a \\',
        '  --from-literal=KEY="$(openssl rand -base64 48)" --from-literal=other=x',
        'kubectl create secret generic b --from-literal=KEY=x',
        'kubectl --namespace=todolist create secret generic c --from-file=tls.crt=./cert.pem',
      ].join('\n'),
    );
    assert.deepEqual(
      [...secrets].map(([name, keys]) => [name, [...keys]]),
      [
        ['a', ['KEY', 'other']],
        ['c', ['tls.crt']],
      ],
    );
  });
});
