/**
 * Idempotency-Key (IETF httpapi draft "The Idempotency-Key HTTP Header Field", as Stripe does it),
 * as the route option `idempotency: 'required' | 'optional'`:
 * - 'required' on POSTs that move a user's money at their request (400 without the header);
 *   'optional' on every other signed-in POST: honoured when sent.
 * - The key (1-255 visible ASCII characters) is scoped per user. The first request runs and its
 *   answer (status and JSON body) is stored for `ttlHours`; the same key with the same request
 *   gets that answer again with `Idempotent-Replayed: true`, without running the handler. The same
 *   key with another request (method, path, query, body) is 422; while the first is still running,
 *   409 with Retry-After, unless its lock is older than `lockTimeoutMs` (its process died): then
 *   the new request takes it over and runs.
 * - Stored: every answer under 500, the handler's own refusals included (Stripe does the same). A
 *   5xx or a thrown non-HTTP error deletes the row, so a retry runs again. Refusals before the
 *   handler (auth, body validation) never reach this plugin and store nothing.
 * - Anonymous POSTs (sign-up, login, Better-Auth's /api/auth/*) are exempt: there is no user to
 *   scope a key to (a taken email is already 409, and signing in twice is harmless).
 *
 * Order: the check is a `beforeHandle`. Elysia runs all of a route's `resolve` hooks (the auth
 * macro's, which puts `user` on the context) before any `beforeHandle`, whatever the order of the
 * route's options; the user is read from there, and a route without one is a 500, never an
 * unscoped key. tests/idempotency.test.ts fails if Elysia changes that order. Other macros'
 * `beforeHandle`s run in option order: a refusal from one listed after `idempotency` is stored.
 *
 * The answer is stored in `mapResponse`: it runs after the response is validated, for what the
 * handler returned and for what the error handler rendered, and before the response is sent, so
 * a client can never retry before the stored answer is visible (onAfterResponse could lose that
 * race). The handler's writes and the stored answer are two commits: a crash between them leaves
 * a running row that a retry takes over after `lockTimeoutMs` and runs again, which is why the
 * money tables keep their own unique (user, request key) as well.
 */
import { createHash } from 'node:crypto';
import { and, eq, isNull, sql, type SQL } from 'drizzle-orm';
import { Elysia, ElysiaCustomStatusResponse, StatusMap } from 'elysia';
import { type Database, DatabaseSession, idempotencyKeys } from '../db';
import { HttpError } from '../lib/errors';
import { errorSchema } from '../lib/http';
import type { Logger } from '../lib/logger';
import { IDEMPOTENCY_ERRORS } from './idempotency-errors';

export { IDEMPOTENCY_ERRORS } from './idempotency-errors';

export type IdempotencyMode = 'required' | 'optional';

export type IdempotencyOptions = {
  /** How long a key and its stored answer are kept (24 in the app). */
  ttlHours: number;
  /** A request still running after this long is taken to have died with its process. */
  lockTimeoutMs: number;
  logger: Logger;
};

export const IDEMPOTENCY_KEY_HEADER = 'Idempotency-Key';
export const IDEMPOTENT_REPLAYED_HEADER = 'Idempotent-Replayed';

/** Visible ASCII (0x21-0x7E), 1 to 255 characters. */
const KEY_PATTERN = /^[\x21-\x7E]{1,255}$/;
/** How often a claim is retried when the row changes under it (released, taken over) before 409. */
const CLAIM_ROUNDS = 3;
const RETRY_AFTER_S = '1';
/** Statuses whose responses must not carry a body. */
const NULL_BODY_STATUSES = new Set([101, 204, 205, 304]);

