import { z } from 'zod';

export const livenessSchema = z.object({
  status: z.enum(['ok', 'draining']),
  uptime: z.number().min(0).describe('Seconds since the process started'),
  version: z.string().max(50),
});

const poolHealthSchema = z.object({
  name: z.string().max(50),
  ok: z.boolean(),
  latencyMs: z.number().min(0).nullable(),
  error: z.string().max(500).optional(),
});

export const databaseHealthSchema = z.object({
  status: z.enum(['ok', 'degraded', 'down']),
  mode: z.enum(['postgres', 'embedded']),
  primary: poolHealthSchema,
  replicas: z
    .array(
      poolHealthSchema.extend({
        state: z.enum(['healthy', 'lagging', 'down', 'promoted']),
        lagBytes: z.number().int().min(0).nullable(),
        lagMs: z.number().int().min(0).nullable(),
        readsServed: z.number().int().min(0),
      }),
    )
    .max(32),
  reads: z.object({
    byTarget: z.record(z.string().max(50), z.number().int().min(0)),
    byReason: z.record(z.string().max(50), z.number().int().min(0)),
  }),
});

/** /health/db for callers without the operators' token: the verdict and ok per node. */
export const databaseHealthSummarySchema = z.object({
  status: z.enum(['ok', 'degraded', 'down']),
  primary: z.object({ ok: z.boolean() }),
  replicas: z.array(z.object({ ok: z.boolean() })).max(32),
});

export type DatabaseHealthSummary = z.infer<typeof databaseHealthSummarySchema>;
