// What must hold across the rendered objects of one deployment (an overlay,
// plus its createsuperuser Job): things no schema can see, such as selectors
// that match, probes on ports and paths that exist, secrets whose keys exist,
// a database host that is the operator's primary service, and the security
// settings. Every check returns problems as text; none means all is well.
import type { ILabelSelector } from '@kubernetes-models/apimachinery/apis/meta/v1/LabelSelector';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IHorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import type { IJob } from 'kubernetes-models/batch/v1/Job';
import type { IIngress } from 'kubernetes-models/networking.k8s.io/v1/Ingress';
import type { ICertificate } from '@kubernetes-models/cert-manager/cert-manager.io/v1/Certificate';
import type { IPodMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor';
import type { INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import type { INetworkPolicyPeer } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicyPeer';
import type { IPodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';
import type { IProbe } from 'kubernetes-models/v1/Probe';
import type { IService } from 'kubernetes-models/v1/Service';
import type { IServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { loadConfig } from '../../src/config.ts';
import { describeObject, type K8sObject } from './k8s.ts';

export interface DeploymentFacts {
  /** package.json's version: the image tag, the version label and the migration Job's suffix. */
  version: string;
  /** Secrets a person creates by hand, as docs/deploy.md says: name → keys. */
  documentedSecrets: Map<string, Set<string>>;
  /** ClusterIssuers a person applies (deploy/k8s/cert-manager), by name; when given, a Certificate must name one. */
  clusterIssuers?: Set<string>;
}

/** The namespace Prometheus runs in: the one the NetworkPolicies open the metrics ports to. */
const MONITORING_NAMESPACE = 'monitoring';

/** The Barman Cloud plugin's name, as Clusters and ScheduledBackups name it. */
const BARMAN_CLOUD_PLUGIN = 'barman-cloud.cloudnative-pg.io';

// --- Facts about the operators' generated objects (shared/k8s-schemas/README.md and the operators' docs)

interface Database {
  object: K8sObject;
  /** The Service that always points at the primary. */
  primaryService: string;
  /** Labels the operator puts on the database pods. */
  podLabels: Record<string, string>;
  /** The secret the operator makes for the app, unless told to use another. */
  generatedSecret: { name: string; keys: string[] } | undefined;
  /** Where the operator runs (it must reach the database pods). */
  operatorNamespace: string;
  maxConnections: number;
  /** The secret with the operator's superuser credentials: for the operator, never the app. */
  superuserSecret: string;
  /** The port of the exporter the operator runs in each database pod, named "metrics", if it runs one. */
  metricsPort: number | undefined;
}

interface CnpgPlugin {
  name: string;
  isWALArchiver?: boolean;
  enabled?: boolean;
  parameters?: Record<string, string>;
}

interface CnpgClusterSpec {
  instances?: number;
  imageName?: string;
  minSyncReplicas?: number;
  maxSyncReplicas?: number;
  postgresql?: {
    parameters?: Record<string, string>;
    synchronous?: { method: string; number: number; dataDurability?: string };
  };
  bootstrap?: {
    initdb?: { secret?: { name: string } };
    recovery?: { source?: string; secret?: { name: string }; recoveryTarget?: { targetTime?: string } };
  };
  plugins?: CnpgPlugin[];
  externalClusters?: { name: string; plugin?: CnpgPlugin }[];
  storage?: { size?: string };
  resources?: { requests?: Record<string, unknown>; limits?: Record<string, unknown> };
}

interface KubeDbPostgresSpec {
  version?: string;
  replicas?: number;
  standbyMode?: string;
  streamingMode?: string;
  deletionPolicy?: string;
  authSecret?: { name?: string };
  configuration?: { tuning?: { maxConnections?: number } };
  podTemplate?: { spec?: { containers?: { name: string; resources?: { requests?: object; limits?: object } }[] } };
}

const specOf = <T>(object: K8sObject): T => (object.spec ?? {}) as T;

const POSTGRES_DEFAULT_MAX_CONNECTIONS = 100;

function findDatabases(objects: K8sObject[]): Database[] {
  const databases: Database[] = [];
  for (const object of objects) {
    const name = object.metadata.name;
    if (object.apiVersion === 'postgresql.cnpg.io/v1' && object.kind === 'Cluster') {
      const spec = specOf<CnpgClusterSpec>(object);
      databases.push({
        object,
        primaryService: `${name}-rw`,
        podLabels: { 'cnpg.io/cluster': name, 'cnpg.io/podRole': 'instance' },
        // bootstrap.initdb.secret (or .recovery.secret) makes the operator use that secret instead of making <cluster>-app.
        generatedSecret: (spec.bootstrap?.initdb ?? spec.bootstrap?.recovery)?.secret
          ? undefined
          : { name: `${name}-app`, keys: ['username', 'password', 'dbname', 'host', 'port', 'uri'] },
        operatorNamespace: 'cnpg-system',
        superuserSecret: `${name}-superuser`,
        metricsPort: 9187,
        maxConnections: Number(spec.postgresql?.parameters?.max_connections ?? POSTGRES_DEFAULT_MAX_CONNECTIONS),
      });
    } else if (object.apiVersion.startsWith('kubedb.com/') && object.kind === 'Postgres') {
      const spec = specOf<KubeDbPostgresSpec>(object);
      databases.push({
        object,
        primaryService: name,
        podLabels: { 'app.kubernetes.io/name': 'postgreses.kubedb.com', 'app.kubernetes.io/instance': name },
        generatedSecret: spec.authSecret ? undefined : { name: `${name}-auth`, keys: ['username', 'password'] },
        operatorNamespace: 'kubedb',
        superuserSecret: spec.authSecret?.name ?? `${name}-auth`,
        metricsPort: undefined,
        maxConnections: spec.configuration?.tuning?.maxConnections ?? POSTGRES_DEFAULT_MAX_CONNECTIONS,
      });
    }
  }
  return databases;
}

/** The webhook and CEL rules of the operators that a CRD schema cannot express. */
export function databaseRuleProblems(object: K8sObject): string[] {
  const problems: string[] = [];
  if (object.kind === 'Cluster') {
    const spec = specOf<CnpgClusterSpec>(object);
    const instances = spec.instances ?? 1;
    const synchronous = spec.postgresql?.synchronous;
    const legacy = spec.minSyncReplicas !== undefined || spec.maxSyncReplicas !== undefined;
    if (synchronous && legacy)
      problems.push('postgresql.synchronous cannot be mixed with the legacy minSyncReplicas/maxSyncReplicas');
    if (synchronous && synchronous.number < 1) problems.push('postgresql.synchronous.number must be greater than zero');
    if (synchronous && synchronous.number >= instances)
      problems.push(`postgresql.synchronous.number (${synchronous.number}) must be below instances (${instances})`);
    if (legacy) {
      const min = spec.minSyncReplicas ?? 0;
      const max = spec.maxSyncReplicas ?? 0;
      if (min > max) problems.push(`minSyncReplicas (${min}) must not exceed maxSyncReplicas (${max})`);
      if (max >= instances) problems.push(`maxSyncReplicas (${max}) must be below instances (${instances})`);
    }
  }
  return problems.map((problem) => `${describeObject(object)}: ${problem}`);
}

/** What makes the database highly available, with no acknowledged write lost when the primary goes. */
function databaseAvailabilityProblems(database: Database): string[] {
  const problems: string[] = [];
  const { object } = database;
  if (object.kind === 'Cluster') {
    const spec = specOf<CnpgClusterSpec>(object);
    const instances = spec.instances ?? 1;
    const synchronous = spec.postgresql?.synchronous;
    if (instances < 2) problems.push(`instances is ${instances}: a primary and at least one standby are needed`);
    if (!synchronous && !(spec.minSyncReplicas !== undefined && spec.minSyncReplicas >= 1)) {
      problems.push('no synchronous replication: a write acknowledged by the primary alone is lost with it');
    }
    if (synchronous?.dataDurability === 'preferred')
      problems.push(
        'synchronous.dataDurability "preferred" drops to asynchronous when standbys are away; acknowledged writes could be lost',
      );
    if (synchronous && (synchronous.dataDurability ?? 'required') === 'required' && instances === 2) {
      problems.push(
        '2 instances with dataDurability "required" stop all writes while the one standby is down: use 3 instances',
      );
    }
    if (!spec.storage?.size) problems.push('storage.size is not set');
    if (!spec.resources?.requests || !spec.resources.limits) problems.push('resources need requests and limits');
    if (!isPinnedImage(spec.imageName))
      problems.push(`imageName ${spec.imageName ?? '(unset)'} is not pinned to a version`);
  } else {
    const spec = specOf<KubeDbPostgresSpec>(object);
    if ((spec.replicas ?? 1) < 2)
      problems.push(`replicas is ${spec.replicas ?? 1}: a primary and at least one standby are needed`);
    if (spec.standbyMode !== 'Hot') problems.push(`standbyMode is ${spec.standbyMode ?? '(unset)'}, not Hot`);
    if (spec.streamingMode !== 'Synchronous')
      problems.push(
        `streamingMode is ${spec.streamingMode ?? '(unset)'}: only Synchronous keeps an acknowledged write when the primary goes`,
      );
    if (!/^\d+\.\d+/.test(spec.version ?? ''))
      problems.push(`version ${spec.version ?? '(unset)'} does not name a PostgreSQL version`);
    if (spec.deletionPolicy !== 'Halt' && spec.deletionPolicy !== 'DoNotTerminate') {
      problems.push(
        `deletionPolicy ${spec.deletionPolicy ?? '(unset)'} would delete the data with the Postgres object`,
      );
    }
    const container = spec.podTemplate?.spec?.containers?.find((c) => c.name === 'postgres');
    if (!container?.resources?.requests || !container.resources.limits)
      problems.push('the postgres container needs resource requests and limits');
  }
  return problems.map((problem) => `${describeObject(object)}: ${problem}`);
}

// --- Helpers ------------------------------------------------------------------

export function isPinnedImage(image: string | undefined): boolean {
  if (!image) return false;
  if (/@sha256:[0-9a-f]{64}$/.test(image)) return true;
  const tag = /:([^:/@]+)$/.exec(image)?.[1];
  return tag !== undefined && /^v?\d+\.\d+/.test(tag);
}

export function selectorMatches(selector: ILabelSelector | undefined, labels: Record<string, string> = {}): boolean {
  if (!selector) return false;
  const byLabels = Object.entries(selector.matchLabels ?? {}).every(([key, value]) => labels[key] === value);
  const byExpressions = (selector.matchExpressions ?? []).every(({ key, operator, values = [] }) => {
    const value = labels[key];
    if (operator === 'In') return value !== undefined && values.includes(value);
    if (operator === 'NotIn') return value === undefined || !values.includes(value);
    if (operator === 'Exists') return value !== undefined;
    return value === undefined; // DoesNotExist
  });
  return byLabels && byExpressions;
}

const isEmptySelector = (selector: ILabelSelector | undefined) =>
  !selector || (Object.keys(selector.matchLabels ?? {}).length === 0 && (selector.matchExpressions ?? []).length === 0);

interface Workload {
  object: K8sObject;
  podLabels: Record<string, string>;
  pod: IPodSpec;
}

function workloadsOf(objects: K8sObject[]): Workload[] {
  return objects
    .filter((object) => object.kind === 'Deployment' || object.kind === 'Job')
    .map((object) => {
      const template = (object as unknown as IDeployment | IJob).spec?.template;
      return { object, podLabels: template?.metadata?.labels ?? {}, pod: template?.spec ?? { containers: [] } };
    });
}

const ofKind = <T>(objects: K8sObject[], kind: string) =>
  objects.filter((object) => object.kind === kind) as unknown as (T & K8sObject)[];

/** Looks like a credential: such values never sit in a manifest or ConfigMap. */
const SECRET_NAME = /PASSWORD|SECRET|TOKEN|PRIVATE|CREDENTIAL/i;

/** The container's environment as the pod would see it, with every secret as a placeholder. */
function containerEnvironment(
  container: IContainer,
  configMaps: Map<string, Record<string, string>>,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const source of container.envFrom ?? []) {
    if (source.configMapRef) Object.assign(env, configMaps.get(source.configMapRef.name ?? '') ?? {});
  }
  for (const variable of container.env ?? []) {
    if (variable.value !== undefined) env[variable.name] = variable.value;
    else if (variable.valueFrom?.secretKeyRef) env[variable.name] = 'placeholder-for-a-secret-value-0123456789';
    else if (variable.valueFrom?.configMapKeyRef) {
      const { name = '', key } = variable.valueFrom.configMapKeyRef;
      env[variable.name] = configMaps.get(name)?.[key] ?? '';
    }
  }
  return env;
}

/** The port of the app's metrics listener, as the app reads its configuration; undefined when off or unreadable. */
function metricsPortOf(
  container: IContainer | undefined,
  configMaps: Map<string, Record<string, string>>,
): number | undefined {
  if (!container) return undefined;
  try {
    const port = loadConfig(containerEnvironment(container, configMaps)).metricsPort;
    return port === 0 ? undefined : port;
  } catch {
    return undefined; // appConfigurationProblems reports it
  }
}

function probePort(probe: IProbe | undefined): number | string | undefined {
  return probe?.httpGet?.port;
}

function resolvePort(container: IContainer, port: number | string | undefined): number | undefined {
  return container.ports?.find((p) => p.name === port || p.containerPort === port)?.containerPort;
}

/** Every `service:port` an Ingress sends to (the port by name or number). */
function backendsOf(ingress: IIngress): string[] {
  const backends = [
    ingress.spec?.defaultBackend,
    ...(ingress.spec?.rules ?? []).flatMap((rule) => rule.http?.paths ?? []),
  ]
    .map((entry) => (entry && 'backend' in entry ? entry.backend : entry)?.service)
    .filter((service) => service !== undefined);
  return backends.map((service) => `${service.name}:${service.port?.name ?? service.port?.number}`);
}

/** The pods' containers a selector picks among the workloads, or those of the database when it picks its pods. */
function scrapedPorts(
  selector: ILabelSelector | undefined,
  workloads: Workload[],
  database: Database | undefined,
): { labels: Record<string, string>; ports: Map<string, number> } | undefined {
  const workload = workloads.find((w) => w.object.kind === 'Deployment' && selectorMatches(selector, w.podLabels));
  if (workload) {
    const ports = workload.pod.containers.flatMap((c) => c.ports ?? []);
    return { labels: workload.podLabels, ports: new Map(ports.map((p) => [p.name ?? '', p.containerPort])) };
  }
  if (database && database.metricsPort !== undefined && selectorMatches(selector, database.podLabels))
    return { labels: database.podLabels, ports: new Map([['metrics', database.metricsPort]]) };
  return undefined;
}

// --- The checks -----------------------------------------------------------------

function committedSecretProblems(objects: K8sObject[], workloads: Workload[]): string[] {
  const problems: string[] = [];
  for (const object of objects) {
    if (object.kind === 'Secret')
      problems.push(
        `${describeObject(object)}: a Secret is committed; secrets are created by hand or by the operator (docs/deploy.md)`,
      );
    if (object.kind === 'ConfigMap') {
      for (const key of Object.keys((object as unknown as IConfigMap).data ?? {})) {
        if (SECRET_NAME.test(key))
          problems.push(`${describeObject(object)}: ${key} looks like a secret; it belongs in a Secret`);
      }
    }
  }
  for (const { object, pod } of workloads) {
    for (const container of pod.containers) {
      for (const variable of container.env ?? []) {
        if (SECRET_NAME.test(variable.name) && !variable.valueFrom?.secretKeyRef) {
          problems.push(
            `${describeObject(object)}: env ${variable.name} must come from a secretKeyRef, not a literal value`,
          );
        }
      }
    }
  }
  return problems;
}

function labelProblems(objects: K8sObject[], workloads: Workload[], version: string): string[] {
  const problems: string[] = [];
  for (const object of objects) {
    const labels = object.metadata.labels ?? {};
    if (labels['app.kubernetes.io/part-of'] !== 'todoapp')
      problems.push(`${describeObject(object)}: label app.kubernetes.io/part-of is not todoapp`);
    if (labels['app.kubernetes.io/version'] !== version)
      problems.push(`${describeObject(object)}: label app.kubernetes.io/version is not ${version}`);
  }
  for (const { object, podLabels } of workloads) {
    for (const [where, labels] of [
      ['', object.metadata.labels ?? {}],
      ['pod template ', podLabels],
    ] as const) {
      for (const key of [
        'app.kubernetes.io/name',
        'app.kubernetes.io/component',
        'app.kubernetes.io/part-of',
        'app.kubernetes.io/version',
      ]) {
        if (!labels[key]) problems.push(`${describeObject(object)}: ${where}label ${key} is missing`);
      }
    }
  }
  return problems;
}

function podSecurityProblems({ object, pod }: Workload, serviceAccounts: IServiceAccount[]): string[] {
  const problems: string[] = [];
  const context = pod.securityContext ?? {};
  if (context.runAsNonRoot !== true) problems.push('pod securityContext.runAsNonRoot is not true');
  if (context.runAsUser === 0) problems.push('pod runs as user 0');
  if (pod.hostNetwork || pod.hostPID || pod.hostIPC) problems.push('pod shares a host namespace');
  const serviceAccount = serviceAccounts.find((account) => account.metadata?.name === pod.serviceAccountName);
  if (!pod.serviceAccountName || !serviceAccount)
    problems.push(
      `serviceAccountName ${pod.serviceAccountName ?? '(unset)'} names no ServiceAccount of the deployment`,
    );
  if (pod.automountServiceAccountToken !== false && serviceAccount?.automountServiceAccountToken !== false)
    problems.push('the service account token is mounted');
  const mountsTmp = (container: IContainer) =>
    container.volumeMounts?.some(
      (mount) =>
        mount.mountPath === '/tmp' && pod.volumes?.some((volume) => volume.name === mount.name && volume.emptyDir),
    );
  for (const container of [...(pod.initContainers ?? []), ...pod.containers]) {
    const where = `container ${container.name}`;
    const security = container.securityContext ?? {};
    if (security.allowPrivilegeEscalation !== false) problems.push(`${where}: allowPrivilegeEscalation is not false`);
    if (security.readOnlyRootFilesystem !== true) problems.push(`${where}: readOnlyRootFilesystem is not true`);
    else if (!mountsTmp(container)) problems.push(`${where}: a read-only root filesystem needs an emptyDir at /tmp`);
    if (!security.capabilities?.drop?.includes('ALL')) problems.push(`${where}: capabilities do not drop ALL`);
    if (security.privileged) problems.push(`${where}: privileged`);
    if (security.runAsUser === 0 || security.runAsNonRoot === false) problems.push(`${where}: may run as root`);
    if ((security.seccompProfile ?? context.seccompProfile)?.type !== 'RuntimeDefault')
      problems.push(`${where}: seccomp profile is not RuntimeDefault`);
    if (!isPinnedImage(container.image))
      problems.push(`${where}: image ${container.image ?? '(unset)'} is not pinned to a version`);
    for (const resource of ['cpu', 'memory']) {
      if (container.resources?.requests?.[resource] === undefined) problems.push(`${where}: no ${resource} request`);
      if (container.resources?.limits?.[resource] === undefined) problems.push(`${where}: no ${resource} limit`);
    }
  }
  return problems.map((problem) => `${describeObject(object)}: ${problem}`);
}

function referenceProblems(
  { object, pod }: Workload,
  secrets: Map<string, Set<string>>,
  configMaps: Map<string, Record<string, string>>,
): string[] {
  const problems: string[] = [];
  const secretKey = (name: string, key: string, where: string) => {
    const keys = secrets.get(name);
    if (!keys)
      problems.push(`${where}: secret ${name} is neither made by the operator nor created as docs/deploy.md says`);
    else if (!keys.has(key))
      problems.push(`${where}: secret ${name} has no key ${key} (it has ${[...keys].join(', ')})`);
  };
  const configMapKey = (name: string, key: string | undefined, where: string) => {
    const data = configMaps.get(name);
    if (!data) problems.push(`${where}: there is no ConfigMap ${name}`);
    else if (key !== undefined && !(key in data)) problems.push(`${where}: ConfigMap ${name} has no key ${key}`);
  };
  for (const container of [...(pod.initContainers ?? []), ...pod.containers]) {
    const defined = new Set<string>();
    for (const variable of container.env ?? []) {
      const where = `container ${container.name} env ${variable.name}`;
      defined.add(variable.name);
      const secretRef = variable.valueFrom?.secretKeyRef;
      if (secretRef) secretKey(secretRef.name ?? '', secretRef.key, where);
      const configMapRef = variable.valueFrom?.configMapKeyRef;
      if (configMapRef) configMapKey(configMapRef.name ?? '', configMapRef.key, where);
    }
    for (const source of container.envFrom ?? []) {
      if (source.configMapRef)
        configMapKey(source.configMapRef.name ?? '', undefined, `container ${container.name} envFrom`);
      if (source.secretRef && !secrets.has(source.secretRef.name ?? ''))
        problems.push(`container ${container.name} envFrom: no secret ${source.secretRef.name}`);
    }
    // Kubernetes expands $(NAME) in command and args from the container's env; an unknown one stays literal.
    for (const argument of [...(container.command ?? []), ...(container.args ?? [])]) {
      for (const [, name] of argument.matchAll(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g)) {
        if (name && !defined.has(name))
          problems.push(`container ${container.name}: $(${name}) in its arguments is not in its env`);
      }
    }
  }
  for (const volume of pod.volumes ?? []) {
    if (volume.secret) {
      if (!secrets.has(volume.secret.secretName ?? ''))
        problems.push(`volume ${volume.name}: no secret ${volume.secret.secretName}`);
      for (const item of volume.secret.items ?? [])
        secretKey(volume.secret.secretName ?? '', item.key, `volume ${volume.name}`);
    }
    if (volume.configMap) configMapKey(volume.configMap.name ?? '', undefined, `volume ${volume.name}`);
  }
  return problems.map((problem) => `${describeObject(object)}: ${problem}`);
}

/** The app must accept the configuration the manifests give it (its own parser, src/config.ts). */
function appConfigurationProblems(
  { object, pod }: Workload,
  configMaps: Map<string, Record<string, string>>,
): string[] {
  const problems: string[] = [];
  for (const container of pod.containers) {
    const env = containerEnvironment(container, configMaps);
    try {
      const config = loadConfig(env);
      if (config.database.kind !== 'server')
        problems.push(
          `container ${container.name}: no database server configured (it would use the embedded database)`,
        );
      if (object.kind === 'Deployment') {
        if (config.host !== '0.0.0.0' && config.host !== '::')
          problems.push(`container ${container.name}: HOST ${config.host} is not reachable from outside the pod`);
        if (!container.ports?.some((port) => port.containerPort === config.port))
          problems.push(`container ${container.name}: the app listens on ${config.port}, which is no containerPort`);
        // Scrapers find the metrics listener by this name (a PodMonitor's port: metrics).
        if (
          config.metricsPort !== 0 &&
          !container.ports?.some((port) => port.name === 'metrics' && port.containerPort === config.metricsPort)
        ) {
          problems.push(
            `container ${container.name}: the metrics listen on ${config.metricsPort}, which is no containerPort named metrics`,
          );
        }
      }
    } catch (error) {
      problems.push(`container ${container.name}: the app rejects its configuration: ${(error as Error).message}`);
    }
  }
  return problems.map((problem) => `${describeObject(object)}: ${problem}`);
}

function deploymentProblems(
  deployment: IDeployment & K8sObject,
  configMaps: Map<string, Record<string, string>>,
): string[] {
  const problems: string[] = [];
  const spec = deployment.spec;
  const pod = spec?.template.spec;
  const podLabels = spec?.template.metadata?.labels ?? {};
  const container = pod?.containers.find((c) => c.name === 'todoapp');
  if (!spec || !pod || !container) return [`${describeObject(deployment)}: no container named todoapp`];
  if ((spec.replicas ?? 1) < 3) problems.push(`replicas is ${spec.replicas ?? 1}, fewer than 3`);
  if (isEmptySelector(spec.selector) || !selectorMatches(spec.selector, podLabels))
    problems.push('selector does not match the pod template labels');
  if (spec.strategy?.type !== 'RollingUpdate' || spec.strategy.rollingUpdate?.maxUnavailable !== 0)
    problems.push('strategy must be RollingUpdate with maxUnavailable 0');

  // Probes: liveness and startup on /healthz (never touches the database, so a
  // failover restarts nothing); readiness on /readyz. test/deploy/containers.test.ts
  // asks the built image itself for each path.
  const expected: [string, IProbe | undefined, string][] = [
    ['startupProbe', container.startupProbe, '/healthz'],
    ['livenessProbe', container.livenessProbe, '/healthz'],
    ['readinessProbe', container.readinessProbe, '/readyz'],
  ];
  const env = containerEnvironment(container, configMaps);
  const appPort = Number(env.PORT ?? 8000);
  for (const [name, probe, path] of expected) {
    if (!probe?.httpGet) {
      problems.push(`${name} is missing (or not an httpGet probe)`);
      continue;
    }
    if (probe.httpGet.path !== path) problems.push(`${name} asks ${probe.httpGet.path ?? '/'}, not ${path}`);
    const port = resolvePort(container, probePort(probe));
    if (port !== appPort) problems.push(`${name} port ${String(probe.httpGet.port)} is not the app's port ${appPort}`);
  }

  // A database failover within the retry budget must not take every pod out of the Service.
  const readiness = container.readinessProbe;
  const unreadyAfterSeconds = (readiness?.periodSeconds ?? 10) * (readiness?.failureThreshold ?? 3);
  const retryBudgetSeconds = Number(env.DB_RETRY_BUDGET_MS ?? 15000) / 1000;
  if (unreadyAfterSeconds <= retryBudgetSeconds) {
    problems.push(
      `readinessProbe gives up after ${unreadyAfterSeconds} s, within the retry budget (${retryBudgetSeconds} s): a failover would unready every pod`,
    );
  }

  // Graceful shutdown: the grace period covers the preStop pause and the app's own shutdown timeout.
  const preStop = container.lifecycle?.preStop;
  const pause =
    preStop?.sleep?.seconds ?? Number(preStop?.exec?.command?.[0] === 'sleep' ? preStop.exec.command[1] : Number.NaN);
  const shutdownSeconds = Number(env.SHUTDOWN_TIMEOUT_MS ?? 20000) / 1000;
  const grace = pod.terminationGracePeriodSeconds ?? 30;
  if (!(pause > 0)) problems.push('no preStop pause (sleep) before SIGTERM');
  else if (grace <= pause + shutdownSeconds) {
    problems.push(
      `terminationGracePeriodSeconds ${grace} does not cover the preStop pause (${pause} s) + SHUTDOWN_TIMEOUT_MS (${shutdownSeconds} s)`,
    );
  }

  const spread = pod.topologySpreadConstraints?.find(
    (constraint) => constraint.topologyKey === 'kubernetes.io/hostname',
  );
  if (!spread || !selectorMatches(spread.labelSelector, podLabels))
    problems.push('no topology spread across nodes (kubernetes.io/hostname) selecting its own pods');
  return problems.map((problem) => `${describeObject(deployment)}: ${problem}`);
}

function serviceProblems(
  objects: K8sObject[],
  deployment: IDeployment & K8sObject,
  workloads: Workload[],
  configMaps: Map<string, Record<string, string>>,
): string[] {
  const problems: string[] = [];
  const podLabels = deployment.spec?.template.metadata?.labels ?? {};
  const container = deployment.spec?.template.spec?.containers.find((c) => c.name === 'todoapp');
  const services = ofKind<IService>(objects, 'Service');
  // The metrics are for scrapers inside the cluster: no Service that reaches
  // beyond it (a load balancer, a node port, external IPs) may lead there.
  const metricsPort = metricsPortOf(container, configMaps);
  for (const service of services) {
    const exposed =
      service.spec?.type === 'LoadBalancer' ||
      service.spec?.type === 'NodePort' ||
      (service.spec?.externalIPs ?? []).length > 0;
    if (
      !exposed ||
      !container ||
      metricsPort === undefined ||
      !selectorMatches({ matchLabels: service.spec?.selector ?? {} }, podLabels)
    )
      continue;
    for (const port of service.spec?.ports ?? []) {
      if (resolvePort(container, port.targetPort ?? port.port) === metricsPort)
        problems.push(
          `${describeObject(service)}: exposes the metrics port ${metricsPort} outside the cluster (port ${port.port})`,
        );
    }
  }
  // The way in: a LoadBalancer Service, or the Service an Ingress leads to.
  const ingressBackends = new Set(ofKind<IIngress>(objects, 'Ingress').flatMap((ingress) => backendsOf(ingress)));
  const front =
    services.find((service) => service.spec?.type === 'LoadBalancer') ??
    services.find((service) => [...ingressBackends].some((backend) => backend.startsWith(`${service.metadata.name}:`)));
  if (!front) return ['no LoadBalancer Service, and no Ingress leading to a Service'];
  const where = describeObject(front);
  const selector = front.spec?.selector ?? {};
  if (Object.keys(selector).length === 0 || !selectorMatches({ matchLabels: selector }, podLabels))
    problems.push(`${where}: selector does not match the Deployment's pods`);
  for (const { object, podLabels: labels } of workloads) {
    if (object !== deployment && selectorMatches({ matchLabels: selector }, labels))
      problems.push(`${where}: selector also matches ${describeObject(object)}'s pods`);
  }
  const port = front.spec?.ports?.find((p) => p.port === 80);
  if (!port) problems.push(`${where}: no port 80`);
  else if (!container || resolvePort(container, port.targetPort ?? port.port) !== 8000)
    problems.push(`${where}: port 80 does not lead to the app's port 8000`);
  for (const pdb of ofKind<IPodDisruptionBudget>(objects, 'PodDisruptionBudget')) {
    if (!selectorMatches(pdb.spec?.selector, podLabels))
      problems.push(`${describeObject(pdb)}: selector does not match the Deployment's pods`);
    if (pdb.spec?.maxUnavailable === undefined && pdb.spec?.minAvailable === undefined)
      problems.push(`${describeObject(pdb)}: neither maxUnavailable nor minAvailable`);
  }
  if (ofKind<IPodDisruptionBudget>(objects, 'PodDisruptionBudget').length === 0)
    problems.push('no PodDisruptionBudget for the app');
  return problems;
}

function autoscalerProblems(
  objects: K8sObject[],
  deployment: IDeployment & K8sObject,
  configMaps: Map<string, Record<string, string>>,
  database: Database | undefined,
): string[] {
  const autoscalers = ofKind<IHorizontalPodAutoscaler>(objects, 'HorizontalPodAutoscaler');
  if (autoscalers.length === 0) return ['no HorizontalPodAutoscaler for the app'];
  const problems: string[] = [];
  const container = deployment.spec?.template.spec?.containers.find((c) => c.name === 'todoapp');
  const poolSize = Number((container && containerEnvironment(container, configMaps).DB_POOL_SIZE) ?? 10);
  for (const hpa of autoscalers) {
    const where = describeObject(hpa);
    const target = hpa.spec?.scaleTargetRef;
    if (target?.kind !== 'Deployment' || target.name !== deployment.metadata.name)
      problems.push(`${where}: does not scale the Deployment ${deployment.metadata.name}`);
    if ((hpa.spec?.minReplicas ?? 1) < (deployment.spec?.replicas ?? 1))
      problems.push(`${where}: minReplicas is below the Deployment's replicas`);
    // Leave room for the superuser, replication and the Jobs.
    const maxReplicas = hpa.spec?.maxReplicas ?? 0;
    if (database && maxReplicas * poolSize > database.maxConnections - 10) {
      problems.push(
        `${where}: ${maxReplicas} pods x DB_POOL_SIZE ${poolSize} connections exceed what max_connections ${database.maxConnections} leaves free`,
      );
    }
  }
  return problems;
}

function networkPolicyProblems(
  objects: K8sObject[],
  deployment: IDeployment & K8sObject,
  workloads: Workload[],
  database: Database | undefined,
  configMaps: Map<string, Record<string, string>>,
): string[] {
  const problems: string[] = [];
  const policies = ofKind<INetworkPolicy>(objects, 'NetworkPolicy');
  const appLabels = deployment.spec?.template.metadata?.labels ?? {};
  const container = deployment.spec?.template.spec?.containers.find((c) => c.name === 'todoapp');
  const metricsPort = metricsPortOf(container, configMaps);

  // The app's pods: the app's own port is open; the metrics port only to
  // named pods or namespaces (the scraper's), never to every address.
  const appPolicies = policies.filter((policy) => selectorMatches(policy.spec?.podSelector, appLabels));
  if (appPolicies.length === 0) problems.push("no NetworkPolicy selects the app's pods");
  for (const policy of appPolicies) {
    const where = describeObject(policy);
    if (!policy.spec?.policyTypes?.includes('Ingress')) problems.push(`${where}: does not restrict Ingress`);
    for (const rule of policy.spec?.ingress ?? []) {
      if (!rule.ports?.length) problems.push(`${where}: an ingress rule opens every port of the app`);
      const peers = rule.from ?? [];
      const namedPeersOnly =
        peers.length > 0 &&
        peers.every(
          (peer) => !peer.ipBlock && !(isEmptySelector(peer.podSelector) && isEmptySelector(peer.namespaceSelector)),
        );
      for (const port of rule.ports ?? []) {
        const resolved = container ? resolvePort(container, port.port) : undefined;
        if (resolved === 8000) continue;
        if (resolved !== undefined && resolved === metricsPort) {
          if (!namedPeersOnly)
            problems.push(
              `${where}: opens the metrics port ${metricsPort} to every pod and address; name the scraper's namespace or pods`,
            );
          continue;
        }
        problems.push(
          `${where}: opens port ${String(port.port)}, not the app's port 8000 (or the metrics port to the scraper)`,
        );
      }
    }
  }

  // The database's pods: reached by the app and its Jobs (PostgreSQL's port
  // only), by their own cluster, and by the operator; by nothing else.
  if (!database) return problems;
  const dbPolicies = policies.filter((policy) => selectorMatches(policy.spec?.podSelector, database.podLabels));
  if (dbPolicies.length === 0) problems.push("no NetworkPolicy selects the database's pods");
  const reachesDatabase = new Set<Workload>();
  for (const policy of dbPolicies) {
    const where = describeObject(policy);
    if (!policy.spec?.policyTypes?.includes('Ingress')) problems.push(`${where}: does not restrict Ingress`);
    for (const rule of policy.spec?.ingress ?? []) {
      const peers: INetworkPolicyPeer[] = rule.from ?? [];
      if (peers.length === 0) problems.push(`${where}: an ingress rule lets every pod and address reach the database`);
      const postgresOnly = (rule.ports ?? []).length > 0 && (rule.ports ?? []).every((port) => port.port === 5432);
      for (const peer of peers) {
        if (peer.ipBlock) problems.push(`${where}: an ipBlock reaches the database`);
        if (peer.namespaceSelector) {
          const namespace = peer.namespaceSelector.matchLabels?.['kubernetes.io/metadata.name'];
          // Prometheus may reach the exporter, and only the exporter.
          const scrapesOnly =
            namespace === MONITORING_NAMESPACE &&
            database.metricsPort !== undefined &&
            (rule.ports ?? []).length > 0 &&
            (rule.ports ?? []).every((port) => port.port === database.metricsPort);
          if (namespace !== database.operatorNamespace && !scrapesOnly) {
            problems.push(
              `${where}: pods of other namespaces than the operator's (${database.operatorNamespace}) reach the database` +
                (namespace === MONITORING_NAMESPACE ? ` on other ports than the exporter's` : ''),
            );
          }
          continue;
        }
        if (isEmptySelector(peer.podSelector)) {
          problems.push(`${where}: every pod of the namespace reaches the database`);
          continue;
        }
        if (selectorMatches(peer.podSelector, database.podLabels)) continue; // its own instances
        const selected = workloads.filter((workload) => selectorMatches(peer.podSelector, workload.podLabels));
        if (selected.length === 0)
          problems.push(`${where}: a rule selects pods that are neither the app's nor the database's`);
        if (!postgresOnly) problems.push(`${where}: the app's pods may reach other ports than 5432`);
        for (const workload of selected) reachesDatabase.add(workload);
      }
    }
  }
  for (const workload of workloads) {
    const connects = workload.pod.containers.some((c) =>
      c.env?.some((variable) => variable.name === 'POSTGRES_HOST' || variable.name === 'DATABASE_URL'),
    );
    if (connects && dbPolicies.length > 0 && !reachesDatabase.has(workload))
      problems.push(`${describeObject(workload.object)}: its pods may not reach the database`);
  }
  return problems;
}

function jobProblems(jobs: (IJob & K8sObject)[], version: string, hasDeployment: boolean): string[] {
  const problems: string[] = [];
  for (const job of jobs) {
    const where = describeObject(job);
    const spec = job.spec;
    if (spec?.template.spec?.restartPolicy !== 'Never') problems.push(`${where}: restartPolicy is not Never`);
    if (spec?.backoffLimit === undefined) problems.push(`${where}: no backoffLimit`);
    if (spec?.ttlSecondsAfterFinished === undefined) problems.push(`${where}: no ttlSecondsAfterFinished`);
    const args = spec?.template.spec?.containers[0]?.args ?? [];
    if (args[0] === 'createsuperuser') {
      const env = spec?.template.spec?.containers[0]?.env ?? [];
      if (!env.some((variable) => variable.name === 'TODOAPP_PASSWORD' && variable.valueFrom?.secretKeyRef))
        problems.push(`${where}: TODOAPP_PASSWORD does not come from a Secret`);
    }
  }
  if (hasDeployment) {
    const migrate = jobs.find((job) => job.spec?.template.spec?.containers[0]?.args?.[0] === 'migrate');
    if (!migrate) problems.push('no Job runs `todoapp migrate`');
    // A new release must get a new Job name, or `kubectl apply` would not run the migrations again.
    else if (migrate.metadata.name !== `todoapp-migrate-v${version}`)
      problems.push(`${describeObject(migrate)}: the migration Job should be named todoapp-migrate-v${version}`);
  }
  return problems;
}

function databaseConnectionProblems(workloads: Workload[], database: Database | undefined): string[] {
  const problems: string[] = [];
  for (const { object, pod } of workloads) {
    for (const container of pod.containers) {
      const host = container.env?.find((variable) => variable.name === 'POSTGRES_HOST');
      if (!database) problems.push(`${describeObject(object)}: there is no database resource to connect to`);
      else if (host?.value !== database.primaryService) {
        problems.push(
          `${describeObject(object)}: POSTGRES_HOST is ${host?.value ?? '(unset)'}, not the primary's Service ${database.primaryService}`,
        );
      }
      if (!database) continue;
      // The app is the owner of its own database, never the cluster's superuser.
      for (const name of ['POSTGRES_USER', 'POSTGRES_PASSWORD']) {
        const variable = container.env?.find((v) => v.name === name);
        if (name === 'POSTGRES_USER' && variable?.value === 'postgres')
          problems.push(`${describeObject(object)}: connects as the superuser postgres`);
        if (variable?.valueFrom?.secretKeyRef?.name === database.superuserSecret) {
          problems.push(
            `${describeObject(object)}: ${name} comes from ${database.superuserSecret}, the database's superuser secret`,
          );
        }
      }
    }
  }
  return problems;
}

function releaseProblems(workloads: Workload[], version: string): string[] {
  return workloads.flatMap(({ object, pod }) =>
    pod.containers
      .filter((container) => !container.image?.endsWith(`/todoapp:${version}`))
      .map((container) => `${describeObject(object)}: image ${container.image} is not todoapp:${version}`),
  );
}

/**
 * HTTPS at the edge: every Ingress serves its hosts with TLS from a
 * certificate cert-manager keeps, redirects plain HTTP, and the app knows it
 * is behind it (PUBLIC_URL its https origin, TRUST_PROXY the proxy's addresses); no
 * LoadBalancer Service goes round it.
 */
function edgeProblems(
  objects: K8sObject[],
  deployment: IDeployment & K8sObject,
  configMaps: Map<string, Record<string, string>>,
  clusterIssuers: Set<string> | undefined,
): string[] {
  const problems: string[] = [];
  const ingresses = ofKind<IIngress>(objects, 'Ingress');
  if (ingresses.length === 0) return problems;
  const certificates = ofKind<ICertificate>(objects, 'Certificate');
  const services = ofKind<IService>(objects, 'Service');
  const container = deployment.spec?.template.spec?.containers.find((c) => c.name === 'todoapp');
  const env = container ? containerEnvironment(container, configMaps) : {};
  for (const ingress of ingresses) {
    const where = describeObject(ingress);
    const hosts = (ingress.spec?.rules ?? []).map((rule) => rule.host ?? '');
    const tls = ingress.spec?.tls ?? [];
    if (hosts.length === 0 || hosts.includes('')) problems.push(`${where}: a rule without a host`);
    for (const host of hosts) {
      const entry = tls.find((t) => t.hosts?.includes(host));
      if (!entry) {
        problems.push(`${where}: ${host} has no TLS`);
        continue;
      }
      const certificate = certificates.find((c) => c.spec?.secretName === entry.secretName);
      if (!certificate) problems.push(`${where}: no Certificate keeps the secret ${entry.secretName ?? '(unset)'}`);
      else if (!certificate.spec?.dnsNames?.includes(host))
        problems.push(`${describeObject(certificate)}: its dnsNames do not include ${host}`);
    }
    const annotations = ingress.metadata?.annotations ?? {};
    if (annotations['nginx.ingress.kubernetes.io/force-ssl-redirect'] !== 'true')
      problems.push(`${where}: plain HTTP is not redirected to HTTPS (nginx.ingress.kubernetes.io/force-ssl-redirect)`);
    for (const backend of backendsOf(ingress)) {
      const [name, port] = backend.split(':');
      const service = services.find((candidate) => candidate.metadata.name === name);
      if (!service) problems.push(`${where}: sends to a Service ${name} that does not exist`);
      else if (!service.spec?.ports?.some((p) => p.name === port || String(p.port) === port))
        problems.push(`${where}: sends to port ${port}, which the Service ${name} does not have`);
      else if (service.spec?.type === 'LoadBalancer' || service.spec?.type === 'NodePort')
        problems.push(
          `${describeObject(service)}: is a ${service.spec.type} besides the Ingress: plain HTTP around TLS`,
        );
    }
    const origins = hosts.map((host) => `https://${host}`);
    if (!origins.includes(env.PUBLIC_URL ?? ''))
      problems.push(`the app's PUBLIC_URL is ${env.PUBLIC_URL ?? '(unset)'}, not ${origins.join(' or ')}`);
  }
  // Fastify (5.12) trusts nobody for a hop count, and everybody for true: the proxy is named by address.
  const trusted = env.TRUST_PROXY ?? '';
  if (/^(\d+|true|false|)$/i.test(trusted))
    problems.push(`behind an Ingress TRUST_PROXY must name the proxy's addresses (CIDRs), not ${trusted || '(unset)'}`);
  for (const certificate of certificates) {
    const issuer = certificate.spec?.issuerRef;
    const known =
      issuer?.kind === 'ClusterIssuer'
        ? clusterIssuers === undefined || clusterIssuers.has(issuer.name)
        : objects.some((o) => o.kind === 'Issuer' && o.metadata.name === issuer?.name);
    if (!known)
      problems.push(
        `${describeObject(certificate)}: its issuer ${issuer?.kind ?? 'Issuer'}/${issuer?.name} is not one of ours`,
      );
  }
  return problems;
}

/** Trusting X-Forwarded-* is safe only if nothing but the proxy reaches the app's port. */
function trustProxyProblems(
  objects: K8sObject[],
  deployment: IDeployment & K8sObject,
  configMaps: Map<string, Record<string, string>>,
): string[] {
  const container = deployment.spec?.template.spec?.containers.find((c) => c.name === 'todoapp');
  const trustProxy = container ? (containerEnvironment(container, configMaps).TRUST_PROXY ?? 'false') : 'false';
  if (trustProxy.toLowerCase() === 'false') return [];
  const appLabels = deployment.spec?.template.metadata?.labels ?? {};
  const openToAll = ofKind<INetworkPolicy>(objects, 'NetworkPolicy')
    .filter((policy) => selectorMatches(policy.spec?.podSelector, appLabels))
    .flatMap((policy) => policy.spec?.ingress ?? [])
    .some(
      (rule) =>
        (rule.ports ?? []).some((port) => container && resolvePort(container, port.port) === 8000) &&
        !(rule.from ?? []).some((peer) => peer.namespaceSelector || peer.podSelector),
    );
  return openToAll
    ? [
        `TRUST_PROXY is ${trustProxy}, but the app's port is open to every address: anyone could claim a client address or https`,
      ]
    : [];
}

interface ObjectStoreSpec {
  configuration?: Record<string, unknown> & { serverName?: string };
}

/** Every `{ name, key }` secret reference under an object (the ObjectStore's credentials). */
function secretReferences(value: unknown): { name: string; key: string }[] {
  if (value === null || typeof value !== 'object') return [];
  const entry = value as Record<string, unknown>;
  if (typeof entry.name === 'string' && typeof entry.key === 'string') return [{ name: entry.name, key: entry.key }];
  return Object.values(entry).flatMap(secretReferences);
}

const RECOVERY_TARGET_TIME = /^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}(:?\d{2})?)$/;

/**
 * Backups through the Barman Cloud plugin: each Cluster that uses it archives
 * its WAL to an ObjectStore of the deployment and gets scheduled base backups;
 * a recovery reads another server's folder than the one it archives to.
 */
function backupProblems(objects: K8sObject[], secrets: Map<string, Set<string>>): string[] {
  const problems: string[] = [];
  const stores = new Set(objects.filter((o) => o.kind === 'ObjectStore').map((o) => o.metadata.name));
  const clusters = objects.filter((o) => o.kind === 'Cluster');
  const scheduled = objects.filter((o) => o.kind === 'ScheduledBackup');
  for (const store of objects.filter((o) => o.kind === 'ObjectStore')) {
    const where = describeObject(store);
    const configuration = specOf<ObjectStoreSpec>(store).configuration ?? {};
    // The CRD's CEL rule: the server name belongs to the Cluster's plugin parameters.
    if (configuration.serverName !== undefined) problems.push(`${where}: configuration.serverName must not be set`);
    for (const { name, key } of secretReferences(configuration)) {
      const keys = secrets.get(name);
      if (!keys) problems.push(`${where}: secret ${name} is not created as docs/deploy.md says`);
      else if (!keys.has(key))
        problems.push(`${where}: secret ${name} has no key ${key} (it has ${[...keys].join(', ')})`);
    }
  }
  for (const cluster of clusters) {
    const where = describeObject(cluster);
    const spec = specOf<CnpgClusterSpec>(cluster);
    const plugin = spec.plugins?.find((p) => p.name === BARMAN_CLOUD_PLUGIN && p.enabled !== false);
    if (plugin) {
      if (!stores.has(plugin.parameters?.barmanObjectName ?? ''))
        problems.push(
          `${where}: the plugin's barmanObjectName ${plugin.parameters?.barmanObjectName} is no ObjectStore`,
        );
      if (plugin.isWALArchiver !== true)
        problems.push(
          `${where}: the Barman Cloud plugin does not archive the WAL (isWALArchiver): no point-in-time recovery`,
        );
      if (
        !scheduled.some(
          (backup) => specOf<{ cluster?: { name: string } }>(backup).cluster?.name === cluster.metadata.name,
        )
      )
        problems.push(`${where}: its WAL is archived but no ScheduledBackup makes base backups of it`);
    }
    const recovery = spec.bootstrap?.recovery;
    if (!recovery) continue;
    const source = spec.externalClusters?.find((external) => external.name === recovery.source);
    if (!source?.plugin || source.plugin.name !== BARMAN_CLOUD_PLUGIN) {
      problems.push(
        `${where}: recovery.source ${recovery.source} is no externalClusters entry using the Barman Cloud plugin`,
      );
      continue;
    }
    if (!stores.has(source.plugin.parameters?.barmanObjectName ?? ''))
      problems.push(`${where}: recovers from ${source.plugin.parameters?.barmanObjectName}, which is no ObjectStore`);
    const readsFrom = source.plugin.parameters?.serverName ?? source.name;
    const archivesTo = plugin?.parameters?.serverName ?? cluster.metadata.name;
    if (plugin && readsFrom === archivesTo)
      problems.push(`${where}: it would archive its WAL into ${readsFrom}/, the folder it recovers from`);
    const targetTime = recovery.recoveryTarget?.targetTime;
    if (
      targetTime !== undefined &&
      (!RECOVERY_TARGET_TIME.test(targetTime) ||
        Number.isNaN(Date.parse(targetTime.replace(' ', 'T').replace(/([+-]\d{2})$/, '$1:00'))))
    )
      problems.push(`${where}: recoveryTarget.targetTime ${targetTime} is not a time with its zone`);
  }
  for (const backup of scheduled) {
    const where = describeObject(backup);
    const spec = specOf<{
      cluster?: { name: string };
      schedule?: string;
      method?: string;
      pluginConfiguration?: { name: string };
    }>(backup);
    const cluster = clusters.find((c) => c.metadata.name === spec.cluster?.name);
    if (!cluster) problems.push(`${where}: backs up ${spec.cluster?.name}, which is no Cluster of the deployment`);
    // CloudNativePG's schedules start with seconds: five fields would mean something else.
    if ((spec.schedule ?? '').trim().split(/\s+/).length !== 6)
      problems.push(
        `${where}: schedule "${spec.schedule}" does not have the six fields (seconds first) CloudNativePG reads`,
      );
    if (spec.method !== 'plugin' || spec.pluginConfiguration?.name !== BARMAN_CLOUD_PLUGIN)
      problems.push(`${where}: not a backup through the Barman Cloud plugin (method: plugin)`);
    else if (cluster && !specOf<CnpgClusterSpec>(cluster).plugins?.some((p) => p.name === BARMAN_CLOUD_PLUGIN))
      problems.push(`${where}: the Cluster ${cluster.metadata.name} does not use the Barman Cloud plugin`);
  }
  return problems;
}

/** Each PodMonitor scrapes pods of the deployment on a port they have, which a NetworkPolicy opens to Prometheus. */
function monitoringProblems(objects: K8sObject[], workloads: Workload[], database: Database | undefined): string[] {
  const problems: string[] = [];
  const policies = ofKind<INetworkPolicy>(objects, 'NetworkPolicy');
  for (const monitor of ofKind<IPodMonitor>(objects, 'PodMonitor')) {
    const where = describeObject(monitor);
    const scraped = scrapedPorts(monitor.spec.selector, workloads, database);
    if (!scraped) {
      problems.push(`${where}: selects neither the app's pods nor the database's`);
      continue;
    }
    for (const endpoint of monitor.spec.podMetricsEndpoints ?? []) {
      const port = scraped.ports.get(endpoint.port ?? '');
      if (port === undefined) {
        problems.push(`${where}: the pods have no port named ${endpoint.port ?? '(unset)'}`);
        continue;
      }
      const open = policies
        .filter((policy) => selectorMatches(policy.spec?.podSelector, scraped.labels))
        .flatMap((policy) => policy.spec?.ingress ?? [])
        .some(
          (rule) =>
            (rule.ports ?? []).some((p) => p.port === port || p.port === endpoint.port) &&
            (rule.from ?? []).some(
              (peer) => peer.namespaceSelector?.matchLabels?.['kubernetes.io/metadata.name'] === MONITORING_NAMESPACE,
            ),
        );
      if (!open)
        problems.push(`${where}: no NetworkPolicy lets the namespace ${MONITORING_NAMESPACE} reach port ${port}`);
    }
  }
  return problems;
}

/** Every problem of one deployment: an overlay's objects plus those of its createsuperuser kustomization. */
export function invariantProblems(objects: K8sObject[], facts: DeploymentFacts): string[] {
  const workloads = workloadsOf(objects);
  const databases = findDatabases(objects);
  const database = databases[0];
  const configMaps = new Map(
    ofKind<IConfigMap>(objects, 'ConfigMap').map((map) => [map.metadata.name, map.data ?? {}]),
  );
  const secrets = new Map(facts.documentedSecrets);
  for (const { generatedSecret } of databases)
    if (generatedSecret) secrets.set(generatedSecret.name, new Set(generatedSecret.keys));
  const serviceAccounts = ofKind<IServiceAccount>(objects, 'ServiceAccount');
  const deployments = ofKind<IDeployment>(objects, 'Deployment');
  const deployment = deployments[0];

  const problems = [
    ...committedSecretProblems(objects, workloads),
    ...labelProblems(objects, workloads, facts.version),
    ...releaseProblems(workloads, facts.version),
    ...workloads.flatMap((workload) => [
      ...podSecurityProblems(workload, serviceAccounts),
      ...referenceProblems(workload, secrets, configMaps),
      ...appConfigurationProblems(workload, configMaps),
    ]),
    ...jobProblems(ofKind<IJob>(objects, 'Job'), facts.version, deployment !== undefined),
    ...databaseConnectionProblems(workloads, database),
    ...databases.flatMap((db) => [...databaseRuleProblems(db.object), ...databaseAvailabilityProblems(db)]),
    ...backupProblems(objects, facts.documentedSecrets),
    ...monitoringProblems(objects, workloads, database),
  ];
  if (databases.length !== 1) problems.push(`expected one database resource, found ${databases.length}`);
  if (deployments.length !== 1 || !deployment)
    return [...problems, `expected one Deployment, found ${deployments.length}`];
  if (serviceAccounts.some((account) => account.automountServiceAccountToken !== false))
    problems.push('a ServiceAccount mounts its token automatically');
  problems.push(
    ...deploymentProblems(deployment, configMaps),
    ...serviceProblems(objects, deployment, workloads, configMaps),
    ...autoscalerProblems(objects, deployment, configMaps, database),
    ...networkPolicyProblems(objects, deployment, workloads, database, configMaps),
    ...edgeProblems(objects, deployment, configMaps, facts.clusterIssuers),
    ...trustProxyProblems(objects, deployment, configMaps),
  );
  return problems;
}

/**
 * Secrets docs/deploy.md tells a person to create in namespace todolist:
 * `kubectl -n todolist create secret generic NAME --from-literal=KEY=...`
 * (continued lines joined), by name.
 */
export function documentedSecrets(markdown: string): Map<string, Set<string>> {
  const secrets = new Map<string, Set<string>>();
  const text = markdown.replace(/\\\n\s*/g, ' ');
  for (const [line] of text.matchAll(/^.*\bcreate secret generic\b.*$/gm)) {
    const name = /create secret generic\s+([a-z0-9.-]+)/.exec(line)?.[1];
    if (!name || !/(?:-n|--namespace)[ =]todolist\b/.test(line)) continue;
    const keys = [...line.matchAll(/--from-(?:literal|file)=([A-Za-z0-9_.-]+)=/g)].map((match) => match[1] ?? '');
    secrets.set(name, new Set([...(secrets.get(name) ?? []), ...keys]));
  }
  return secrets;
}
