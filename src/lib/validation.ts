/**
 * Shared zod building blocks for request edges. Every text field a client sends goes through
 * `safeText`: trimmed, length-bounded, and free of NUL bytes (PostgreSQL `text` rejects U+0000,
 * which would otherwise surface as a 500 instead of a 422).
 */
import { z } from 'zod';
import { COMMON_ERRORS } from './errors';

/** A JSON-Schema-friendly NUL check: it shows up as `pattern` in the OpenAPI document. */
export const NO_NUL_PATTERN = /^[^\u0000]*$/;
const NUL_MESSAGE = 'must not contain NUL bytes';

/** Trimmed text of `min`..`max` characters without NUL bytes. */
export const safeText = (max: number, min = 1) =>
  z.string().trim().min(min).max(max).regex(NO_NUL_PATTERN, NUL_MESSAGE);

/**
 * Elysia splits a query value at commas (and parses `[..]` as JSON) before a zod schema sees it:
 * `name=Smith, John` arrives as ['Smith', ' John'] and a plain string schema answered 422. Free
 * text in a query string goes through this, which takes the pieces back as written.
 */
function rejoined(value: unknown): unknown {
  if (!Array.isArray(value)) return value;
  const pieces = value.flat(2);
  return pieces.every((piece) => typeof piece === 'string' || typeof piece === 'number') ? pieces.join(',') : value;
}
export const queryText = <T extends z.ZodType>(schema: T) => z.preprocess(rejoined, schema);

/**
 * Emails are matched case-insensitively: they are stored and looked up lower-cased. Trimmed
 * BEFORE the format check, so " ann@example.com " is Ann's address, not a 422.
 */
export const emailSchema = z.preprocess(
  (value) => (typeof value === 'string' ? value.trim().toLowerCase() : value),
  z.email().max(254),
);

// --- The one password policy -------------------------------------------------------------------
// Every entry point that sets a password applies it: our /auth/signup and POST /users (zod, below)
// and Better-Auth's own /sign-up/email and /change-password (a before hook in src/lib/auth/policy.ts).

export const PASSWORD_MIN_CHARS = 8;
export const PASSWORD_MAX_CHARS = 128;
/** C0 and C1 controls (NUL, tab, newline, DEL, ...): invisible, and often mangled by clients. */
const CONTROL_CHARACTER = /\p{Cc}/u;
const ONLY_WHITESPACE = /^\p{White_Space}*$/u;

/**
 * Why a new password is refused, or null. Lengths count code points (what a person typed: four
 * emoji are four characters, not eight UTF-16 units). Never trimmed: a trailing space is part of
 * the secret.
 */
export function passwordPolicyProblem(password: string): string | null {
  const characters = [...password].length;
  if (characters < PASSWORD_MIN_CHARS) return `must be at least ${PASSWORD_MIN_CHARS} characters`;
  if (characters > PASSWORD_MAX_CHARS) return `must be at most ${PASSWORD_MAX_CHARS} characters`;
  if (CONTROL_CHARACTER.test(password)) return 'must not contain control characters';
  if (ONLY_WHITESPACE.test(password)) return 'must not be only whitespace';
  return null;
}

/** The most UTF-16 units PASSWORD_MAX_CHARS code points can take (each at most two). */
export const PASSWORD_MAX_UNITS = PASSWORD_MAX_CHARS * 2;

export const newPasswordSchema = z
  .string()
  .max(PASSWORD_MAX_UNITS)
  .superRefine((password, ctx) => {
    const problem = passwordPolicyProblem(password);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  })
  .meta({
    minLength: PASSWORD_MIN_CHARS,
    maxLength: PASSWORD_MAX_CHARS,
    description: `${PASSWORD_MIN_CHARS}-${PASSWORD_MAX_CHARS} characters (code points), no control characters, not only whitespace`,
  });
/** Sign-in accepts any password up to the maximum, so a changed policy never locks anyone out. */
export const passwordSchema = z.string().min(1).max(PASSWORD_MAX_UNITS);

export const personNameSchema = safeText(100);

/** http(s) only: a `javascript:` URL in an <img src> is an XSS vector for whoever renders it. */
export const imageUrlSchema = z
  .url({ protocol: /^https?$/ })
  .max(2048)
  .regex(NO_NUL_PATTERN, NUL_MESSAGE);

/** Better-Auth ids are random 32-character strings; bounded so a path can't carry a megabyte. */
export const userIdSchema = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9_-]+$/, 'is not a valid id');

/**
 * `?limit=` is clamped, not refused: an out-of-range page size (0, -5, 2.7, 1e20) is not worth an
 * error. Only what is not a finite number (abc, Infinity) is a 422.
 */
/**
 * A bigint identity in a path (messages, notifications): digits as text, so the document shows no
 * numeric id to enumerate (permission lives in each statement's WHERE either way). Route handlers
 * read it with Number(), exact up to Number.MAX_SAFE_INTEGER: larger is refused, never rounded to
 * another id.
 */
