/**
 * Real time over WebSocket: `/ws/messages` (protocol.ts) and `GET /realtime/protocol`, its
 * description with this instance's limits (WebSocket routes have no place in OpenAPI).
 *
 * The upgrade is refused before it happens: a browser Origin that is not ours or a CORS origin is
 * 403 INVALID_ORIGIN (no Origin, as from the mobile app or wscat, is allowed: it cannot be a
 * cross-site browser page); the session is read fresh from the primary, never from the cookie
 * cache alone (401 without one, 403 USER_BANNED); a malformed lastEventId is 422; a user who already
 * has WS_MAX_SOCKETS_PER_USER sockets on this instance is 429 TOO_MANY_REQUESTS (the newcomer is
 * refused, open sockets are never closed to make room). Elysia needs the server for `.ws()`:
 * src/serve.ts gives it.
 */
import { Elysia } from 'elysia';
import type { SocketSettings } from '../../config/env';
import { forbidden, HttpError } from '../../lib/errors';
import { ok, successSchema } from '../../lib/http';
import type { AuthPlugin } from '../../plugins/auth';
import type { ModuleInfo } from '../module';
import type { SocketHub } from './hub';
import { describeProtocol, protocolSchema, socketQuery } from './protocol';

export const realtimeModule: ModuleInfo = {
  tag: {
    name: 'realtime',
    description:
      'Live events over the /ws/messages WebSocket (session cookie at upgrade; ?lastEventId=<n> replays what was missed): ' +
      'GET /realtime/protocol describes its frames, close codes and limits',
  },
  errors: {},
};

export type RealtimeDeps = {
  authPlugin: AuthPlugin;
  hub: SocketHub;
  settings: SocketSettings;
  /** Origins a browser may open the socket from: the app's own and CORS_ORIGINS. */
  trustedOrigins: readonly string[];
};

/** A socket of the user's closing frees a place within seconds (idle timeout at worst). */
const RETRY_AFTER_S = 5;

export const realtimeRoutes = (deps: RealtimeDeps) => {
  const trusted = new Set(deps.trustedOrigins);
  const protocol = describeProtocol(deps.settings);
  return new Elysia({ name: 'realtime-routes', tags: [realtimeModule.tag.name] })
    .use(deps.authPlugin)
    .get('/realtime/protocol', () => ok(protocol), {
      response: { 200: successSchema(protocolSchema) },
      detail: {
        summary: 'The /ws/messages protocol',
        description:
          'Open `GET /ws/messages` with `Upgrade: websocket` and the session cookie; the optional `lastEventId` query replays ' +
          'every stored event after it (in order, exactly once) before a `ready` frame and the live events. Refusals before ' +
          'the upgrade: 401 without a session, 403 INVALID_ORIGIN for a foreign browser Origin, 403 USER_BANNED, 422 for a bad lastEventId, ' +
          `429 TOO_MANY_REQUESTS past ${deps.hub.maxSocketsPerUser} sockets of one user on one instance.`,
        security: [],
      },
    })
    .ws('/ws/messages', {
      detail: { hide: true },
      query: socketQuery,
      // Before the session is read (transform runs ahead of the auth macro's resolve).
      transform({ request }) {
        const origin = request.headers.get('origin');
        if (origin !== null && !trusted.has(origin)) throw forbidden('This origin may not open the socket', 'INVALID_ORIGIN');
      },
      auth: { fresh: true },
      // After the session is read, before the upgrade. Elysia may run it twice (as a hook and
      // from its ws handler): it only reads.
      beforeHandle({ user }) {
        if (!deps.hub.canOpen(user.id)) {
          throw new HttpError(
            429,
            'TOO_MANY_REQUESTS',
            `At most ${deps.hub.maxSocketsPerUser} sockets per user: close one before opening another`,
            undefined,
            { 'retry-after': String(RETRY_AFTER_S) },
          );
        }
      },
      open(ws) {
        const { user, session, query } = ws.data;
        deps.hub.register(ws.raw, { userId: user.id, sessionId: session.id, lastEventId: query.lastEventId ?? null });
      },
      message(ws, message) {
        return deps.hub.receive(ws.raw, message);
      },
      drain(ws) {
        deps.hub.drained(ws.raw);
      },
      close(ws, code) {
        deps.hub.unregister(ws.raw, code);
      },
    });
};

export { SocketHub } from './hub';
