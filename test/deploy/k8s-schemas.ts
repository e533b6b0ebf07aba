// Schema validation of rendered objects, offline, as strict as the API server
// is (and stricter where it is silent):
//  - core kinds: kubernetes-models' validators (types, enums, formats such as
//    quantities), plus a check for fields the schema does not know. The API
//    server drops those with at most a warning, so a typo like
//    `readinessProbes:` would deploy a pod without a readiness probe.
//  - Prometheus Operator and cert-manager resources: the same family's models
//    (@kubernetes-models/prometheus-operator and /cert-manager), with the
//    same check for unknown fields, watched through the model's own validator.
//  - CloudNativePG, Barman Cloud plugin and KubeDB resources: the operators'
//    CRD schemas from shared/k8s-schemas (see its README), made strict the same
//    way, with x-kubernetes-int-or-string mapped to JSON Schema; their CEL and
//    webhook rules are plain assertions (databaseRuleProblems, backupProblems).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { validate as validateObjectMeta } from '@kubernetes-models/apimachinery/_schemas/IoK8sApimachineryPkgApisMetaV1ObjectMeta';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { Certificate } from '@kubernetes-models/cert-manager/cert-manager.io/v1/Certificate';
import { ClusterIssuer } from '@kubernetes-models/cert-manager/cert-manager.io/v1/ClusterIssuer';
import { PodMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor';
import { PrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule';
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';
import { validate as deploymentSchema } from 'kubernetes-models/_schemas/IoK8sApiAppsV1Deployment';
import { validate as horizontalPodAutoscalerSchema } from 'kubernetes-models/_schemas/IoK8sApiAutoscalingV2HorizontalPodAutoscaler';
import { validate as jobSchema } from 'kubernetes-models/_schemas/IoK8sApiBatchV1Job';
import { validate as configMapSchema } from 'kubernetes-models/_schemas/IoK8sApiCoreV1ConfigMap';
import { validate as namespaceSchema } from 'kubernetes-models/_schemas/IoK8sApiCoreV1Namespace';
import { validate as secretSchema } from 'kubernetes-models/_schemas/IoK8sApiCoreV1Secret';
import { validate as serviceSchema } from 'kubernetes-models/_schemas/IoK8sApiCoreV1Service';
import { validate as serviceAccountSchema } from 'kubernetes-models/_schemas/IoK8sApiCoreV1ServiceAccount';
import { validate as ingressSchema } from 'kubernetes-models/_schemas/IoK8sApiNetworkingV1Ingress';
import { validate as networkPolicySchema } from 'kubernetes-models/_schemas/IoK8sApiNetworkingV1NetworkPolicy';
import { validate as podDisruptionBudgetSchema } from 'kubernetes-models/_schemas/IoK8sApiPolicyV1PodDisruptionBudget';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { Ingress } from 'kubernetes-models/networking.k8s.io/v1/Ingress';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { describeObject, ROOT, type K8sObject } from './k8s.ts';

// ajv-formats is CommonJS; its default export arrives wrapped under NodeNext.
const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

type SchemaFunction = (data: unknown) => boolean;

interface Model {
  new (data: never): { validate(): void };
  prototype: { validate(): void };
}

interface CoreKind {
  /** kubernetes-models' class: `new Model(object).validate()` throws on a wrong type, enum or format. */
  model: Model;
  /** The same schema's compiled validator, which the unknown-field check watches. */
  schema: SchemaFunction;
}

/**
 * The schema function of a model whose package does not export its compiled
 * validators (the third-party models): the model's validate() run on the
 * object itself, so that the unknown-field check can watch what it reads.
 */
function modelSchema(model: Model): SchemaFunction {
  return (data) => {
    try {
      model.prototype.validate.call(data);
      return true;
    } catch {
      return false;
    }
  };
}

/** The kinds with a kubernetes-models model, by apiVersion/kind. Anything else here or in CUSTOM_KINDS is refused. */
const CORE_KINDS: Record<string, CoreKind> = {
  'v1/Namespace': { model: Namespace, schema: namespaceSchema },
  'v1/ServiceAccount': { model: ServiceAccount, schema: serviceAccountSchema },
  'v1/ConfigMap': { model: ConfigMap, schema: configMapSchema },
  'v1/Secret': { model: Secret, schema: secretSchema },
  'v1/Service': { model: Service, schema: serviceSchema },
  'apps/v1/Deployment': { model: Deployment, schema: deploymentSchema },
  'batch/v1/Job': { model: Job, schema: jobSchema },
  'policy/v1/PodDisruptionBudget': { model: PodDisruptionBudget, schema: podDisruptionBudgetSchema },
  'autoscaling/v2/HorizontalPodAutoscaler': { model: HorizontalPodAutoscaler, schema: horizontalPodAutoscalerSchema },
  'networking.k8s.io/v1/NetworkPolicy': { model: NetworkPolicy, schema: networkPolicySchema },
  'networking.k8s.io/v1/Ingress': { model: Ingress, schema: ingressSchema },
  'monitoring.coreos.com/v1/PodMonitor': { model: PodMonitor, schema: modelSchema(PodMonitor) },
  'monitoring.coreos.com/v1/ServiceMonitor': { model: ServiceMonitor, schema: modelSchema(ServiceMonitor) },
  'monitoring.coreos.com/v1/PrometheusRule': { model: PrometheusRule, schema: modelSchema(PrometheusRule) },
  'cert-manager.io/v1/Certificate': { model: Certificate, schema: modelSchema(Certificate) },
  'cert-manager.io/v1/ClusterIssuer': { model: ClusterIssuer, schema: modelSchema(ClusterIssuer) },
};

/**
 * Fields of `object` that `schema` never looks at. kubernetes-models' compiled
 * validators read every property their schema declares (and every entry of a
 * map), but never an undeclared one; watching the reads through a Proxy
 * therefore finds the fields the schema does not know.
 */
export function unknownFields(object: unknown, schema: SchemaFunction): string[] {
  const watched: { target: object; path: string; read: Set<PropertyKey> }[] = [];
  const watch = (value: unknown, at: string): unknown => {
    if (value === null || typeof value !== 'object') return value;
    const entry = { target: value, path: at, read: new Set<PropertyKey>() };
    watched.push(entry);
    const children = new Map<PropertyKey, unknown>();
    return new Proxy(value, {
      get(target, key) {
        entry.read.add(key);
        if (!children.has(key)) children.set(key, watch(Reflect.get(target, key), `${at}/${String(key)}`));
        return children.get(key);
      },
    });
  };
  schema(watch(object, ''));
  return watched.flatMap(({ target, path: at, read }) =>
    Object.keys(target)
      .filter((key) => !read.has(key))
      .map((key) => `${at}/${key}`),
  );
}

function validateCoreObject(object: K8sObject, kind: CoreKind): string[] {
  const problems: string[] = [];
  try {
    new kind.model(object as never).validate();
  } catch (error) {
    problems.push(`kubernetes-models: ${(error as Error).message}`);
  }
  for (const field of unknownFields(object, kind.schema)) problems.push(`unknown field ${field}`);
  return problems;
}

// --- Custom resources ----------------------------------------------------

type JsonSchema = Record<string, unknown>;

// A copy of the workplace's shared/k8s-schemas (see its README.md), so a fresh clone validates offline.
const SCHEMA_DIR = path.join(ROOT, 'test/deploy/k8s-schemas');

/** The custom resources the manifests may use, by apiVersion/kind, and their CRD schema files. */
const CUSTOM_KINDS: Record<string, string> = {
  'postgresql.cnpg.io/v1/Cluster': 'cnpg-1.30.0-cluster-v1.openapi.json',
  'kubedb.com/v1/Postgres': 'kubedb-v0.66.0-postgres-v1.openapi.json',
  'postgresql.cnpg.io/v1/ScheduledBackup': 'cnpg-scheduledbackup-v1.openapi.json',
  'barmancloud.cnpg.io/v1/ObjectStore': 'barman-cloud-v0.14.0-objectstore-v1.openapi.json',
};

const KUBERNETES_EXTENSIONS = [
  'x-kubernetes-int-or-string',
  'x-kubernetes-list-map-keys',
  'x-kubernetes-list-type',
  'x-kubernetes-map-type',
  'x-kubernetes-validations',
  'x-kubernetes-preserve-unknown-fields',
  'x-kubernetes-embedded-resource',
];

function isSchema(value: unknown): value is JsonSchema {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * A copy of a CRD schema that rejects unknown fields (additionalProperties:
 * false wherever properties are listed and unknown fields are not explicitly
 * kept) and reads int-or-string. The root `metadata` is left alone: the API
 * server checks ObjectMeta itself, so customResourceProblems checks it with
 * kubernetes-models.
 */
export function strictCrdSchema(schema: JsonSchema, isRoot = true): JsonSchema {
  const strict: JsonSchema = { ...schema };
  if (strict['x-kubernetes-int-or-string'] === true && strict.anyOf === undefined && strict.oneOf === undefined) {
    delete strict.type;
    strict.anyOf = [{ type: 'integer' }, { type: 'string' }];
  }
  if (isSchema(strict.properties)) {
    strict.properties = Object.fromEntries(
      Object.entries(strict.properties).map(([name, child]) => [
        name,
        isRoot && name === 'metadata' ? child : strictCrdSchema(child as JsonSchema, false),
      ]),
    );
    if (strict.additionalProperties === undefined && strict['x-kubernetes-preserve-unknown-fields'] !== true)
      strict.additionalProperties = false;
  }
  if (isSchema(strict.items)) strict.items = strictCrdSchema(strict.items, false);
  if (isSchema(strict.additionalProperties))
    strict.additionalProperties = strictCrdSchema(strict.additionalProperties, false);
  for (const keyword of ['anyOf', 'oneOf', 'allOf']) {
    if (Array.isArray(strict[keyword]))
      strict[keyword] = (strict[keyword] as JsonSchema[]).map((branch) => strictCrdSchema(branch, false));
  }
  return strict;
}

function makeCrdAjv(): Ajv {
  // Strict mode: an unknown keyword or format in a schema is an error, not a silent pass.
  const ajv = new Ajv({ allErrors: true, strict: true, strictTypes: false });
  ajv.addVocabulary(KUBERNETES_EXTENSIONS);
  addFormats(ajv, ['date-time']);
  ajv.addFormat('int32', {
    type: 'number',
    validate: (n: number) => Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31,
  });
  ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isSafeInteger(n) });
  return ajv;
}

const crdAjv = makeCrdAjv();
const crdValidators = new Map<string, ValidateFunction>();

/** A CRD's openAPIV3Schema, compiled strictly (see strictCrdSchema). */
export function compileCrdSchema(schema: JsonSchema): ValidateFunction {
  return crdAjv.compile(strictCrdSchema(schema));
}

/** The strict validator for one schema file of shared/k8s-schemas, compiled once. */
function crdValidator(file: string): ValidateFunction {
  let validator = crdValidators.get(file);
  if (!validator) {
    validator = compileCrdSchema(JSON.parse(readFileSync(path.join(SCHEMA_DIR, file), 'utf8')) as JsonSchema);
    crdValidators.set(file, validator);
  }
  return validator;
}

function describeError(error: ErrorObject): string {
  const where = error.instancePath || '/';
  if (error.keyword === 'additionalProperties')
    return `unknown field ${where === '/' ? '' : where}/${String(error.params.additionalProperty)}`;
  return `${where} ${error.message ?? error.keyword}${error.keyword === 'enum' ? ` (${(error.params.allowedValues as unknown[]).join(', ')})` : ''}`;
}

function customResourceProblems(object: K8sObject, file: string): string[] {
  const validator = crdValidator(file);
  const problems = validator(object)
    ? []
    : (validator.errors ?? []).filter((error) => error.keyword !== 'anyOf').map(describeError);
  if (!validateObjectMeta(object.metadata)) problems.push('/metadata is not a valid ObjectMeta');
  for (const field of unknownFields(object.metadata, validateObjectMeta))
    problems.push(`unknown field /metadata${field}`);
  return problems;
}

/** Schema problems of one rendered object, each prefixed with Kind/name; empty when it is valid. */
export function schemaProblems(object: K8sObject): string[] {
  const key = `${object.apiVersion}/${object.kind}`;
  const core = CORE_KINDS[key];
  const customFile = CUSTOM_KINDS[key];
  let problems: string[];
  if (core) problems = validateCoreObject(object, core);
  else if (customFile) problems = customResourceProblems(object, customFile);
  else problems = [`no schema for ${key}: add it to test/deploy/k8s-schemas.ts`];
  return problems.map((problem) => `${describeObject(object)}: ${problem}`);
}
