/**
 * Headless Chromium (Debian's `chromium`) driven over the DevTools protocol, with the network
 * limited to loopback: every host name resolves to nothing and anything else goes to a dead proxy,
 * so a page that needs the internet fails here as it would on a closed network.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { waitFor } from './wait';

/** The browser, or null when it is not installed (.ci/run installs it). */
export const chromiumPath = Bun.which('chromium');

const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
  // Loopback bypasses a proxy implicitly; everything else meets a closed port.
  '--proxy-server=127.0.0.1:9',
  '--remote-debugging-port=0',
  // Tall enough that several tags' operations render (Swagger UI renders the visible ones).
  '--window-size=1280,3000',
];

const target = z.object({ type: z.string(), webSocketDebuggerUrl: z.string() });
const reply = z.object({ id: z.number(), result: z.unknown().optional(), error: z.object({ message: z.string() }).optional() });
const evaluated = z.object({ result: z.object({ value: z.unknown().optional() }), exceptionDetails: z.unknown().optional() });

export type Page = {
  /** Sends a DevTools command; resolves with its result. */
  send(method: string, params?: Record<string, unknown>): Promise<unknown>;
  /** Evaluates an expression in the page, returning its (JSON) value. */
  evaluate(expression: string): Promise<unknown>;
  close(): Promise<void>;
};

/** Starts Chromium on about:blank and attaches to its page. */
export async function openPage(): Promise<Page> {
  if (!chromiumPath) throw new Error('chromium is not installed');
  const profile = mkdtempSync(join(tmpdir(), 'bx-chromium-'));
  const browser = Bun.spawn([chromiumPath, ...FLAGS, `--user-data-dir=${profile}`, 'about:blank'], { stdout: 'ignore', stderr: 'ignore' });
  try {
    // Chromium writes the port it chose into the profile.
    const port = await waitFor('Chromium to open its DevTools port', async () => {
      const file = Bun.file(join(profile, 'DevToolsActivePort'));
      return (await file.exists()) ? Number((await file.text()).split('\n')[0]) : null;
    });
    const targets = z.array(target).parse(await (await fetch(`http://127.0.0.1:${port}/json/list`)).json());
    const page = targets.find((candidate) => candidate.type === 'page');
    if (!page) throw new Error('Chromium opened no page');
    const socket = new WebSocket(page.webSocketDebuggerUrl);
    await new Promise<void>((resolve, reject) => {
      socket.onopen = () => resolve();
      socket.onerror = () => reject(new Error('could not attach to the page'));
    });
    const pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
    socket.onmessage = (event) => {
      const message = reply.safeParse(JSON.parse(String(event.data)));
      if (!message.success) return; // an event, not a reply
      const waiter = pending.get(message.data.id);
      pending.delete(message.data.id);
      if (message.data.error) waiter?.reject(new Error(message.data.error.message));
      else waiter?.resolve(message.data.result);
    };
    let nextId = 0;
    const send = (method: string, params: Record<string, unknown> = {}) =>
      new Promise<unknown>((resolve, reject) => {
        nextId += 1;
        pending.set(nextId, { resolve, reject });
        socket.send(JSON.stringify({ id: nextId, method, params }));
      });
    return {
      send,
      async evaluate(expression) {
        const result = evaluated.parse(await send('Runtime.evaluate', { expression, returnByValue: true }));
        if (result.exceptionDetails) throw new Error(`page threw: ${JSON.stringify(result.exceptionDetails).slice(0, 500)}`);
        return result.result.value;
      },
      async close() {
        // Ends Chromium at once; SIGTERM waits on its orderly shutdown (seconds on a busy machine).
        await Promise.race([send('Browser.close').catch(() => undefined), Bun.sleep(2_000)]);
        socket.close();
        await Promise.race([browser.exited, Bun.sleep(5_000)]);
        browser.kill();
        await browser.exited;
        rmSync(profile, { recursive: true, force: true });
      },
    };
  } catch (error) {
    browser.kill();
    await browser.exited;
    rmSync(profile, { recursive: true, force: true });
    throw error;
  }
}
