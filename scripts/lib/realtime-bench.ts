/**
 * `bun run bench --only realtime`: the /ws/messages WebSocket and its fan-out across instances, on
 * loopback, against two app processes (A and B) on the bench's cluster.
 *
 *   1. sockets: N concurrent sockets on B in steps up to REALTIME_MAX_SOCKETS (aim 10,000). A step
 *      holds when every socket opened (its `ready` frame came) and a ping/pong round trip on a
 *      sample answers within PING_BOUND_MS; reported: the largest N that held, B's RSS and CPU
 *      at each step, memory per idle socket.
 *   2. fan-out: with FANOUT_IDLE_SOCKETS idle sockets on B, a poster sends messages through A
 *      (POST /conversations/:id/messages) one at a time; p50/p95/p99 from just before the POST
 *      to the hunter's socket on B receiving it (aim: p95 < 50 ms at 1,000 sockets).
 *   3. throughput: SEND_CONCURRENCY concurrent senders through A for THROUGHPUT_S seconds;
 *      messages/s acknowledged (201), and delivery loss on B's socket after a drain (aim: 0).
 *
 * People and their conversation come from `bun run db:seed` (its demo accounts), the sockets'
 * owners from sign-ups through A; sign-ups and sign-ins carry distinct X-Forwarded-For addresses
 * (A trusts 127.0.0.1 as a proxy) so the per-IP auth limits do not throttle the setup.
 */
import type { Subprocess } from 'bun';
import postgres from 'postgres';

export type RealtimeServer = { name: string; proc: Subprocess; origin: string; logFile: string };
export type RealtimeBenchHooks = {
  databaseUrl: string;
  replicaUrl: string;
  /** Env of a production app process listening on `port` (bench.ts's appEnv). */
  appEnv(port: number): Record<string, string>;
  spawn(name: string, script: string, port: number, env: Record<string, string>): RealtimeServer;
  waitUntilServing(server: RealtimeServer): Promise<void>;
  stop(server: RealtimeServer): Promise<void>;
  freePort(): Promise<number>;
  rssMb(pid: number): number | null;
  /** The bench's seed password for demo accounts. */
  seedPassword: string;
};

const env = (name: string, fallback: number): number => {
  const value = Number(process.env[name] ?? '');
  return Number.isInteger(value) && value > 0 ? value : fallback;
};
const MAX_SOCKETS = env('REALTIME_MAX_SOCKETS', 10_000);
const SOCKET_STEPS = [1_000, 2_500, 5_000, 7_500, 10_000, 15_000].filter((n) => n <= MAX_SOCKETS);
const SOCKET_OWNERS = 50;
const OPEN_CONCURRENCY = 200;
const OPEN_TIMEOUT_MS = 60_000;
const PING_SAMPLE = 200;
const PING_BOUND_MS = 1_000;
const FANOUT_IDLE_SOCKETS = 1_000;
const FANOUT_MESSAGES = env('REALTIME_FANOUT_MESSAGES', 500);
const SEND_CONCURRENCY = 16;
const THROUGHPUT_S = env('REALTIME_THROUGHPUT_S', 10);
const DRAIN_MS = 10_000;

type Frame = { type: string; id?: number; event?: string; data?: Record<string, unknown> };

/** A socket of the bench: frames parsed, waiters resolved by predicate. */
class BenchSocket {
  readonly ws: WebSocket;
  readonly opened: Promise<void>;
  private readonly waiters: Array<{ match: (frame: Frame) => boolean; resolve: (frame: Frame) => void }> = [];
  onFrame: ((frame: Frame) => void) | null = null;
  closed: { code: number; reason: string } | null = null;

