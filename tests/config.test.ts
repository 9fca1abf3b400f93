import { describe, expect, test } from 'bun:test';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { authSecretFile, ConfigError, parseConfig } from '../src/config/env';

const withDataDir = (run: (dir: string) => void): void => {
  const dir = mkdtempSync(join(tmpdir(), 'bx-config-'));
  try {
    run(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
};

describe('configuration', () => {
  test('defaults match the documented ones', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bx-config-'));
    const config = parseConfig({ DATA_DIR: dir });
    rmSync(dir, { recursive: true, force: true });
    expect(config.port).toBe(3000);
    expect(config.database.poolMax).toBe(20);
    expect(config.database.idleTimeoutS).toBe(30);
    expect(config.database.connectTimeoutS).toBe(5);
    expect(parseConfig({ BETTER_AUTH_SECRET: 'k'.repeat(32) }).database.dataDir).toBe('./.data');
    expect(config.shutdownTimeoutMs).toBe(10_000);
    expect(config.database.preparedStatements).toBe(true);
    expect(Object.isFrozen(config)).toBe(true);
    expect(parseConfig({ DB_PREPARED_STATEMENTS: 'false' }).database.preparedStatements).toBe(false);
  });

  test('every problem is reported at once, not just the first', () => {
    let caught: unknown;
    try {
      parseConfig({ PORT: 'abc', DB_POOL_MAX: '0', DATABASE_URL: 'mysql://nope', NODE_ENV: 'staging', MIGRATE_REPLICA_WAIT_MS: 'soon' });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const problems = (caught as ConfigError).problems.join('\n');
    for (const name of ['PORT', 'DB_POOL_MAX', 'DATABASE_URL', 'NODE_ENV', 'MIGRATE_REPLICA_WAIT_MS']) expect(problems).toContain(name);
  });

  test('production refuses to start without a real auth secret and database', () => {
    expect(() => parseConfig({ NODE_ENV: 'production' })).toThrow(/BETTER_AUTH_SECRET.*DATABASE_URL|DATABASE_URL.*BETTER_AUTH_SECRET/);
  });

  test('a worker metrics port in production needs METRICS_TOKEN (else every scrape would be refused); outside production it is open', () => {
    const production = {
      NODE_ENV: 'production', DATABASE_URL: 'postgres://p@h:1/db', BETTER_AUTH_SECRET: 'k'.repeat(40), SMTP_URL: 'smtp://mail.example:587',
      STRIPE_SECRET_KEY: 'sk_live_abc', STRIPE_WEBHOOK_SECRET: 'whsec_abc', STRIPE_CONNECT_WEBHOOK_SECRET: 'whsec_def', WORKER_METRICS_PORT: '9464',
    };
    expect(() => parseConfig(production)).toThrow(/METRICS_TOKEN/);
    expect(parseConfig({ ...production, METRICS_TOKEN: 't'.repeat(24) }).metrics).toMatchObject({ workerPort: 9464, openWithoutToken: false });
    expect(parseConfig({ BETTER_AUTH_SECRET: 'k'.repeat(40), WORKER_METRICS_PORT: '9464' }).metrics).toMatchObject({ workerPort: 9464, token: undefined, openWithoutToken: true });
  });

  test('production refuses to start without an SMTP server (the local one is for development); elsewhere push and email go to the local servers', () => {
    const production = {
      NODE_ENV: 'production', DATABASE_URL: 'postgres://p@h:1/db', BETTER_AUTH_SECRET: 'k'.repeat(40),
      STRIPE_SECRET_KEY: 'sk_live_abc', STRIPE_WEBHOOK_SECRET: 'whsec_abc', STRIPE_CONNECT_WEBHOOK_SECRET: 'whsec_def',
    };
    expect(() => parseConfig(production)).toThrow(/SMTP_URL/);
    expect(() => parseConfig({ ...production, SMTP_URL: 'http://mail.example' })).toThrow(/SMTP_URL/);
    const config = parseConfig({ ...production, SMTP_URL: 'smtps://user:pw@mail.example:465' });
    expect(config.notifications).toMatchObject({ localSmtp: false, localExpo: false, expoBaseUrl: null });
    const development = parseConfig({ BETTER_AUTH_SECRET: 'k'.repeat(40) });
    expect(development.notifications).toMatchObject({ localSmtp: true, localExpo: true });
    expect(development.notifications.expoBaseUrl?.href).toBe('http://127.0.0.1:12112/');
    expect(development.notifications.smtpUrl.href).toBe('smtp://127.0.0.1:12025');
  });

  test('production refuses to start without real Stripe keys (the local Stripe server is for development)', () => {
    const production = { NODE_ENV: 'production', DATABASE_URL: 'postgres://p@h:1/db', BETTER_AUTH_SECRET: 'k'.repeat(40), SMTP_URL: 'smtp://mail.example:587' };
    expect(() => parseConfig(production)).toThrow(/STRIPE_SECRET_KEY.*STRIPE_WEBHOOK_SECRET.*STRIPE_CONNECT_WEBHOOK_SECRET/);
    const keys = { STRIPE_WEBHOOK_SECRET: 'whsec_abc', STRIPE_CONNECT_WEBHOOK_SECRET: 'whsec_def' };
    expect(() => parseConfig({ ...production, ...keys, STRIPE_SECRET_KEY: 'not-a-key' })).toThrow(/STRIPE_SECRET_KEY/);
    // The Connect endpoint signs with its own secret: without it payout accounts never update.
    expect(() => parseConfig({ ...production, STRIPE_SECRET_KEY: 'sk_live_abc', STRIPE_WEBHOOK_SECRET: 'whsec_abc' })).toThrow(/STRIPE_CONNECT_WEBHOOK_SECRET/);
    const config = parseConfig({ ...production, ...keys, STRIPE_SECRET_KEY: 'sk_live_abc' });
    expect(config.stripe).toMatchObject({ local: false, liveMode: true, apiBase: null, secretKey: 'sk_live_abc', webhookSecrets: ['whsec_abc', 'whsec_def'] });
    // Outside production without a key: the local server, and a webhook secret derived from the install's own.
    const development = parseConfig({ BETTER_AUTH_SECRET: 'k'.repeat(40) });
    expect(development.stripe.local).toBe(true);
    expect(development.stripe.apiBase?.href).toBe('http://127.0.0.1:12111/');
    expect(development.stripe.webhookSecret).toStartWith('whsec_');
    expect(parseConfig({ BETTER_AUTH_SECRET: 'j'.repeat(40) }).stripe.webhookSecret).not.toBe(development.stripe.webhookSecret);
  });

  // Regression (issue 7, defect 5): NODE_ENV=production started with the repository's public
  // development secret, with which anyone could forge a session for any user id.
  test('production refuses a publicly known or short auth secret', () => {
    const production = { NODE_ENV: 'production', DATABASE_URL: 'postgres://p@h:1/db', STRIPE_SECRET_KEY: 'sk_live_abc', STRIPE_WEBHOOK_SECRET: 'whsec_abc', STRIPE_CONNECT_WEBHOOK_SECRET: 'whsec_def', SMTP_URL: 'smtp://mail.example:587' };
    for (const known of ['dev-only-secret-change-me-0123456789abcdef', 'better-auth-secret-123456789']) {
      expect(() => parseConfig({ ...production, BETTER_AUTH_SECRET: known })).toThrow(/BETTER_AUTH_SECRET/);
    }
    expect(() => parseConfig({ ...production, BETTER_AUTH_SECRET: 'x'.repeat(31) })).toThrow(/BETTER_AUTH_SECRET/);
    expect(parseConfig({ ...production, BETTER_AUTH_SECRET: 'k'.repeat(40) }).auth.secret).toBe('k'.repeat(40));
  });

  test('without a secret, development generates one per data directory and keeps it there', () => {
    withDataDir((first) =>
      withDataDir((second) => {
        const a = parseConfig({ DATA_DIR: first }).auth.secret;
        expect(a.length).toBeGreaterThanOrEqual(32);
        // Kept: the next start (same directory) signs with the same secret, so sessions survive.
        expect(parseConfig({ DATA_DIR: first }).auth.secret).toBe(a);
        expect(readFileSync(authSecretFile(first), 'utf8').trim()).toBe(a);
        expect(statSync(authSecretFile(first)).mode & 0o777).toBe(0o600);
        // No two installs share it.
        expect(parseConfig({ DATA_DIR: second }).auth.secret).not.toBe(a);
      }),
    );
  });

  test('WEB_CONCURRENCY: refused on the embedded database, and the processes\' pools fit DB_POOL_MAX_TOTAL', () => {
    expect(() => parseConfig({ WEB_CONCURRENCY: '2', BETTER_AUTH_SECRET: 'k'.repeat(32) })).toThrow(/WEB_CONCURRENCY.*PGlite is one process/);
    const primary = { DATABASE_URL: 'postgres://p@h:1/db', BETTER_AUTH_SECRET: 'k'.repeat(32) };
    // Per process on the primary: request pool + Better-Auth pool + one probe connection + the bus's two.
    const perProcess = (config: ReturnType<typeof parseConfig>) => config.database.poolMax + config.database.authPoolMax + 3;
    for (const [processes, total] of [['1', '100'], ['2', '100'], ['4', '60'], ['8', '40']] as const) {
      const config = parseConfig({ ...primary, WEB_CONCURRENCY: processes, DB_POOL_MAX_TOTAL: total });
      expect(config.database.poolMax).toBeGreaterThanOrEqual(1);
      expect(Number(processes) * perProcess(config)).toBeLessThanOrEqual(Number(total));
    }
    expect(parseConfig({ ...primary }).database.poolMax).toBe(20);
    expect(() => parseConfig({ ...primary, WEB_CONCURRENCY: '8', DB_POOL_MAX_TOTAL: '16' })).toThrow(/DB_POOL_MAX_TOTAL/);
    expect(() => parseConfig({ ...primary, WEB_CONCURRENCY: '8', DB_POOL_MAX_TOTAL: '32' })).toThrow(/at least 5 connections on the primary/);
  });

  test('TRUSTED_PROXIES accepts IPs and CIDR blocks and refuses anything else at start-up', () => {
    expect(parseConfig({ TRUSTED_PROXIES: '10.0.0.0/8, 127.0.0.1, ::1' }).auth.trustedProxies).toEqual(['10.0.0.0/8', '127.0.0.1', '::1']);
    // Regression: a /33 passed config and then made every forwarded request a 500.
    expect(() => parseConfig({ TRUSTED_PROXIES: '10.0.0.0/33' })).toThrow(/TRUSTED_PROXIES/);
    expect(() => parseConfig({ TRUSTED_PROXIES: 'proxy.internal' })).toThrow(/TRUSTED_PROXIES/);
  });

  test('replica URLs are a comma-separated list', () => {
    const config = parseConfig({
      DATABASE_URL: 'postgres://p@h:1/db',
      DATABASE_REPLICA_URLS: 'postgres://r1@h:2/db, postgres://r2@h:3/db',
    });
    expect(config.database.replicaUrls).toEqual(['postgres://r1@h:2/db', 'postgres://r2@h:3/db']);
  });

  test("the bus listens through DATABASE_LISTEN_URL when set (a pooler in transaction mode cannot hold LISTEN), else DATABASE_URL", () => {
    expect(parseConfig({ DATABASE_URL: 'postgres://p@pgbouncer:6432/db' }).database.listenUrl).toBe('postgres://p@pgbouncer:6432/db');
    const pooled = parseConfig({ DATABASE_URL: 'postgres://p@pgbouncer:6432/db', DATABASE_LISTEN_URL: 'postgres://p@primary:5432/db' });
    expect([pooled.database.primaryUrl, pooled.database.listenUrl]).toEqual(['postgres://p@pgbouncer:6432/db', 'postgres://p@primary:5432/db']);
    expect(() => parseConfig({ DATABASE_LISTEN_URL: 'postgres://p@primary:5432/db' })).toThrow(/DATABASE_LISTEN_URL needs DATABASE_URL/);
  });

  test('the service stops at start-up with one message listing every bad variable', async () => {
    // --no-env-file: a developer's .env (e.g. a dev cluster's URLs) must not leak into the child.
    const child = Bun.spawn(['bun', '--no-env-file', 'src/index.ts'], {
      env: { PATH: process.env.PATH ?? '', PORT: 'not-a-port', DB_POOL_MAX: '-1' },
      stdout: 'pipe',
      stderr: 'pipe',
    });
    const [code, stderr] = await Promise.all([child.exited, new Response(child.stderr).text()]);
    expect(code).not.toBe(0);
    const lines = stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('PORT');
    expect(lines[0]).toContain('DB_POOL_MAX');
  });
});
