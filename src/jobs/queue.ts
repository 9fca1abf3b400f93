/**
 * The one job queue: pg-boss over the cluster's primary handle (no pool of its own, see
 * adapter.ts). A job type is a definition (name, zod payload, retries, expiry, dead letters, cron);
 * its handler gets the validated payload. pg-boss brings retries with backoff, `startAfter`,
 * singleton keys, and cron that fires once per cluster; its maintenance and monitoring run on
 * every instance and coordinate through its own advisory locks.
 */
import { type SQL, sql } from 'drizzle-orm';
import { PgBoss, type JobResult, type JobWithMetadata, type SendOptions } from 'pg-boss';
import { z } from 'zod';
import { type Database, type DatabaseCluster, selectRows, type Transaction } from '../db';
import { type Logger, serializeError } from '../lib/logger';
import { SpanKind, SpanStatusCode, tracingActive, withSpan } from '../lib/telemetry';
import { jobFailures } from '../lib/metrics';
import { executeSqlOn } from './adapter';

export type JobContext = {
  jobId: string;
  /** 0 on the first attempt; the last attempt has retryCount === retryLimit. */
  retryCount: number;
  retryLimit: number;
  /** Aborted when the job runs past expireInSeconds or the queue shuts down: stop then. */
  signal: AbortSignal;
  database: DatabaseCluster;
  /** The queue itself: a handler enqueues follow-up jobs (with `{ tx }`: in its own transaction). */
  jobs: Pick<JobQueue, 'send' | 'findJob'>;
  /** The queue's logger with the job's queue, id and attempt. */
  logger: Logger;
};

export interface JobDefinition<T extends object> {
  /** pg-boss queue name: letters, digits, `_ - . /`; `<name>.dead` is taken by its dead letters. */
  readonly name: string;
  /** Checked when a job is sent and again before its handler runs. */
  readonly payload: z.ZodType<T>;
  /** Retries after the first attempt. */
  readonly retryLimit: number;
  readonly retryDelaySeconds: number;
  /** Doubles the delay per retry (with jitter), capped by retryDelayMaxSeconds when given. */
  readonly retryBackoff: boolean;
  readonly retryDelayMaxSeconds?: number;
  /** An attempt running longer fails (its signal is aborted) and counts as a retry. */
  readonly expireInSeconds: number;
  /** Jobs that fail for good are copied to `<name>.dead` and logged at error level there. */
  readonly deadLetter?: true;
  /** A cron expression (UTC); each occurrence sends one job with the payload `{}`, once per cluster. */
  readonly cron?: string;
  /** Jobs fetched per poll and run concurrently; default 1. */
  readonly batchSize?: number;
  /** Absent: the job is only sent from this process, never worked here. A method: payload types vary. */
  handler?(payload: T, context: JobContext): Promise<void>;
  /**
   * Runs once per dead letter of this job (after it is logged), however the last attempt ended
   * (thrown, expired, its worker gone): where the job's subject must be marked failed for good.
   */
  onDeadLetter?(payload: T, context: Pick<JobContext, 'database' | 'logger'>): Promise<void>;
}

/** Any definition, as lists of them hold it (src/job-definitions.ts). */
export type AnyJobDefinition = JobDefinition<object>;

/** A job's retry timing as a process may override it (tests shorten it). */
export type RetryTiming = Pick<AnyJobDefinition, 'retryDelaySeconds' | 'retryLimit'> & { expireInSeconds?: number };

/**
 * The policy of a job that must eventually succeed (money): retried with backoff (from `timing`,
 * else `defaults`) up to an hour apart, an attempt bounded by `expireInSeconds`, and a dead letter
 * past the last retry.
 */
export const persistentRetry = (defaults: Required<RetryTiming>, timing?: RetryTiming) => ({
  retryLimit: timing?.retryLimit ?? defaults.retryLimit,
  retryDelaySeconds: timing?.retryDelaySeconds ?? defaults.retryDelaySeconds,
  retryBackoff: true,
  retryDelayMaxSeconds: 3_600,
  expireInSeconds: timing?.expireInSeconds ?? defaults.expireInSeconds,
  deadLetter: true as const,
});

/** Types a definition where it is written (a module's jobs file). */
export const defineJob = <T extends object>(definition: JobDefinition<T>): JobDefinition<T> => definition;