  constructor(url: string, cookie: string) {
    this.ws = new WebSocket(url, { headers: { cookie } } as unknown as string[]);
    this.opened = new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no ready frame in time')), OPEN_TIMEOUT_MS);
      this.waiters.push({
        match: (frame) => frame.type === 'ready',
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
      this.ws.addEventListener('close', (event) => {
        this.closed = { code: event.code, reason: event.reason };
        clearTimeout(timer);
        reject(new Error(`closed ${event.code} ${event.reason}`));
      });
    });
    this.ws.addEventListener('message', (event) => {
      const frame = JSON.parse(String(event.data)) as Frame;
      this.onFrame?.(frame);
      for (let i = this.waiters.length - 1; i >= 0; i--) {
        const waiter = this.waiters[i];
        if (waiter?.match(frame)) {
          this.waiters.splice(i, 1);
          waiter.resolve(frame);
        }
      }
    });
  }

  next(match: (frame: Frame) => boolean, timeoutMs: number): Promise<Frame | null> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        const index = this.waiters.indexOf(waiter);
        if (index >= 0) this.waiters.splice(index, 1);
        resolve(null);
      }, timeoutMs);
      const waiter = {
        match,
        resolve: (frame: Frame) => {
          clearTimeout(timer);
          resolve(frame);
        },
      };
      this.waiters.push(waiter);
    });
  }

  close(): void {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close(1000);
  }
}

/** Percentile of sorted values (nearest rank). */
const percentile = (sorted: readonly number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN;

let forwardedCounter = 0;
/** A fresh X-Forwarded-For per auth call: the per-IP sign-in/sign-up limits are not what is measured. */
const forwardedFor = (): string => {
  forwardedCounter += 1;
  return `10.77.${Math.floor(forwardedCounter / 250) % 250}.${(forwardedCounter % 250) + 1}`;
};

function cookieOf(response: Response): string {
  return response.headers
    .getSetCookie()
    .map((line) => line.split(';')[0] ?? '')
    .filter(Boolean)
    .join('; ');
}

async function signIn(origin: string, email: string, password: string): Promise<string> {
  const response = await fetch(`${origin}/api/auth/sign-in/email`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-forwarded-for': forwardedFor() },
    body: JSON.stringify({ email, password }),
  });
  if (!response.ok) throw new Error(`sign-in ${email}: ${response.status} ${await response.text()}`);
  return cookieOf(response);
}

async function signUp(origin: string, email: string, password: string): Promise<string> {
  const response = await fetch(`${origin}/api/auth/sign-up/email`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-forwarded-for': forwardedFor() },
    body: JSON.stringify({ email, password, name: email.split('@')[0] }),
  });
  if (!response.ok) throw new Error(`sign-up ${email}: ${response.status} ${await response.text()}`);
  return cookieOf(response);
}

/** CPU seconds (user + system) of a process so far, from /proc/<pid>/stat. */
async function cpuSeconds(pid: number): Promise<number> {
  const stat = await Bun.file(`/proc/${pid}/stat`).text();
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return ticks / 100;
}

async function openSockets(url: string, cookies: readonly string[], count: number): Promise<{ sockets: BenchSocket[]; failed: number }> {
  const sockets: BenchSocket[] = [];
  let failed = 0;
  for (let start = 0; start < count; start += OPEN_CONCURRENCY) {
    const batch = Array.from({ length: Math.min(OPEN_CONCURRENCY, count - start) }, (_, i) => new BenchSocket(url, cookies[(start + i) % cookies.length] ?? ''));
    const results = await Promise.allSettled(batch.map((socket) => socket.opened));
    for (const [i, result] of results.entries()) {
      const socket = batch[i];
      if (!socket) continue;
      if (result.status === 'fulfilled') sockets.push(socket);
      else {
        failed += 1;
        socket.close();
      }
    }
  }
  return { sockets, failed };
}

