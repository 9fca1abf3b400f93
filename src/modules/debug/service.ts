/**
 * What GET /debug tells an admin about this process: version, uptime, instance, the configuration
 * that is not secret (an explicit allow-list: a setting added to the config stays out of the body
 * until it is named here), pools, replicas and job backlogs (the metrics module's snapshot).
 */
import { hostname } from 'node:os';
import type { AppConfig } from '../../config/env';
import type { DatabaseCluster } from '../../db';
import type { JobQueue } from '../../jobs';
import { operationsSnapshot } from '../metrics';
import type { DebugReport } from './schemas';

export type DebugDeps = Readonly<{
  config: AppConfig;
  database: DatabaseCluster;
  jobs: JobQueue;
  /** This process's id (the event bus's label). */
  instanceId: string;
  /** When this app started, and whether it is draining (the health module's lifecycle). */
  lifecycle: Readonly<{ startedAt: number; draining: boolean }>;
}>;

export function publicConfig(config: AppConfig, database: DatabaseCluster): DebugReport['config'] {
  const db = config.database;
  return {
    nodeEnv: config.nodeEnv,
    port: config.port,
    host: config.host,
    logLevel: config.logLevel,
    webConcurrency: config.webConcurrency,
    workerIndex: config.workerIndex,
    // The origin alone: a URL's user-info part would be a credential.
    publicOrigin: new URL(config.auth.baseUrl).origin,
    corsOrigins: [...config.corsOrigins],
    trustedProxies: [...config.auth.trustedProxies],
    bodyLimitBytes: config.bodyLimitBytes,
    shutdownTimeoutMs: config.shutdownTimeoutMs,
    swaggerEnabled: config.swaggerEnabled,
    debugHeaders: config.debugHeaders,
    database: {
      embedded: database.mode === 'embedded',
      replicas: db.replicaUrls.length,
      poolMax: db.poolMax,
      authPoolMax: db.authPoolMax,
      poolAcquireTimeoutMs: db.poolAcquireTimeoutMs,
      idleTimeoutS: db.idleTimeoutS,
      connectTimeoutS: db.connectTimeoutS,
      statementTimeoutMs: db.statementTimeoutMs,
      preparedStatements: db.preparedStatements,
      pipelining: db.pipelining,
      replicaProbeMs: db.replicaProbeMs,
      maxReplicaLagMs: db.maxReplicaLagMs,
      maxReplicaLagBytes: db.maxReplicaLagBytes,
      readYourWritesWaitMs: db.readYourWritesWaitMs,
      readFallbackMaxInflight: db.readFallbackMaxInflight,
      lsnTokenTtlS: db.lsnTokenTtlS,
    },
    auth: { cookieCacheS: config.auth.cookieCacheS },
    jobs: { workerEnabled: config.workerEnabled, schema: config.jobsSchema },
    stripe: {
      liveMode: config.stripe.liveMode,
      localServer: config.stripe.local,
      timeoutMs: config.stripe.timeoutMs,
      connectEndpoint: config.stripe.webhookSecrets.length > 1,
    },
    sockets: {
      maxPayloadBytes: config.sockets.maxPayloadBytes,
      idleTimeoutS: config.sockets.idleTimeoutS,
      backpressureLimitBytes: config.sockets.backpressureLimitBytes,
      messagesPer10s: config.sockets.messagesPer10s,
      maxSocketsPerUser: config.sockets.maxSocketsPerUser,
    },
    features: {
      riskManagement: config.risk.enabled,
      rateLimits: config.rateLimits.enabled,
      analytics: config.analytics.enabled,
      mixpanel: config.analytics.mixpanelToken !== null,
      tracing: config.tracing.endpoint !== null,
    },
    operatorTokens: {
      metrics: config.metrics.token !== undefined,
      metricsOpenWithoutToken: config.metrics.openWithoutToken,
      ops: config.opsToken !== undefined,
    },
  };
}

export async function debugReport(deps: DebugDeps): Promise<DebugReport> {
  const snapshot = await operationsSnapshot(deps.database, deps.jobs);
  const now = Date.now();
  return {
    version: deps.config.version,
    instanceId: deps.instanceId,
    hostname: hostname(),
    pid: process.pid,
    runtime: `bun ${Bun.version}`,
    startedAt: new Date(deps.lifecycle.startedAt),
    uptimeSeconds: Math.round((now - deps.lifecycle.startedAt) / 100) / 10,
    draining: deps.lifecycle.draining,
    config: publicConfig(deps.config, deps.database),
    database: { mode: deps.database.mode, pools: snapshot.pools, replicas: snapshot.replicas, fallbackInflight: snapshot.fallbackInflight },
    jobs: snapshot.queues,
    ledgerCheck: snapshot.ledgerCheck,
  };
}
