/**
 * The one config parser. The environment is read here, once, validated with zod and frozen;
 * nothing else in the service reads process.env.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { isIP } from 'node:net';
import { z } from 'zod';

/**
 * Secrets that are public: this repository's old development default and Better-Auth's own
 * fallback. Anyone can forge a session with them (user ids are public), so production refuses them.
 */
const PUBLIC_AUTH_SECRETS: ReadonlySet<string> = new Set([
  'dev-only-secret-change-me-0123456789abcdef',
  'better-auth-secret-123456789',
]);
const MIN_AUTH_SECRET_LENGTH = 32;

/** The key the SDK sends to the local Stripe-compatible server (development and tests). */
export const LOCAL_STRIPE_SECRET_KEY = 'sk_test_bountyexpo_local';

/** The generated secret of an install without BETTER_AUTH_SECRET, kept beside its data. */
export const authSecretFile = (dataDir: string): string => join(resolve(dataDir), 'auth-secret');

/**
 * Development and test without BETTER_AUTH_SECRET: a random secret per data directory, created
 * once and reused, so sessions survive restarts and no two installs share a secret.
 */
function dataDirSecret(dataDir: string): string {
  const file = authSecretFile(dataDir);
  try {
    const stored = readFileSync(file, 'utf8').trim();
    if (stored.length >= MIN_AUTH_SECRET_LENGTH) return stored;
  } catch {
    // Not there yet: created below.
  }
  mkdirSync(resolve(dataDir), { recursive: true });
  const secret = randomBytes(32).toString('base64url');
  writeFileSync(file, `${secret}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return secret;
}

const boolean = z
  .enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off'])
  .transform((value) => ['true', '1', 'yes', 'on'].includes(value));

const commaList = z
  .string()
  .default('')
  .transform((value) =>
    value
      .split(',')
      .map((item) => item.trim())
      .filter((item) => item.length > 0),
  );

/** An IP address or CIDR block; anything else would silently trust nobody (or crash per request). */
const ipOrCidr = z.string().refine((entry) => {
  const [address = '', prefix, ...rest] = entry.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  if (prefix === undefined) return true;
  const bits = Number(prefix);
  return /^\d+$/.test(prefix) && bits <= (family === 4 ? 32 : 128);
}, 'must list IP addresses or CIDR blocks (e.g. 10.0.0.0/8)');

const postgresUrl = z
  .string()
  .trim()
  .refine((value) => /^postgres(ql)?:\/\//.test(value), 'must be a postgres:// URL');

const envSchema = z
  .object({
    NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
    PORT: z.coerce.number().int().min(0).max(65535).default(3000),
    HOST: z.string().trim().min(1).default('0.0.0.0'),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),

    DATABASE_URL: postgresUrl.optional(),
    DATABASE_REPLICA_URLS: commaList.pipe(z.array(postgresUrl)),
    DATABASE_LISTEN_URL: postgresUrl.optional(),
    WEB_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(1),
    // Set by the supervisor for the server processes it starts (src/supervisor.ts); not for operators.
    BOUNTYEXPO_WORKER_INDEX: z.coerce.number().int().min(0).max(63).optional(),
    DB_POOL_MAX: z.coerce.number().int().min(1).max(500).default(20),
    DB_POOL_MAX_TOTAL: z.coerce.number().int().min(3).max(10_000).default(100),
    DB_AUTH_POOL_MAX: z.coerce.number().int().min(1).max(100).default(5),
    DB_POOL_ACQUIRE_TIMEOUT_MS: z.coerce.number().int().min(1).max(60_000).default(1_000),
    DB_IDLE_TIMEOUT_S: z.coerce.number().int().min(0).default(30),
    DB_CONNECT_TIMEOUT_S: z.coerce.number().int().min(1).max(120).default(5),
    DB_STATEMENT_TIMEOUT_MS: z.coerce.number().int().min(1).max(600_000).default(5_000),
    DB_PREPARED_STATEMENTS: boolean.default(true),
    DB_PIPELINING: boolean.default(true),
    DATA_DIR: z.string().trim().min(1).default('./.data'),

    REPLICA_PROBE_MS: z.coerce.number().int().min(20).max(60_000).default(250),
    MAX_REPLICA_LAG_MS: z.coerce.number().int().min(0).default(5_000),
    MAX_REPLICA_LAG_BYTES: z.coerce.number().int().min(0).default(16 * 1024 * 1024),
    READ_YOUR_WRITES_WAIT_MS: z.coerce.number().int().min(0).max(5_000).default(0),
    READ_FALLBACK_MAX_INFLIGHT: z.coerce.number().int().min(1).default(50),
    MIGRATE_REPLICA_WAIT_MS: z.coerce.number().int().min(0).max(600_000).default(30_000),
    DB_LSN_TOKEN_TTL_S: z.coerce.number().int().min(1).default(300),

    SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().min(0).default(10_000),
    BODY_LIMIT_BYTES: z.coerce.number().int().min(1024).max(64 * 1024 * 1024).default(1024 * 1024),

    BETTER_AUTH_SECRET: z.string().min(MIN_AUTH_SECRET_LENGTH, `must be at least ${MIN_AUTH_SECRET_LENGTH} characters`).optional(),
    BETTER_AUTH_URL: z.url().optional(),
    AUTH_COOKIE_CACHE_S: z.coerce.number().int().min(0).max(3600).default(60),
    TRUSTED_PROXIES: commaList.pipe(z.array(ipOrCidr)),
    CORS_ORIGINS: commaList,

    STRIPE_SECRET_KEY: z.string().trim().regex(/^(sk|rk)_(test|live)_[A-Za-z0-9_]+$/, 'must be a Stripe secret key (sk_live_..., sk_test_... or rk_...)').optional(),
    STRIPE_WEBHOOK_SECRET: z.string().trim().regex(/^whsec_[A-Za-z0-9_+/=]+$/, 'must be a webhook signing secret (whsec_...)').optional(),
    STRIPE_CONNECT_WEBHOOK_SECRET: z.string().trim().regex(/^whsec_[A-Za-z0-9_+/=]+$/, 'must be a webhook signing secret (whsec_...)').optional(),
    STRIPE_API_BASE: z.url({ protocol: /^https?$/ }).optional(),
    STRIPE_TIMEOUT_MS: z.coerce.number().int().min(100).max(80_000).default(10_000),
    LOCAL_STRIPE_PORT: z.coerce.number().int().min(1).max(65535).default(12111),
    CONNECT_RETURN_URL: z.url({ protocol: /^https?$|^[a-z][a-z0-9+.-]*$/ }).optional(),
    CONNECT_REFRESH_URL: z.url({ protocol: /^https?$|^[a-z][a-z0-9+.-]*$/ }).optional(),
    APPLE_PAY_DOMAIN_ASSOCIATION: z.string().trim().max(65_536).optional(),
    PLATFORM_FEE_BPS: z.coerce.number().int().min(0).max(5_000).default(1_000),
    MONEY_MAX_AMOUNT: z.coerce.number().int().min(100).max(100_000_000_00).default(1_000_000),
    BOUNTY_EXPIRY_GRACE_H: z.coerce.number().int().min(0).max(24 * 90).default(48),
    AUTO_APPROVE_DAYS: z.coerce.number().int().min(4).max(60).default(7),
    DISPUTE_RESPONSE_DAYS: z.coerce.number().int().min(1).max(30).default(5),
    MUTUAL_CANCEL_HOURS: z.coerce.number().int().min(1).max(24 * 14).default(48),
    IDLE_HUNTER_NUDGE_DAYS: z.coerce.number().int().min(1).max(30).default(3),
    REVIEW_WINDOW_DAYS: z.coerce.number().int().min(1).max(90).default(14),
    MAX_PENDING_REQUESTS: z.coerce.number().int().min(1).max(1_000).default(20),
    MESSAGE_MAX_LENGTH: z.coerce.number().int().min(100).max(20_000).default(4_000),
    MESSAGE_EDIT_WINDOW_MIN: z.coerce.number().int().min(0).max(24 * 60).default(15),
    UNREAD_REMINDER_MIN: z.coerce.number().int().min(1).max(7 * 24 * 60).default(30),
    WS_MAX_PAYLOAD_BYTES: z.coerce.number().int().min(256).max(1024 * 1024).default(16 * 1024),
    WS_IDLE_TIMEOUT_S: z.coerce.number().int().min(10).max(960).default(60),
    WS_BACKPRESSURE_LIMIT_BYTES: z.coerce.number().int().min(16 * 1024).max(64 * 1024 * 1024).default(1024 * 1024),
    WS_MESSAGES_PER_10S: z.coerce.number().int().min(1).max(1_000).default(30),
    WS_MAX_SOCKETS_PER_USER: z.coerce.number().int().min(1).max(10_000).default(20),
    EXPO_ACCESS_TOKEN: z.string().trim().min(1).optional(),
    EXPO_BASE_URL: z.url({ protocol: /^https?$/ }).optional(),
    LOCAL_EXPO_PORT: z.coerce.number().int().min(1).max(65535).default(12112),
    SMTP_URL: z.url({ protocol: /^smtps?$/ }).optional(),
    MAIL_FROM: z.string().trim().min(3).default('BOUNTYExpo <no-reply@bountyexpo.local>'),
    LOCAL_SMTP_PORT: z.coerce.number().int().min(1).max(65535).default(12025),
    DIGEST_HOUR_UTC: z.coerce.number().int().min(0).max(23).default(8),
    ENABLE_RISK_MANAGEMENT: boolean.default(true),
    RISK_CARD_HOLD_DAYS: z.coerce.number().int().min(0).max(180).default(14),
    RISK_MAX_DEPOSITS_PER_DAY: z.coerce.number().int().min(1).max(1_000).default(10),
    RISK_MAX_DEPOSIT_CENTS_PER_DAY: z.coerce.number().int().min(100).max(100_000_000_00).default(500_000),
    RISK_MAX_WITHDRAWALS_PER_DAY: z.coerce.number().int().min(1).max(1_000).default(3),
    RISK_MAX_FAILED_PAYMENTS_PER_DAY: z.coerce.number().int().min(1).max(1_000).default(3),
    RISK_NEW_ACCOUNT_DAYS: z.coerce.number().int().min(0).max(365).default(14),
    RISK_NEW_ACCOUNT_MAX_REWARD_CENTS: z.coerce.number().int().min(100).max(100_000_000_00).default(20_000),
    RISK_NEW_ACCOUNT_MAX_OPEN_BOUNTIES: z.coerce.number().int().min(1).max(1_000).default(3),
    RISK_NEW_ACCOUNT_MAX_REQUESTS_PER_DAY: z.coerce.number().int().min(1).max(1_000).default(10),
    RISK_DEPOSIT_WITHDRAW_DAYS: z.coerce.number().int().min(1).max(90).default(7),
    RISK_PAYOUT_CHANGE_HOURS: z.coerce.number().int().min(1).max(24 * 30).default(72),
    RISK_LINKED_ACCOUNTS_MAX: z.coerce.number().int().min(1).max(100).default(2),
    ADJUSTMENT_DUAL_CONTROL_CENTS: z.coerce.number().int().min(0).max(100_000_000_00).default(10_000),
    WORKER_ENABLED: boolean.default(true),
    JOBS_SCHEMA: z.string().trim().regex(/^[a-z_][a-z0-9_]{0,62}$/, 'must be a lower-case PostgreSQL identifier').default('pgboss'),

    OPS_TOKEN: z.string().min(24, 'must be at least 24 characters').optional(),
    SWAGGER_ENABLED: boolean.optional(),
    DEBUG_HEADERS: boolean.optional(),
    RATE_LIMITS_ENABLED: boolean.default(true),
    METRICS_TOKEN: z.string().min(24, 'must be at least 24 characters').optional(),
    // `bun run worker` serves GET /metrics on this port when set (it has no API otherwise).
    WORKER_METRICS_PORT: z.coerce.number().int().min(1).max(65535).optional(),
    OTEL_EXPORTER_OTLP_ENDPOINT: z.url({ protocol: /^https?$/ }).optional(),
    OTEL_SERVICE_NAME: z.string().trim().min(1).max(100).default('bountyexpo-api'),
    ENABLE_ANALYTICS: boolean.default(true),
    MIXPANEL_TOKEN: z.string().trim().min(1).max(200).optional(),
    MIXPANEL_API_HOST: z.string().trim().regex(/^[a-z0-9.-]+(:\d{1,5})?$/i, 'must be a host name, optionally with :port').optional(),
    MIXPANEL_PROTOCOL: z.enum(['https', 'http']).default('https'),
  })
  .superRefine((env, ctx) => {
    if (env.NODE_ENV === 'production') {
      if (!env.BETTER_AUTH_SECRET)
        ctx.addIssue({ code: 'custom', path: ['BETTER_AUTH_SECRET'], message: 'is required in production' });
      else if (PUBLIC_AUTH_SECRETS.has(env.BETTER_AUTH_SECRET))
        ctx.addIssue({ code: 'custom', path: ['BETTER_AUTH_SECRET'], message: 'is a publicly known default: generate one (openssl rand -base64 32)' });
      if (!env.DATABASE_URL)
        ctx.addIssue({ code: 'custom', path: ['DATABASE_URL'], message: 'is required in production' });
      // The local Stripe-compatible server is for development and tests only.
      if (!env.STRIPE_SECRET_KEY)
        ctx.addIssue({ code: 'custom', path: ['STRIPE_SECRET_KEY'], message: 'is required in production (the local Stripe server never runs there)' });
      if (!env.STRIPE_WEBHOOK_SECRET)
        ctx.addIssue({ code: 'custom', path: ['STRIPE_WEBHOOK_SECRET'], message: 'is required in production' });
      // Connected accounts' events (account.updated, payout.failed) come only to a Connect
      // endpoint, which Stripe signs with a secret of its own.
      if (!env.STRIPE_CONNECT_WEBHOOK_SECRET)
        ctx.addIssue({ code: 'custom', path: ['STRIPE_CONNECT_WEBHOOK_SECRET'], message: "is required in production (the Connect endpoint's secret: payout accounts are kept current by its events)" });
      // The local SMTP server is for development and tests only.
      if (!env.SMTP_URL)
        ctx.addIssue({ code: 'custom', path: ['SMTP_URL'], message: 'is required in production (smtp://user:password@host:587 or smtps://...)' });
      // Without it every scrape of the worker's port would be refused: a port that serves nothing.
      if (env.WORKER_METRICS_PORT !== undefined && !env.METRICS_TOKEN)
        ctx.addIssue({ code: 'custom', path: ['METRICS_TOKEN'], message: 'is required in production with WORKER_METRICS_PORT (scrapes are refused without it)' });
    }
    if (env.STRIPE_SECRET_KEY && !env.STRIPE_WEBHOOK_SECRET)
      ctx.addIssue({ code: 'custom', path: ['STRIPE_WEBHOOK_SECRET'], message: 'is required with STRIPE_SECRET_KEY (webhooks credit the wallets)' });
    if (env.WEB_CONCURRENCY > 1 && !env.DATABASE_URL)
      ctx.addIssue({
        code: 'custom',
        path: ['WEB_CONCURRENCY'],
        message: 'must be 1 on the embedded database (PGlite is one process): set DATABASE_URL to run several',
      });
    if (env.WEB_CONCURRENCY > 1 && poolSizes(env).poolMax < 1)
      ctx.addIssue({
        code: 'custom',
        path: ['DB_POOL_MAX_TOTAL'],
        message: `is too small for WEB_CONCURRENCY=${env.WEB_CONCURRENCY}: each process needs at least 5 connections on the primary`,
      });
    if (env.DATABASE_LISTEN_URL && !env.DATABASE_URL)
      ctx.addIssue({ code: 'custom', path: ['DATABASE_LISTEN_URL'], message: 'needs DATABASE_URL (the primary it reaches)' });
    if (env.DATABASE_REPLICA_URLS.length > 0 && !env.DATABASE_URL)
      ctx.addIssue({ code: 'custom', path: ['DATABASE_REPLICA_URLS'], message: 'needs DATABASE_URL (the primary)' });
    // Past its token's expiry a writer reads like anyone, from a replica up to MAX_REPLICA_LAG_MS
    // behind: the token must outlive that lag, or the writer could stop seeing their write.
    if (env.DB_LSN_TOKEN_TTL_S * 1000 <= env.MAX_REPLICA_LAG_MS)
      ctx.addIssue({ code: 'custom', path: ['DB_LSN_TOKEN_TTL_S'], message: 'must be longer than MAX_REPLICA_LAG_MS' });
  });

/**
 * Connections per process, so that all WEB_CONCURRENCY processes together stay within
 * DB_POOL_MAX_TOTAL per database node. A process opens, on the primary, its request pool, its
 * Better-Auth pool, one probe connection and the bus's two (LISTEN, and the heartbeat that checks
 * it); a replica gets the request pool and a probe. So per process the budget is
 * floor(TOTAL / N) = pool + auth + 3, the auth pool taking at most a fifth of it, and neither
 * ever above DB_POOL_MAX / DB_AUTH_POOL_MAX. With the defaults and one process: 20 + 5 + 3 = 28
 * of 100.
 */
/** The primary's connections outside the two pools: the probe, the bus's LISTEN and its heartbeat. */
const PRIMARY_EXTRA_CONNECTIONS = 3;

function poolSizes(env: { WEB_CONCURRENCY: number; DB_POOL_MAX_TOTAL: number; DB_POOL_MAX: number; DB_AUTH_POOL_MAX: number }) {
  const budget = Math.floor(env.DB_POOL_MAX_TOTAL / env.WEB_CONCURRENCY);
  const authPoolMax = Math.max(1, Math.min(env.DB_AUTH_POOL_MAX, Math.floor(budget / 5)));
  return { authPoolMax, poolMax: Math.min(env.DB_POOL_MAX, budget - authPoolMax - PRIMARY_EXTRA_CONNECTIONS) };
}

/** The marketplace's clocks and limits; reminders come 3 and 1 days before auto-approval. */
export type MarketplaceSettings = Readonly<{
  platformFeeBps: number;
  /** An open bounty with no accepted hunter expires this long after its deadline (refunded). */
  expiryGraceHours: number;
  /** A submission is approved automatically this long after the LAST one. */
  autoApproveDays: number;
  /** The other side's time to answer a dispute before it escalates to an admin. */
  disputeResponseDays: number;
  /** A mutual-cancel proposal lapses after this. */
  mutualCancelHours: number;
  /** The accepted hunter is nudged after this long without a submission. */
  idleHunterNudgeDays: number;
  /** Each side may review within this long after the work ends. */
  reviewWindowDays: number;
  /** Pending applications a hunter may have at once. */
  maxPendingRequests: number;
}>;

/** Conversations: message size, the edit window, when an unread message is worth a reminder. */
export type ConversationSettings = Readonly<{
  messageMaxLength: number;
  editWindowMinutes: number;
  unreadReminderMinutes: number;
}>;

/** The /ws/messages socket's bounds (Bun's defaults are 16 MB frames and buffers: far too generous). */
export type SocketSettings = Readonly<{
  maxPayloadBytes: number;
  idleTimeoutS: number;
  /** A socket whose unsent buffer passes this is a slow consumer and is closed. */
  backpressureLimitBytes: number;
  /** Frames a client may send per 10 seconds; past it the socket is closed (1008). */
  messagesPer10s: number;
  /** Sockets one user may have open on one instance; past it the upgrade is 429. */
  maxSocketsPerUser: number;
}>;

/** Push (Expo) and email (SMTP) delivery. */
export type NotificationSettings = Readonly<{
  expoAccessToken: string | null;
  /** Where expo-server-sdk sends; null = Expo's own service. */
  expoBaseUrl: URL | null;
  /** No EXPO_BASE_URL/EXPO_ACCESS_TOKEN and not production: the local Expo push server runs on this port. */
  localExpo: boolean;
  localExpoPort: number;
  /** smtp:// or smtps:// with credentials; the local SMTP server's when `localSmtp`. */
  smtpUrl: URL;
  localSmtp: boolean;
  localSmtpPort: number;
  mailFrom: string;
  /** The daily email digest goes out at this hour (UTC). */
  digestHourUtc: number;
}>;

/**
 * Risk rules' thresholds (src/modules/risk/rules.ts). `enabled` false (ENABLE_RISK_MANAGEMENT=false)
 * makes every rule allow; off-platform warnings in chat still count.
 */
export type RiskSettings = Readonly<{
  enabled: boolean;
  /** Card money this young cannot be withdrawn yet (the chargeback window). */
  cardHoldDays: number;
  maxDepositsPerDay: number;
  maxDepositCentsPerDay: number;
  maxWithdrawalsPerDay: number;
  maxFailedPaymentsPerDay: number;
  /** An account younger than this, with no completed work, has the caps below. */
  newAccountDays: number;
  newAccountMaxRewardCents: number;
  newAccountMaxOpenBounties: number;
  newAccountMaxRequestsPerDay: number;
  /** A withdrawal this soon after a deposit, with no marketplace activity between, is held. */
  depositWithdrawDays: number;
  /** A withdrawal this soon after the payout destination changed is held. */
  payoutChangeHours: number;
  /** More accounts than this on one device or payout destination are flagged. */
  linkedAccountsMax: number;
}>;

export type AppConfig = Readonly<{
  nodeEnv: 'development' | 'test' | 'production';
  isProduction: boolean;
  port: number;
  host: string;
  logLevel: string;
  version: string;
  /** Server processes `bun run start` runs (src/supervisor.ts when above 1). */
  webConcurrency: number;
  /** Which of them this process is; null for the supervisor or a single process. */
  workerIndex: number | null;
  database: Readonly<{
    primaryUrl: string | undefined;
    replicaUrls: readonly string[];
    /** The primary for the bus's LISTEN connection: a session of its own (DATABASE_LISTEN_URL, else DATABASE_URL). */
    listenUrl: string | undefined;
    poolMax: number;
    /** Better-Auth's own pool on the primary: session lookups never queue behind writes. */
    authPoolMax: number;
    poolAcquireTimeoutMs: number;
    idleTimeoutS: number;
    connectTimeoutS: number;
    statementTimeoutMs: number;
    preparedStatements: boolean;
    /** false: one statement or transaction per connection at a time (PgBouncer in transaction mode; src/db/no-pipelining.ts). */
    pipelining: boolean;
    dataDir: string;
    replicaProbeMs: number;
    maxReplicaLagMs: number;
    maxReplicaLagBytes: number;
    readYourWritesWaitMs: number;
    readFallbackMaxInflight: number;
    lsnTokenTtlS: number;
    migrateReplicaWaitMs: number;
  }>;
  shutdownTimeoutMs: number;
  bodyLimitBytes: number;
  auth: Readonly<{
    secret: string;
    baseUrl: string;
    cookieCacheS: number;
    trustedProxies: readonly string[];
  }>;
  corsOrigins: readonly string[];
  stripe: Readonly<{
    /** The secret key the SDK uses; a fixed local one when `local`. */
    secretKey: string;
    /** A live key (sk_live_/rk_live_): test-mode events and Stripe's named test cards are refused. */
    liveMode: boolean;
    /** The account endpoint's signing secret (the local server signs with it too). */
    webhookSecret: string;
    /** Every secret a webhook may be signed with: the account endpoint's and the Connect endpoint's. */
    webhookSecrets: readonly string[];
    /** Where the SDK sends requests; null = api.stripe.com. */
    apiBase: URL | null;
    timeoutMs: number;
    /**
     * No STRIPE_SECRET_KEY outside production: the service starts the local Stripe-compatible
     * server (src/dev/stripe-local) on `localPort` and points the SDK at it.
     */
    local: boolean;
    localPort: number;
  }>;
  money: Readonly<{
    /** The platform's fee on a released reward, in basis points (1/100 of a percent). */
    platformFeeBps: number;
    /** The largest amount, in minor units, one deposit, withdrawal or reward may be. */
    maxAmount: number;
  }>;
  connect: Readonly<{ returnUrl: string; refreshUrl: string }>;
  /** The lifecycle's clocks and limits (src/modules/bounties/lifecycle.ts reads them). */
  marketplace: MarketplaceSettings;
  conversations: ConversationSettings;
  sockets: SocketSettings;
  notifications: NotificationSettings;
  risk: RiskSettings;
  /** An admin's ledger adjustment above this (absolute, minor units) waits for a second admin. */
  adjustmentDualControlCents: number;
  /** The Apple Pay domain-association file's content, served under /.well-known when set. */
  applePayDomainAssociation: string | null;
  /** Whether this process runs the job workers (`bun run worker` runs them alone). */
  workerEnabled: boolean;
  /** The PostgreSQL schema of the job queue's tables (pg-boss). */
  jobsSchema: string;
  /** Bearer token for operators' detail (replica names, lag, reads) on /health/db. */
  opsToken: string | undefined;
  swaggerEnabled: boolean;
  debugHeaders: boolean;
  /** The service's own rate limits (src/lib/rate-limits.ts); Better-Auth's limits apply regardless. */
  rateLimits: Readonly<{ enabled: boolean }>;
  /** /metrics: open outside production; in production only with `Authorization: Bearer <token>`. */
  metrics: Readonly<{ token: string | undefined; openWithoutToken: boolean; workerPort: number | undefined }>;
  /** OpenTelemetry traces: exported over OTLP/HTTP to `endpoint`; off (no SDK started) when null. */
  tracing: Readonly<{ endpoint: URL | null; serviceName: string }>;
  /** Product analytics (events, daily rollups, /analytics); forwarded to Mixpanel when a token is set. */
  analytics: Readonly<{ enabled: boolean; mixpanelToken: string | null; mixpanelHost: string | null; mixpanelProtocol: 'https' | 'http' }>;
}>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration: ${problems.join('; ')}`);
    this.name = 'ConfigError';
  }
}