async function pingSample(sockets: readonly BenchSocket[]): Promise<{ p99Ms: number; answered: number }> {
  const sample = sockets.filter((_, i) => i % Math.max(1, Math.floor(sockets.length / PING_SAMPLE)) === 0).slice(0, PING_SAMPLE);
  const times = await Promise.all(
    sample.map(async (socket) => {
      const started = performance.now();
      const pong = socket.next((frame) => frame.type === 'pong', PING_BOUND_MS * 5);
      socket.ws.send(JSON.stringify({ type: 'ping' }));
      return (await pong) ? performance.now() - started : null;
    }),
  );
  const answered = times.filter((time): time is number => time !== null).sort((a, b) => a - b);
  return { p99Ms: answered.length > 0 ? percentile(answered, 99) : Number.NaN, answered: answered.length };
}

export type SocketStep = { sockets: number; held: boolean; failed: number; rssMb: number | null; cpuPercent: number; pingP99Ms: number };
export type RealtimeResult = {
  steps: SocketStep[];
  largestHeld: number;
  perSocketKb: number | null;
  fanout: { idleSockets: number; messages: number; p50Ms: number; p95Ms: number; p99Ms: number; lost: number };
  throughput: { seconds: number; conversations: number; acknowledged: number; perSecond: number; delivered: number; lost: number; failedSends: number };
};