export type SendJobOptions = {
  /** Send inside this transaction: the job exists only if it commits. */
  tx?: Transaction;
  /** Not before this time (a Date) or this many seconds from now. */
  startAfter?: Date | number;
  /** pg-boss's singleton key: a job with the same key already waiting makes send() return null. */
  singletonKey?: string;
  /** A UUID of the caller's choosing (idempotent sends). */
  id?: string;
  /** Higher runs first among waiting jobs of its queue (pg-boss: priority desc, then age); default 0. */
  priority?: number;
};

export type JobState = 'created' | 'retry' | 'active' | 'completed' | 'cancelled' | 'failed';

/** A job as the database holds it (tests and operators). */
export type JobSnapshot = {
  id: string;
  name: string;
  state: JobState;
  retryCount: number;
  data: unknown;
  output: unknown;
  createdOn: Date;
  startAfter: Date;
  completedOn: Date | null;
  /** For a dead letter: the queue and job it came from. */
  sourceName: string | null;
  sourceId: string | null;
};

/**
 * A job that failed for good, as its dead-letter queue (`<name>.dead`) holds it: pg-boss copies
 * the failed job there with its payload and stamps where it came from (queue, id, attempts, the
 * output it ended with, usually the error).
 */
export type DeadLetter = {
  /** The dead letter's own id, in `queue`. */
  id: string;
  queue: string;
  /** `completed` once this process logged it and ran the job's dead-letter hook. */
  state: JobState;
  sourceName: string;
  sourceId: string | null;
  data: unknown;
  sourceOutput: unknown;
  /** Retries the failed job used (its attempts were one more). */
  sourceRetryCount: number | null;
  sourceCreatedOn: Date | null;
  /** When it was dead-lettered. */
  createdOn: Date;
  /** `createdOn` as PostgreSQL writes it (microseconds), for keyset cursors. */
  createdOnText: string;
};

const JOB_STATES = ['created', 'retry', 'active', 'completed', 'cancelled', 'failed'] as const satisfies readonly JobState[];

/** A job type's backlog right now (metrics and /debug). */
export type QueueDepth = {
  queue: string;
  /** Waiting to run: created or awaiting a retry, those scheduled for later included. */
  queued: number;
  /** Being worked now. */
  active: number;
  /** In its dead-letter queue (`<name>.dead`), logged or not; 0 for a job without dead letters. */
  deadLetters: number;
};

const depthRow = z.object({ name: z.string(), queued: z.coerce.number(), active: z.coerce.number(), total: z.coerce.number() });


const deadLetterRow = z.object({
  id: z.string(),
  name: z.string(),
  state: z.enum(JOB_STATES),
  data: z.unknown(),
  source_name: z.string().nullable(),
  source_id: z.string().nullable(),
  source_output: z.unknown(),
  source_retry_count: z.coerce.number().nullable(),
  source_created_on_text: z.string().nullable(),
  created_on_text: z.string(),
});

const toDeadLetter = (row: z.infer<typeof deadLetterRow>): DeadLetter => ({
  id: row.id,
  queue: row.name,
  state: row.state,
  // A dead-letter queue of ours only holds copies: the source is its queue's job when unstamped.
  sourceName: row.source_name ?? row.name.slice(0, -DEAD_LETTER_SUFFIX.length),
  sourceId: row.source_id,
  data: row.data,
  sourceOutput: row.source_output ?? null,
  sourceRetryCount: row.source_retry_count,
  sourceCreatedOn: row.source_created_on_text === null ? null : new Date(row.source_created_on_text),
  createdOn: new Date(row.created_on_text),
  createdOnText: row.created_on_text,
});

export type JobQueueOptions = {
  database: DatabaseCluster;
  logger: Logger;
  /** pg-boss's schema; each test file uses one of its own. */
  schema?: string;
  /** How often an idle worker asks for jobs (pg-boss's minimum is 0.5). */
  pollingIntervalSeconds?: number;
  /** This process in pg-boss's instance registry (`getInstances()`). */
  instanceName?: string;
  /**
   * How often pg-boss looks for expired jobs (a worker that died mid-job: its job is retried once
   * expired). pg-boss's default, 60 s, suits production; tests of a killed worker use 1.
   */
  superviseIntervalSeconds?: number;
};

