/**
 * Gives every request its database handle (`db`), honouring the client's read-your-writes token,
 * and hands a fresh token back after a request that wrote.
 *
 * The token (x-db-lsn header or db_lsn cookie) is the primary's WAL insert position taken after
 * the request's commit, signed. Reads of a later request go to a replica only once that replica
 * has replayed it; the client may send the header instead of the cookie.
 */
import { Elysia } from 'elysia';
import { type DatabaseCluster, type DatabaseSession, type Lsn, signLsnToken, verifyLsnToken } from '../db';
import { appendSetCookies, readCookie } from '../lib/cookies';
import { dbTargetsByRequest } from './request-context';

export const LSN_HEADER = 'x-db-lsn';
export const LSN_COOKIE = 'db_lsn';
export const TARGET_HEADER = 'x-db-target';

type DatabasePluginOptions = {
  database: DatabaseCluster;
  tokenSecret: string;
  tokenTtlS: number;
  debugHeaders: boolean;
  secureCookies: boolean;
};

/**
 * The request's read-your-writes floor: the newest valid token among header and cookie (a client
 * may keep an older header around while the cookie moved on). An invalid or expired token is
 * ignored, not refused: it can only make reads less fresh.
 */
function requestMinLsn(request: Request, secret: string): Lsn | null {
  let best: Lsn | null = null;
  for (const token of [request.headers.get(LSN_HEADER), readCookie(request.headers.get('cookie'), LSN_COOKIE)]) {
    const lsn = token ? verifyLsnToken(token, secret) : null;
    if (lsn !== null && (best === null || lsn > best)) best = lsn;
  }
  return best;
}

const sessionByRequest = new WeakMap<Request, DatabaseSession>();

export const databasePlugin = (options: DatabasePluginOptions) =>
  new Elysia({ name: 'database' })
    .derive({ as: 'global' }, ({ request }) => {
      const db = options.database.session(requestMinLsn(request, options.tokenSecret));
      sessionByRequest.set(request, db);
      dbTargetsByRequest.set(request, db.targets);
      return { db };
    })
    // mapResponse, not afterHandle: it also runs when the handler threw after committing (an
    // error response must still carry the token) and for a raw Response (Better-Auth's).
    .mapResponse({ as: 'global' }, async ({ request, set, responseValue }) => {
      const db = sessionByRequest.get(request);
      if (!db) return;
      const headers: Array<[string, string]> = [];
      if (db.wrote && !db.primaryUnavailable && options.database.replicas.length > 0) {
        // No token if the primary cannot say (it just went away): the client's reads then follow
        // their previous token or none, as before this request.
        const lsn = await options.database.currentWalInsertLsn().catch(() => null);
        if (lsn !== null) {
          const token = signLsnToken(lsn, options.tokenSecret, options.tokenTtlS);
          headers.push([LSN_HEADER, token]);
          const secure = options.secureCookies ? '; Secure' : '';
          headers.push(['set-cookie', `${LSN_COOKIE}=${encodeURIComponent(token)}; Path=/; Max-Age=${options.tokenTtlS}; HttpOnly; SameSite=Lax${secure}`]);
        }
      }
      if (options.debugHeaders && db.lastTarget) headers.push([TARGET_HEADER, db.lastTarget]);
      if (headers.length === 0) return;
      if (responseValue instanceof Response) {
        // Elysia drops set-cookie from `set` when the Response has its own: append onto it.
        try {
          for (const [name, value] of headers) responseValue.headers.append(name, value);
          return;
        } catch {
          // Immutable headers (a fetched Response): answer with a copy that can carry ours.
          const copy = new Response(responseValue.body, responseValue);
          for (const [name, value] of headers) copy.headers.append(name, value);
          return copy;
        }
      }
      for (const [name, value] of headers) {
        if (name === 'set-cookie') appendSetCookies(set, [value]);
        else set.headers[name] = value;
      }
    });

/** The database plugin instance a module `.use()`s to get `db` typed (deduplicated by name). */
export type DatabasePlugin = ReturnType<typeof databasePlugin>;
