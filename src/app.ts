/**
 * Builds the application without listening: src/server.ts serves it, tests call app.handle().
 */
import { Elysia } from 'elysia';
import { z } from 'zod';
import type { AppConfig } from './config/env';
import type { DatabaseCluster } from './db';
import { type Auth, authCookieNames, createAuth, createSessionReader, SessionRevocations, trustedOrigins } from './lib/auth';
import type { Logger } from './lib/logger';
import { notFound } from './lib/errors';
import type { JobQueue } from './jobs';
import { createStripeClient, type Stripe } from './lib/stripe';
import { adminRoutes } from './modules/admin';
import { analyticsRoutes } from './modules/analytics';
import { authRoutes, betterAuthHandler } from './modules/auth';
import { bountiesRoutes } from './modules/bounties';
import { bountyFunder } from './modules/bounties/funding';
import { connectRoutes } from './modules/connect';
import { conversationsRoutes } from './modules/conversations';
import { paymentsRoutes } from './modules/payments';
import { walletRoutes } from './modules/wallet';
import { payoutEnqueuer } from './modules/wallet/jobs';
import { stripeWebhookRoutes } from './modules/webhooks';
import { reconcileEnqueuer } from './modules/webhooks/jobs';
import { betterAuthOpenApi } from './modules/auth/openapi';
import { healthRoutes } from './modules/health';
import { createLifecycle, type Lifecycle } from './modules/health/service';
import { metricsRoutes } from './modules/metrics';
import { debugRoutes } from './modules/debug';
import { notificationsRoutes } from './modules/notifications';
import { outboxRelay } from './modules/notifications/relay';
import { typingAudience } from './modules/conversations/messages';
import type { EventBus } from './modules/realtime/bus';
import { CHANNELS } from './modules/realtime/channels';
import { realtimeRoutes, SocketHub } from './modules/realtime';
import { moderationRoutes } from './modules/moderation';
import { postsRoutes } from './modules/posts';
import { profilesRoutes } from './modules/profiles';
import { riskRoutes } from './modules/risk';
import { searchRoutes } from './modules/search';
import { requestsRoutes } from './modules/requests';
import { usersRoutes } from './modules/users';
import { authPlugin } from './plugins/auth';
import { corsPlugin } from './plugins/cors';
import { databasePlugin } from './plugins/database';
import { idempotencyPlugin } from './plugins/idempotency';
import { httpCachePlugin } from './plugins/http-cache';
import { errorHandler } from './plugins/error-handler';
import { MODULES } from './modules';
import { openapiPlugin } from './plugins/openapi';
import { requestContext } from './plugins/request-context';
import { rateLimiting } from './plugins/rate-limit';
import { RateLimitStore } from './lib/rate-limit-store';
import { httpMetrics } from './plugins/http-metrics';

/** What the sessions channel carries (drizzle/0008): an ended session, or a banned user. */
const sessionAnnouncement = z.object({ sessionId: z.string().optional(), userId: z.string() });

export type AppDeps = {
  config: AppConfig;
  database: DatabaseCluster;
  logger: Logger;
  /** The per-request line's logger (the process logger's unredacted twin); default `logger`. */
  requestLogger?: Logger;
  lifecycle?: Lifecycle;
  /** Tests pass their own (e.g. with the Origin check on); otherwise built from config. */
  auth?: Auth;
  /** The rate-limit store; built here when not given. With `auth`, pass the one it was built with. */
  rateLimitStore?: RateLimitStore;
  /** The job queue routes enqueue on (payouts, webhook reconciliation). */
  jobs: JobQueue;
  /** Built from config when not given (tests share one with their local Stripe server). */
  stripe?: Stripe;
  /** The clock webhook signatures are judged by; tests move it. */
  now?: () => number;
  /** The marketplace's clock (deadlines, timers, history); tests move it days ahead. */
  clock?: () => Date;
  /** The NOTIFY bus between instances (started by the caller once the app is built). */
  bus: EventBus;
  /** This instance's WebSockets; src/serve.ts attaches it to the server. Built here when not given. */
  hub?: SocketHub;
  /** Ended sessions and bans heard on the bus; built here when not given (tests pass one with their own clock). */
  revocations?: SessionRevocations;
};