export class JobPayloadError extends Error {
  override name = 'JobPayloadError';
  constructor(
    readonly queue: string,
    readonly issues: Array<{ path: string; message: string }>,
  ) {
    super(`invalid payload for job ${queue}: ${issues.map((issue) => `${issue.path || '(root)'} ${issue.message}`).join('; ')}`);
  }
}

export const DEFAULT_SCHEMA = 'pgboss';
const DEFAULT_POLLING_INTERVAL_S = 2;
const DEAD_LETTER_SUFFIX = '.dead';
/** A dead letter stays until an operator removes it: completed (logged) ones are never deleted. */
const DEAD_LETTER_QUEUE = { retryLimit: 0, deleteAfterSeconds: 0, retentionSeconds: 365 * 24 * 3600 } as const;
const DEAD_LETTER_BATCH = 10;
const DEFAULT_STOP_TIMEOUT_MS = 10_000;
/** pg-boss's stop() is bounded by its timeout; ours also covers a stop stuck behind a dead database. */
const STOP_SLACK_MS = 2_000;
const DEFAULT_START_RETRY_MS = 5_000;
const QUEUE_NAME = /^[\w.\-/]+$/;

export const deadLetterQueueOf = (name: string): string => `${name}${DEAD_LETTER_SUFFIX}`;

/**
 * What a dead letter's row is read as: timestamps also as PostgreSQL's text (microseconds kept,
 * whatever the driver parses), under names of their own so ORDER BY created_on is the column.
 */
const DEAD_LETTER_COLUMNS = sql.raw(
  'id, name, state, data, source_name, source_id, source_output, source_retry_count, created_on, ' +
    'source_created_on::text as source_created_on_text, created_on::text as created_on_text',
);

const issuesOf = (error: z.ZodError): Array<{ path: string; message: string }> =>
  error.issues.map((issue) => ({ path: issue.path.map(String).join('.'), message: issue.message }));

export class JobQueue {
  private readonly definitions = new Map<string, AnyJobDefinition>();
  /** Queues this process works already (a start retried after a partial failure adds no second worker). */
  private readonly working = new Set<string>();
  private readonly pollingIntervalSeconds: number;
  private stopping = false;
  /** Once pg-boss's job table is seen it stays (dead-letter reads stop asking). */
  private jobTablePresent = false;
  private wakeRetry: (() => void) | null = null;

  private constructor(
    private readonly boss: PgBoss,
    private readonly database: DatabaseCluster,
    private readonly logger: Logger,
    private readonly schema: string,
    pollingIntervalSeconds: number,
  ) {
    this.pollingIntervalSeconds = pollingIntervalSeconds;
    // pg-boss reports background failures (a poll during an outage, maintenance) as events; an
    // `error` nobody listens for would end the process.
    boss.on('error', (error) => logger.error({ err: error }, 'job queue error'));
    boss.on('warning', (warning) => logger.warn({ warning: warning.data }, `job queue: ${warning.message}`));
  }

  /** Opens nothing: pg-boss runs its SQL on the cluster's primary pool from start() on. */
  static create(options: JobQueueOptions): JobQueue {
    const logger = options.logger.child({ component: 'jobs' });
    const schema = options.schema ?? DEFAULT_SCHEMA;
    const boss = new PgBoss({
      db: executeSqlOn(options.database.primary),
      schema,
      // PGlite is one connection: pg-boss must not expect SKIP LOCKED to skip anything there.
      backend: options.database.mode === 'embedded' ? 'pglite' : 'postgres',
      migrate: true,
      supervise: true,
      schedule: true,
      // pg-boss's own spans (send: PRODUCER, process: CONSUMER) when traced, the sender's trace
      // context stored on the job (W3C traceparent, the propagator src/lib/telemetry.ts registers)
      // so its processing continues the request's trace. Off: not even no-op spans.
      openTelemetry: { enabled: tracingActive(), propagateContext: true },
      ...(options.instanceName ? { instanceName: options.instanceName } : {}),
      ...(options.superviseIntervalSeconds
        ? { superviseIntervalSeconds: options.superviseIntervalSeconds, monitorIntervalSeconds: options.superviseIntervalSeconds }
        : {}),
    });
    return new JobQueue(boss, options.database, logger, schema, options.pollingIntervalSeconds ?? DEFAULT_POLLING_INTERVAL_S);
  }

