/**
 * The bus between instances: PostgreSQL LISTEN/NOTIFY on the primary, through one connection per
 * instance (src/db/listener.ts). Writers announce ids with `announce()` inside their transaction
 * (channels.ts); every instance hears them after commit and acts locally (fan out to its sockets,
 * enqueue outbox jobs, close sockets of ended sessions).
 *
 * A dropped LISTEN connection reconnects by itself; each subscriber's `onListen` runs again then,
 * so it can catch up from the database on whatever was announced while nobody listened.
 * postgres-js re-listens only once and drops a failure silently (a primary down longer than the
 * connect timeout), so a heartbeat checks the round trip: a NOTIFY sent from another connection
 * every HEARTBEAT_MS must come back; after MAX_MISSED_HEARTBEATS the listener is rebuilt. Kept
 * this small on purpose: moving to Redis pub/sub, should NOTIFY's commit lock ever bind, changes
 * this file and channels.ts only.
 */
import type { DatabaseCluster, Listener } from '../../db';
import type { Logger } from '../../lib/logger';
import type { Channel } from './channels';

const START_RETRY_MS = 1_000;
const HEARTBEAT_MS = 5_000;
const MAX_MISSED_HEARTBEATS = 2;
/** Every instance's heartbeats share it; each counts only its own (the payload is its label). */
const HEARTBEAT_CHANNEL = 'bountyexpo_bus_heartbeat';

export type BusSubscriber = {
  /** The payload as announced: a JSON value (ids), parsed. */
  onMessage(payload: unknown): void;
  /** After LISTEN is in place: at start and after every reconnection. */
  onListen?(): void;
};

export class EventBus {
  private readonly subscribers = new Map<Channel, BusSubscriber[]>();
  private listener: Listener | null = null;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private heartbeatTimer: ReturnType<typeof setInterval> | null = null;
  private heartbeatsOutstanding = 0;
  private stopped = false;
  /** Times the heartbeat found the listener deaf and rebuilt it. */
  restarts = 0;
  /** Times LISTEN was (re)established per channel: the first is the start, the rest reconnections. */
  readonly listens = new Map<Channel, number>();

  constructor(
    private readonly database: Pick<DatabaseCluster, 'openListener'>,
    private readonly logger: Logger,
    /** Names the LISTEN connection: `bountyexpo-listen-<label>` in pg_stat_activity. */
    readonly label: string,
    private readonly options: { heartbeatMs?: number } = {},
  ) {}

  /** Register before start(). */
  subscribe(channel: Channel, subscriber: BusSubscriber): void {
    const list = this.subscribers.get(channel) ?? [];
    list.push(subscriber);
    this.subscribers.set(channel, list);
  }

  /**
   * Starts listening. Never throws and never waits past one attempt: with the primary unreachable
   * now, it keeps trying every START_RETRY_MS in the background (an instance serves replica reads
   * meanwhile), and subscribers' `onListen` catch up once it is in.
   */
  async start(): Promise<void> {
    if (this.stopped || this.listener) return;
    const listener = this.database.openListener(this.label);
    this.listener = listener;
    try {
      await listener.listen(HEARTBEAT_CHANNEL, (payload) => {
        if (payload === this.label) this.heartbeatsOutstanding = 0;
      }, () => {});
      for (const [channel, subscribers] of this.subscribers) await this.listenOn(listener, channel, subscribers);
      this.heartbeatsOutstanding = 0;
      this.heartbeatTimer ??= setInterval(() => void this.heartbeat(), this.options.heartbeatMs ?? HEARTBEAT_MS);
    } catch (error) {
      this.logger.warn({ err: error, retryMs: START_RETRY_MS }, 'bus: LISTEN could not start; retrying');
      this.listener = null;
      await listener.close().catch(() => {});
      this.retryTimer = setTimeout(() => void this.start(), START_RETRY_MS);
    }
  }

  /** Sends one heartbeat; rebuilds the listener when the last ones never came back. */
  private async heartbeat(): Promise<void> {
    const listener = this.listener;
    if (this.stopped || !listener) return;
    if (this.heartbeatsOutstanding >= MAX_MISSED_HEARTBEATS) {
      this.restarts += 1;
      this.logger.warn({ missed: this.heartbeatsOutstanding }, 'bus: heartbeats are not coming back; rebuilding the listener');
      this.listener = null;
      this.heartbeatsOutstanding = 0;
      await listener.close().catch(() => {});
      await this.start();
      return;
    }
    this.heartbeatsOutstanding += 1;
    await listener.notify(HEARTBEAT_CHANNEL, this.label).catch(() => {});
  }

  private async listenOn(listener: Listener, channel: Channel, subscribers: readonly BusSubscriber[]): Promise<void> {
    await listener.listen(
      channel,
      (raw) => {
        let payload: unknown;
        try {
          payload = JSON.parse(raw);
        } catch {
          this.logger.warn({ channel }, 'bus: a payload that is not JSON was ignored');
          return;
        }
        for (const subscriber of subscribers) this.deliver(channel, () => subscriber.onMessage(payload));
      },
      () => {
        const count = (this.listens.get(channel) ?? 0) + 1;
        this.listens.set(channel, count);
        if (count > 1) this.logger.warn({ channel, listens: count }, 'bus: LISTEN re-established; subscribers catch up');
        for (const subscriber of subscribers) if (subscriber.onListen) this.deliver(channel, () => subscriber.onListen?.());
      },
    );
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    const listener = this.listener;
    this.listener = null;
    await listener?.close();
  }

  /** A subscriber's failure is logged, never allowed to stop the others or the connection. */
  private deliver(channel: Channel, run: () => void): void {
    try {
      run();
    } catch (error) {
      this.logger.error({ err: error, channel }, 'bus: a subscriber failed');
    }
  }
}
