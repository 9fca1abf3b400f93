/** The success envelope and its OpenAPI schema helpers, shared by every route. */
import { z } from 'zod';

export const ok = <T>(data: T) => ({ success: true as const, data });

export const successSchema = <T extends z.ZodType>(data: T) => z.object({ success: z.literal(true), data });

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
