/**
 * This instance's sockets (by user and by session) and the delivery of each person's event stream
 * to them, exactly once and in order, whichever instance wrote the events.
 *
 * Per user with local sockets there is one "pump": a promise chain (so its steps never overlap)
 * and `publishedUpTo`, the last event id published to the Bun topic `user:<id>`. A bus message
 * naming the user runs the pump: read the events after publishedUpTo from the primary (replicas
 * lag), publish each, advance. A new socket runs inside the same chain: pump first (publishedUpTo
 * is now P and every live socket has everything up to P), send the newcomer (lastEventId, P]
 * directly, then subscribe it: nothing is published between its catch-up and its subscription,
 * so it sees no event twice and misses none. After a LISTEN reconnect (bus onListen) every local
 * user is pumped: whatever was announced meanwhile is read from the database.
 *
 * Sessions: the database announces a deleted session or a ban (drizzle/0008); every instance
 * closes the matching sockets. A sweep closes sockets whose session expired.
 */
import { and, eq, sql } from 'drizzle-orm';
import { z } from 'zod';
import type { SocketSettings } from '../../config/env';
import { conversationMembers, type DatabaseCluster, sessions } from '../../db';
import type { Logger } from '../../lib/logger';
import type { BusSubscriber, EventBus } from './bus';
import { CHANNELS } from './channels';
import { CLOSE, clientFrame, type ServerFrame, TYPING_INTERVAL_MS } from './protocol';
import { type DeliveredEvent, eventsAfter, lastEventId, oldestEventId } from './stream';

/** What the hub needs of a socket (Bun's ServerWebSocket has it all). */
export interface HubSocket {
  send(data: string): number;
  subscribe(topic: string): void;
  close(code?: number, reason?: string): void;
  /** Bun has it at runtime; its type declarations (1.4.5) omit it on ServerWebSocket. */
  getBufferedAmount?(): number;
}

/** What the hub publishes through (Bun's Server): a topic reaches this process's subscribers only. */
export interface TopicPublisher {
  publish(topic: string, data: string): number;
}

export type SocketIdentity = {
  userId: string;
  sessionId: string;
  sessionExpiresAt: Date;
  /** The last event the client saw (query lastEventId), or null for live events only. */
  lastEventId: number | null;
};

type Client = {
  readonly socket: HubSocket;
  readonly userId: string;
  readonly sessionId: string;
  sessionExpiresAt: number;
  /** Inbound token bucket. */
  tokens: number;
  refilledAt: number;
  /** Last typing frame accepted, by conversation. */
  readonly typingAt: Map<string, number>;
  /** Subscribed to its user's topic (catch-up done). */
  live: boolean;
  closed: boolean;
  /** Resolved by the socket's drain event while a catch-up waits for its buffer to empty. */
  drained: (() => void) | null;
};

type Pump = {
  readonly clients: Set<Client>;
  /** -1 until read from the database. */
  publishedUpTo: number;
  chain: Promise<void>;
  retry: ReturnType<typeof setTimeout> | null;
};

/** Events read per query: a large backlog streams in batches. */
const BATCH = 200;
/** A catch-up waits this long for a client's buffer to drain before closing it as too slow. */
const DRAIN_WAIT_MS = 10_000;
const SWEEP_MS = 30_000;
const PUMP_RETRY_MS = 1_000;

const topicOf = (userId: string): string => `user:${userId}`;
const eventFrame = (event: DeliveredEvent): string =>
  JSON.stringify({ type: 'event', id: event.id, event: event.type, data: event.data, at: event.at } satisfies ServerFrame);

const sessionsPayload = z.object({ sessionId: z.string().optional(), userId: z.string() });
const typingPayload = z.object({ conversationId: z.string(), userId: z.string(), to: z.array(z.string()).max(100) });
const userIdsPayload = z.array(z.string()).max(10_000);