/** The header parameter as OpenAPI documents it; the macro puts it on every route it is used on. */
export const idempotencyDoc = (mode: IdempotencyMode) => ({
  parameters: [
    {
      name: IDEMPOTENCY_KEY_HEADER,
      in: 'header' as const,
      required: mode === 'required',
      description:
        (mode === 'required' ? 'Required: ' : 'Optional: ') +
        'a unique key per operation (e.g. a UUID), 1-255 visible ASCII characters, scoped to the signed-in user and kept 24 h. ' +
        'Retrying with the same key and request replays the first answer (status and body) with `Idempotent-Replayed: true` ' +
        'instead of running it again; the same key with a different request is 422 IDEMPOTENCY_KEY_REUSED; while the first ' +
        'request is still running, 409 IDEMPOTENCY_REQUEST_IN_PROGRESS with `Retry-After`.',
      schema: { type: 'string' as const, minLength: 1, maxLength: 255, pattern: '^[\\x21-\\x7E]{1,255}$' },
    },
  ],
});

/** The request a key was first used for. */
type Attempt = { userId: string; key: string; method: string; path: string; fingerprint: string };

/** A key this request holds: `lockedAt` (exact, as text) tells our lock from a later taker's. */
type Claim = { db: DatabaseSession; userId: string; key: string; lockedAt: string; settled: boolean };

type Outcome = { kind: 'claimed'; lockedAt: string } | { kind: 'replay'; status: number; body: string | null };

/** What will be sent, as stored: status and JSON text; null when it cannot be replayed. */
type StoredAnswer = { status: number; body: string } | null;

const lockedAtText = sql<string>`${idempotencyKeys.lockedAt}::text`;
const sameKey = (userId: string, key: string): SQL | undefined => and(eq(idempotencyKeys.userId, userId), eq(idempotencyKeys.key, key));
const heldBy = (claim: Pick<Claim, 'userId' | 'key' | 'lockedAt'>): SQL | undefined =>
  and(sameKey(claim.userId, claim.key), isNull(idempotencyKeys.responseStatus), sql`${idempotencyKeys.lockedAt} = ${claim.lockedAt}::timestamptz`);