  /** Registers a job type; start() creates its queue (and works it, when asked to). */
  define<T extends object>(definition: JobDefinition<T>): JobDefinition<T> {
    const { name } = definition;
    if (!QUEUE_NAME.test(name) || name.endsWith(DEAD_LETTER_SUFFIX)) throw new Error(`invalid job name: ${name}`);
    if (this.definitions.has(name)) throw new Error(`job ${name} is defined twice`);
    // A cron occurrence sends `{}`: a schema refusing it would fail every occurrence.
    if (definition.cron !== undefined && !definition.payload.safeParse({}).success) {
      throw new Error(`job ${name} has a cron, so its payload schema must accept {}`);
    }
    this.definitions.set(name, definition);
    return definition;
  }

  /**
   * Creates or migrates pg-boss's schema (first start), creates (or updates) every defined queue
   * and its dead letters, syncs cron schedules, and with `work` runs the handlers here.
   */
  async start({ work }: { work: boolean }): Promise<void> {
    if (this.stopping) throw new Error('the job queue is stopping');
    await this.boss.start();
    for (const definition of this.definitions.values()) {
      await this.createQueues(definition);
      // Schedules live in the database: one removed from the code is removed there too.
      if (definition.cron !== undefined) await this.boss.schedule(definition.name, definition.cron, {}, { tz: 'UTC' });
      else await this.boss.unschedule(definition.name);
    }
    if (work) for (const definition of this.definitions.values()) await this.work(definition);
    this.logger.info({ schema: this.schema, queues: [...this.definitions.keys()], working: [...this.working] }, 'job queue started');
  }

