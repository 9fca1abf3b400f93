import { describe, expect, test } from 'bun:test';
import { ConfigError, parseConfig } from '../src/config/env';

describe('configuration', () => {
  test('defaults match the documented ones', () => {
    const config = parseConfig({});
    expect(config.port).toBe(3000);
    expect(config.database.poolMax).toBe(20);
    expect(config.database.idleTimeoutS).toBe(30);
    expect(config.database.connectTimeoutS).toBe(5);
    expect(config.database.dataDir).toBe('./.data');
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