/** JSON with object keys sorted, so that {a,b} and {b,a} are the same request. */
function canonicalJson(value: unknown): string {
  if (value === undefined || value === null) return 'null';
  if (typeof value === 'bigint') return JSON.stringify(value.toString());
  if (typeof value !== 'object' || value instanceof Date) return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value)
    .filter(([, item]) => item !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([name, item]) => `${JSON.stringify(name)}:${canonicalJson(item)}`).join(',')}}`;
}

/**
 * The concrete path, not the route's template: one key sent to /x/1 and then /x/2 is two
 * different requests. The body and query are the validated ones the handler will act on.
 */
const fingerprintOf = (method: string, path: string, query: unknown, body: unknown): string =>
  createHash('sha256').update(canonicalJson([method, path, query, body])).digest('hex');

/** The auth macro's `user` on the context; without one there is nothing to scope the key to. */
function signedInUserId(context: object): string {
  const user = 'user' in context ? context.user : undefined;
  if (typeof user === 'object' && user !== null && 'id' in user && typeof user.id === 'string') return user.id;
  throw new Error('the idempotency option needs a signed-in user: declare `auth` on this route');
}

function requestDatabase(context: object): DatabaseSession {
  const db = 'db' in context ? context.db : undefined;
  if (db instanceof DatabaseSession) return db;
  throw new Error('the idempotency option needs the database plugin on this route');
}

const statusNumber = (status: number | keyof typeof StatusMap | undefined): number =>
  typeof status === 'number' ? status : status === undefined ? 200 : StatusMap[status];

/** What is about to be sent: a handler's value after validation, or the error handler's body. */
async function answerOf(value: unknown, status: number): Promise<StoredAnswer> {
  if (value instanceof ElysiaCustomStatusResponse) return answerOf(value.response, value.code);
  if (value instanceof Response) {
    if (!(value.headers.get('content-type') ?? '').includes('json')) return null;
    return { status: value.status, body: await value.clone().text() };
  }
  // Elysia sends objects and arrays as JSON.stringify gives them; anything else is not replayed.
  if (typeof value !== 'object' || value === null || value instanceof ReadableStream || value instanceof Blob) return null;
  return { status, body: JSON.stringify(value) };
}

function replayResponse(status: number, body: string | null): Response {
  return new Response(NULL_BODY_STATUSES.has(status) ? null : (body ?? ''), {
    status,
    headers: { 'content-type': 'application/json;charset=utf-8', [IDEMPOTENT_REPLAYED_HEADER]: 'true' },
  });
}

function inProgress(): HttpError {
  const { status, message } = IDEMPOTENCY_ERRORS.codes.IDEMPOTENCY_REQUEST_IN_PROGRESS;
  return new HttpError(status, 'IDEMPOTENCY_REQUEST_IN_PROGRESS', message, undefined, { 'retry-after': RETRY_AFTER_S });
}

/**
 * Takes the key for this request, or says what to answer instead. Every statement runs on the
 * primary through `db.write`: the row must be read where it was written, and the request counts
 * as one that wrote (its read-your-writes token follows).
 */
async function claimKey(db: DatabaseSession, attempt: Attempt, options: IdempotencyOptions): Promise<Outcome> {
  const expiresAt = sql`now() + ${options.ttlHours * 3600}::double precision * interval '1 second'`;
  for (let round = 0; round < CLAIM_ROUNDS; round += 1) {
    const [inserted] = await db.write((writer) =>
      writer.insert(idempotencyKeys).values({ ...attempt, expiresAt }).onConflictDoNothing().returning({ lockedAt: lockedAtText }),
    );
    if (inserted) return { kind: 'claimed', lockedAt: inserted.lockedAt };

    const [row] = await db.write((writer) =>
      writer
        .select({
          fingerprint: idempotencyKeys.fingerprint,
          responseStatus: idempotencyKeys.responseStatus,
          responseBody: idempotencyKeys.responseBody,
          lockedAt: lockedAtText,
          expired: sql<boolean>`${idempotencyKeys.expiresAt} <= now()`,
          stale: sql<boolean>`${idempotencyKeys.lockedAt} <= now() - ${options.lockTimeoutMs}::double precision * interval '1 millisecond'`,
        })
        .from(idempotencyKeys)
        .where(sameKey(attempt.userId, attempt.key)),
    );
    // Deleted since the insert (its request failed with a 5xx): insert again.
    if (!row) continue;

    if (row.expired) {
      // An expired key is a fresh one; the condition keeps two takers from both running.
      const [taken] = await db.write((writer) =>
        writer
          .update(idempotencyKeys)
          .set({ method: attempt.method, path: attempt.path, fingerprint: attempt.fingerprint, responseStatus: null, responseBody: null, lockedAt: sql`now()`, expiresAt })
          .where(and(sameKey(attempt.userId, attempt.key), sql`${idempotencyKeys.expiresAt} <= now()`))
          .returning({ lockedAt: lockedAtText }),
      );
      if (taken) return { kind: 'claimed', lockedAt: taken.lockedAt };
      continue;
    }
    if (row.fingerprint !== attempt.fingerprint) throw IDEMPOTENCY_ERRORS.error('IDEMPOTENCY_KEY_REUSED');
    if (row.responseStatus !== null) return { kind: 'replay', status: row.responseStatus, body: row.responseBody };
    if (!row.stale) throw inProgress();

    // Running for longer than any request can: its process died. Only one taker wins the lock.
    const [taken] = await db.write((writer) =>
      writer
        .update(idempotencyKeys)
        .set({ lockedAt: sql`now()` })
        .where(heldBy({ userId: attempt.userId, key: attempt.key, lockedAt: row.lockedAt }))
        .returning({ lockedAt: lockedAtText }),
    );
    if (taken) return { kind: 'claimed', lockedAt: taken.lockedAt };
  }
  throw inProgress();
}

/**
 * Stores the answer (under 500) or releases the key (5xx, or an answer that cannot be replayed).
 * Never throws: the client gets the handler's answer whatever happens here.
 */
async function settle(claim: Claim, answer: StoredAnswer, logger: Logger): Promise<void> {
  const where = { userId: claim.userId, key: claim.key };
  try {
    if (answer === null || answer.status >= 500) {
      if (answer === null) logger.warn(where, 'idempotency key released: the answer is not JSON and cannot be replayed');
      await release(claim);
      return;
    }
    const stored = await claim.db.write((writer) =>
      writer
        .update(idempotencyKeys)
        .set({ responseStatus: answer.status, responseBody: answer.body })
        .where(heldBy(claim))
        .returning({ key: idempotencyKeys.key }),
    );
    // Our lock was taken over (we ran past lockTimeoutMs): the taker's answer stands.
    if (stored.length === 0) logger.warn(where, 'idempotency key was taken over before its answer was stored');
  } catch (error) {
    // The row stays running: a retry gets 409 until lockTimeoutMs, then runs again.
    logger.error({ err: error, ...where }, 'idempotency key could not be settled');
  }
}

/** Deletes our running row, so that a retry runs again. */
async function release(claim: Claim): Promise<void> {
  await claim.db.write((writer) => writer.delete(idempotencyKeys).where(heldBy(claim)));
}

const claims = new WeakMap<Request, Claim>();

export const idempotencyPlugin = (options: IdempotencyOptions) =>
  new Elysia({ name: 'idempotency' }).macro({
    idempotency: (mode: IdempotencyMode) => ({
      // Documented on the route: the header, and what the plugin itself may answer.
      detail: idempotencyDoc(mode),
      response: { 400: errorSchema, 409: errorSchema, 422: errorSchema },

      async beforeHandle(context) {
        // Checked first and always, so a route declared without `auth` fails on its first request.
        const userId = signedInUserId(context);
        const db = requestDatabase(context);
        const key = context.request.headers.get(IDEMPOTENCY_KEY_HEADER);
        if (key === null) {
          if (mode === 'required') throw IDEMPOTENCY_ERRORS.error('IDEMPOTENCY_KEY_REQUIRED');
          return undefined;
        }
        if (!KEY_PATTERN.test(key)) throw IDEMPOTENCY_ERRORS.error('INVALID_IDEMPOTENCY_KEY');
        const method = context.request.method;
        const attempt: Attempt = { userId, key, method, path: context.path, fingerprint: fingerprintOf(method, context.path, context.query, context.body) };
        const outcome = await claimKey(db, attempt, options);
        if (outcome.kind === 'replay') return replayResponse(outcome.status, outcome.body);
        claims.set(context.request, { db, userId, key, lockedAt: outcome.lockedAt, settled: false });
        return undefined;
      },

      async mapResponse({ request, responseValue, set }) {
        const claim = claims.get(request);
        // In the error path this runs after each error hook; one that answered nothing is skipped.
        if (!claim || claim.settled || responseValue === undefined) return undefined;
        claim.settled = true;
        await settle(claim, await answerOf(responseValue, statusNumber(set.status)), options.logger);
        return undefined;
      },

      // Only if an earlier mapResponse replaced the answer (Elysia then skips the later ones):
      // the answer is unknown, so the key is released rather than left running.
      async afterResponse({ request }) {
        const claim = claims.get(request);
        if (!claim || claim.settled) return;
        claim.settled = true;
        options.logger.error({ userId: claim.userId, key: claim.key }, 'idempotency answer was never seen; key released');
        await release(claim).catch((error: unknown) => options.logger.error({ err: error }, 'idempotency key could not be released'));
      },
    }),
  });

export type IdempotencyPlugin = ReturnType<typeof idempotencyPlugin>;

/** For the cleanup job: deletes keys expired at `now`, in batches; returns how many. */
export async function deleteExpiredIdempotencyKeys(db: Database, now: Date): Promise<number> {
  const BATCH = 1000;
  let total = 0;
  for (;;) {
    const deleted = await db
      .delete(idempotencyKeys)
      .where(
        sql`(${idempotencyKeys.userId}, ${idempotencyKeys.key}) in (select "user_id", "key" from ${idempotencyKeys} where "expires_at" <= ${now.toISOString()}::timestamptz limit ${BATCH})`,
      )
      .returning({ key: idempotencyKeys.key });
    total += deleted.length;
    if (deleted.length < BATCH) return total;
  }
}
