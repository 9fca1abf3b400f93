/**
 * Events and their signed delivery. Every state change creates an event (a snapshot of the object
 * at that moment); events are POSTed to the webhook target after the API response, one at a time
 * in creation order, signed by the stripe library itself, so the receiving code verifies them with
 * `constructEventAsync` exactly as in production. A failed delivery (non-2xx, throw, timeout) is
 * retried after 50 ms, 200 ms and 1 s, then recorded as failed.
 *
 * Test controls: `duplicate` sends each event twice, `delayMs` waits before each send, `hold`
 * parks events until `flush` sends them (in creation or reverse order).
 */
import Stripe from 'stripe';
import { newId, unixNow } from './state';

export type WebhookTarget = string | ((request: Request) => Promise<Response>);

export type Logger = {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
};

export type StripeEvent = {
  id: string;
  object: 'event';
  /** Set on events about a connected account (Connect webhooks), e.g. payout.failed. */
  account?: string;
  api_version: string;
  created: number;
  data: { object: object };
  livemode: false;
  pending_webhooks: number;
  request: { id: string | null; idempotency_key: string | null };
  type: string;
};

/** Who caused an event: an API request (its id and Idempotency-Key) or nobody (a test control). */
export type EventOrigin = { requestId: string | null; idempotencyKey: string | null };

export type DeliveryAttempt = {
  eventId: string;
  type: string;
  attempt: number;
  /** The target's HTTP status; null when it threw or timed out. */
  status: number | null;
  error: string | null;
  outcome: 'delivered' | 'retrying' | 'failed';
};

export type WebhookSettings = { duplicate: boolean; delayMs: number; hold: boolean };

export type FlushOrder = 'created' | 'reverse';

const RETRY_DELAYS_MS = [50, 200, 1_000] as const;
const DELIVERY_TIMEOUT_MS = 10_000;
/** The URL of the Request handed to a function target: the service's webhook route. */
export const FUNCTION_TARGET_URL = 'http://localhost/webhooks/stripe';

/** Resolves after `ms`, or at once when `signal` aborts (the server is stopping). */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

function rejectOnAbort(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
}

export class WebhookDispatcher {
  private readonly created: StripeEvent[] = [];
  private readonly attempts: DeliveryAttempt[] = [];
  private readonly queue: StripeEvent[] = [];
  private readonly held: StripeEvent[] = [];
  private settings: WebhookSettings = { duplicate: false, delayMs: 0, hold: false };
  private pumping: Promise<void> | null = null;
  private readonly stopping = new AbortController();

  constructor(
    private readonly secret: string,
    private target: WebhookTarget | null,
    private readonly logger: Logger,
  ) {}

  setTarget(target: WebhookTarget | null): void {
    this.target = target;
  }

  configure(settings: Partial<WebhookSettings>): void {
    if (settings.delayMs !== undefined && !(Number.isFinite(settings.delayMs) && settings.delayMs >= 0))
      throw new RangeError('webhooks.configure: delayMs must be a non-negative number');
    this.settings = { ...this.settings, ...settings };
  }

  /** Records an event for `object` (copied now) and queues, or holds, its delivery. */
  emit(type: string, object: object, origin: EventOrigin, account?: string): void {
    const event: StripeEvent = {
      id: newId('evt'),
      object: 'event',
      ...(account ? { account } : {}),
      api_version: Stripe.API_VERSION,
      created: unixNow(),
      data: { object: structuredClone(object) },
      livemode: false,
      pending_webhooks: 1,
      request: { id: origin.requestId, idempotency_key: origin.idempotencyKey },
      type,
    };
    this.created.push(event);
    // Without a target the event is only recorded, as for a Stripe account with no endpoint.
    if (this.target !== null) {
      const copies = this.settings.duplicate ? [event, event] : [event];
      if (this.settings.hold) this.held.push(...copies);
      else this.enqueue(copies);
    }
  }

  /** Sends the held events, in creation order or reversed (out-of-order delivery). */
  flush(order: FlushOrder): void {
    if (this.target === null) throw new Error('webhooks.flush: no webhook target is set');
    const events = this.held.splice(0);
    this.enqueue(order === 'reverse' ? events.reverse() : events);
  }

  /** Resolves once nothing is queued or being delivered (held events do not count). */
  async settled(): Promise<void> {
    while (this.pumping) await this.pumping;
  }

  events(type?: string): StripeEvent[] {
    return structuredClone(type === undefined ? this.created : this.created.filter((event) => event.type === type));
  }

  deliveries(): DeliveryAttempt[] {
    return structuredClone(this.attempts);
  }

  /** Drops queued and held events and waits for a delivery in flight to end. */
  async stop(): Promise<void> {
    this.queue.length = 0;
    this.held.length = 0;
    this.stopping.abort(new Error('local Stripe server stopped'));
    await this.settled();
  }

  private enqueue(events: StripeEvent[]): void {
    if (events.length === 0 || this.stopping.signal.aborted) return;
    this.queue.push(...events);
    this.pumping ??= this.pump();
  }

  private async pump(): Promise<void> {
    const signal = this.stopping.signal;
    try {
      // Let the API response that created the events go out first: Stripe sends webhooks afterwards.
      await sleep(0, signal);
      for (let event = this.queue.shift(); event && !signal.aborted; event = this.queue.shift()) {
        if (this.settings.delayMs > 0) await sleep(this.settings.delayMs, signal);
        await this.deliver(event, signal);
      }
    } finally {
      // In the same turn as the last empty-queue check: an event queued later starts a new pump.
      this.pumping = null;
    }
  }

  private async deliver(event: StripeEvent, signal: AbortSignal): Promise<void> {
    for (let attempt = 1; !signal.aborted; attempt += 1) {
      const { status, error } = await this.send(event, signal);
      const delivered = status !== null && status >= 200 && status < 300;
      const retryIn = RETRY_DELAYS_MS[attempt - 1];
      const outcome = delivered ? 'delivered' : retryIn === undefined ? 'failed' : 'retrying';
      this.attempts.push({ eventId: event.id, type: event.type, attempt, status, error, outcome });
      if (outcome === 'failed')
        this.logger.warn({ eventId: event.id, type: event.type, attempts: attempt, status, error }, 'local Stripe: webhook delivery failed');
      if (outcome !== 'retrying') return;
      await sleep(retryIn ?? 0, signal);
    }
  }

  private async send(event: StripeEvent, stopping: AbortSignal): Promise<{ status: number | null; error: string | null }> {
    const target = this.target;
    if (target === null) return { status: null, error: 'no webhook target' };
    try {
      const payload = JSON.stringify(event, null, 2);
      // The real library signs (its synchronous variant throws on Bun's SubtleCrypto).
      const signature = await Stripe.webhooks.generateTestHeaderStringAsync({ payload, secret: this.secret });
      const signal = AbortSignal.any([stopping, AbortSignal.timeout(DELIVERY_TIMEOUT_MS)]);
      const request = new Request(typeof target === 'string' ? target : FUNCTION_TARGET_URL, {
        method: 'POST',
        headers: {
          'content-type': 'application/json; charset=utf-8',
          'stripe-signature': signature,
          'user-agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)',
        },
        body: payload,
        signal,
      });
      const response = await Promise.race([typeof target === 'string' ? fetch(request) : target(request), rejectOnAbort(signal)]);
      // Read the body so the connection is released; its content does not matter.
      await response.arrayBuffer().catch(() => undefined);
      return { status: response.status, error: null };
    } catch (error) {
      return { status: null, error: error instanceof Error ? error.message : String(error) };
    }
  }
}