export const numericIdParam = z
  .string()
  .max(16)
  .regex(/^[1-9]\d{0,15}$/, 'is not a valid id')
  .refine((value) => Number(value) <= Number.MAX_SAFE_INTEGER, 'is not a valid id');

export const limitQuery = z.coerce
  .number()
  .optional()
  .describe('Page size; values outside 1..100 are clamped, fractions truncated. Default 20.');

export const clampLimit = (limit: number | undefined, fallback = 20, max = 100): number =>
  Math.min(max, Math.max(1, Math.trunc(limit ?? fallback)));

/** Opaque cursors are base64url; anything else is refused before it reaches a decoder. */
export const cursorQuery = z
  .string()
  .max(512)
  .regex(/^[A-Za-z0-9_-]*$/, 'is not a valid cursor')
  .optional()
  .describe('Opaque cursor from pagination.nextCursor of the previous page');

/**
 * Keyset cursors over (created_at, id), newest first. The timestamp travels as PostgreSQL's own
 * text rendering (microsecond precision): a JS Date would truncate to milliseconds and skip or
 * repeat rows that share a millisecond.
 */
const cursorPayload = z.object({
  t: z.string().max(64).regex(/^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d{1,6})?([+-]\d{2}(:?\d{2})?|Z)$/),
  i: z.string().min(1).max(64).regex(/^[A-Za-z0-9_-]+$/),
});
export type KeysetCursor = z.infer<typeof cursorPayload>;

export const encodeCursor = (cursor: KeysetCursor): string =>
  Buffer.from(JSON.stringify(cursor), 'utf8').toString('base64url');

const TIMESTAMP_FIELDS = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})/;

/**
 * Whether the cursor's timestamp is a real instant. The shape check alone let
 * "2026-13-45 99:99:99+00" through to PostgreSQL, whose refusal then counted as a database
 * failure (issue 7): a bad cursor is the client's mistake and never reaches the database.
 */
function isRealTimestamp(text: string): boolean {
  const match = TIMESTAMP_FIELDS.exec(text);
  if (!match) return false;
  const [year, month, day, hour, minute, second] = match.slice(1).map(Number) as [number, number, number, number, number, number];
  const instant = new Date(Date.UTC(year, month - 1, day, hour, minute, second));
  return (
    instant.getUTCFullYear() === year && instant.getUTCMonth() === month - 1 && instant.getUTCDate() === day &&
    instant.getUTCHours() === hour && instant.getUTCMinutes() === minute && instant.getUTCSeconds() === second
  );
}

/** null when the cursor was not issued by us (tampered, truncated, from another endpoint's era). */
export function decodeCursor(raw: string): KeysetCursor | null {
  try {
    const parsed = cursorPayload.safeParse(JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')));
    return parsed.success && isRealTimestamp(parsed.data.t) ? parsed.data : null;
  } catch {
    return null;
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A bigint identity as a cursor carries it (ledger entries, audit rows, risk events). */
const INTEGER_ID = /^\d{1,18}$/;

/**
 * The `?cursor=` of a list route: null when absent, 422 INVALID_CURSOR when not one we issued.
 * `ids: 'uuid'` or `'integer'` for lists keyed by uuids or bigint identities: a cursor naming
 * anything else was not issued there (and would otherwise reach PostgreSQL's cast).
 */
export function cursorFromQuery(raw: string | undefined, options: { ids?: 'uuid' | 'integer' | 'text' } = {}): KeysetCursor | null {
  if (!raw) return null;
  const cursor = decodeCursor(raw);
  const badId = (options.ids === 'uuid' && !UUID.test(cursor?.i ?? '')) || (options.ids === 'integer' && !INTEGER_ID.test(cursor?.i ?? ''));
  if (!cursor || badId) throw COMMON_ERRORS.error('INVALID_CURSOR');
  return cursor;
}

/**
 * The fields of a patch that were given (not undefined), for an UPDATE's SET: a field left out of
 * a PATCH body stays as it is; null is a value (it clears the column).
 */
export function definedFields<T extends Record<string, unknown>>(changes: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  const defined: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(changes)) if (value !== undefined) defined[field] = value;
  return defined as { [K in keyof T]?: Exclude<T[K], undefined> };
}

/**
 * One page from rows fetched with `limit + 1`: the extra row only says a next page exists, and
 * the cursor points at the last row shown. `cursorOf` gives that row's (created_at text, id).
 */
export function keysetPage<TRow, TItem>(
  rows: TRow[],
  limit: number,
  toItem: (row: TRow) => TItem,
  cursorOf: (row: TRow) => KeysetCursor,
): { items: TItem[]; nextCursor: string | null } {
  const shown = rows.slice(0, limit);
  const last = shown.at(-1);
  return { items: shown.map(toItem), nextCursor: rows.length > limit && last ? encodeCursor(cursorOf(last)) : null };
}
