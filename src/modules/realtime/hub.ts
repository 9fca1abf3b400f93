/**
 * This instance's sockets (by user and by session) and the delivery of each person's event stream
 * to them, exactly once and in order, whichever instance wrote the events.
 *
 * Per user with local sockets there is one "pump": `publishedUpTo`, the last event id published to
 * the Bun topic `user:<id>`, and at most one run at a time. A bus message naming the user marks
 * the pump dirty and starts a run if none is going: the run reads the events after publishedUpTo
 * from the primary (replicas lag), publishes each, advances, and loops while it was marked dirty
 * meanwhile. However many announcements arrive, a user has one run going and at most one more
 * owed (the dirty flag), never a queue of them.
 *
 * A new socket is caught up beside the pump, never inside it (a slow device must not hold up its
 * user's other sockets): after one pump pass that started after it connected, it is sent
 * (lastEventId, publishedUpTo] directly from the database, chasing publishedUpTo while it moves,
 * and is subscribed in the same tick it is found level with it. Publishing happens only
 * synchronously after the pump's reads, so nothing is published between that check and the
 * subscription: it sees no event twice and misses none. A catch-up whose buffer stays over half
 * the backpressure bound for CATCH_UP_SLOW_MS in total is closed with 1013. After a LISTEN
 * reconnect (bus onListen) every local user is pumped: whatever was announced meanwhile is read
 * from the database.
 *
 * Slow consumers: after every send or publish to a user's sockets, a socket whose unsent buffer
 * passed WS_BACKPRESSURE_LIMIT_BYTES is closed here with 1013 (a close frame the client can read);
 * Bun's own closeOnBackpressureLimit (src/serve.ts) only drops the connection (clients see 1006).
 *
 * Sessions: the database announces a deleted session or a ban (drizzle/0008); every instance
 * closes the matching sockets. An announcement is lost while this instance's LISTEN connection is
 * down, so on every (re)LISTEN of the sessions channel, and every SWEEP_MS, every local socket's
 * session is read again in one statement (row gone or expired: 4401; user banned: 4403).
 *
 * Bounds: at most WS_MAX_SOCKETS_PER_USER sockets per user on this instance (the upgrade is refused
 * with 429 past it, src/modules/realtime/index.ts; concurrent upgrades that slipped past the check
 * are closed with 1008 on open), and the typing rate limit keeps at most TYPING_TRACKED_MAX recent
 * conversations per socket, forgetting those older than TYPING_INTERVAL_MS.
 */
import { eq, inArray, sql } from 'drizzle-orm';
import { z } from 'zod';
import type { SocketSettings } from '../../config/env';
import { type Database, type DatabaseCluster, sessions, users } from '../../db';
import type { Logger } from '../../lib/logger';
import { withSpan } from '../../lib/telemetry';
import { webSocketConnections, webSocketMessages } from '../../lib/metrics';
import type { BusSubscriber, EventBus } from './bus';
import { CHANNELS } from './channels';
import { CLOSE, clientFrame, type ServerFrame, type SocketErrorCode, TYPING_INTERVAL_MS } from './protocol';
import { type DeliveredEvent, eventsAfter, lastEventId, oldestEventId } from './stream';

/** What the hub needs of a socket (Bun's ServerWebSocket has it all). */
export interface HubSocket {
  send(data: string): number;
  subscribe(topic: string): void;
  close(code?: number, reason?: string): void;
  /** Bun's ServerWebSocket has it; Elysia's copy of that type (ws.raw) may not declare it. */
  getBufferedAmount?(): number;
}

/** What the hub publishes through (Bun's Server): a topic reaches this process's subscribers only. */
export interface TopicPublisher {
  publish(topic: string, data: string): number;
}

export type SocketIdentity = {
  userId: string;
  sessionId: string;
  /** The last event the client saw (query lastEventId), or null for live events only. */
  lastEventId: number | null;
};