  /**
   * start(), tried again every `retryMs` until it succeeds or stop() is called: a primary that is
   * down when a process starts must not keep it from serving (replica reads go on meanwhile).
   * Resolves true once started, false when stopped first.
   */
  async startWithRetry(options: { work: boolean; retryMs?: number }): Promise<boolean> {
    while (!this.stopping) {
      try {
        await this.start(options);
        return true;
      } catch (error) {
        if (this.stopping) break;
        this.logger.error({ err: error }, 'the job queue could not start: trying again');
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, options.retryMs ?? DEFAULT_START_RETRY_MS);
          this.wakeRetry = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wakeRetry = null;
      }
    }
    return false;
  }

  /**
   * Enqueues a job after checking its payload (JobPayloadError: a caller's bug, never retried).
   * Resolves with the job's id, or null when a singleton key dropped it. Without `tx` it is a
   * primary write like any other (bounded, 503 when the primary is unreachable), and refused
   * inside a transaction callback: there, pass `{ tx }` so the job commits with the transaction.
   */
  async send<T extends object>(job: JobDefinition<T> | string, payload: T, options: SendJobOptions = {}): Promise<string | null> {
    const name = typeof job === 'string' ? job : job.name;
    const definition = this.definitions.get(name);
    if (!definition) throw new Error(`no job named ${name} is defined on this queue`);
    const checked = definition.payload.safeParse(payload);
    if (!checked.success) throw new JobPayloadError(name, issuesOf(checked.error));
    const sendOptions: SendOptions = {
      ...(options.startAfter !== undefined ? { startAfter: options.startAfter } : {}),
      ...(options.singletonKey !== undefined ? { singletonKey: options.singletonKey } : {}),
      ...(options.id !== undefined ? { id: options.id } : {}),
      ...(options.priority !== undefined ? { priority: options.priority } : {}),
    };
    const { tx } = options;
    if (tx) return this.boss.send(name, payload, { ...sendOptions, db: executeSqlOn(tx) });
    return this.database.runWrite(() => this.boss.send(name, payload, sendOptions));
  }

  async findJob(name: string, id: string): Promise<JobSnapshot | null> {
    const [row] = await this.boss.findJobs(name, { id });
    return row ? snapshotOf(row) : null;
  }

  /** The queue's jobs, oldest first (at most 1000). */
  async findJobs(name: string): Promise<JobSnapshot[]> {
    return (await this.boss.findJobs(name)).map(snapshotOf);
  }

  /** The dead-letter queues of the jobs defined here. */
  deadLetterQueues(): string[] {
    return [...this.definitions.values()].filter((definition) => definition.deadLetter).map((definition) => deadLetterQueueOf(definition.name));
  }

  /**
   * Dead letters of every job defined here, newest first, after `before` (the last row of the
   * previous page). One walk per queue of pg-boss's (name, created_on) index, merged: `reader` may
   * be a replica (pg-boss's tables replicate like ours).
   */
  async listDeadLetters(reader: Database, page: { limit: number; before: { createdOn: string; id: string } | null }): Promise<DeadLetter[]> {
    const queues = this.deadLetterQueues();
    if (queues.length === 0) return [];
    const { before } = page;
    const walks = queues.map(
      (queue) => sql`(select ${DEAD_LETTER_COLUMNS} from ${this.jobTable()} where name = ${queue}${
        before ? sql` and (created_on, id) < (${before.createdOn}::timestamptz, ${before.id}::uuid)` : sql``
      } order by created_on desc, id desc limit ${page.limit})`,
    );
    const rows = await this.selectJobs(reader, sql`${sql.join(walks, sql` union all `)} order by created_on desc, id desc limit ${page.limit}`);
    return rows.map(toDeadLetter);
  }

  /** A dead letter of a job defined here, by its id; with a transaction's handle, locked until it ends. */
  async findDeadLetter(db: Database | Transaction, id: string, options: { lock?: boolean } = {}): Promise<DeadLetter | null> {
    const queues = this.deadLetterQueues();
    if (queues.length === 0) return null;
    const [row] = await this.selectJobs(
      db,
      sql`select ${DEAD_LETTER_COLUMNS} from ${this.jobTable()} where name in (${sql.join(queues.map((queue) => sql`${queue}`), sql`, `)}) and id = ${id}::uuid${
        options.lock ? sql` for update` : sql``
      }`,
    );
    return row ? toDeadLetter(row) : null;
  }

  /**
   * Sends a dead letter's job again, inside `tx` (same payload, a new job id, its queue's retry
   * policy afresh), and deletes the dead letter there: both commit or neither. Resolves with the
   * new job's id; JobPayloadError when the payload is not one the job takes (it would fail again).
   */
  async resendDeadLetter(tx: Transaction, letter: Pick<DeadLetter, 'id' | 'queue' | 'sourceName' | 'data'>): Promise<string> {
    const definition = this.definitions.get(letter.sourceName);
    if (!definition) throw new Error(`no job named ${letter.sourceName} is defined on this queue`);
    const checked = definition.payload.safeParse(letter.data);
    if (!checked.success) throw new JobPayloadError(letter.sourceName, issuesOf(checked.error));
    const jobId = await this.send(definition, checked.data, { tx });
    if (jobId === null) throw new Error(`job ${letter.sourceName} was not sent`);
    await this.boss.deleteJob(letter.queue, letter.id, { db: executeSqlOn(tx) });
    return jobId;
  }

  /**
   * Every job type defined here with its backlog, from one statement over pg-boss's live-job index
   * and its dead-letter queues; none before pg-boss's tables exist.
   */
  async queueDepths(db: Database): Promise<QueueDepth[]> {
    const names = [...this.definitions.keys()];
    if (names.length === 0 || !(await this.hasJobTable(db))) return [];
    const dead = this.deadLetterQueues();
    const list = (queues: string[]) => sql.join(queues.map((queue) => sql`${queue}`), sql`, `);
    const rows = await selectRows(
      db,
      sql`select name, count(*) filter (where state in ('created', 'retry')) as queued, count(*) filter (where state = 'active') as active, count(*) as total
        from ${this.jobTable()} where (name in (${list(names)}) and state in ('created', 'retry', 'active'))${dead.length > 0 ? sql` or name in (${list(dead)})` : sql``}
        group by name`,
      depthRow,
    );
    const byName = new Map(rows.map((row) => [row.name, row]));
    return names.map((name) => ({
      queue: name,
      queued: byName.get(name)?.queued ?? 0,
      active: byName.get(name)?.active ?? 0,
      deadLetters: byName.get(deadLetterQueueOf(name))?.total ?? 0,
    }));
  }

  private jobTable() {
    return sql`${sql.identifier(this.schema)}.job`;
  }

  /**
   * Dead-letter rows; none before pg-boss's tables exist (a queue never started on this database).
   * Asked first rather than caught: a failed statement would abort the caller's transaction.
   */
  private async selectJobs(db: Database | Transaction, query: SQL): Promise<Array<z.infer<typeof deadLetterRow>>> {
    if (!(await this.hasJobTable(db))) return [];
    return selectRows(db, query, deadLetterRow);
  }

  private async hasJobTable(db: Database | Transaction): Promise<boolean> {
    if (!this.jobTablePresent) {
      const [found] = await selectRows(db, sql`select to_regclass(quote_ident(${this.schema}) || '.job') is not null as present`, z.object({ present: z.boolean() }));
      if (!found?.present) return false;
      this.jobTablePresent = true;
    }
    return true;
  }

  /** Waits until the job completed, failed or was cancelled (for tests and scripts). */
  async waitForJob(name: string, id: string, { timeoutMs = 10_000, intervalMs = 50 } = {}): Promise<JobSnapshot> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const job = await this.findJob(name, id);
      if (job && (job.state === 'completed' || job.state === 'failed' || job.state === 'cancelled')) return job;
      if (Date.now() >= deadline) throw new Error(`job ${name}/${id} did not finish within ${timeoutMs} ms (state: ${job?.state ?? 'missing'})`);
      await Bun.sleep(intervalMs);
    }
  }

  /**
   * Stops fetching, lets running handlers finish within `timeoutMs` (then fails them: they are
   * retried later, like a crash), and stops maintenance. Call before the pools close.
   */
  async stop({ timeoutMs = DEFAULT_STOP_TIMEOUT_MS }: { timeoutMs?: number } = {}): Promise<void> {
    this.stopping = true;
    this.wakeRetry?.();
    const stopped = this.boss.stop({ graceful: true, timeout: timeoutMs, close: true }).then(
      () => 'stopped' as const,
      (error: unknown) => {
        this.logger.error({ err: error }, 'the job queue did not stop cleanly');
        return 'failed' as const;
      },
    );
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), Math.max(timeoutMs, 1_000) + STOP_SLACK_MS);
    });
    const outcome = await Promise.race([stopped, deadline]);
    clearTimeout(timer);
    if (outcome === 'timeout') this.logger.warn({ timeoutMs }, 'the job queue did not stop in time: closing under it');
    else if (outcome === 'stopped') this.logger.info('job queue stopped');
  }

  private async createQueues(definition: AnyJobDefinition): Promise<void> {
    const deadLetter = definition.deadLetter ? deadLetterQueueOf(definition.name) : null;
    if (deadLetter) {
      await this.boss.createQueue(deadLetter, DEAD_LETTER_QUEUE);
      await this.boss.updateQueue(deadLetter, DEAD_LETTER_QUEUE);
    }
    const options = {
      retryLimit: definition.retryLimit,
      retryDelay: definition.retryDelaySeconds,
      retryBackoff: definition.retryBackoff,
      expireInSeconds: definition.expireInSeconds,
    };
    await this.boss.createQueue(definition.name, {
      ...options,
      ...(deadLetter ? { deadLetter } : {}),
      ...(definition.retryDelayMaxSeconds !== undefined ? { retryDelayMax: definition.retryDelayMaxSeconds } : {}),
    });
    // createQueue leaves an existing queue as it was: settings changed in the code apply here.
    await this.boss.updateQueue(definition.name, { ...options, deadLetter, retryDelayMax: definition.retryDelayMaxSeconds ?? null });
  }

  private async work(definition: AnyJobDefinition): Promise<void> {
    const { name, handler } = definition;
    if (handler && !this.working.has(name)) {
      await this.boss.work(
        name,
        // With metadata: the job's own retry limit (it may predate a change to the definition's).
        { batchSize: definition.batchSize ?? 1, pollingIntervalSeconds: this.pollingIntervalSeconds, perJobResults: true, includeMetadata: true },
        (jobs: JobWithMetadata<unknown>[]) => Promise.all(jobs.map((job) => this.traced(definition, job, () => this.run(definition, handler.bind(definition), job)))),
      );
      this.working.add(name);
    }
    const deadLetter = deadLetterQueueOf(name);
    if (definition.deadLetter && !this.working.has(deadLetter)) {
      await this.boss.work(
        deadLetter,
        { batchSize: DEAD_LETTER_BATCH, pollingIntervalSeconds: this.pollingIntervalSeconds, includeMetadata: true },
        async (jobs: JobWithMetadata<unknown>[]) => {
          for (const job of jobs) {
            this.logDeadLetter(job);
            await this.runDeadLetterHook(definition, job);
          }
        },
      );
      this.working.add(deadLetter);
    }
  }

  /**
   * A span per job attempt, under pg-boss's process span (per batch): the queue, the job's id and
   * attempt, and how it ended (a failure is an error here; the handler's error never reaches
   * pg-boss's span, run() settles it). Never the payload.
   */
  private traced(definition: AnyJobDefinition, job: JobWithMetadata<unknown>, attempt: () => Promise<JobResult>): Promise<JobResult> {
    const attributes = { 'messaging.destination.name': definition.name, 'messaging.message.id': job.id, 'pgboss.job.retry_count': job.retryCount };
    return withSpan(`job ${definition.name}`, { kind: SpanKind.CONSUMER, attributes }, async (span) => {
      const result = await attempt();
      span.setAttribute('bountyexpo.job.outcome', result.status);
      if (result.status !== 'completed') span.setStatus({ code: SpanStatusCode.ERROR });
      return result;
    });
  }

  /** One job's attempt, settled on its own: a batch's other jobs never share its fate. */
  private async run(
    definition: AnyJobDefinition,
    handler: (payload: object, context: JobContext) => Promise<void>,
    job: JobWithMetadata<unknown>,
  ): Promise<JobResult> {
    const logger = this.logger.child({ queue: definition.name, jobId: job.id, retryCount: job.retryCount });
    const parsed = definition.payload.safeParse(job.data);
    if (!parsed.success) {
      // Retrying cannot fix a payload: it fails for good at once (into its dead letters, if any).
      const issues = issuesOf(parsed.error);
      jobFailures.inc({ queue: definition.name });
      logger.error({ issues }, 'job payload is invalid: failed without retrying');
      return { id: job.id, status: 'deadletter', output: { error: 'INVALID_PAYLOAD', issues } };
    }
    try {
      const context = { jobId: job.id, retryCount: job.retryCount, retryLimit: job.retryLimit, signal: job.signal, database: this.database, jobs: this, logger };
      await handler(parsed.data, context);
      return { id: job.id, status: 'completed' };
    } catch (error) {
      jobFailures.inc({ queue: definition.name });
      if (job.retryCount >= job.retryLimit) logger.error({ err: error }, 'job failed on its last attempt');
      else logger.warn({ err: error }, 'job failed: it will be retried');
      return { id: job.id, status: 'failed', output: serializeError(error) };
    }
  }

  private async runDeadLetterHook(definition: AnyJobDefinition, job: JobWithMetadata<unknown>): Promise<void> {
    if (!definition.onDeadLetter) return;
    const parsed = definition.payload.safeParse(job.data);
    if (!parsed.success) return;
    const logger = this.logger.child({ queue: job.sourceName, jobId: job.sourceId });
    try {
      await definition.onDeadLetter(parsed.data, { database: this.database, logger });
    } catch (error) {
      logger.error({ err: error }, 'the dead letter hook failed');
    }
  }

  private logDeadLetter(job: JobWithMetadata<unknown>): void {
    this.logger.error(
      {
        queue: job.sourceName,
        jobId: job.sourceId,
        retryCount: job.sourceRetryCount,
        reason: job.sourceOutput,
        deadLetterQueue: job.name,
        deadLetterId: job.id,
      },
      'job dead-lettered: kept in its dead letter queue',
    );
  }
}

/** pg-boss's rows carry timestamps as text through drizzle's client (it parses none): Dates here. */
function snapshotOf(row: JobWithMetadata<unknown>): JobSnapshot {
  return {
    id: row.id,
    name: row.name,
    state: row.state,
    retryCount: row.retryCount,
    data: row.data,
    output: row.output,
    createdOn: new Date(row.createdOn),
    startAfter: new Date(row.startAfter),
    completedOn: row.completedOn === null ? null : new Date(row.completedOn),
    sourceName: row.sourceName,
    sourceId: row.sourceId,
  };
}
