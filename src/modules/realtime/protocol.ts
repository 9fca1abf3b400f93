/**
 * The /ws/messages protocol: what a client may send (validated here: anything else is answered
 * with an error frame, never a crash), what the server sends, and the close codes. Frames are
 * JSON text. GET /realtime/protocol serves the same description with this instance's limits.
 */
import { z } from 'zod';
import type { SocketSettings } from '../../config/env';
import type { UserEventType } from './stream';

export const clientFrame = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ping') }).strict(),
  z.object({ type: z.literal('typing'), conversationId: z.uuid() }).strict(),
]);
export type ClientFrame = z.infer<typeof clientFrame>;

/** `lastEventId` at upgrade: replay every stored event after it before the live ones. */
export const socketQuery = z.object({
  lastEventId: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
});

export type ServerFrame =
  | { type: 'event'; id: number; event: UserEventType; data: Record<string, unknown>; at: string }
  | { type: 'typing'; conversationId: string; userId: string }
  | { type: 'ready'; lastEventId: number }
  | { type: 'resync' }
  | { type: 'pong' }
  | { type: 'error'; code: SocketErrorCode; message: string };

/** CONVERSATION_CLOSED and USER_BLOCKED refuse typing where a message would be refused (409 / 403 over HTTP). */
export type SocketErrorCode = 'INVALID_FRAME' | 'CONVERSATION_NOT_FOUND' | 'CONVERSATION_CLOSED' | 'USER_BLOCKED' | 'INTERNAL_ERROR';

/**
 * Close codes. 1xxx are the RFC's; 4xxx are ours. After 4401/4403 a client must not reconnect
 * with the same session; after 1001/1011/1013 it reconnects (with backoff) sending lastEventId.
 */
export const CLOSE = {
  /** The server is shutting down (graceful): reconnect elsewhere. */
  goingAway: 1001,
  /**
   * Too many frames (WS_MESSAGES_PER_10S): the client misbehaves. Also a socket opened past
   * WS_MAX_SOCKETS_PER_USER by upgrades that raced the 429 check.
   */
  policy: 1008,
  /** A frame larger than WS_MAX_PAYLOAD_BYTES (Bun closes by itself). */
  tooBig: 1009,
  /** The server could not prepare the stream (e.g. the database was unreachable): reconnect. */
  internal: 1011,
  /**
   * The client read too slowly: its buffer passed WS_BACKPRESSURE_LIMIT_BYTES, or during catch-up
   * stayed over half of it for 2 s in all. Closed by the hub with a real close frame: reconnect.
   */
  slowConsumer: 1013,
  /** The session ended (sign-out, revocation, expiry): sign in again. */
  sessionEnded: 4401,
  /** The account was banned. */
  banned: 4403,
} as const;

export const closeCodesDescription: Readonly<Record<keyof typeof CLOSE, string>> = {
  goingAway: '1001: the server is shutting down; reconnect with lastEventId',
  policy: '1008: more frames than the per-socket rate limit allows, or a socket past the per-user limit (upgrades racing the 429)',
  tooBig: '1009: a frame larger than maxPayloadBytes',
  internal: '1011: the server could not prepare the event stream; reconnect with lastEventId',
  slowConsumer:
    '1013: the client read too slowly (its buffer passed the backpressure limit, or stayed over half of it for 2 s while catching up); reconnect with lastEventId',
  sessionEnded: '4401: the session ended (sign-out, revocation, expiry); sign in again',
  banned: '4403: the account was banned',
};

/** Typing frames per socket and conversation: one per TYPING_INTERVAL_MS, extras dropped. */
export const TYPING_INTERVAL_MS = 2_000;

export const protocolSchema = z.object({
  path: z.literal('/ws/messages'),
  query: z.object({ lastEventId: z.string().max(500) }),
  clientFrames: z.record(z.string().max(50), z.string().max(500)),
  serverFrames: z.record(z.string().max(50), z.string().max(500)),
  closeCodes: z.array(z.string().max(500)).max(20),
  limits: z.object({
    maxPayloadBytes: z.number().int().min(0).max(2_147_483_647),
    idleTimeoutS: z.number().int().min(0).max(2_147_483_647),
    backpressureLimitBytes: z.number().int().min(0).max(2_147_483_647),
    messagesPer10s: z.number().int().min(0).max(2_147_483_647),
    typingIntervalMs: z.number().int().min(0).max(2_147_483_647),
    socketsPerUser: z.number().int().min(0).max(2_147_483_647),
  }),
});

export function describeProtocol(settings: SocketSettings): z.infer<typeof protocolSchema> {
  return {
    path: '/ws/messages',
    query: {
      lastEventId:
        'optional integer >= 0: the last event id this client saw; every stored event after it is sent first, in order, then a ready frame, then live events',
    },
    clientFrames: {
      ping: '{"type":"ping"}: answered with {"type":"pong"}',
      typing:
        '{"type":"typing","conversationId":"<uuid>"}: shown to the other members; one per 2 s per conversation, never stored; refused (error frame) where a message would be: not a member, a read-only conversation, a block',
    },
    serverFrames: {
      event: '{"type":"event","id":<n>,"event":"message.created|...","data":{...},"at":"<ISO time>"}: ids increase by one per user',
      ready: '{"type":"ready","lastEventId":<n>}: catch-up done; live events follow',
      resync: '{"type":"resync"}: lastEventId is older than what is kept (or unknown): reload, then continue from ready',
      typing: '{"type":"typing","conversationId":"<uuid>","userId":"<id>"}',
      pong: '{"type":"pong"}',
      error: '{"type":"error","code":"INVALID_FRAME|CONVERSATION_NOT_FOUND|CONVERSATION_CLOSED|USER_BLOCKED|INTERNAL_ERROR","message":"..."}',
    },
    closeCodes: Object.values(closeCodesDescription),
    limits: {
      maxPayloadBytes: settings.maxPayloadBytes,
      idleTimeoutS: settings.idleTimeoutS,
      backpressureLimitBytes: settings.backpressureLimitBytes,
      messagesPer10s: settings.messagesPer10s,
      typingIntervalMs: TYPING_INTERVAL_MS,
      // Past it the newest upgrade is refused (429); open sockets are never closed to make room,
      // so a misbehaving client cannot knock the user's other devices off.
      socketsPerUser: settings.maxSocketsPerUser,
    },
  };
}