export type HubCounters = {
  /** Sockets open now. */
  open: number;
  /** Sockets accepted since start. */
  opened: number;
  /** Frames sent to one socket (catch-up, ready, pong, errors). */
  framesSent: number;
  /** Frames published to a user's topic (each reaches that user's live sockets here). */
  framesPublished: number;
  /** Stored events sent during catch-ups. */
  caughtUp: number;
  resyncs: number;
  /** Pump or catch-up reads that failed (retried). */
  pumpErrors: number;
  /** Closes as Bun reported them, by code. */
  closesByCode: Record<number, number>;
};

export type SocketHubDeps = {
  database: Pick<DatabaseCluster, 'primary' | 'authPrimary'>;
  logger: Logger;
  settings: SocketSettings;
  now?: () => number;
};

export class SocketHub {
  readonly counters: HubCounters = { open: 0, opened: 0, framesSent: 0, framesPublished: 0, caughtUp: 0, resyncs: 0, pumpErrors: 0, closesByCode: {} };
  private readonly publishers = new Set<TopicPublisher>();
  private readonly pumps = new Map<string, Pump>();
  private readonly clients = new Map<HubSocket, Client>();
  private sweepTimer: ReturnType<typeof setInterval> | null = null;
  private readonly now: () => number;

  constructor(private readonly deps: SocketHubDeps) {
    this.now = deps.now ?? Date.now;
  }

  /** The servers whose sockets this hub serves (src/serve.ts attaches each). */
  attach(publisher: TopicPublisher): void {
    this.publishers.add(publisher);
    if (!this.sweepTimer) {
      this.sweepTimer = setInterval(() => void this.sweepExpired(), SWEEP_MS);
      this.sweepTimer.unref();
    }
  }

  detach(publisher: TopicPublisher): void {
    this.publishers.delete(publisher);
  }

  /** Subscribes the hub to the bus's user events, sessions and typing channels (before bus.start()). */
  listenOn(bus: Pick<EventBus, 'subscribe'>): void {
    const userEvents: BusSubscriber = {
      onMessage: (payload) => {
        const parsed = userIdsPayload.safeParse(payload);
        if (parsed.success) for (const userId of parsed.data) if (this.pumps.has(userId)) this.pump(userId);
      },
      onListen: () => {
        for (const userId of this.pumps.keys()) this.pump(userId);
      },
    };
    bus.subscribe(CHANNELS.userEvents, userEvents);
    bus.subscribe(CHANNELS.sessions, { onMessage: (payload) => this.onSessionEnded(payload) });
    bus.subscribe(CHANNELS.typing, { onMessage: (payload) => this.onTyping(payload) });
  }

  get socketCount(): number {
    return this.clients.size;
  }

  /** A socket just opened: catch it up and make it live, inside its user's chain. */
  register(socket: HubSocket, identity: SocketIdentity): void {
    const client: Client = {
      socket,
      userId: identity.userId,
      sessionId: identity.sessionId,
      sessionExpiresAt: identity.sessionExpiresAt.getTime(),
      tokens: this.deps.settings.messagesPer10s,
      refilledAt: this.now(),
      typingAt: new Map(),
      live: false,
      closed: false,
      drained: null,
    };
    this.clients.set(socket, client);
    this.counters.open += 1;
    this.counters.opened += 1;
    const pump = this.pumpOf(identity.userId);
    pump.clients.add(client);
    this.enqueue(identity.userId, pump, async () => {
      try {
        await this.publishNew(identity.userId, pump);
        await this.catchUp(client, pump, identity.lastEventId);
      } catch (error) {
        this.counters.pumpErrors += 1;
        this.deps.logger.warn({ err: error, userId: identity.userId }, 'realtime: a socket could not be caught up; closed');
        this.closeClient(client, CLOSE.internal, 'could not read the event stream; reconnect');
      }
    });
  }

