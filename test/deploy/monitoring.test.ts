// The alerts and the dashboard (components/monitoring and
// components/cloudnativepg-monitoring), checked with Prometheus's own promtool
// (Debian's prometheus package): every rule parses (`promtool check rules` on
// the PrometheusRules' spec), each alert fires in `promtool test rules` when
// it should and stays quiet when it should not, every dashboard query parses,
// and every metric of the app they name is in the real app's /metrics.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import type { IPrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule';
import { stringify } from 'yaml';
import { startMetricsServer } from '../../src/plugins/metrics.ts';
import { startTestApp } from '../support/app.ts';
import { renderWithComponents, type K8sObject } from './k8s.ts';

const run = promisify(execFile);

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
type RuleGroups = { groups: { name: string; rules: Rule[] }[] };

/** `promtool ARGS`: its exit code and output (promtool prints its findings on either stream). */
async function promtool(...args: string[]): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run('promtool', args);
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const failure = error as { code?: number | string; stdout?: string; stderr?: string };
    if (failure.code === 'ENOENT')
      throw new Error("promtool is not installed (Debian's prometheus package; npm test installs it as root)", {
        cause: error,
      });
    return { code: Number(failure.code), output: `${failure.stdout ?? ''}${failure.stderr ?? ''}` };
  }
}

/**
 * The metric names a PromQL expression reads: what is left once strings,
 * label matchers, ranges, grouping clauses, functions and operators are gone.
 */
export function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const keywords = new Set(['and', 'or', 'unless', 'bool', 'offset']);
  const names = [...stripped.matchAll(/(?<![\w.])([a-zA-Z_:][\w:]*)(?![\w:]|\s*\()/g)].map((match) => match[1] ?? '');
  return [...new Set(names.filter((name) => !keywords.has(name)))];
}

/** Metrics the rules and the dashboard read from other exporters than the app, and who exports them. */
const EXTERNAL_METRICS: Record<string, string> = {
  kube_deployment_status_replicas_available: 'kube-state-metrics',
  kube_deployment_spec_replicas: 'kube-state-metrics',
  certmanager_certificate_expiration_timestamp_seconds: 'cert-manager',
  cnpg_collector_up: "CloudNativePG's instance exporter",
  cnpg_pg_replication_lag: "CloudNativePG's default monitoring queries (pg_replication)",
  cnpg_pg_stat_archiver_last_failed_time: "CloudNativePG's default monitoring queries (pg_stat_archiver)",
  cnpg_pg_stat_archiver_last_archived_time: "CloudNativePG's default monitoring queries (pg_stat_archiver)",
  barman_cloud_cloudnative_pg_io_last_available_backup_timestamp: 'the Barman Cloud plugin (its observability docs)',
};

/** A `promtool test rules` group: series over time, and what one alert must be at one moment. */
interface AlertCase {
  name: string;
  alert: string;
  interval?: string;
  series: Record<string, string>;
  at: string;
  /** The labels of each alert expected to fire (besides alertname); none: it must not fire. */
  firing: Record<string, string>[];
}

const TODO = 'method="GET",route="/api/todos",namespace="todolist",pod="todoapp-1"';
const EVENTS = 'method="GET",route="/api/events",namespace="todolist",pod="todoapp-1"';
const DB = 'namespace="todolist",cluster="todo-db",pod="todo-db-1"';
const APP = { namespace: 'todolist' };

/** Buckets of a histogram whose observations (60 a minute) all fall between 1 and 2.5 s. */
const slow = (labels: string) => ({
  [`todoapp_http_request_duration_seconds_bucket{${labels},status_code="200",le="0.5"}`]: '0x30',
  [`todoapp_http_request_duration_seconds_bucket{${labels},status_code="200",le="1"}`]: '0x30',
  [`todoapp_http_request_duration_seconds_bucket{${labels},status_code="200",le="2.5"}`]: '0+60x30',
  [`todoapp_http_request_duration_seconds_bucket{${labels},status_code="200",le="+Inf"}`]: '0+60x30',
});

