/**
 * Shared zod building blocks for request edges. Every text field a client sends goes through
 * `safeText`: trimmed, length-bounded, and free of NUL bytes (PostgreSQL `text` rejects U+0000,
 * which would otherwise surface as a 500 instead of a 422).
 */
import { z } from 'zod';

/** A JSON-Schema-friendly NUL check: it shows up as `pattern` in the OpenAPI document. */
export const NO_NUL_PATTERN = /^[^\u0000]*$/;
const NUL_MESSAGE = 'must not contain NUL bytes';

/** Trimmed text of `min`..`max` characters without NUL bytes. */
export const safeText = (max: number, min = 1) =>
  z.string().trim().min(min).max(max).regex(NO_NUL_PATTERN, NUL_MESSAGE);

/** Emails are matched case-insensitively: they are stored and looked up lower-cased. */
export const emailSchema = z.email().trim().toLowerCase().max(254);

/**
 * Passwords are opaque: never trimmed (a trailing space is part of the secret). 128 is
 * Better-Auth's default maximum; the hash, not the password, is what reaches the database.
 */
export const newPasswordSchema = z.string().min(8).max(128);
/** Sign-in accepts any length up to the maximum, so a changed minimum never locks anyone out. */
export const passwordSchema = z.string().min(1).max(128);

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

/** null when the cursor was not issued by us (tampered, truncated, from another endpoint's era). */
export function decodeCursor(raw: string): KeysetCursor | null {
  try {
    const parsed = cursorPayload.safeParse(JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
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
