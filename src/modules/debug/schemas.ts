import { z } from 'zod';
import { REPLICA_STATES } from '../metrics';

const count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const name = z.string().max(200);

/** Every field is named here and in service.ts's allow-list: nothing reaches the body by default. */
export const debugConfigSchema = z.object({
  nodeEnv: z.enum(['development', 'test', 'production']),
  port: count,
  host: name,
  logLevel: z.string().max(20),
  webConcurrency: count,
  workerIndex: count.nullable(),
  publicOrigin: z.string().max(2048).describe("BETTER_AUTH_URL's origin (never its path or credentials)"),
  corsOrigins: z.array(z.string().max(2048)).max(100),
  trustedProxies: z.array(z.string().max(100)).max(100),
  bodyLimitBytes: count,
  shutdownTimeoutMs: count,
  swaggerEnabled: z.boolean(),
  debugHeaders: z.boolean(),
  database: z.object({
    embedded: z.boolean(),
    replicas: count,
    poolMax: count,
    authPoolMax: count,
    poolAcquireTimeoutMs: count,
    idleTimeoutS: count,
    connectTimeoutS: count,
    statementTimeoutMs: count,
    preparedStatements: z.boolean(),
    pipelining: z.boolean(),
    replicaProbeMs: count,
    maxReplicaLagMs: count,
    maxReplicaLagBytes: count,
    readYourWritesWaitMs: count,
    readFallbackMaxInflight: count,
    lsnTokenTtlS: count,
  }),
  auth: z.object({ cookieCacheS: count }),
  jobs: z.object({ workerEnabled: z.boolean(), schema: name }),
  stripe: z.object({ liveMode: z.boolean(), localServer: z.boolean(), timeoutMs: count, connectEndpoint: z.boolean().describe('A Connect webhook secret is set') }),
  sockets: z.object({ maxPayloadBytes: count, idleTimeoutS: count, backpressureLimitBytes: count, messagesPer10s: count, maxSocketsPerUser: count }),
  features: z.object({
    riskManagement: z.boolean(),
    rateLimits: z.boolean(),
    analytics: z.boolean(),
    mixpanel: z.boolean().describe('MIXPANEL_TOKEN is set'),
    tracing: z.boolean().describe('OTEL_EXPORTER_OTLP_ENDPOINT is set'),
  }),
  operatorTokens: z.object({
    metrics: z.boolean().describe('METRICS_TOKEN is set'),
    metricsOpenWithoutToken: z.boolean(),
    ops: z.boolean().describe('OPS_TOKEN is set'),
  }),
});

export const debugSchema = z.object({
  version: z.string().max(50),
  instanceId: name.describe("This process: its LISTEN connection is `bountyexpo-listen-<instanceId>` in pg_stat_activity"),
  hostname: name,
  pid: count,
  runtime: z.string().max(50),
  startedAt: z.date(),
  uptimeSeconds: z.number().min(0),
  draining: z.boolean(),
  config: debugConfigSchema,
  database: z.object({
    mode: z.enum(['postgres', 'embedded']),
    pools: z.array(z.object({ pool: name, size: count, inUse: count, waiting: count })).max(100),
    replicas: z
      .array(
        z.object({
          replica: name,
          state: z.enum(REPLICA_STATES),
          lagBytes: z.number().nullable(),
          lagSeconds: z.number().nullable(),
          readsServed: count,
        }),
      )
      .max(100),
    fallbackInflight: count,
  }),
  jobs: z
    .array(z.object({ queue: name, queued: count, active: count, deadLetters: count }))
    .max(200)
    .nullable()
    .describe("Null when the primary did not answer within a second; empty before the queue's tables exist"),
  ledgerCheck: z
    .object({ balanceMismatches: count, unbalancedTransactions: count, checkedAt: z.date() })
    .nullable()
    .describe('The last periodic ledger check; null before the first one or when the primary did not answer in time'),
});

export type DebugReport = z.infer<typeof debugSchema>;
