/**
 * The runbook (docs/operations.md) and the files beside it (ops/, docker-compose.yml) kept honest
 * where that is cheap: the alert rules load and fire as their unit tests say (promtool), they
 * query only metrics the service registers, every setting the runbook names exists, every link
 * to a runbook section lands on one, and the compose file has the shape the runbook describes
 * (it is never run in CI: there is no Docker engine there).
 */
import { describe, expect, test } from 'bun:test';
import { mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { BlockList } from 'node:net';
import { z } from 'zod';
import { metricsRegistry } from '../src/lib/metrics';

const ROOT = resolve(import.meta.dir, '..');
const read = (path: string): Promise<string> => Bun.file(join(ROOT, path)).text();
const RUNBOOK = 'docs/operations.md';

const runbook = await read(RUNBOOK);
const envExample = await read('.env.example');
const envSource = await read('src/config/env.ts');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    return statSync(path).isDirectory() ? sourceFiles(path) : path.endsWith('.ts') ? [path] : [];
  });
}
const srcTexts = await Promise.all(sourceFiles(join(ROOT, 'src')).map((file) => Bun.file(file).text()));

/** The settings the service parses (its env schema's keys) and the ones .env.example documents. */
const ENV_NAMES = new Set([
  ...[...envSource.matchAll(/^ {4}([A-Z][A-Z0-9_]+): /gm)].map((match) => match[1] ?? ''),
  ...[...envExample.matchAll(/^#? ?([A-Z][A-Z0-9_]+)=/gm)].map((match) => match[1] ?? ''),
]);
/** Error codes of the modules' catalogs (`CODE: { status: ... }`): the runbook names some. */
const ERROR_CODES = new Set(srcTexts.flatMap((text) => [...text.matchAll(/\b([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+): \{ status/g)].map((match) => match[1] ?? '')));

// ---- the alert rules -------------------------------------------------------------------------

const ruleSchema = z.object({
  alert: z.string().regex(/^BountyExpo[A-Za-z0-9]+$/),
  expr: z.string().min(1),
  for: z.string().regex(/^\d+[smh]$/),
  labels: z.object({ severity: z.enum(['critical', 'warning']) }).catchall(z.string()),
  annotations: z.object({ summary: z.string().min(1), runbook_url: z.string().startsWith(`${RUNBOOK}#`) }),
});
const alerts = z
  .object({ groups: z.array(z.object({ name: z.string(), rules: z.array(ruleSchema).min(1) })).min(1) })
  .parse(Bun.YAML.parse(await read('ops/prometheus/alerts.yml')));
const rules = alerts.groups.flatMap((group) => group.rules);

const unitTests = z
  .object({
    tests: z.array(
      z.object({
        alert_rule_test: z.array(z.object({ alertname: z.string(), exp_alerts: z.array(z.unknown()).nullish() })),
      }),
    ),
  })
  .parse(Bun.YAML.parse(await read('ops/prometheus/alerts.test.yml')));

/** Series Prometheus makes itself rather than the service. */
const PROMETHEUS_SERIES = new Set(['up']);
const LABEL_LIST = /\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g;

/** The metric names a PromQL expression selects (functions, label lists, strings and ranges removed). */
function metricsIn(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(LABEL_LIST, ' ');
  const names: string[] = [];
  for (const match of bare.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const rest = bare.slice((match.index ?? 0) + match[0].length);
    if (/^\s*\(/.test(rest) || ['and', 'or', 'unless', 'bool', 'offset'].includes(match[0])) continue;
    names.push(match[0]);
  }
  return names;
}

/**
 * Names the service registers: prom-client metrics are declared with their name as a string
 * literal (src/lib/metrics.ts; the per-scrape gauges of src/modules/metrics), so every such
 * literal in those files is a candidate. A histogram's series add _bucket, _count and _sum.
 */
async function registeredMetricNames(): Promise<Set<string>> {
  const files = ['src/lib/metrics.ts', ...sourceFiles(join(ROOT, 'src/modules/metrics')).map((file) => file.slice(ROOT.length + 1))];
  const names = new Set<string>();
  for (const file of files) {
    for (const match of (await read(file)).matchAll(/['"`]([a-z][a-z0-9]*(?:_[a-z0-9]+)+)['"`]/g)) names.add(match[1] ?? '');
  }
  return names;
}
const isRegistered = (registered: ReadonlySet<string>, series: string): boolean =>
  registered.has(series) || registered.has(series.replace(/_(bucket|count|sum)$/, '')) || PROMETHEUS_SERIES.has(series);

const promtool = Bun.which('promtool');

function run(command: string[]): { code: number; output: string } {
  const result = Bun.spawnSync(command, { cwd: ROOT, stdout: 'pipe', stderr: 'pipe' });
  return { code: result.exitCode, output: `${result.stdout.toString()}${result.stderr.toString()}` };
}

describe('Prometheus alert rules (ops/prometheus)', () => {
  test('cover the alerts the runbook promises, each with a severity, a for and a runbook section', () => {
    const names = rules.map((rule) => rule.alert);
    expect(new Set(names).size).toBe(names.length);
    const exprs = rules.map((rule) => rule.expr).join('\n');
    for (const series of [
      'http_request_duration_seconds_count',
      'http_request_duration_seconds_bucket',
      'db_pool_waiting',
      'db_pool_in_use',
      'db_pool_size',
      'db_replica_lag_seconds',
      'db_replica_state',
      'jobs_dead_letters',
      'jobs_queued',
      'ledger_check_balance_mismatches',
      'ledger_check_unbalanced_transactions',
      'ledger_check_last_run_timestamp_seconds',
      'stripe_webhook_events_total',
    ]) {
      expect(exprs).toContain(series);
    }
    // Every rule is in the runbook's table.
    expect(names.filter((name) => !runbook.includes(`\`${name}\``))).toEqual([]);
  });

  test('query only metrics the service registers (src/lib/metrics.ts, src/modules/metrics)', async () => {
    const registered = await registeredMetricNames();
    const used = new Set(rules.flatMap((rule) => metricsIn(rule.expr)));
    expect(used.size).toBeGreaterThan(10);
    expect([...used].filter((series) => !isRegistered(registered, series))).toEqual([]);
  });

  test('the runbook names only metrics the service registers (its own and the default process metrics)', async () => {
    const registered = await registeredMetricNames();
    for (const metric of await metricsRegistry.getMetricsAsJSON()) registered.add(metric.name);
    const named = new Set([...runbook.matchAll(/\b(?:http|db|jobs?|ledger_check|stripe|ws|rate_limit|process|nodejs)_[a-z0-9_]+\b/g)].map((match) => match[0]));
    expect(named.size).toBeGreaterThan(10);
    expect([...named].filter((series) => !isRegistered(registered, series))).toEqual([]);
  });

  test('every alert has a unit test in which it fires', () => {
    const firing = new Set(
      unitTests.tests.flatMap((entry) => entry.alert_rule_test.filter((check) => (check.exp_alerts ?? []).length > 0).map((check) => check.alertname)),
    );
    expect(rules.map((rule) => rule.alert).filter((name) => !firing.has(name))).toEqual([]);
  });

  test.skipIf(!promtool)('promtool check rules accepts the file', () => {
    const { code, output } = run([promtool ?? 'promtool', 'check', 'rules', 'ops/prometheus/alerts.yml']);
    expect(output).toContain(`SUCCESS: ${rules.length} rules found`);
    expect(code).toBe(0);
  });

  test.skipIf(!promtool)('promtool test rules: each alert fires on its synthetic series and stays quiet on healthy ones', () => {
    const { code, output } = run([promtool ?? 'promtool', 'test', 'rules', 'ops/prometheus/alerts.test.yml']);
    expect(output).toContain('SUCCESS');
    expect(code).toBe(0);
  });

  test.skipIf(!promtool)('promtool check config accepts the scrape example (with its token file in place)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bountyexpo-prometheus-'));
    const config = (await read('ops/prometheus/prometheus.yml')).replaceAll('/etc/prometheus/bountyexpo-metrics-token', join(dir, 'token'));
    expect(config).toContain(join(dir, 'token'));
    writeFileSync(join(dir, 'token'), 'a-metrics-token-of-24-characters\n');
    writeFileSync(join(dir, 'prometheus.yml'), config);
    writeFileSync(join(dir, 'alerts.yml'), await read('ops/prometheus/alerts.yml'));
    const { code, output } = run([promtool ?? 'promtool', 'check', 'config', join(dir, 'prometheus.yml')]);
    expect(output).toContain('is valid prometheus config file syntax');
    expect(code).toBe(0);
  });
});

// ---- the runbook ------------------------------------------------------------------------------

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens. */
const anchor = (heading: string): string =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^a-z0-9 _-]/g, '')
    .replace(/ /g, '-');
const ANCHORS = new Set([...runbook.matchAll(/^#{1,6} (.+)$/gm)].map((match) => anchor(match[1] ?? '')));

describe('docs/operations.md', () => {
  test('names only settings the service has (env.ts, .env.example) and error codes it answers', () => {
    const named = new Set([...runbook.matchAll(/\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b/g)].map((match) => match[0]));
    expect(named.size).toBeGreaterThan(20);
    expect([...named].filter((name) => !ENV_NAMES.has(name) && !ERROR_CODES.has(name))).toEqual([]);
  });

  test('every link to a runbook section lands on a heading (its own links, the alerts, ops/ and compose)', async () => {
    const sources = [
      runbook,
      await read('ops/prometheus/alerts.yml'),
      await read('ops/prometheus/prometheus.yml'),
      await read('ops/nginx/nginx.conf'),
      await read('docker-compose.yml'),
    ];
    const targets = sources.flatMap((text) => [
      ...[...text.matchAll(/docs\/operations\.md#([a-z0-9_-]+)/g)].map((match) => match[1] ?? ''),
      ...[...text.matchAll(/\]\(#([a-z0-9_-]+)\)/g)].map((match) => match[1] ?? ''),
    ]);
    expect(targets.length).toBeGreaterThan(rules.length);
    expect([...new Set(targets)].filter((target) => !ANCHORS.has(target))).toEqual([]);
  });

  test('the README and ARCHITECTURE point to it', async () => {
    for (const file of ['README.md', 'ARCHITECTURE.md']) expect([file, (await read(file)).includes('docs/operations.md')]).toEqual([file, true]);
  });
});

// ---- docker-compose.yml and nginx -------------------------------------------------------------

const serviceSchema = z.object({
  command: z.array(z.string()).optional(),
  environment: z.record(z.string(), z.string()).optional(),
  volumes: z.array(z.string()).optional(),
  stop_grace_period: z.string().optional(),
  healthcheck: z.object({ test: z.array(z.string()) }).optional(),
  networks: z.record(z.string(), z.object({ ipv4_address: z.string() }).nullable()).optional(),
});
const compose = z
  .object({
    services: z.record(z.string(), serviceSchema),
    networks: z.object({ default: z.object({ ipam: z.object({ config: z.array(z.object({ subnet: z.string() })) }) }) }),
  })
  .parse(Bun.YAML.parse(await read('docker-compose.yml')));
const nginx = await read('ops/nginx/nginx.conf');

const runs = (script: string) => Object.entries(compose.services).filter(([, service]) => service.command?.includes(script));
const apiServices = runs('src/index.ts');
const workers = runs('src/worker.ts');
const seconds = (value: string | undefined): number => Number(/^(\d+)s$/.exec(value ?? '')?.[1] ?? 0);

describe('docker-compose.yml (not run in CI: its shape is checked here)', () => {
  test('two API instances without job workers, and a separate worker', () => {
    expect(apiServices.map(([name]) => name)).toEqual(['app1', 'app2']);
    for (const [, service] of apiServices) {
      expect(service.environment?.WORKER_ENABLED).toBe('false');
      expect(service.healthcheck?.test.join(' ')).toContain('/health');
    }
    expect(workers).toHaveLength(1);
    expect(workers[0]?.[1].environment?.WORKER_ENABLED).not.toBe('false');
  });

  test('the instances and the worker share what the runbook says must be shared, in settings the service has', () => {
    const processes = [...apiServices, ...workers, ...runs('scripts/db-migrate.ts')];
    for (const [, service] of processes) {
      expect(Object.keys(service.environment ?? {}).filter((name) => !ENV_NAMES.has(name))).toEqual([]);
    }
    for (const name of ['BETTER_AUTH_SECRET', 'DATABASE_URL', 'DATABASE_REPLICA_URLS', 'STRIPE_SECRET_KEY', 'STRIPE_WEBHOOK_SECRET', 'TRUSTED_PROXIES']) {
      const values = new Set(processes.map(([, service]) => service.environment?.[name]));
      expect([name, values.size]).toEqual([name, 1]);
      expect(values.has(undefined)).toBe(false);
    }
    // The shared local Stripe signs webhooks with the instances' secret.
    expect(compose.services['dev-services']?.environment?.STRIPE_WEBHOOK_SECRET).toBe(apiServices[0]?.[1].environment?.STRIPE_WEBHOOK_SECRET);
  });

  test('only the load balancer is a trusted proxy: its fixed address, inside the network', () => {
    const lb = compose.services.lb;
    const address = lb?.networks?.default?.ipv4_address ?? '';
    expect(apiServices[0]?.[1].environment?.TRUSTED_PROXIES).toBe(address);
    const [subnet = '', prefix = ''] = compose.networks.default.ipam.config[0]?.subnet.split('/') ?? [];
    const network = new BlockList();
    network.addSubnet(subnet, Number(prefix), 'ipv4');
    expect(network.check(address, 'ipv4')).toBe(true);
    expect(lb?.volumes).toContain('./ops/nginx/nginx.conf:/etc/nginx/nginx.conf:ro');
  });

  test('stopping waits longer than the drain (SIGTERM is not cut short by SIGKILL)', () => {
    for (const [name, service] of [...apiServices, ...workers]) {
      const drainS = Number(service.environment?.SHUTDOWN_TIMEOUT_MS ?? 10_000) / 1000;
      expect([name, seconds(service.stop_grace_period) > drainS]).toEqual([name, true]);
    }
  });

  test('nginx balances over exactly the API instances, upgrades /ws/ and replaces X-Forwarded-For', () => {
    const upstream = [...nginx.matchAll(/^\s*server ([a-z0-9-]+):(\d+)\b/gm)].map((match) => `${match[1]}:${match[2]}`);
    expect(upstream).toEqual(apiServices.map(([name, service]) => `${name}:${service.environment?.PORT ?? '3000'}`));
    const ws = /location \/ws\/ \{([^}]*)\}/.exec(nginx)?.[1] ?? '';
    expect(ws).toContain('proxy_set_header Upgrade $http_upgrade;');
    expect(ws).toContain('proxy_set_header Connection $connection_upgrade;');
    // A location with any proxy_set_header inherits none: each must set the client's address.
    for (const location of nginx.matchAll(/location [^{]*\{([^}]*proxy_pass[^}]*)\}/g)) {
      expect(location[1]).toContain('proxy_set_header X-Forwarded-For $remote_addr;');
    }
    expect(nginx).toMatch(/location = \/metrics \{\s*return 404;/);
  });

  test('Prometheus scrapes each instance directly, with the rules the tests above check', async () => {
    const prometheus = z
      .object({ scrape_configs: z.array(z.object({ job_name: z.string(), static_configs: z.array(z.object({ targets: z.array(z.string()) })) })) })
      .parse(Bun.YAML.parse(await read('ops/prometheus/prometheus.yml')));
    const job = prometheus.scrape_configs.find((config) => config.job_name === 'bountyexpo-api');
    expect(job?.static_configs.flatMap((config) => config.targets)).toEqual(apiServices.map(([name]) => `${name}:3000`));
    expect(compose.services.prometheus?.volumes).toEqual([
      './ops/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro',
      './ops/prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro',
    ]);
  });
});
