/**
 * A small WebSocket client for tests: connects to /ws/messages with a session cookie (Bun's
 * WebSocket takes headers), keeps every frame, and waits for one matching a predicate or for the
 * close, each with a bounded timeout. `pause()` stops reading from the TCP socket (Bun's client
 * WebSocket), so the server sees real backpressure: a slow device.
 */
import { z } from 'zod';

export const serverFrame = z.looseObject({ type: z.string() });
export type Frame = z.infer<typeof serverFrame> & Record<string, unknown>;

export type Closed = { code: number; reason: string };

export type TestSocket = {
  readonly frames: Frame[];
  /** Event frames' ids, in arrival order. */
  eventIds(): number[];
  send(data: unknown): void;
  sendRaw(data: string): void;
  /** The first frame (already received or yet to come) matching `match`, after index `from`. */
  waitFor(what: string, match: (frame: Frame) => boolean, timeoutMs?: number, from?: number): Promise<Frame>;
  closed(timeoutMs?: number): Promise<Closed>;
  readonly isClosed: boolean;
  close(): void;
  /** Stops reading from the connection: the server's send buffer fills, as with a stalled device. */
  pause(): void;
  resume(): void;
};

/** `paused`: reads nothing from the start (not even the catch-up) until `resume()`. */
export type ConnectOptions = { cookie?: string; origin?: string; lastEventId?: number; timeoutMs?: number; paused?: boolean };

/** Opens a socket; resolves once open, rejects if the upgrade is refused. */
export async function connectSocket(baseUrl: string, options: ConnectOptions = {}): Promise<TestSocket> {
  const url = new URL('/ws/messages', baseUrl.replace(/^http/, 'ws'));
  if (options.lastEventId !== undefined) url.searchParams.set('lastEventId', String(options.lastEventId));
  const headers: Record<string, string> = {};
  if (options.cookie) headers.cookie = options.cookie;
  if (options.origin) headers.origin = options.origin;
  const ws = new WebSocket(url.toString(), { headers });
  // Takes effect once the connection opens, before any frame is read.
  if (options.paused) ws.pause();
  const frames: Frame[] = [];
  const listeners = new Set<() => void>();
  let closedWith: Closed | null = null;
  ws.onmessage = (event) => {
    const parsed = serverFrame.safeParse(JSON.parse(String(event.data)));
    if (parsed.success) frames.push(parsed.data as Frame);
    for (const listener of listeners) listener();
  };
  ws.onclose = (event) => {
    closedWith = { code: event.code, reason: event.reason };
    for (const listener of listeners) listener();
  };
  const timeoutMs = options.timeoutMs ?? 5_000;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('socket did not open in time')), timeoutMs);
    ws.onopen = () => {
      clearTimeout(timer);
      resolve();
    };
    ws.onerror = () => {
      clearTimeout(timer);
      reject(new Error('socket refused'));
    };
  });

  const until = <T>(what: string, check: () => T | null, ms: number): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const first = check();
      if (first !== null) return resolve(first);
      const timer = setTimeout(() => {
        listeners.delete(listener);
        reject(new Error(`timed out after ${ms} ms waiting for ${what}; frames: ${JSON.stringify(frames).slice(0, 2000)}`));
      }, ms);
      const listener = () => {
        const value = check();
        if (value === null) return;
        clearTimeout(timer);
        listeners.delete(listener);
        resolve(value);
      };
      listeners.add(listener);
    });

  return {
    frames,
    eventIds: () => frames.filter((frame) => frame.type === 'event').map((frame) => Number(frame.id)),
    send: (data) => ws.send(JSON.stringify(data)),
    sendRaw: (data) => ws.send(data),
    waitFor: (what, match, ms = 5_000, from = 0) =>
      until(what, () => frames.slice(from).find(match) ?? null, ms),
    closed: (ms = 5_000) => until('the socket to close', () => closedWith, ms),
    get isClosed() {
      return closedWith !== null;
    },
    close: () => ws.close(),
    pause: () => void ws.pause(),
    resume: () => void ws.resume(),
  };
}

/** The status of a refused upgrade (a raw handshake over fetch: WebSocket hides it). */
export async function upgradeStatus(baseUrl: string, headers: Record<string, string> = {}, query = ''): Promise<{ status: number; body: string }> {
  const response = await fetch(`${baseUrl}/ws/messages${query}`, {
    headers: {
      upgrade: 'websocket',
      connection: 'Upgrade',
      'sec-websocket-key': btoa(crypto.randomUUID().slice(0, 16)),
      'sec-websocket-version': '13',
      ...headers,
    },
  });
  return { status: response.status, body: await response.text() };
}