  /** The socket closed (whoever closed it). */
  unregister(socket: HubSocket, code: number): void {
    this.counters.closesByCode[code] = (this.counters.closesByCode[code] ?? 0) + 1;
    const client = this.clients.get(socket);
    if (!client) return;
    this.clients.delete(socket);
    this.counters.open -= 1;
    client.closed = true;
    client.drained?.();
    const pump = this.pumps.get(client.userId);
    if (!pump) return;
    pump.clients.delete(client);
    // The last local socket of this user: a later one starts from the database again.
    if (pump.clients.size === 0) {
      if (pump.retry) clearTimeout(pump.retry);
      this.pumps.delete(client.userId);
    }
  }

  /** Bun's drain event: the socket's buffer emptied. */
  drained(socket: HubSocket): void {
    const client = this.clients.get(socket);
    const resolve = client?.drained;
    if (client && resolve) {
      client.drained = null;
      resolve();
    }
  }

  /** A frame from the client (already JSON-parsed by Elysia when it looked like JSON). */
  async receive(socket: HubSocket, message: unknown): Promise<void> {
    const client = this.clients.get(socket);
    if (!client || client.closed) return;
    if (!this.takeToken(client)) {
      this.closeClient(client, CLOSE.policy, `rate limit: at most ${this.deps.settings.messagesPer10s} frames per 10 s`);
      return;
    }
    const parsed = clientFrame.safeParse(message);
    if (!parsed.success) {
      this.sendTo(client, { type: 'error', code: 'INVALID_FRAME', message: 'Send {"type":"ping"} or {"type":"typing","conversationId":"<uuid>"}' });
      return;
    }
    const frame = parsed.data;
    if (frame.type === 'ping') {
      this.sendTo(client, { type: 'pong' });
      return;
    }
    await this.typing(client, frame.conversationId);
  }

  /** Closes every socket (graceful shutdown: 1001, before the server stops). */
  closeAll(code: number = CLOSE.goingAway, reason = 'server shutting down'): number {
    const all = [...this.clients.values()];
    for (const client of all) this.closeClient(client, code, reason);
    return all.length;
  }

  stop(): void {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
    for (const pump of this.pumps.values()) if (pump.retry) clearTimeout(pump.retry);
  }

  /** Waits until every user's chain is idle (tests, shutdown). */
  async idle(): Promise<void> {
    await Promise.all([...this.pumps.values()].map((pump) => pump.chain));
  }

  // --- delivery -------------------------------------------------------------------------------

  private pumpOf(userId: string): Pump {
    let pump = this.pumps.get(userId);
    if (!pump) {
      pump = { clients: new Set(), publishedUpTo: -1, chain: Promise.resolve(), retry: null };
      this.pumps.set(userId, pump);
    }
    return pump;
  }

  /** A pump state dropped (last socket closed) stops acting: a newer one owns the topic now. */
  private isCurrent(userId: string, pump: Pump): boolean {
    return this.pumps.get(userId) === pump;
  }

  private enqueue(userId: string, pump: Pump, step: () => Promise<void>): void {
    pump.chain = pump.chain.then(async () => {
      if (!this.isCurrent(userId, pump)) return;
      try {
        await step();
      } catch (error) {
        this.deps.logger.error({ err: error, userId }, 'realtime: a delivery step failed');
      }
    });
  }

  /** Runs the user's pump (bus message, LISTEN re-established, retry). */
  pump(userId: string): void {
    const pump = this.pumps.get(userId);
    if (!pump) return;
    this.enqueue(userId, pump, async () => {
      try {
        await this.publishNew(userId, pump);
      } catch (error) {
        // The database blinked: try again shortly (a later announcement would too).
        this.counters.pumpErrors += 1;
        this.deps.logger.warn({ err: error, userId }, 'realtime: pump failed; retrying');
        if (!pump.retry && this.isCurrent(userId, pump)) {
          pump.retry = setTimeout(() => {
            pump.retry = null;
            this.pump(userId);
          }, PUMP_RETRY_MS);
        }
      }
    });
  }