export function createApp(deps: AppDeps) {
  const { config, database, logger } = deps;
  const lifecycle = deps.lifecycle ?? createLifecycle();
  // One per process: Better-Auth's limiter and ours share its fallback state and sweep.
  const rateLimitStore = deps.rateLimitStore ?? RateLimitStore.overCluster(database, logger);
  const auth = deps.auth ?? createAuth({ config, database, logger, rateLimitStore });
  // Built once and handed to each module, which `.use()`s them for typing (Elysia dedups by name).
  const dbPlugin = databasePlugin({
    database,
    tokenSecret: config.auth.secret,
    tokenTtlS: config.database.lsnTokenTtlS,
    debugHeaders: config.debugHeaders,
    secureCookies: config.auth.baseUrl.startsWith('https://'),
  });
  const sessionReader = createSessionReader({
    secret: config.auth.secret,
    cookies: authCookieNames(config),
    authDatabase: database.authPrimary,
    cacheEnabled: config.auth.cookieCacheS > 0,
  });
  // Ended sessions and bans, as announced on the sessions channel: a cached cookie of theirs is checked again.
  const revocations = deps.revocations ?? new SessionRevocations(config.auth.cookieCacheS * 1000);
  deps.bus.subscribe(CHANNELS.sessions, {
    onMessage(payload) {
      const parsed = sessionAnnouncement.safeParse(payload);
      if (!parsed.success) return;
      if (parsed.data.sessionId) revocations.sessionEnded(parsed.data.sessionId);
      else revocations.userBanned(parsed.data.userId);
    },
    onListen: () => revocations.missedAnnouncements(),
  });
  // Per IP, per route and per user (src/lib/rate-limits.ts), counted on the primary so they hold across instances.
  const rateLimits = rateLimiting({
    enabled: config.rateLimits.enabled,
    store: rateLimitStore,
  });
  const sessionPlugin = authPlugin(auth, sessionReader, database.operationBoundMs, revocations, rateLimits.countViewer);
  // A Better-Auth endpoint may hash a password and run several queries: two operations' worth.
  const authCallBoundMs = 2 * database.operationBoundMs;
  // Keys kept 24 h; a request still running after 2 min is taken to have died with its process.
  const idempotency = idempotencyPlugin({ ttlHours: 24, lockTimeoutMs: 120_000, logger });
  // no-store on every response; ETag, max-age and 304 on the public reads that opt in.
  const httpCache = httpCachePlugin();
  const modules = { auth, baseUrl: config.auth.baseUrl, databasePlugin: dbPlugin, authPlugin: sessionPlugin, idempotencyPlugin: idempotency, httpCachePlugin: httpCache, authCallBoundMs, risk: config.risk };
  const stripe = deps.stripe ?? createStripeClient(config.stripe);
  const money = {
    ...modules,
    stripe,
    liveMode: config.stripe.liveMode,
    maxAmount: config.money.maxAmount,
    enqueuePayout: payoutEnqueuer(deps.jobs),
  };
  const clock = deps.clock ?? (() => new Date());
  // New outbox events are fanned out by jobs as soon as they commit.
  deps.bus.subscribe(CHANNELS.outbox, outboxRelay({ jobs: deps.jobs, logger }));
  // Stream events, ended sessions and typing reach this instance's sockets.
  const hub = deps.hub ?? new SocketHub({ database, logger, settings: config.sockets, typingAudience });
  hub.listenOn(deps.bus);
  const marketplace = { ...money, settings: config.marketplace, now: clock };
  const staff = { ...marketplace, jobs: deps.jobs, dualControlCents: config.adjustmentDualControlCents };
  // Both read their own body, so the error handler mounts them ahead of its parser.
  const unparsedRoutes = new Elysia({ name: 'unparsed-routes' })
    .use(
      betterAuthHandler({
        auth,
        databasePlugin: dbPlugin,
        logger,
        boundMs: authCallBoundMs,
        bodyLimitBytes: config.bodyLimitBytes,
        sessionDataCookie: authCookieNames(config).sessionData,
      }),
    )
    .use(
      stripeWebhookRoutes({
        databasePlugin: dbPlugin,
        stripe,
        webhookSecrets: config.stripe.webhookSecrets,
        liveMode: config.stripe.liveMode,
        bodyLimitBytes: config.bodyLimitBytes,
        logger,
        enqueueReconcile: reconcileEnqueuer(deps.jobs),
        fundBounty: bountyFunder({ marketplace: { settings: config.marketplace }, now: clock }),
        ...(deps.now ? { now: deps.now } : {}),
      }),
    );
  // standardHostname: false: Elysia otherwise finds the path by searching for '/' from offset 11
  // of the URL, which a Host of three characters or fewer ("x", "x:1") puts past the path's start.
  return new Elysia({ handler: { standardHostname: false } })
    .use(requestContext({ logger: deps.requestLogger ?? logger, unlogged: lifecycle.unlogged }))
    .use(httpMetrics())
    .use(corsPlugin(config.corsOrigins))
    .use(
      errorHandler({
        logger,
        isProduction: config.isProduction,
        bodyLimitBytes: config.bodyLimitBytes,
        unparsedRoutes,
        ...(rateLimits.beforeParse ? { beforeParse: rateLimits.beforeParse } : {}),
      }),
    )
    .use(rateLimits.plugin)
    .use(
      openapiPlugin({
        modules: MODULES,
        version: config.version,
        enabled: config.swaggerEnabled,
        sessionCookie: authCookieNames(config).sessionToken,
        extraPaths: () => betterAuthOpenApi(auth, config.bodyLimitBytes),
      }),
    )
    .use(dbPlugin)
    .use(sessionPlugin)
    .use(idempotency)
    .use(httpCache)
    .use(healthRoutes({ database, lifecycle, version: config.version, detail: { token: config.opsToken, openWithoutToken: !config.isProduction } }))
    .use(metricsRoutes({ database, jobs: deps.jobs, access: config.metrics }))
    .use(debugRoutes({ config, database, jobs: deps.jobs, instanceId: deps.bus.label, lifecycle, authPlugin: sessionPlugin }))
    .use(authRoutes(modules))
    .use(usersRoutes(modules))
    .use(postsRoutes(modules))
    .use(searchRoutes(modules))
    .use(profilesRoutes({ ...modules, now: clock, reviewWindowDays: config.marketplace.reviewWindowDays }))
    .use(bountiesRoutes(marketplace))
    .use(requestsRoutes({ ...modules, marketplace: { settings: config.marketplace }, now: clock }))
    .use(conversationsRoutes({ ...modules, settings: config.conversations, now: clock }))
    .use(notificationsRoutes({ ...modules, now: clock }))
    .use(realtimeRoutes({ authPlugin: sessionPlugin, hub, settings: config.sockets, trustedOrigins: trustedOrigins(config) }))
    .use(walletRoutes({ ...money, now: clock }))
    .use(paymentsRoutes({ ...money, applePayDomainAssociation: config.applePayDomainAssociation }))
    .use(connectRoutes({ ...money, returnUrl: config.connect.returnUrl, refreshUrl: config.connect.refreshUrl }))
    .use(moderationRoutes(staff))
    .use(riskRoutes(staff))
    .use(analyticsRoutes({ ...modules, settings: config.analytics, now: clock }))
    .use(adminRoutes(staff))
    .all('*', () => {
      throw notFound('No route matches this path');
    }, { detail: { hide: true } });
}

export type App = ReturnType<typeof createApp>;
