/** The success envelope and its OpenAPI schema helpers, shared by every route. */
import { z } from 'zod';

export const ok = <T>(data: T) => ({ success: true as const, data });

export const successSchema = <T extends z.ZodType>(data: T) => z.object({ success: z.literal(true), data });

/** A list body: one page of items and the cursor of the next page (null on the last page). */
export const page = <T>(data: T[], nextCursor: string | null) => ({ success: true as const, data, pagination: { nextCursor } });

export const pageSchema = <T extends z.ZodType>(item: T, maxItems = 100) =>
  z.object({
    success: z.literal(true),
    data: z.array(item).max(maxItems),
    pagination: z.object({
      nextCursor: z.string().max(512).nullable().describe('Pass as ?cursor= for the next page; null on the last page'),
    }),
  });

export const errorSchema = z
  .object({
    success: z.literal(false),
    message: z.string().max(1000),
    error: z.string().max(100).describe('A stable machine-readable code, e.g. VALIDATION_ERROR'),
    details: z
      .array(z.object({ path: z.string().max(500), message: z.string().max(1000) }))
      .max(100)
      .optional(),
  })
  .describe('The one error format');

/** For routes behind the auth macro: no or a bad session (401), a missing role or a ban (403). */
export const authErrors = {
  401: errorSchema,
  403: errorSchema,
} as const;

/** Error responses every route can produce, for the OpenAPI document. */
export const commonErrors = {
  400: errorSchema,
  404: errorSchema,
  413: errorSchema,
  415: errorSchema,
  422: errorSchema,
  429: errorSchema,
  500: errorSchema,
  503: errorSchema,
} as const;

/** The security of a public route that reads a session when one is sent (it widens what is visible). */
export const optionalSession: Array<Record<string, string[]>> = [{ sessionCookie: [] }, {}];
