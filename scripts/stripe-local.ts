/**
 * The local Stripe-compatible server on its own, for development (src/dev/stripe-local).
 *
 *   STRIPE_WEBHOOK_SECRET=whsec_... bun run stripe:local
 *
 * Env: LOCAL_STRIPE_PORT (default 12111), STRIPE_WEBHOOK_URL (default
 * http://localhost:3000/webhooks/stripe), STRIPE_WEBHOOK_SECRET (required: the service must verify
 * the events with the same secret), LOG_LEVEL (default info).
 */
import { startLocalStripe } from '../src/dev/stripe-local';
import { LOCAL_STRIPE_SECRET_KEY } from '../src/config/env';
import { createLogger } from '../src/lib/logger';

function fail(message: string): never {
  console.error(`stripe:local: ${message}`);
  process.exit(1);
}

function portFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`${name} must be a TCP port (0 = any free one), got '${raw}'`);
  return port;
}

const secret = process.env.STRIPE_WEBHOOK_SECRET?.trim();
if (!secret)
  fail(
    'STRIPE_WEBHOOK_SECRET is required: the webhook signing secret (whsec_...) the service verifies events with. ' +
      'Set the same value for both, e.g. STRIPE_WEBHOOK_SECRET=whsec_local_dev bun run stripe:local',
  );
if (!secret.startsWith('whsec_')) fail(`STRIPE_WEBHOOK_SECRET must be a webhook signing secret (whsec_...), got '${secret.slice(0, 6)}...'`);

const webhookUrl = process.env.STRIPE_WEBHOOK_URL?.trim() || 'http://localhost:3000/webhooks/stripe';
if (!URL.canParse(webhookUrl)) fail(`STRIPE_WEBHOOK_URL must be a URL, got '${webhookUrl}'`);

const logger = createLogger({ level: process.env.LOG_LEVEL || 'info', name: 'stripe-local' });
const local = await startLocalStripe({
  port: portFromEnv('LOCAL_STRIPE_PORT', 12111),
  webhookSecret: secret,
  webhookTarget: webhookUrl,
  logger,
}).catch((error: unknown) => fail(`cannot listen: ${error instanceof Error ? error.message : String(error)}`));

console.error(
  `# local Stripe on ${local.url}, webhooks to ${webhookUrl}\n` +
    `# point the service at it: STRIPE_API_BASE=${local.url} STRIPE_SECRET_KEY=${LOCAL_STRIPE_SECRET_KEY} STRIPE_WEBHOOK_SECRET=<the same secret>\n` +
    `# test controls: ${local.url}/_local/... (see src/dev/stripe-local/index.ts)`,
);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void local.stop().then(() => process.exit(0));
  });
}