const CASES: AlertCase[] = [
  {
    name: '9% server errors at 11 requests/s',
    alert: 'TodoappHighErrorRatio',
    series: {
      [`todoapp_http_requests_total{${TODO},status_code="200"}`]: '0+600x30',
      [`todoapp_http_requests_total{${TODO},status_code="500"}`]: '0+60x30',
    },
    at: '20m',
    firing: [{ severity: 'critical', ...APP }],
  },
  {
    name: '1% server errors',
    alert: 'TodoappHighErrorRatio',
    series: {
      [`todoapp_http_requests_total{${TODO},status_code="200"}`]: '0+600x30',
      [`todoapp_http_requests_total{${TODO},status_code="503"}`]: '0+6x30',
    },
    at: '20m',
    firing: [],
  },
  {
    name: 'half the requests failing, but only 0.1 requests/s',
    alert: 'TodoappHighErrorRatio',
    series: {
      [`todoapp_http_requests_total{${TODO},status_code="200"}`]: '0+3x30',
      [`todoapp_http_requests_total{${TODO},status_code="500"}`]: '0+3x30',
    },
    at: '20m',
    firing: [],
  },
  {
    name: 'every answer between 1 and 2.5 s',
    alert: 'TodoappSlowRequests',
    series: slow(TODO),
    at: '20m',
    firing: [{ severity: 'warning', ...APP }],
  },
  { name: 'long event streams only', alert: 'TodoappSlowRequests', series: slow(EVENTS), at: '20m', firing: [] },
  {
    name: 'no pod available for 5 minutes',
    alert: 'TodoappNoReadyPods',
    series: { 'kube_deployment_status_replicas_available{namespace="todolist",deployment="todoapp"}': '3 3 0x10' },
    at: '8m',
    firing: [{ severity: 'critical', namespace: 'todolist', deployment: 'todoapp' }],
  },
  {
    name: 'three pods available',
    alert: 'TodoappNoReadyPods',
    series: { 'kube_deployment_status_replicas_available{namespace="todolist",deployment="todoapp"}': '3x10' },
    at: '8m',
    firing: [],
  },
  {
    name: 'a certificate with 10 days left',
    alert: 'TodoappCertificateExpiring',
    series: {
      'certmanager_certificate_expiration_timestamp_seconds{name="todoapp-tls",exported_namespace="todolist"}':
        '864000x180',
    },
    at: '2h',
    firing: [{ severity: 'warning', name: 'todoapp-tls', exported_namespace: 'todolist' }],
  },
  {
    name: 'a certificate with 60 days left',
    alert: 'TodoappCertificateExpiring',
    series: {
      'certmanager_certificate_expiration_timestamp_seconds{name="todoapp-tls",exported_namespace="todolist"}':
        '5184000x180',
    },
    at: '2h',
    firing: [],
  },
  {
    name: 'every instance down',
    alert: 'TodoappDatabaseDown',
    series: {
      [`cnpg_collector_up{${DB}}`]: '0x10',
      'cnpg_collector_up{namespace="todolist",cluster="todo-db",pod="todo-db-2"}': '0x10',
    },
    at: '5m',
    firing: [{ severity: 'critical', namespace: 'todolist' }],
  },
  {
    name: 'no instance scraped at all',
    alert: 'TodoappDatabaseDown',
    series: { 'up{namespace="todolist",pod="todoapp-1"}': '1x10' },
    at: '5m',
    firing: [{ severity: 'critical', namespace: 'todolist' }],
  },
  {
    name: 'one instance of two down',
    alert: 'TodoappDatabaseDown',
    series: {
      [`cnpg_collector_up{${DB}}`]: '0x10',
      'cnpg_collector_up{namespace="todolist",cluster="todo-db",pod="todo-db-2"}': '1x10',
    },
    at: '5m',
    firing: [],
  },
  {
    name: 'one instance down for 10 minutes',
    alert: 'TodoappDatabaseInstanceDown',
    series: {
      [`cnpg_collector_up{${DB}}`]: '0x15',
      'cnpg_collector_up{namespace="todolist",cluster="todo-db",pod="todo-db-2"}': '1x15',
    },
    at: '10m',
    firing: [{ severity: 'warning', namespace: 'todolist', cluster: 'todo-db', pod: 'todo-db-1' }],
  },
  {
    name: 'a standby two minutes behind',
    alert: 'TodoappReplicationLag',
    series: { [`cnpg_pg_replication_lag{${DB}}`]: '120x15' },
    at: '10m',
    firing: [{ severity: 'warning', namespace: 'todolist', cluster: 'todo-db', pod: 'todo-db-1' }],
  },
  {
    name: 'standbys a second behind',
    alert: 'TodoappReplicationLag',
    series: { [`cnpg_pg_replication_lag{${DB}}`]: '1x15' },
    at: '10m',
    firing: [],
  },
  {
    name: 'the last WAL archiving attempt failed',
    alert: 'TodoappWalArchivingFailing',
    series: {
      [`cnpg_pg_stat_archiver_last_failed_time{${DB}}`]: '1000x30',
      [`cnpg_pg_stat_archiver_last_archived_time{${DB}}`]: '500x30',
    },
    at: '20m',
    firing: [{ severity: 'critical', namespace: 'todolist', cluster: 'todo-db', pod: 'todo-db-1' }],
  },
  {
    name: 'archiving recovered after a failure',
    alert: 'TodoappWalArchivingFailing',
    series: {
      [`cnpg_pg_stat_archiver_last_failed_time{${DB}}`]: '500x30',
      [`cnpg_pg_stat_archiver_last_archived_time{${DB}}`]: '1000x30',
    },
    at: '20m',
    firing: [],
  },
  {
    name: 'never a backup, for 26 hours',
    alert: 'TodoappBackupTooOld',
    interval: '2m',
    series: { [`barman_cloud_cloudnative_pg_io_last_available_backup_timestamp{${DB}}`]: '0x800' },
    at: '26h',
    firing: [{ severity: 'critical', namespace: 'todolist', cluster: 'todo-db' }],
  },
  {
    name: 'a backup within the last day',
    alert: 'TodoappBackupTooOld',
    interval: '2m',
    // A backup every 12 hours: at 26 h the newest is 2 h old.
    series: { [`barman_cloud_cloudnative_pg_io_last_available_backup_timestamp{${DB}}`]: '0x359 43200x360 86400x200' },
    at: '26h',
    firing: [],
  },
];

