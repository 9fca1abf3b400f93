/**
 * docker-compose.yml's `dev-services` container: the local Stripe-compatible, SMTP and Expo push
 * servers on every interface, so that both app instances and the separate worker use the SAME
 * ones. (`bun run dev` starts them on 127.0.0.1 inside its own process, which another container
 * cannot reach; two instances would each get a Stripe of their own.) Development only: the
 * servers have no authentication.
 *
 * Env: STRIPE_WEBHOOK_SECRET (required, the instances' too), STRIPE_WEBHOOK_URL (where events go:
 * the load balancer), LOCAL_STRIPE_PORT / LOCAL_SMTP_PORT / LOCAL_EXPO_PORT (12111 / 12025 / 12112).
 */
import { startLocalExpo } from '../src/dev/expo-local';
import { startLocalSmtp } from '../src/dev/smtp-local';
import { startLocalStripe } from '../src/dev/stripe-local';
import { createLogger } from '../src/lib/logger';

function fail(message: string): never {
  console.error(`compose-dev-services: ${message}`);
  process.exit(1);
}

function portFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 1 || port > 65535) fail(`${name} must be a TCP port, got '${raw}'`);
  return port;
}

const webhookSecret = process.env.STRIPE_WEBHOOK_SECRET?.trim() ?? '';
if (!webhookSecret.startsWith('whsec_')) fail('STRIPE_WEBHOOK_SECRET must be the instances\' webhook signing secret (whsec_...)');
const webhookTarget = process.env.STRIPE_WEBHOOK_URL?.trim() || 'http://lb/webhooks/stripe';
if (!URL.canParse(webhookTarget)) fail(`STRIPE_WEBHOOK_URL must be a URL, got '${webhookTarget}'`);

const logger = createLogger({ level: process.env.LOG_LEVEL || 'info', name: 'compose-dev-services' });
// Every interface: the other containers reach these by the service's name.
const hostname = '0.0.0.0';
const stripe = await startLocalStripe({ port: portFromEnv('LOCAL_STRIPE_PORT', 12111), hostname, webhookSecret, webhookTarget, logger });
const smtp = await startLocalSmtp({ port: portFromEnv('LOCAL_SMTP_PORT', 12025), hostname, logger });
const expo = startLocalExpo({ port: portFromEnv('LOCAL_EXPO_PORT', 12112), hostname, logger });
logger.info({ stripe: stripe.url, smtp: smtp.url, expo: expo.url, webhooks: webhookTarget }, 'local Stripe, SMTP and Expo servers listening (development only)');

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void Promise.all([stripe.stop(), smtp.stop(), expo.stop()]).then(() => process.exit(0));
  });
}