type Client = {
  readonly socket: HubSocket;
  readonly userId: string;
  readonly sessionId: string;
  /** Inbound token bucket. */
  tokens: number;
  refilledAt: number;
  /** Last typing frame accepted, by conversation, oldest first (re-set entries move to the end). */
  readonly typingAt: Map<string, number>;
  /** Subscribed to its user's topic (catch-up done). */
  live: boolean;
  closed: boolean;
  /** Resolved by the socket's drain event while a catch-up waits for its buffer to empty. */
  drained: (() => void) | null;
  /** The catch-up, while it runs (idle() waits for it). */
  starting: Promise<void> | null;
};

type Pump = {
  readonly clients: Set<Client>;
  /** -1 until read from the database. */
  publishedUpTo: number;
  /** Announcements arrived since the running pass started reading: one more pass is owed. */
  dirty: boolean;
  /** The pump's run while it goes (one at a time), null when idle. */
  running: Promise<void> | null;
  /** Passes started; a newcomer waits for the pass numbered one past this when it connected. */
  passes: number;
  /** Newcomers waiting for a pass that started after they connected (settled as passes end). */
  waiters: Array<{ pass: number; resolve: () => void }>;
  /** The last pass failed: publishedUpTo may be behind the database. */
  failed: boolean;
  retry: ReturnType<typeof setTimeout> | null;
};

/** Events read per query: a large backlog streams in batches. */
const BATCH = 200;
/** A catch-up may have its buffer over half the bound this long in total, then it is closed (1013). */
const CATCH_UP_SLOW_MS = 2_000;
/** A catch-up that has not reached the live stream by then is closed (1013): it cannot keep up. */
const CATCH_UP_MAX_MS = 30_000;
/** Longest single wait for a drain event before the buffer is looked at again. */
const DRAIN_POLL_MS = 100;
/** How often every local socket's session is read again (the fallback for a lost announcement). */
const SWEEP_MS = 30_000;
const PUMP_RETRY_MS = 1_000;
const SESSION_CHECK_RETRY_MS = 1_000;
/** Session ids per statement when re-reading sessions (well under PostgreSQL's 65,535 parameters). */
const SESSION_CHECK_CHUNK = 5_000;
/** Conversations whose typing rate limit one socket tracks at once; past it, typing frames are dropped. */
const TYPING_TRACKED_MAX = 100;

const topicOf = (userId: string): string => `user:${userId}`;
const eventFrame = (event: DeliveredEvent): string =>
  JSON.stringify({ type: 'event', id: event.id, event: event.type, data: event.data, at: event.at } satisfies ServerFrame);

const sessionsPayload = z.object({ sessionId: z.string().optional(), userId: z.string() });
const typingPayload = z.object({ conversationId: z.string(), userId: z.string(), to: z.array(z.string()).max(100) });
const userIdsPayload = z.array(z.string()).max(10_000);

/** A typing frame refused as a message would be; a conversation not yours is not named as such. */
const TYPING_REFUSALS: Readonly<Record<TypingRefusal, { code: SocketErrorCode; message: string }>> = {
  NOT_A_MEMBER: { code: 'CONVERSATION_NOT_FOUND', message: 'No such conversation of yours' },
  CONVERSATION_CLOSED: { code: 'CONVERSATION_CLOSED', message: 'This conversation is read-only: the request is no longer live' },
  USER_BLOCKED: { code: 'USER_BLOCKED', message: 'One of you blocked the other: you cannot message each other' },
};

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
  /** Sockets closed because their session ended, expired or the user was banned, found by a re-read. */
  sessionsClosedByCheck: number;
  /** Closes as Bun reported them, by code. */
  closesByCode: Record<number, number>;
};

/** Why typing is refused, as for a message; null when allowed. */
export type TypingRefusal = 'NOT_A_MEMBER' | 'CONVERSATION_CLOSED' | 'USER_BLOCKED';

/**
 * Who may hear `userId` typing in a conversation, by the same rule as a message (the
 * conversations module's, handed in so this module never imports it: it imports this one).
 */