  /** Publishes every event after publishedUpTo (only ever called inside the user's chain). */
  private async publishNew(userId: string, pump: Pump): Promise<void> {
    const primary = this.deps.database.primary;
    if (pump.publishedUpTo < 0) {
      // No socket of this user was live here: nobody needs what came before now.
      const last = await lastEventId(primary, userId);
      if (!this.isCurrent(userId, pump)) return;
      if (pump.publishedUpTo < 0) pump.publishedUpTo = last;
    }
    for (;;) {
      const events = await eventsAfter(primary, userId, pump.publishedUpTo, BATCH);
      // Checked after every await, right before publishing (nothing interleaves in between).
      if (!this.isCurrent(userId, pump)) return;
      for (const event of events) {
        if (event.id <= pump.publishedUpTo) continue;
        this.publish(topicOf(userId), eventFrame(event));
        pump.publishedUpTo = event.id;
      }
      if (events.length < BATCH) return;
    }
  }

  /** Sends (lastEventId, publishedUpTo] directly, then ready, then subscribes (inside the chain). */
  private async catchUp(client: Client, pump: Pump, after: number | null): Promise<void> {
    const upTo = pump.publishedUpTo;
    const primary = this.deps.database.primary;
    if (after !== null && after !== upTo) {
      const oldest = after > upTo ? null : await oldestEventId(primary, client.userId);
      // Ahead of the stream (another database?) or behind what is kept: the client reloads.
      if (after > upTo || oldest === null || oldest > after + 1) {
        this.counters.resyncs += 1;
        this.sendTo(client, { type: 'resync' });
      } else {
        let cursor = after;
        while (cursor < upTo) {
          const events = await eventsAfter(primary, client.userId, cursor, BATCH);
          if (client.closed) return;
          for (const event of events) {
            if (event.id > upTo) break;
            if (!(await this.sendFlowControlled(client, eventFrame(event)))) return;
            this.counters.caughtUp += 1;
            cursor = event.id;
          }
          if (events.length < BATCH) break;
        }
      }
    }
    if (client.closed) return;
    this.sendTo(client, { type: 'ready', lastEventId: upTo });
    client.socket.subscribe(topicOf(client.userId));
    client.live = true;
  }

  /** A direct send that waits for the buffer to drain past half the bound; false once closed. */
  private async sendFlowControlled(client: Client, frame: string): Promise<boolean> {
    if (client.closed) return false;
    const status = client.socket.send(frame);
    this.counters.framesSent += 1;
    if (status === 0) {
      this.closeClient(client, CLOSE.slowConsumer, 'too slow: the send buffer is full');
      return false;
    }
    if ((client.socket.getBufferedAmount?.() ?? 0) > this.deps.settings.backpressureLimitBytes / 2) {
      const drained = new Promise<'drained'>((resolve) => {
        client.drained = () => resolve('drained');
      });
      const outcome = await Promise.race([drained, Bun.sleep(DRAIN_WAIT_MS).then(() => 'timeout' as const)]);
      client.drained = null;
      if (outcome === 'timeout' && !client.closed) this.closeClient(client, CLOSE.slowConsumer, 'too slow: the send buffer did not drain');
    }
    return !client.closed;
  }

  private publish(topic: string, frame: string): void {
    this.counters.framesPublished += 1;
    for (const publisher of this.publishers) publisher.publish(topic, frame);
  }

  private sendTo(client: Client, frame: ServerFrame): void {
    if (client.closed) return;
    const status = client.socket.send(JSON.stringify(frame));
    this.counters.framesSent += 1;
    // 0: dropped (the buffer is past the bound); Bun closes such a socket itself, this makes sure.
    if (status === 0) this.closeClient(client, CLOSE.slowConsumer, 'too slow: the send buffer is full');
  }

