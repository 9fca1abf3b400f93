/**
 * HTTP caching instead of a cache server (issue 13): replicas carry the read load, and repeat reads
 * of public pages are answered from the client's (or a CDN's) cache, or by a 304 without a body.
 *
 * - Every response says `Cache-Control: no-store` unless its route opts in (or a raw Response
 *   brings its own): the API's answers carry cookies and money, and a proxy must not keep them.
 * - A GET route with `httpCache: 'public' | 'per-viewer'` gets, on a 200 only, a strong ETag over
 *   the exact body bytes sent, `Vary: Cookie`, and `If-None-Match` answered with 304 and no body:
 *   - anonymous: `public, max-age=PUBLIC_MAX_AGE_S`: reused without asking for that long (anonymous
 *     clients write nothing they would expect to see at once);
 *   - signed in: `no-cache`, so each reuse is revalidated and a viewer sees their own writes at once
 *     (read-your-writes holds); `public` when the body is the same for everyone ('public'),
 *     `private` when the session shapes it ('per-viewer': blocks, staff visibility, own drafts,
 *     what the viewer may do);
 *   - a response that sets a cookie (a refreshed session) is `private` whatever the route says.
 *
 * The ETag is computed in `mapResponse`, after Elysia validated (and stripped) the handler's value,
 * and this hook sends those very bytes itself. The handler still runs in full on a 304 (the body is
 * what the tag is computed from): what it saves is the transfer and the client's work.
 */
import { createHash } from 'node:crypto';
import { Elysia, StatusMap } from 'elysia';

export type HttpCacheScope = 'public' | 'per-viewer';

/** How long an anonymous client or a CDN reuses a cached read without asking. */
export const PUBLIC_MAX_AGE_S = 30;
export const NO_STORE = 'no-store';
const JSON_TYPE = 'application/json;charset=utf-8';

/** Documented on every route that uses the option (src/plugins/openapi.ts adds the 304 and its headers). */
export const IF_NONE_MATCH_PARAMETER = {
  name: 'If-None-Match',
  in: 'header' as const,
  required: false,
  description:
    'The ETag of the copy you hold (or a list of them, or `*`): when the answer would be the same, it is 304 Not Modified ' +
    'with no body, and you keep using your copy. Compared weakly (RFC 9110): `W/"x"` matches `"x"`.',
  schema: { type: 'string' as const, maxLength: 1024, pattern: '^[\\x20-\\x7E]*$' },
};

/** A strong entity tag over the body's UTF-8 bytes: SHA-1, base64url (27 characters), quoted. */
export const strongEtag = (body: string): string => `"${createHash('sha1').update(body).digest('base64url')}"`;

/** The opaque part of an entity tag, without the weakness marker. */
const opaqueTag = (tag: string): string => (tag.startsWith('W/') ? tag.slice(2) : tag);

/**
 * RFC 9110 13.1.2: true when If-None-Match is `*` or lists a tag that weakly matches `etag`
 * (for a GET, a false condition is answered 304). Malformed members are skipped, not fatal.
 */
export function ifNoneMatchHits(header: string | null, etag: string): boolean {
  if (header === null) return false;
  if (header.trim() === '*') return true;
  const wanted = opaqueTag(etag);
  for (const match of header.matchAll(/(?:W\/)?"[^"]*"/g)) if (opaqueTag(match[0]) === wanted) return true;
  return false;
}

/** `Vary` with `token` added once (the CORS plugin has already put `Origin` there). */
function withVary(current: unknown, token: string): string {
  const existing = typeof current === 'string' ? current.split(',').map((item) => item.trim()).filter((item) => item.length > 0) : [];
  if (existing.some((item) => item === '*' || item.toLowerCase() === token.toLowerCase())) return existing.join(', ');
  return [...existing, token].join(', ');
}

/** The session the route resolved (`viewer` from optionalAuth, `user` from auth), if any. */
function signedIn(context: object): boolean {
  const viewer = 'viewer' in context ? context.viewer : 'user' in context ? context.user : null;
  return typeof viewer === 'object' && viewer !== null;
}

export function cacheControlFor(scope: HttpCacheScope, options: { signedIn: boolean; setsCookie: boolean }): string {
  if (!options.signedIn) return `${options.setsCookie ? 'private' : 'public'}, max-age=${PUBLIC_MAX_AGE_S}`;
  return `${scope === 'public' && !options.setsCookie ? 'public' : 'private'}, no-cache`;
}

/** Only plain JSON values are tagged: a Response, a stream or a file passes through untouched. */
const isJsonValue = (value: unknown): value is object =>
  typeof value === 'object' && value !== null && (Array.isArray(value) || Object.getPrototypeOf(value) === Object.prototype);

const statusNumber = (status: number | keyof typeof StatusMap | undefined): number =>
  typeof status === 'number' ? status : status === undefined ? 200 : StatusMap[status];

export const httpCachePlugin = () =>
  new Elysia({ name: 'http-cache' })
    // First, so anything later (a route's option, a raw Response's own header) may override it.
    .onRequest(({ set }) => {
      set.headers['cache-control'] = NO_STORE;
    })
    .macro({
      httpCache: (scope: HttpCacheScope) => ({
        detail: { parameters: [IF_NONE_MATCH_PARAMETER] },

        mapResponse(context) {
          const { request, set, responseValue } = context;
          // Errors (this also runs in the error path) and anything but a JSON 200 keep no-store.
          // HEAD carries what GET would (RFC 9110 9.3.2): the same tag and caching headers.
          if ((request.method !== 'GET' && request.method !== 'HEAD') || statusNumber(set.status) !== 200 || !isJsonValue(responseValue)) return undefined;
          // What Elysia itself would send (Response.json is JSON.stringify); sent from here, so the tag is over these bytes.
          const body = JSON.stringify(responseValue);
          const etag = strongEtag(body);
          set.headers.etag = etag;
          set.headers['cache-control'] = cacheControlFor(scope, { signedIn: signedIn(context), setsCookie: set.headers['set-cookie'] !== undefined });
          set.headers.vary = withVary(set.headers.vary, 'Cookie');
          if (ifNoneMatchHits(request.headers.get('if-none-match'), etag)) {
            // set.status too: the request log and the metrics read the status from there or from the Response.
            set.status = 304;
            return new Response(null, { status: 304 });
          }
          return new Response(body, { status: 200, headers: { 'content-type': JSON_TYPE } });
        },
      }),
    });

export type HttpCachePlugin = ReturnType<typeof httpCachePlugin>;