export type TypingAudience = (db: Database, conversationId: string, userId: string) => Promise<{ refusal: TypingRefusal } | { to: string[] }>;

export type SocketHubDeps = {
  database: Pick<DatabaseCluster, 'primary' | 'authPrimary'>;
  logger: Logger;
  settings: SocketSettings;
  typingAudience: TypingAudience;
  now?: () => number;
};

export class SocketHub {
  readonly counters: HubCounters = {
    open: 0,
    opened: 0,
    framesSent: 0,
    framesPublished: 0,
    caughtUp: 0,
    resyncs: 0,
    pumpErrors: 0,
    sessionsClosedByCheck: 0,
    closesByCode: {},
  };
  private readonly publishers = new Set<TopicPublisher>();
  private readonly pumps = new Map<string, Pump>();
  private readonly clients = new Map<HubSocket, Client>();
  private sweepTimer: ReturnType<typeof setInterval> | null = null;
  private readonly now: () => number;
  readonly maxSocketsPerUser: number;
  /** Session re-reads: one at a time, and at most one more owed (like a pump). */
  private sessionCheck: Promise<number> | null = null;
  private sessionCheckDirty = false;
  private sessionCheckRetry: ReturnType<typeof setTimeout> | null = null;
  private stopped = false;

  constructor(private readonly deps: SocketHubDeps) {
    this.now = deps.now ?? Date.now;
    this.maxSocketsPerUser = deps.settings.maxSocketsPerUser;
  }