  private closeClient(client: Client, code: number, reason: string): void {
    if (client.closed) return;
    client.closed = true;
    client.drained?.();
    try {
      client.socket.close(code, reason);
    } catch (error) {
      this.deps.logger.debug({ err: error }, 'realtime: close on a closing socket');
    }
  }

  // --- inbound --------------------------------------------------------------------------------

  private takeToken(client: Client): boolean {
    const capacity = this.deps.settings.messagesPer10s;
    const now = this.now();
    client.tokens = Math.min(capacity, client.tokens + ((now - client.refilledAt) * capacity) / 10_000);
    client.refilledAt = now;
    if (client.tokens < 1) return false;
    client.tokens -= 1;
    return true;
  }

  /** Announces a member's typing to the conversation's other members, on every instance. */
  private async typing(client: Client, conversationId: string): Promise<void> {
    const now = this.now();
    const last = client.typingAt.get(conversationId);
    if (last !== undefined && now - last < TYPING_INTERVAL_MS) return;
    client.typingAt.set(conversationId, now);
    try {
      const members = await this.deps.database.primary
        .select({ userId: conversationMembers.userId })
        .from(conversationMembers)
        .where(eq(conversationMembers.conversationId, conversationId));
      if (!members.some((member) => member.userId === client.userId)) {
        this.sendTo(client, { type: 'error', code: 'CONVERSATION_NOT_FOUND', message: 'No such conversation of yours' });
        return;
      }
      const to = members.map((member) => member.userId).filter((userId) => userId !== client.userId);
      if (to.length === 0) return;
      const payload = JSON.stringify({ conversationId, userId: client.userId, to });
      // Ids only, well under NOTIFY's 8000 bytes; outside a transaction it is sent at once.
      await this.deps.database.primary.execute(sql`select pg_notify(${CHANNELS.typing}, ${payload})`);
    } catch (error) {
      this.deps.logger.warn({ err: error }, 'realtime: typing not announced');
      this.sendTo(client, { type: 'error', code: 'INTERNAL_ERROR', message: 'Typing could not be announced' });
    }
  }

  private onTyping(payload: unknown): void {
    const parsed = typingPayload.safeParse(payload);
    if (!parsed.success) return;
    const frame = JSON.stringify({ type: 'typing', conversationId: parsed.data.conversationId, userId: parsed.data.userId } satisfies ServerFrame);
    for (const userId of parsed.data.to) if (this.pumps.has(userId)) this.publish(topicOf(userId), frame);
  }

  // --- sessions -------------------------------------------------------------------------------

  private onSessionEnded(payload: unknown): void {
    const parsed = sessionsPayload.safeParse(payload);
    if (!parsed.success) return;
    const { sessionId, userId } = parsed.data;
    const pump = this.pumps.get(userId);
    if (!pump) return;
    for (const client of [...pump.clients]) {
      if (sessionId === undefined) this.closeClient(client, CLOSE.banned, 'account banned');
      else if (client.sessionId === sessionId) this.closeClient(client, CLOSE.sessionEnded, 'session ended');
    }
  }

  /** Closes sockets whose session expired (unless it was renewed meanwhile: read again). */
  async sweepExpired(): Promise<number> {
    const now = this.now();
    let closed = 0;
    for (const client of [...this.clients.values()]) {
      if (client.closed || client.sessionExpiresAt > now) continue;
      try {
        const [row] = await this.deps.database.authPrimary
          .select({ expiresAt: sessions.expiresAt })
          .from(sessions)
          .where(and(eq(sessions.id, client.sessionId), eq(sessions.userId, client.userId)));
        if (row && row.expiresAt.getTime() > now) {
          client.sessionExpiresAt = row.expiresAt.getTime();
          continue;
        }
        this.closeClient(client, CLOSE.sessionEnded, 'session expired');
        closed += 1;
      } catch (error) {
        this.deps.logger.warn({ err: error }, 'realtime: session expiry not checked; next sweep');
        return closed;
      }
    }
    return closed;
  }
}
