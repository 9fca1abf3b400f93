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
    expect(Object.isFrozen(config)).toBe(true);
  });

  test('every problem is reported at once, not just the first', () => {
    let caught: unknown;
    try {
      parseConfig({ PORT: 'abc', DB_POOL_MAX: '0', DATABASE_URL: 'mysql://nope', NODE_ENV: 'staging' });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const problems = (caught as ConfigError).problems.join('\n');
    for (const name of ['PORT', 'DB_POOL_MAX', 'DATABASE_URL', 'NODE_ENV']) expect(problems).toContain(name);
  });

  test('production refuses to start without a real auth secret and database', () => {
    expect(() => parseConfig({ NODE_ENV: 'production' })).toThrow(/BETTER_AUTH_SECRET.*DATABASE_URL|DATABASE_URL.*BETTER_AUTH_SECRET/);
  });

  test('replica URLs are a comma-separated list', () => {
    const config = parseConfig({
      DATABASE_URL: 'postgres://p@h:1/db',
      DATABASE_REPLICA_URLS: 'postgres://r1@h:2/db, postgres://r2@h:3/db',
    });
    expect(config.database.replicaUrls).toEqual(['postgres://r1@h:2/db', 'postgres://r2@h:3/db']);
  });

  test('the service stops at start-up with one message listing every bad variable', async () => {
    const child = Bun.spawn(['bun', 'src/index.ts'], {
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
