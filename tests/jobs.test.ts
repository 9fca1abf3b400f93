/**
 * The job queue (pg-boss over our pools) on the real primary + replica, in a database of this
 * file's own (so pg_stat_activity there shows only this file's connections) with a pg-boss schema
 * of its own: transactional enqueueing, retries with backoff into dead letters, payload checks,
 * startAfter, no connection of pg-boss's own, and the adapter's parameter conversions.
 * The slow cases run concurrently: the whole file takes a few seconds.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { z } from 'zod';
import { DatabaseCluster, DatabaseUsageError } from '../src/db';
import { type AnyJobDefinition, deadLetterQueueOf, defineJob, executeSqlOn, JobPayloadError, JobQueue, toDriverParameters } from '../src/jobs';
import { createLogger } from '../src/lib/logger';
import { clusterEnv, hasCluster, testConfig, withDatabase } from './support/harness';
import { captureLogs, LOG_LEVELS } from './support/logs';
import { waitFor } from './support/wait';

const suffix = randomUUID().replaceAll('-', '').slice(0, 10);
const DATABASE_NAME = `bx_jobs_${suffix}`;
const SCHEMA = `pgboss_test_${suffix}`;

const runs = new Map<string, number>();
const flakyAttempts: Array<{ at: number; retryCount: number }> = [];
const strictCalls: number[] = [];
const laterRuns = new Map<string, number>();

const txJob = defineJob({
  name: 'test.tx',
  payload: z.object({ marker: z.string() }),
  retryLimit: 0,
  retryDelaySeconds: 0,
  retryBackoff: false,
  expireInSeconds: 10,
  async handler({ marker }) {
    runs.set(marker, (runs.get(marker) ?? 0) + 1);
  },
});

const flakyJob = defineJob({
  name: 'test.flaky',
  payload: z.object({ attempt: z.literal('always fails') }),
  retryLimit: 2,
  retryDelaySeconds: 1,
  retryBackoff: true,
  // Caps the second retry's delay (nominally 2-4 s) at 2 s: still twice the first's floor.
  retryDelayMaxSeconds: 2,
  expireInSeconds: 10,
  deadLetter: true,
  async handler(_payload, { retryCount }) {
    flakyAttempts.push({ at: Date.now(), retryCount });
    throw new Error('the payment provider is down');
  },
});

const strictSchema = z.object({ amount: z.number().int().positive() });
const strictJob = defineJob({
  name: 'test.strict',
  payload: strictSchema,
  retryLimit: 3,
  retryDelaySeconds: 0,
  retryBackoff: false,
  expireInSeconds: 10,
  deadLetter: true,
  async handler({ amount }) {
    strictCalls.push(amount);
  },
});

const deadHookCalls: string[] = [];
/** Outlives its expiry: its last attempt ends by the queue's clock, never by a throw. */
const hangingJob = defineJob({
  name: 'test.hangs',
  payload: z.object({ marker: z.string() }),
  retryLimit: 0,
  retryDelaySeconds: 0,
  retryBackoff: false,
  expireInSeconds: 1,
  deadLetter: true,
  async handler() {
    await Bun.sleep(2_500);
  },
  async onDeadLetter({ marker }) {
    deadHookCalls.push(marker);
  },
});

const laterJob = defineJob({
  name: 'test.later',
  payload: z.object({ marker: z.string() }),
  retryLimit: 0,
  retryDelaySeconds: 0,
  retryBackoff: false,
  expireInSeconds: 10,
  async handler({ marker }) {
    laterRuns.set(marker, Date.now());
  },
});