  /** The servers whose sockets this hub serves (src/serve.ts attaches each). */
  attach(publisher: TopicPublisher): void {
    this.publishers.add(publisher);
    this.stopped = false;
    if (!this.sweepTimer) {
      this.sweepTimer = setInterval(() => void this.checkSessions(), SWEEP_MS);
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
    bus.subscribe(CHANNELS.sessions, {
      onMessage: (payload) => this.onSessionEnded(payload),
      // A sign-out, revocation or ban announced while LISTEN was down was never heard: read every
      // local socket's session again now that it is back.
      onListen: () => void this.checkSessions(),
    });
    bus.subscribe(CHANNELS.typing, { onMessage: (payload) => this.onTyping(payload) });
  }

  get socketCount(): number {
    return this.clients.size;
  }

  /** Sockets of `userId` open (or opening) on this instance, closing ones left out. */
  socketsOf(userId: string): number {
    const pump = this.pumps.get(userId);
    if (!pump) return 0;
    let count = 0;
    for (const client of pump.clients) if (!client.closed) count += 1;
    return count;
  }

  /** Whether `userId` may open one more socket here (checked before the upgrade). */
  canOpen(userId: string): boolean {
    return this.socketsOf(userId) < this.maxSocketsPerUser;
  }

  /** Typing rate-limit entries held across all sockets (bounded per socket by TYPING_TRACKED_MAX). */
  get typingTracked(): number {
    let total = 0;
    for (const client of this.clients.values()) total += client.typingAt.size;
    return total;
  }

  /** A socket just opened: catch it up and make it live, beside its user's pump. */
  register(socket: HubSocket, identity: SocketIdentity): void {
    const client: Client = {
      socket,
      userId: identity.userId,
      sessionId: identity.sessionId,
      tokens: this.deps.settings.messagesPer10s,
      refilledAt: this.now(),
      typingAt: new Map(),
      live: false,
      closed: false,
      drained: null,
      starting: null,
    };
    this.clients.set(socket, client);
    this.counters.open += 1;
    webSocketConnections.inc();
    this.counters.opened += 1;
    const pump = this.pumpOf(identity.userId);
    // Upgrades that passed canOpen together, before any of them opened, are closed here.
    if (this.socketsOf(identity.userId) >= this.maxSocketsPerUser) {
      pump.clients.add(client);
      this.closeClient(client, CLOSE.policy, `too many sockets: at most ${this.maxSocketsPerUser} per user`);
      return;
    }
    pump.clients.add(client);
    client.starting = this.start(client, pump, identity.lastEventId).finally(() => {
      client.starting = null;
    });
  }

  /** The socket closed (whoever closed it). */
  unregister(socket: HubSocket, code: number): void {
    this.counters.closesByCode[code] = (this.counters.closesByCode[code] ?? 0) + 1;
    const client = this.clients.get(socket);
    if (!client) return;
    this.clients.delete(socket);
    this.counters.open -= 1;
    webSocketConnections.dec();
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
    webSocketMessages.inc({ direction: 'in' });
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
    this.stopped = true;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
    if (this.sessionCheckRetry) clearTimeout(this.sessionCheckRetry);
    this.sessionCheckRetry = null;
    for (const pump of this.pumps.values()) if (pump.retry) clearTimeout(pump.retry);
  }

  /** Waits until every user's pump and every catch-up is idle (tests, shutdown). */
  async idle(): Promise<void> {
    await Promise.all([
      ...[...this.pumps.values()].map((pump) => pump.running),
      ...[...this.clients.values()].map((client) => client.starting),
    ]);
  }

  // --- delivery -------------------------------------------------------------------------------

  private pumpOf(userId: string): Pump {
    let pump = this.pumps.get(userId);
    if (!pump) {
      pump = { clients: new Set(), publishedUpTo: -1, dirty: false, running: null, passes: 0, waiters: [], failed: false, retry: null };
      this.pumps.set(userId, pump);
    }
    return pump;
  }

  /** A pump state dropped (last socket closed) stops acting: a newer one owns the topic now. */
  private isCurrent(userId: string, pump: Pump): boolean {
    return this.pumps.get(userId) === pump;
  }

  /** Runs the user's pump (bus message, LISTEN re-established, retry). */
  pump(userId: string): void {
    const pump = this.pumps.get(userId);
    if (pump) this.kick(userId, pump);
  }

  /** Marks the pump dirty and starts its run unless one is going (the run loops while dirty). */
  private kick(userId: string, pump: Pump): void {
    pump.dirty = true;
    pump.running ??= this.runPump(userId, pump);
  }

  /**
   * Settles once a pass that started after this call has ended (not when the run ends: under a
   * steady flow of announcements the run may never end).
   */
  private passAfterNow(userId: string, pump: Pump): Promise<void> {
    const waited = new Promise<void>((resolve) => pump.waiters.push({ pass: pump.passes + 1, resolve }));
    this.kick(userId, pump);
    return waited;
  }

  private settleWaiters(pump: Pump, upToPass: number): void {
    if (pump.waiters.length === 0) return;
    const waiting = pump.waiters;
    pump.waiters = [];
    for (const waiter of waiting) {
      if (waiter.pass <= upToPass) waiter.resolve();
      else pump.waiters.push(waiter);
    }
  }

  private async runPump(userId: string, pump: Pump): Promise<void> {
    // Yield first, so kick() has stored this run before it could end (else `running` stays set).
    await Promise.resolve();
    try {
      while (pump.dirty && this.isCurrent(userId, pump)) {
        pump.dirty = false;
        pump.passes += 1;
        try {
          await this.fanOut(userId, pump);
          pump.failed = false;
          this.settleWaiters(pump, pump.passes);
        } catch (error) {
          // The database blinked: try again shortly (a later announcement would too).
          pump.failed = true;
          this.counters.pumpErrors += 1;
          this.deps.logger.warn({ err: error, userId }, 'realtime: pump failed; retrying');
          if (!pump.retry && this.isCurrent(userId, pump)) {
            pump.retry = setTimeout(() => {
              pump.retry = null;
              this.pump(userId);
            }, PUMP_RETRY_MS);
          }
          return;
        }
      }
    } finally {
      // Cleared in the same tick as the last look at `dirty`: a later kick starts a new run. Whoever
      // still waits learns from `failed` (or a closed socket) how it went.
      pump.running = null;
      this.settleWaiters(pump, Number.POSITIVE_INFINITY);
    }
  }

  /**
   * One pump pass as a span of its own trace (what announced the events is not known here): the
   * events published and the live sockets here they went to. No user id, no event content.
   */
  private fanOut(userId: string, pump: Pump): Promise<void> {
    return withSpan('realtime fan-out', { root: true }, async (span) => {
      const published = await this.publishNew(userId, pump);
      let sockets = 0;
      for (const client of pump.clients) if (client.live && !client.closed) sockets += 1;
      span.setAttributes({ 'bountyexpo.realtime.events': published, 'bountyexpo.realtime.sockets': sockets });
    });
  }

  /** Publishes every event after publishedUpTo (only ever called by the pump's one run); returns how many. */
  private async publishNew(userId: string, pump: Pump): Promise<number> {
    const primary = this.deps.database.primary;
    let published = 0;
    if (pump.publishedUpTo < 0) {
      // No socket of this user was live here: nobody needs what came before now.
      const last = await lastEventId(primary, userId);
      if (!this.isCurrent(userId, pump)) return published;
      if (pump.publishedUpTo < 0) pump.publishedUpTo = last;
    }
    for (;;) {
      const events = await eventsAfter(primary, userId, pump.publishedUpTo, BATCH);
      // Checked after every await, right before publishing (nothing interleaves in between).
      if (!this.isCurrent(userId, pump)) return published;
      for (const event of events) {
        if (event.id <= pump.publishedUpTo) continue;
        this.publishToUser(userId, eventFrame(event));
        pump.publishedUpTo = event.id;
        published += 1;
      }
      if (events.length < BATCH) return published;
    }
  }

  /** A new socket: one pump pass after it connected, then its catch-up. Any failure closes it (1011). */
  private async start(client: Client, pump: Pump, after: number | null): Promise<void> {
    try {
      await this.passAfterNow(client.userId, pump);
      if (client.closed) return;
      // publishedUpTo must be as fresh as the database was when the socket connected, or a
      // client ahead of it would be told to resync for nothing.
      if (pump.failed || pump.publishedUpTo < 0) throw new Error('the event stream could not be read');
      await this.catchUp(client, pump, after);
    } catch (error) {
      this.counters.pumpErrors += 1;
      this.deps.logger.warn({ err: error, userId: client.userId }, 'realtime: a socket could not be caught up; closed');
      this.closeClient(client, CLOSE.internal, 'could not read the event stream; reconnect');
    }
  }

  /**
   * Sends (lastEventId, publishedUpTo] directly, chasing publishedUpTo while the pump advances it,
   * then ready, then subscribes: the last comparison with publishedUpTo and the subscription happen
   * in one tick, so no publish falls between them.
   */
  private async catchUp(client: Client, pump: Pump, after: number | null): Promise<void> {
    const primary = this.deps.database.primary;
    if (after !== null && after !== pump.publishedUpTo) {
      const upTo = pump.publishedUpTo;
      const oldest = after > upTo ? null : await oldestEventId(primary, client.userId);
      if (client.closed) return;
      // Ahead of the stream (another database?) or behind what is kept: the client reloads.
      if (after > upTo || oldest === null || oldest > after + 1) {
        this.counters.resyncs += 1;
        this.sendTo(client, { type: 'resync' });
      } else {
        const budget = { slowMs: 0, deadline: performance.now() + CATCH_UP_MAX_MS };
        let cursor = after;
        while (cursor < pump.publishedUpTo) {
          if (performance.now() > budget.deadline) {
            this.closeClient(client, CLOSE.slowConsumer, 'too slow: the catch-up could not reach the live stream');
            return;
          }
          const events = await eventsAfter(primary, client.userId, cursor, BATCH);
          if (client.closed) return;
          // Pruned under our feet: nothing more to send up to publishedUpTo.
          if (events.length === 0) break;
          for (const event of events) {
            if (event.id > pump.publishedUpTo) break;
            if (!(await this.sendFlowControlled(client, eventFrame(event), budget))) return;
            this.counters.caughtUp += 1;
            cursor = event.id;
          }
        }
      }
    }
    if (client.closed) return;
    this.sendTo(client, { type: 'ready', lastEventId: pump.publishedUpTo });
    if (client.closed) return;
    client.socket.subscribe(topicOf(client.userId));
    client.live = true;
  }

  /**
   * A catch-up send: past the bound the socket is closed (1013); over half of it, the catch-up
   * waits for the buffer to drain, at most CATCH_UP_SLOW_MS over the whole catch-up, then closes
   * it (1013). False once closed.
   */
  private async sendFlowControlled(client: Client, frame: string, budget: { slowMs: number }): Promise<boolean> {
    if (client.closed) return false;
    const status = client.socket.send(frame);
    this.counters.framesSent += 1;
    webSocketMessages.inc({ direction: 'out' });
    if (status === 0 || !this.withinBound(client)) {
      this.closeClient(client, CLOSE.slowConsumer, 'too slow: the send buffer is full');
      return false;
    }
    const half = this.deps.settings.backpressureLimitBytes / 2;
    while (!client.closed && this.buffered(client) > half) {
      const left = CATCH_UP_SLOW_MS - budget.slowMs;
      if (left <= 0) {
        this.closeClient(client, CLOSE.slowConsumer, 'too slow: the send buffer did not drain');
        return false;
      }
      const startedAt = performance.now();
      const drained = new Promise<void>((resolve) => {
        client.drained = resolve;
      });
      await Promise.race([drained, Bun.sleep(Math.min(left, DRAIN_POLL_MS))]);
      client.drained = null;
      budget.slowMs += performance.now() - startedAt;
    }
    return !client.closed;
  }

  private buffered(client: Client): number {
    return client.socket.getBufferedAmount?.() ?? 0;
  }

  /** Closes (1013) a socket whose unsent buffer passed the bound; false when it did. */
  private withinBound(client: Client): boolean {
    if (this.buffered(client) <= this.deps.settings.backpressureLimitBytes) return true;
    this.closeClient(client, CLOSE.slowConsumer, 'too slow: the send buffer passed the backpressure limit');
    return false;
  }

  /** Publishes to the user's live sockets here, closing those that cannot keep up (1013). */
  private publishToUser(userId: string, frame: string): void {
    const pump = this.pumps.get(userId);
    // Before too: a buffer that grew past the bound otherwise (Bun's own pongs) would meet Bun's
    // limit on this publish and be dropped without a close frame.
    if (pump) for (const client of pump.clients) if (client.live && !client.closed) this.withinBound(client);
    this.counters.framesPublished += 1;
    // One frame per live socket of the user here (Bun's topic reaches only this process's).
    let live = 0;
    if (pump) for (const client of pump.clients) if (client.live && !client.closed) live += 1;
    webSocketMessages.inc({ direction: 'out' }, live);
    for (const publisher of this.publishers) publisher.publish(topicOf(userId), frame);
    if (pump) for (const client of pump.clients) if (client.live && !client.closed) this.withinBound(client);
  }

  private sendTo(client: Client, frame: ServerFrame): void {
    if (client.closed) return;
    const status = client.socket.send(JSON.stringify(frame));
    this.counters.framesSent += 1;
    webSocketMessages.inc({ direction: 'out' });
    // 0: dropped (Bun's own, higher, limit); past our bound: closed with a frame the client can read.
    if (status === 0) this.closeClient(client, CLOSE.slowConsumer, 'too slow: the send buffer is full');
    else this.withinBound(client);
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

  /**
   * Announces a member's typing to the conversation's other members, on every instance; refused
   * by the same rule as a message (deps.typingAudience: conversations/messages.ts).
   */
  private async typing(client: Client, conversationId: string): Promise<void> {
    const now = this.now();
    // Entries are in time order: the expired ones are at the front.
    for (const [id, at] of client.typingAt) {
      if (now - at < TYPING_INTERVAL_MS) break;
      client.typingAt.delete(id);
    }
    const last = client.typingAt.get(conversationId);
    if (last !== undefined) return; // within TYPING_INTERVAL_MS: dropped
    // More distinct conversations within the interval than anyone types in: dropped, not tracked.
    if (client.typingAt.size >= TYPING_TRACKED_MAX) return;
    client.typingAt.set(conversationId, now);
    try {
      const audience = await this.deps.typingAudience(this.deps.database.primary, conversationId, client.userId);
      if ('refusal' in audience) {
        this.sendTo(client, { type: 'error', ...TYPING_REFUSALS[audience.refusal] });
        return;
      }
      const { to } = audience;
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
    for (const userId of parsed.data.to) if (this.pumps.has(userId)) this.publishToUser(userId, frame);
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

  /**
   * Reads every local socket's session again (one statement per SESSION_CHECK_CHUNK sessions) and
   * closes those whose session is gone or expired (4401) or whose user is banned (4403). Runs on
   * every (re)LISTEN of the sessions channel and every SWEEP_MS; calls during a check collapse into
   * one more check after it. Resolves with the number of sockets closed.
   */
  checkSessions(): Promise<number> {
    this.sessionCheckDirty = true;
    this.sessionCheck ??= this.runSessionChecks();
    return this.sessionCheck;
  }

  private async runSessionChecks(): Promise<number> {
    await Promise.resolve();
    let closed = 0;
    try {
      while (this.sessionCheckDirty) {
        this.sessionCheckDirty = false;
        closed += await this.checkSessionsOnce();
      }
    } catch (error) {
      // Nothing may stay open on a lost announcement for long: retry soon, not at the next sweep.
      this.deps.logger.warn({ err: error, retryMs: SESSION_CHECK_RETRY_MS }, 'realtime: sessions not checked; retrying');
      if (!this.stopped && !this.sessionCheckRetry) {
        this.sessionCheckRetry = setTimeout(() => {
          this.sessionCheckRetry = null;
          void this.checkSessions();
        }, SESSION_CHECK_RETRY_MS);
      }
    } finally {
      this.sessionCheck = null;
    }
    return closed;
  }

  private async checkSessionsOnce(): Promise<number> {
    const targets = [...this.clients.values()].filter((client) => !client.closed);
    if (targets.length === 0) return 0;
    const ids = [...new Set(targets.map((client) => client.sessionId))];
    const found = new Map<string, { userId: string; expiresAt: Date; banned: boolean }>();
    for (let index = 0; index < ids.length; index += SESSION_CHECK_CHUNK) {
      const rows = await this.deps.database.authPrimary
        .select({
          id: sessions.id,
          userId: sessions.userId,
          expiresAt: sessions.expiresAt,
          // As isBanActive (src/lib/auth/user.ts): a ban with an end in the past is over.
          banned: sql<boolean>`(${users.banned} and (${users.banExpires} is null or ${users.banExpires} > now()))`,
        })
        .from(sessions)
        .innerJoin(users, eq(users.id, sessions.userId))
        .where(inArray(sessions.id, ids.slice(index, index + SESSION_CHECK_CHUNK)));
      for (const row of rows) found.set(row.id, row);
    }
    const now = this.now();
    let closed = 0;
    for (const client of targets) {
      if (client.closed) continue;
      const row = found.get(client.sessionId);
      if (!row || row.userId !== client.userId) this.closeClient(client, CLOSE.sessionEnded, 'session ended');
      else if (row.banned) this.closeClient(client, CLOSE.banned, 'account banned');
      else if (row.expiresAt.getTime() <= now) this.closeClient(client, CLOSE.sessionEnded, 'session expired');
      // Renewed (sliding expiry) or unchanged: kept.
      else continue;
      closed += 1;
    }
    this.counters.sessionsClosedByCheck += closed;
    return closed;
  }
}