export async function runRealtimeBench(hooks: RealtimeBenchHooks): Promise<RealtimeResult> {
  const seed = Bun.spawnSync([process.execPath, 'scripts/db-seed.ts'], {
    cwd: `${import.meta.dir}/../..`,
    env: { PATH: process.env.PATH ?? '', NODE_ENV: 'development', LOG_LEVEL: 'warn', DATABASE_URL: hooks.databaseUrl, DATABASE_REPLICA_URLS: hooks.replicaUrl, SEED_PASSWORD: hooks.seedPassword },
    stdout: 'ignore',
    stderr: 'pipe',
  });
  if (seed.exitCode !== 0) throw new Error(`db:seed failed: ${seed.stderr.toString().slice(-2000)}`);

  // Conversations one may still write in (a live request), with both emails.
  const sql = postgres(hooks.databaseUrl, { max: 1, onnotice: () => {} });
  let conversations: Array<{ id: string; poster: string; hunter: string }>;
  try {
    conversations = await sql<Array<{ id: string; poster: string; hunter: string }>>`
      select c.id, p.email as poster, h.email as hunter
      from conversations c
      join users p on p.id = c.poster_id
      join users h on h.id = c.hunter_id
      join bounty_requests r on r.bounty_id = c.bounty_id and r.hunter_id = c.hunter_id and r.status in ('pending', 'accepted')
      order by c.id`;
  } finally {
    await sql.end({ timeout: 0 });
  }
  const pair = conversations[0];
  if (!pair) throw new Error('the seed left no conversation with a live request');

  const [portA, portB] = [await hooks.freePort(), await hooks.freePort()];
  const a = hooks.spawn('realtime A', 'src/index.ts', portA, hooks.appEnv(portA));
  const b = hooks.spawn('realtime B', 'src/index.ts', portB, hooks.appEnv(portB));
  const open: BenchSocket[] = [];
  try {
    await Promise.all([hooks.waitUntilServing(a), hooks.waitUntilServing(b)]);
    const wsB = `${b.origin.replace('http', 'ws')}/ws/messages`;
    const posterCookie = await signIn(a.origin, pair.poster, hooks.seedPassword);
    const hunterCookie = await signIn(b.origin, pair.hunter, hooks.seedPassword);
    const owners: string[] = [];
    for (let i = 0; i < SOCKET_OWNERS; i++) owners.push(await signUp(a.origin, `socket-owner-${i}-${crypto.randomUUID().slice(0, 8)}@bench.local`, hooks.seedPassword));
    console.log(`bench: realtime: A ${a.origin}, B ${b.origin}; ${SOCKET_OWNERS} socket owners signed up; conversation ${pair.id}`);

    // 1. sockets
    const steps: SocketStep[] = [];
    const baseRss = hooks.rssMb(b.proc.pid);
    let largestHeld = 0;
    let perSocketKb: number | null = null;
    for (const target of SOCKET_STEPS) {
      const cpuBefore = await cpuSeconds(b.proc.pid);
      const started = performance.now();
      const { sockets, failed } = await openSockets(wsB, owners, target - open.length);
      open.push(...sockets);
      await Bun.sleep(1_000);
      const elapsedS = (performance.now() - started) / 1000;
      const cpuPercent = ((await cpuSeconds(b.proc.pid)) - cpuBefore) / elapsedS * 100;
      const ping = await pingSample(open);
      const stillOpen = open.filter((socket) => socket.closed === null).length;
      const held = failed === 0 && stillOpen === target && ping.p99Ms <= PING_BOUND_MS;
      const rss = hooks.rssMb(b.proc.pid);
      steps.push({ sockets: target, held, failed: failed + (target - failed - stillOpen), rssMb: rss, cpuPercent, pingP99Ms: ping.p99Ms });
      console.log(`bench: realtime: ${target} sockets on B: ${held ? 'held' : 'did not hold'} (failed ${failed}, open ${stillOpen}), RSS ${rss?.toFixed(1)} MB, CPU ${cpuPercent.toFixed(0)}% while opening, ping p99 ${ping.p99Ms.toFixed(1)} ms`);
      if (!held) break;
      largestHeld = target;
      if (baseRss !== null && rss !== null) perSocketKb = ((rss - baseRss) * 1024) / target;
    }
    // Back to the fan-out's load.
    while (open.length > FANOUT_IDLE_SOCKETS) open.pop()?.close();
    await Bun.sleep(1_000);

    // 2. fan-out latency, one message at a time.
    const hunter = new BenchSocket(wsB, hunterCookie);
    await hunter.opened;
    const send = (clientMessageId: string, conversationId = pair.id, cookie = posterCookie) =>
      fetch(`${a.origin}/conversations/${conversationId}/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', cookie },
        body: JSON.stringify({ text: `bench ${clientMessageId}`, clientMessageId }),
      });
    const clientIdOf = (frame: Frame): string | undefined => {
      const message = frame.data?.message as { clientMessageId?: string } | undefined;
      return frame.type === 'event' && frame.event === 'message.created' ? message?.clientMessageId : undefined;
    };
    const latencies: number[] = [];
    let fanoutLost = 0;
    for (let i = 0; i < FANOUT_MESSAGES; i++) {
      const id = `fanout-${i}-${crypto.randomUUID().slice(0, 8)}`;
      const delivered = hunter.next((frame) => clientIdOf(frame) === id, 5_000);
      const started = performance.now();
      const response = await send(id);
      if (response.status !== 201) throw new Error(`send: ${response.status} ${await response.text()}`);
      if (await delivered) latencies.push(performance.now() - started);
      else fanoutLost += 1;
    }
    latencies.sort((x, y) => x - y);

    // 3. throughput and loss: senders spread over every writable conversation (one conversation
    // takes its messages one at a time, under its row lock: that is what keeps its ids gapless).
    const cookies = new Map<string, string>([[`A:${pair.poster}`, posterCookie], [`B:${pair.hunter}`, hunterCookie]]);
    const cookieFor = async (side: 'A' | 'B', email: string): Promise<string> => {
      const known = cookies.get(`${side}:${email}`);
      if (known) return known;
      const cookie = await signIn(side === 'A' ? a.origin : b.origin, email, hooks.seedPassword);
      cookies.set(`${side}:${email}`, cookie);
      return cookie;
    };
    const deliveredIds = new Set<string>();
    const listeners = new Map<string, BenchSocket>([[pair.hunter, hunter]]);
    for (const conversation of conversations) {
      if (listeners.has(conversation.hunter)) continue;
      const socket = new BenchSocket(wsB, await cookieFor('B', conversation.hunter));
      await socket.opened;
      listeners.set(conversation.hunter, socket);
    }
    for (const socket of listeners.values()) {
      socket.onFrame = (frame) => {
        const id = clientIdOf(frame);
        if (id?.startsWith('load-')) deliveredIds.add(id);
      };
    }
    const senders = await Promise.all(conversations.map(async (conversation) => ({ id: conversation.id, cookie: await cookieFor('A', conversation.poster) })));
    const acknowledged = new Set<string>();
    let failedSends = 0;
    const until = performance.now() + THROUGHPUT_S * 1000;
    await Promise.all(
      Array.from({ length: SEND_CONCURRENCY }, async (_, worker) => {
        const sender = senders[worker % senders.length] ?? { id: pair.id, cookie: posterCookie };
        for (let n = 0; performance.now() < until; n++) {
          const id = `load-${worker}-${n}`;
          const response = await send(id, sender.id, sender.cookie);
          if (response.status === 201) acknowledged.add(id);
          else failedSends += 1;
        }
      }),
    );
    const drainUntil = Date.now() + DRAIN_MS;
    while ([...acknowledged].some((id) => !deliveredIds.has(id)) && Date.now() < drainUntil) await Bun.sleep(100);
    const lost = [...acknowledged].filter((id) => !deliveredIds.has(id)).length;
    for (const socket of listeners.values()) socket.close();

    return {
      steps,
      largestHeld,
      perSocketKb,
      fanout: {
        idleSockets: open.length,
        messages: FANOUT_MESSAGES,
        p50Ms: percentile(latencies, 50),
        p95Ms: percentile(latencies, 95),
        p99Ms: percentile(latencies, 99),
        lost: fanoutLost,
      },
      throughput: { seconds: THROUGHPUT_S, conversations: senders.length, acknowledged: acknowledged.size, perSecond: acknowledged.size / THROUGHPUT_S, delivered: deliveredIds.size, lost, failedSends },
    };
  } finally {
    for (const socket of open) socket.close();
    await Promise.allSettled([hooks.stop(a), hooks.stop(b)]);
  }
}

export function printRealtimeTable(result: RealtimeResult): void {
  const ms = (value: number) => (Number.isNaN(value) ? 'n/a' : `${value.toFixed(1)} ms`);
  console.log('\nrealtime (/ws/messages, two app processes on loopback; aims from issue 11)');
  console.log('  sockets on one instance');
  for (const step of result.steps) {
    console.log(
      `    ${String(step.sockets).padStart(6)}  ${step.held ? 'held   ' : 'failed '}  RSS ${step.rssMb === null ? 'n/a' : `${step.rssMb.toFixed(1)} MB`}  CPU ${step.cpuPercent.toFixed(0)}% while opening  ping p99 ${ms(step.pingP99Ms)}`,
    );
  }
  console.log(`    largest N that held: ${result.largestHeld} (aim 10,000 ${result.largestHeld >= 10_000 ? 'met' : 'MISSED'}); memory per idle socket ${result.perSocketKb === null ? 'n/a' : `${result.perSocketKb.toFixed(1)} KB`}`);
  const f = result.fanout;
  console.log(`  fan-out A -> B with ${f.idleSockets} other sockets on B, ${f.messages} messages one at a time`);
  console.log(`    p50 ${ms(f.p50Ms)}  p95 ${ms(f.p95Ms)}  p99 ${ms(f.p99Ms)}  (aim p95 < 50 ms ${f.p95Ms < 50 ? 'met' : 'MISSED'}); lost ${f.lost}`);
  const t = result.throughput;
  console.log(`  sustained: ${t.perSecond.toFixed(0)} messages/s acknowledged over ${t.seconds} s (${SEND_CONCURRENCY} senders over ${t.conversations} conversations); delivered ${t.delivered}/${t.acknowledged}, lost ${t.lost} (aim 0 ${t.lost === 0 ? 'met' : 'MISSED'}); failed sends ${t.failedSends}`);
}