/** The rule's annotations as Prometheus renders them for these labels ({{ $labels.NAME }} only). */
function renderedAnnotations(rule: Rule, labels: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(rule.annotations ?? {}).map(([key, text]) => [
      key,
      text.replace(/\{\{\s*\$labels\.(\w+)\s*\}\}/g, (_, name: string) => labels[name] ?? ''),
    ]),
  );
}

describe('the alerts and the dashboard', () => {
  let dir: string;
  let objects: K8sObject[];
  let rules: RuleGroups;
  let rulesFile: string;

  const allRules = () => rules.groups.flatMap((group) => group.rules);
  const dashboard = () => {
    const map = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'todoapp-grafana-dashboard') as
      (K8sObject & { data: Record<string, string> }) | undefined;
    assert.ok(map, 'the dashboard ConfigMap');
    assert.equal(map.metadata.labels?.grafana_dashboard, '1', "labelled for Grafana's sidecar");
    return JSON.parse(map.data['todoapp.json'] ?? '') as {
      uid: string;
      panels: { title: string; targets: { expr: string }[] }[];
    };
  };
  const dashboardExprs = () =>
    dashboard().panels.flatMap((panel) =>
      panel.targets.map((target) => target.expr.replaceAll('$__rate_interval', '5m')),
    );

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'todoapp-rules-'));
    objects = await renderWithComponents('cloudnativepg', ['monitoring', 'cloudnativepg-monitoring']);
    const ruleObjects = objects.filter((o) => o.kind === 'PrometheusRule') as unknown as IPrometheusRule[];
    // promtool reads a plain rules file: the objects' spec, their groups together.
    rules = { groups: ruleObjects.flatMap((rule) => rule.spec.groups as RuleGroups['groups']) };
    rulesFile = path.join(dir, 'rules.yaml');
    await writeFile(rulesFile, stringify(rules));
  });

  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('has the alerts that matter', () => {
    assert.deepEqual(
      allRules()
        .map((rule) => rule.alert)
        .sort(),
      [
        'TodoappBackupTooOld',
        'TodoappCertificateExpiring',
        'TodoappDatabaseDown',
        'TodoappDatabaseInstanceDown',
        'TodoappHighErrorRatio',
        'TodoappNoReadyPods',
        'TodoappReplicationLag',
        'TodoappSlowRequests',
        'TodoappWalArchivingFailing',
      ],
    );
    for (const rule of allRules()) {
      assert.match(rule.labels?.severity ?? '', /^(warning|critical)$/, `${rule.alert}: severity`);
      assert.ok(rule.annotations?.summary, `${rule.alert}: a summary`);
    }
  });

  it('promtool check rules accepts them, and rejects a broken expression', async () => {
    const checked = await promtool('check', 'rules', rulesFile);
    assert.equal(checked.code, 0, checked.output);
    assert.match(checked.output, new RegExp(`SUCCESS: ${allRules().length} rules found`));

    const broken = structuredClone(rules);
    broken.groups[0]!.rules[0]!.expr = 'sum(rate(todoapp_http_requests_total[5m])';
    const brokenFile = path.join(dir, 'broken.yaml');
    await writeFile(brokenFile, stringify(broken));
    const rejected = await promtool('check', 'rules', brokenFile);
    assert.notEqual(rejected.code, 0);
    assert.match(rejected.output, /unclosed left parenthesis|parse error/);
  });

  it('promtool test rules: each alert fires when it should, and only then', async () => {
    const byName = new Map(allRules().map((rule) => [rule.alert, rule]));
    for (const alert of byName.keys())
      assert.ok(
        CASES.some((c) => c.alert === alert && c.firing.length > 0),
        `a case where ${alert} fires`,
      );
    const tests = {
      rule_files: [path.basename(rulesFile)],
      evaluation_interval: '1m',
      tests: CASES.map((c) => {
        const rule = byName.get(c.alert);
        assert.ok(rule, `no alert ${c.alert}`);
        return {
          name: c.name,
          interval: c.interval ?? '1m',
          input_series: Object.entries(c.series).map(([series, values]) => ({ series, values })),
          alert_rule_test: [
            {
              eval_time: c.at,
              alertname: c.alert,
              exp_alerts: c.firing.map((labels) => ({
                exp_labels: labels,
                exp_annotations: renderedAnnotations(rule, labels),
              })),
            },
          ],
        };
      }),
    };
    const testsFile = path.join(dir, 'tests.yaml');
    await writeFile(testsFile, stringify(tests));
    const result = await promtool('test', 'rules', testsFile);
    assert.equal(result.code, 0, result.output);
    assert.match(result.output, /SUCCESS/);

    // The unit tests can fail: the same file expecting the first quiet case to fire does.
    const quiet = tests.tests.findIndex((t) => t.alert_rule_test[0]!.exp_alerts.length === 0);
    const wrong = structuredClone(tests);
    wrong.tests[quiet]!.alert_rule_test[0]!.exp_alerts = [
      { exp_labels: { severity: 'critical' }, exp_annotations: {} },
    ];
    await writeFile(testsFile, stringify(wrong));
    assert.notEqual((await promtool('test', 'rules', testsFile)).code, 0);
  });

  it('every dashboard query parses (promtool, as recording rules)', async () => {
    const board = dashboard();
    assert.equal(board.uid, 'todoapp');
    assert.ok(board.panels.length >= 8);
    for (const panel of board.panels) assert.ok(panel.targets.length > 0, `${panel.title}: a query`);
    const asRules = {
      groups: [
        { name: 'dashboard', rules: dashboardExprs().map((expr, i) => ({ record: `dashboard:query_${i}`, expr })) },
      ],
    };
    const file = path.join(dir, 'dashboard-rules.yaml');
    await writeFile(file, stringify(asRules));
    const checked = await promtool('check', 'rules', file);
    assert.equal(checked.code, 0, checked.output);
  });

  it("every metric they name is in the app's real /metrics, or comes from a known exporter", async () => {
    const app = await startTestApp('pglite');
    const listener = await startMetricsServer({ host: '127.0.0.1', port: 0, log: console });
    let scraped: string;
    try {
      // Some traffic, so that the labelled series exist as Prometheus would see them.
      assert.equal((await app.request('/api/todos')).status, 200);
      assert.equal((await app.request('/api/todos/999999')).status, 404);
      scraped = await (await fetch(`http://127.0.0.1:${listener.port}/metrics`)).text();
    } finally {
      await listener.close();
      await app.close();
    }
    const exported = new Set<string>();
    for (const [, name, type] of scraped.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
      exported.add(name!);
      if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) exported.add(`${name}${suffix}`);
    }
    assert.ok(exported.has('todoapp_http_requests_total'), 'the scrape is the app’s');

    const named = [...allRules().map((rule) => rule.expr), ...dashboardExprs()].flatMap(metricNames);
    const unknown = [...new Set(named)].filter((name) => !exported.has(name) && !(name in EXTERNAL_METRICS));
    assert.deepEqual(unknown, [], 'metrics neither the app nor a listed exporter has');
    assert.ok(
      named.some((name) => name.startsWith('todoapp_')),
      "the app's own metrics are used",
    );
    // The app's own are all named todoapp_ (prom-client's standard process_ and nodejs_ ones aside).
    const own = [...exported].filter((name) => !/^(process|nodejs)_/.test(name));
    assert.deepEqual(
      own.filter((name) => !name.startsWith('todoapp_')),
      [],
    );
  });

  it('metricNames finds the metrics of an expression, and nothing else', () => {
    assert.deepEqual(
      metricNames(
        'histogram_quantile(0.99, sum by (namespace, le) (rate(a_bucket{route!="/x", le="+Inf"}[5m]))) > 1 and on (pod) b_total offset 5m or absent(c{x="y"}) - time()',
      ),
      ['a_bucket', 'b_total', 'c'],
    );
  });
});