const packageVersion = (): string => {
  // Bun inlines JSON imports; reading package.json keeps /health's version honest.
  const version: unknown = require('../../package.json').version;
  return typeof version === 'string' ? version : '0.0.0';
};

/** Parses an environment into a frozen config; throws ConfigError listing every problem at once. */
export function parseConfig(source: Record<string, string | undefined>): AppConfig {
  // Empty strings mean "unset" (a blank line in .env should not fail a number parse).
  const cleaned = Object.fromEntries(Object.entries(source).filter(([, value]) => value !== undefined && value !== ''));
  const result = envSchema.safeParse(cleaned);
  if (!result.success) {
    throw new ConfigError(result.error.issues.map((issue) => `${issue.path.join('.') || 'env'} ${issue.message}`));
  }
  const env = result.data;
  const isProduction = env.NODE_ENV === 'production';
  const pools = poolSizes(env);
  const authSecret = env.BETTER_AUTH_SECRET ?? dataDirSecret(env.DATA_DIR);
  const baseUrl = env.BETTER_AUTH_URL ?? `http://localhost:${env.PORT}`;
  const localStripe = !env.STRIPE_SECRET_KEY;
  // Outside production, no Expo settings means the local Expo push server (src/dev/expo-local).
  const localExpo = !isProduction && !env.EXPO_BASE_URL && !env.EXPO_ACCESS_TOKEN;
  // Derived from the install's own secret: events signed with it are accepted, so it must not be public.
  const webhookSecret = env.STRIPE_WEBHOOK_SECRET ?? `whsec_${createHmac('sha256', authSecret).update('local-stripe-webhooks').digest('base64url').replaceAll('-', '_')}`;
  return Object.freeze({
    nodeEnv: env.NODE_ENV,
    isProduction,
    port: env.PORT,
    host: env.HOST,
    logLevel: env.LOG_LEVEL,
    version: packageVersion(),
    webConcurrency: env.WEB_CONCURRENCY,
    workerIndex: env.BOUNTYEXPO_WORKER_INDEX ?? null,
    database: Object.freeze({
      primaryUrl: env.DATABASE_URL,
      replicaUrls: Object.freeze([...env.DATABASE_REPLICA_URLS]),
      listenUrl: env.DATABASE_LISTEN_URL ?? env.DATABASE_URL,
      poolMax: pools.poolMax,
      authPoolMax: pools.authPoolMax,
      poolAcquireTimeoutMs: env.DB_POOL_ACQUIRE_TIMEOUT_MS,
      idleTimeoutS: env.DB_IDLE_TIMEOUT_S,
      connectTimeoutS: env.DB_CONNECT_TIMEOUT_S,
      statementTimeoutMs: env.DB_STATEMENT_TIMEOUT_MS,
      preparedStatements: env.DB_PREPARED_STATEMENTS,
      pipelining: env.DB_PIPELINING,
      dataDir: env.DATA_DIR,
      replicaProbeMs: env.REPLICA_PROBE_MS,
      maxReplicaLagMs: env.MAX_REPLICA_LAG_MS,
      maxReplicaLagBytes: env.MAX_REPLICA_LAG_BYTES,
      readYourWritesWaitMs: env.READ_YOUR_WRITES_WAIT_MS,
      readFallbackMaxInflight: env.READ_FALLBACK_MAX_INFLIGHT,
      lsnTokenTtlS: env.DB_LSN_TOKEN_TTL_S,
      migrateReplicaWaitMs: env.MIGRATE_REPLICA_WAIT_MS,
    }),
    shutdownTimeoutMs: env.SHUTDOWN_TIMEOUT_MS,
    bodyLimitBytes: env.BODY_LIMIT_BYTES,
    auth: Object.freeze({
      secret: authSecret,
      baseUrl,
      cookieCacheS: env.AUTH_COOKIE_CACHE_S,
      trustedProxies: Object.freeze([...env.TRUSTED_PROXIES]),
    }),
    corsOrigins: Object.freeze(
      env.CORS_ORIGINS.length > 0 ? [...env.CORS_ORIGINS] : isProduction ? [] : ['http://localhost:3000', 'http://localhost:8081'],
    ),
    stripe: Object.freeze({
      secretKey: env.STRIPE_SECRET_KEY ?? LOCAL_STRIPE_SECRET_KEY,
      liveMode: /^(sk|rk)_live_/.test(env.STRIPE_SECRET_KEY ?? ''),
      webhookSecret,
      webhookSecrets: Object.freeze([webhookSecret, ...(env.STRIPE_CONNECT_WEBHOOK_SECRET ? [env.STRIPE_CONNECT_WEBHOOK_SECRET] : [])]),
      apiBase: env.STRIPE_API_BASE ? new URL(env.STRIPE_API_BASE) : localStripe ? new URL(`http://127.0.0.1:${env.LOCAL_STRIPE_PORT}`) : null,
      timeoutMs: env.STRIPE_TIMEOUT_MS,
      local: localStripe,
      localPort: env.LOCAL_STRIPE_PORT,
    }),
    money: Object.freeze({ platformFeeBps: env.PLATFORM_FEE_BPS, maxAmount: env.MONEY_MAX_AMOUNT }),
    marketplace: Object.freeze({
      platformFeeBps: env.PLATFORM_FEE_BPS,
      expiryGraceHours: env.BOUNTY_EXPIRY_GRACE_H,
      autoApproveDays: env.AUTO_APPROVE_DAYS,
      disputeResponseDays: env.DISPUTE_RESPONSE_DAYS,
      mutualCancelHours: env.MUTUAL_CANCEL_HOURS,
      idleHunterNudgeDays: env.IDLE_HUNTER_NUDGE_DAYS,
      reviewWindowDays: env.REVIEW_WINDOW_DAYS,
      maxPendingRequests: env.MAX_PENDING_REQUESTS,
    }),
    connect: Object.freeze({
      returnUrl: env.CONNECT_RETURN_URL ?? `${baseUrl}/connect/account`,
      refreshUrl: env.CONNECT_REFRESH_URL ?? `${baseUrl}/connect/account`,
    }),
    conversations: Object.freeze({
      messageMaxLength: env.MESSAGE_MAX_LENGTH,
      editWindowMinutes: env.MESSAGE_EDIT_WINDOW_MIN,
      unreadReminderMinutes: env.UNREAD_REMINDER_MIN,
    }),
    sockets: Object.freeze({
      maxPayloadBytes: env.WS_MAX_PAYLOAD_BYTES,
      idleTimeoutS: env.WS_IDLE_TIMEOUT_S,
      backpressureLimitBytes: env.WS_BACKPRESSURE_LIMIT_BYTES,
      messagesPer10s: env.WS_MESSAGES_PER_10S,
      maxSocketsPerUser: env.WS_MAX_SOCKETS_PER_USER,
    }),
    notifications: Object.freeze({
      expoAccessToken: env.EXPO_ACCESS_TOKEN ?? null,
      expoBaseUrl: env.EXPO_BASE_URL ? new URL(env.EXPO_BASE_URL) : localExpo ? new URL(`http://127.0.0.1:${env.LOCAL_EXPO_PORT}`) : null,
      localExpo,
      localExpoPort: env.LOCAL_EXPO_PORT,
      smtpUrl: new URL(env.SMTP_URL ?? `smtp://127.0.0.1:${env.LOCAL_SMTP_PORT}`),
      localSmtp: !env.SMTP_URL,
      localSmtpPort: env.LOCAL_SMTP_PORT,
      mailFrom: env.MAIL_FROM,
      digestHourUtc: env.DIGEST_HOUR_UTC,
    }),
    risk: Object.freeze({
      enabled: env.ENABLE_RISK_MANAGEMENT,
      cardHoldDays: env.RISK_CARD_HOLD_DAYS,
      maxDepositsPerDay: env.RISK_MAX_DEPOSITS_PER_DAY,
      maxDepositCentsPerDay: env.RISK_MAX_DEPOSIT_CENTS_PER_DAY,
      maxWithdrawalsPerDay: env.RISK_MAX_WITHDRAWALS_PER_DAY,
      maxFailedPaymentsPerDay: env.RISK_MAX_FAILED_PAYMENTS_PER_DAY,
      newAccountDays: env.RISK_NEW_ACCOUNT_DAYS,
      newAccountMaxRewardCents: env.RISK_NEW_ACCOUNT_MAX_REWARD_CENTS,
      newAccountMaxOpenBounties: env.RISK_NEW_ACCOUNT_MAX_OPEN_BOUNTIES,
      newAccountMaxRequestsPerDay: env.RISK_NEW_ACCOUNT_MAX_REQUESTS_PER_DAY,
      depositWithdrawDays: env.RISK_DEPOSIT_WITHDRAW_DAYS,
      payoutChangeHours: env.RISK_PAYOUT_CHANGE_HOURS,
      linkedAccountsMax: env.RISK_LINKED_ACCOUNTS_MAX,
    }),
    adjustmentDualControlCents: env.ADJUSTMENT_DUAL_CONTROL_CENTS,
    applePayDomainAssociation: env.APPLE_PAY_DOMAIN_ASSOCIATION ?? null,
    workerEnabled: env.WORKER_ENABLED,
    jobsSchema: env.JOBS_SCHEMA,
    opsToken: env.OPS_TOKEN,
    swaggerEnabled: env.SWAGGER_ENABLED ?? !isProduction,
    debugHeaders: env.DEBUG_HEADERS ?? !isProduction,
    rateLimits: Object.freeze({ enabled: env.RATE_LIMITS_ENABLED }),
    metrics: Object.freeze({ token: env.METRICS_TOKEN, openWithoutToken: !isProduction, workerPort: env.WORKER_METRICS_PORT }),
    tracing: Object.freeze({
      endpoint: env.OTEL_EXPORTER_OTLP_ENDPOINT ? new URL(env.OTEL_EXPORTER_OTLP_ENDPOINT) : null,
      serviceName: env.OTEL_SERVICE_NAME,
    }),
    analytics: Object.freeze({
      enabled: env.ENABLE_ANALYTICS,
      mixpanelToken: env.MIXPANEL_TOKEN ?? null,
      mixpanelHost: env.MIXPANEL_API_HOST ?? null,
      mixpanelProtocol: env.MIXPANEL_PROTOCOL,
    }),
  });
}

/** Start-up entry: parse process.env or stop the process with one message listing every problem. */
export function loadConfig(source: Record<string, string | undefined> = process.env): AppConfig {
  try {
    return parseConfig(source);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
}