describe.skipIf(!hasCluster)('the job queue', () => {
  const { logger, lines } = captureLogs('info');
  let admin: DatabaseCluster;
  let database: DatabaseCluster;
  let queue: JobQueue;

  beforeAll(async () => {
    const quiet = createLogger({ level: 'silent' });
    admin = await DatabaseCluster.open(testConfig().database, quiet);
    await admin.primary.execute(sql.raw(`create database ${DATABASE_NAME}`));
    // The replica pools connect to it too: it must exist there first.
    const lsn = await admin.currentWalInsertLsn();
    if (lsn !== null) await admin.waitForReplicas(lsn, 10_000);
    const replicaUrls = (clusterEnv.replicaUrls ?? '').split(',').filter(Boolean);
    const config = testConfig({
      DATABASE_URL: withDatabase(clusterEnv.databaseUrl ?? '', DATABASE_NAME),
      DATABASE_REPLICA_URLS: replicaUrls.map((url) => withDatabase(url, DATABASE_NAME)).join(','),
    });
    database = await DatabaseCluster.open(config.database, logger);
    queue = JobQueue.create({ database, logger, schema: SCHEMA, pollingIntervalSeconds: 0.5 });
    // Typed as src/job-definitions.ts holds them: definitions of different payloads in one list.
    const definitions: readonly AnyJobDefinition[] = [txJob, flakyJob, strictJob, laterJob, hangingJob];
    for (const definition of definitions) queue.define(definition);
    await queue.start({ work: true });
  });

  afterAll(async () => {
    await queue?.stop({ timeoutMs: 2_000 });
    await database?.close();
    // The pg-boss schema goes with the database.
    await admin?.primary.execute(sql.raw(`drop database if exists ${DATABASE_NAME} with (force)`));
    await admin?.close();
  });

  test('a job sent in a transaction that rolls back does not exist; one whose transaction commits runs once', async () => {
    let rolledBackId: string | null = null;
    const failure = await database
      .runTransaction(async (tx) => {
        rolledBackId = await queue.send(txJob, { marker: 'rolled-back' }, { tx });
        throw new Error('the rest of the work failed');
      })
      .catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(Error);
    expect(rolledBackId).toBeString();

    const committedId = await database.runTransaction((tx) => queue.send(txJob, { marker: 'committed' }, { tx }));
    expect(committedId).toBeString();
    const done = await queue.waitForJob(txJob.name, committedId ?? '');
    expect(done.state).toBe('completed');
    // Another polling round or two: it still ran exactly once.
    await Bun.sleep(1_200);
    expect(runs.get('committed')).toBe(1);
    expect(await queue.findJob(txJob.name, rolledBackId ?? '')).toBeNull();
    expect(runs.has('rolled-back')).toBe(false);
  });

  test('send() without { tx } inside a transaction callback is refused: the job would not share its fate', async () => {
    const refused = await database
      .runTransaction(() => queue.send(txJob, { marker: 'outside' }))
      .catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(DatabaseUsageError);
  });

  // Regression (issue 11 review): a push or email whose last attempt expired (rather than threw)
  // stayed `pending` forever; the dead letter hook is where such a subject is marked failed.
  test.concurrent('a job whose last attempt expires reaches its dead letter hook, once', async () => {
    const marker = crypto.randomUUID();
    await queue.send(hangingJob, { marker });
    await waitFor('the dead letter hook', () => deadHookCalls.includes(marker), 12_000);
    await Bun.sleep(500);
    expect(deadHookCalls.filter((call) => call === marker)).toHaveLength(1);
  }, 15_000);

  test.concurrent('a failing job is retried with growing delays, then lands in its dead letter queue, logged at error level', async () => {
    const id = await queue.send(flakyJob, { attempt: 'always fails' });
    expect(id).toBeString();
    const failed = await queue.waitForJob(flakyJob.name, id ?? '', { timeoutMs: 9_000 });
    expect(failed.state).toBe('failed');
    expect(failed.retryCount).toBe(2);
    expect(flakyAttempts.map((attempt) => attempt.retryCount)).toEqual([0, 1, 2]);
    const [first, second, third] = flakyAttempts.map((attempt) => attempt.at);
    // Backoff: 1-2 s before the first retry, then the capped 2 s (a fixed delay would be 1 s twice).
    expect((second ?? 0) - (first ?? 0)).toBeGreaterThanOrEqual(950);
    expect((third ?? 0) - (second ?? 0)).toBeGreaterThanOrEqual(1_950);

    const deadLetter = await waitFor('the dead letter', async () =>
      (await queue.findJobs(deadLetterQueueOf(flakyJob.name))).find((job) => job.sourceId === id),
    );
    expect(deadLetter.sourceName).toBe(flakyJob.name);
    expect(deadLetter.data).toEqual({ attempt: 'always fails' });
    const logged = await waitFor('the dead letter log line', () =>
      lines.find((line) => line.msg?.startsWith('job dead-lettered') && line.jobId === id),
    );
    expect(logged.level).toBe(LOG_LEVELS.error);
    expect(logged.queue).toBe(flakyJob.name);
    // The last attempt's failure was an error too; the earlier ones warnings (they were retried).
    const attemptLines = lines.filter((line) => line.jobId === id && line.queue === flakyJob.name && line.msg?.startsWith('job failed'));
    expect(attemptLines.map((line) => line.level)).toEqual([LOG_LEVELS.warn, LOG_LEVELS.warn, LOG_LEVELS.error]);
  }, 15_000);

  test.concurrent('a payload its schema refuses fails at once, never retried, and send() refuses one itself', async () => {
    await expect(queue.send(strictJob, { amount: -5 })).rejects.toBeInstanceOf(JobPayloadError);

    // An older producer (before a deploy tightened the schema) enqueued what this version refuses.
    const legacy = JobQueue.create({ database, logger: createLogger({ level: 'silent' }), schema: SCHEMA });
    legacy.define({ ...strictJob, payload: z.object({ amount: z.number() }), handler: undefined });
    const id = await legacy.send(strictJob.name, { amount: 2.5 });
    await legacy.stop();

    const failed = await queue.waitForJob(strictJob.name, id ?? '');
    expect(failed.state).toBe('failed');
    expect(failed.retryCount).toBe(0);
    expect(failed.output).toMatchObject({ error: 'INVALID_PAYLOAD' });
    expect(strictCalls).toEqual([]);
    const logged = lines.find((line) => line.jobId === id && line.msg === 'job payload is invalid: failed without retrying');
    expect(logged?.level).toBe(LOG_LEVELS.error);
    // Nothing is lost: it waits in the dead letters for a fix.
    await waitFor('the dead letter', async () => (await queue.findJobs(deadLetterQueueOf(strictJob.name))).some((job) => job.sourceId === id));
    // Still failed, still not retried, a polling round later.
    await Bun.sleep(700);
    expect((await queue.findJob(strictJob.name, id ?? ''))?.retryCount).toBe(0);
    expect(strictCalls).toEqual([]);
  });

  test.concurrent('startAfter holds a job back until its time', async () => {
    const startAfter = new Date(Date.now() + 1_500);
    const id = await queue.send(laterJob, { marker: 'later' }, { startAfter });
    const waiting = await queue.findJob(laterJob.name, id ?? '');
    expect(waiting?.state).toBe('created');
    expect(Math.abs((waiting?.startAfter.getTime() ?? 0) - startAfter.getTime())).toBeLessThan(5);
    // Two polling rounds before its time: not fetched.
    await Bun.sleep(1_000);
    expect(laterRuns.has('later')).toBe(false);
    expect((await queue.findJob(laterJob.name, id ?? ''))?.state).toBe('created');
    const done = await queue.waitForJob(laterJob.name, id ?? '', { timeoutMs: 5_000 });
    expect(done.state).toBe('completed');
    expect(laterRuns.get('later')).toBeGreaterThanOrEqual(startAfter.getTime() - 20);

    // Seconds from now work too.
    const soonId = await queue.send(laterJob, { marker: 'in-a-second' }, { startAfter: 1 });
    expect((await queue.findJob(laterJob.name, soonId ?? ''))?.startAfter.getTime()).toBeGreaterThan(Date.now() + 200);
  });

  test.concurrent('while the queue works, only our pools are connected: pg-boss opened none of its own', async () => {
    const check = executeSqlOn(database.primary);
    // pg-boss's own statements (its worker polls name the schema) ran on our primary pool...
    const names = z.array(z.object({ application_name: z.string() }));
    const bossConnections = await waitFor('a connection whose last statement was pg-boss polling', async () => {
      const { rows } = await check.executeSql(
        `select distinct application_name from pg_stat_activity
          where datname = current_database() and pid <> pg_backend_pid() and position($1 in query) > 0`,
        [`${SCHEMA}.`],
      );
      const parsed = names.parse(rows);
      return parsed.length > 0 ? parsed : null;
    });
    expect(bossConnections.map((row) => row.application_name)).toEqual(['bountyexpo-primary']);
    // ...and nothing else is connected to this database: no pool named pgboss or pg's default.
    const { rows } = await check.executeSql(
      `select distinct application_name from pg_stat_activity where datname = current_database() and backend_type = 'client backend'`,
    );
    const connected = names.parse(rows).map((row) => row.application_name);
    expect(connected).toContain('bountyexpo-primary');
    for (const name of connected) expect(name).toStartWith('bountyexpo-');
  });

  test('the adapter hands postgres-js a Date as ISO text and an object as JSON (a round trip)', async () => {
    const at = new Date('2026-03-04T05:06:07.089Z');
    const document = { amount: 1250, currency: 'usd', nested: { ok: true }, list: [1, 2] };
    const roundTrip = async (execute: ReturnType<typeof executeSqlOn>) => {
      const { rows } = await execute.executeSql(
        'select $1::timestamptz as at, $2::jsonb as document, $3::text[] as tags, $4::jsonb as list, $5::int as missing',
        [at, document, ['a', 'b'], [1, 'two'], undefined],
      );
      const row = z
        .object({ at: z.union([z.string(), z.date()]), document: z.unknown(), tags: z.array(z.string()), list: z.unknown(), missing: z.null() })
        .parse(rows[0]);
      expect(new Date(row.at).getTime()).toBe(at.getTime());
      expect(row.document).toEqual(document);
      expect(row.tags).toEqual(['a', 'b']);
      expect(row.list).toEqual([1, 'two']);
    };
    await roundTrip(executeSqlOn(database.primary));
    await database.runTransaction((tx) => roundTrip(executeSqlOn(tx)));
  });

  test("the adapter runs pg-boss's BEGIN ... COMMIT scripts, and one that fails leaves no connection in an aborted transaction", async () => {
    const execute = executeSqlOn(database.primary);
    expect((await execute.executeSql('\n  BEGIN;\n  SELECT 1 AS a;\n  SELECT 2 AS b;\n  COMMIT;\n')).rows).toEqual([{ a: 1 }, { b: 2 }]);
    await expect(execute.executeSql('BEGIN; SELECT 1 / 0; COMMIT;')).rejects.toThrow('division by zero');
    const { rows } = await execute.executeSql(
      `select count(*)::int as aborted from pg_stat_activity where datname = current_database() and state = 'idle in transaction (aborted)'`,
    );
    expect(rows).toEqual([{ aborted: 0 }]);
    // Inside a caller's transaction a script's COMMIT would end it: refused.
    await expect(database.runTransaction((tx) => executeSqlOn(tx).executeSql('BEGIN; SELECT 1; COMMIT;'))).rejects.toThrow('cannot run inside a transaction');
  });
});

describe('the adapter parameters', () => {
  test('Date -> ISO text, object -> JSON, undefined -> null; an array stays one only where pg-boss casts it to an array type', () => {
    const at = new Date('2026-01-02T03:04:05.006Z');
    expect(
      toDriverParameters('insert into t values ($1, $2::jsonb, $3, $4::uuid[], $5, $6::text[], $7)', [
        at,
        { a: [1, { b: at }] },
        undefined,
        ['3f1c', '9a2b'],
        [1, 2],
        [at, 'x'],
        'plain',
      ]),
    ).toEqual([at.toISOString(), '{"a":[1,{"b":"2026-01-02T03:04:05.006Z"}]}', null, ['3f1c', '9a2b'], '[1,2]', [at.toISOString(), 'x'], 'plain']);
    expect(toDriverParameters('select $1, $2, $3', [7, true, null])).toEqual([7, true, null]);
    // $10 is not $1 followed by a cast-less 0.
    expect(toDriverParameters('select $10::int[]', Array.from({ length: 10 }, (_, index) => [index]))[9]).toEqual([9]);
  });
});
