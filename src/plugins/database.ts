/**
 * Gives every request its database handle (`db`), honouring the client's read-your-writes token,
 * and hands a fresh token back after a request that wrote.
 *
 * The token (x-db-lsn header or db_lsn cookie) is the primary's WAL insert position taken after
 * the request's commit, signed. Reads of a later request go to a replica only once that replica
 * has replayed it; the client may send the header instead of the cookie.
 */
import { Elysia } from 'elysia';
import type { DatabaseCluster, DatabaseSession } from '../config/database';
import { signLsnToken, verifyLsnToken } from '../db/lsn';
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

function readCookie(header: string | null, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(';')) {
    const index = part.indexOf('=');
    if (index > 0 && part.slice(0, index).trim() === name) return decodeURIComponent(part.slice(index + 1).trim());
  }
  return null;
}

const sessionByRequest = new WeakMap<Request, DatabaseSession>();

export const databasePlugin = (options: DatabasePluginOptions) =>
  new Elysia({ name: 'database' })
    .derive({ as: 'global' }, ({ request }) => {
      const token = request.headers.get(LSN_HEADER) ?? readCookie(request.headers.get('cookie'), LSN_COOKIE);
      // An invalid or expired token is ignored, not refused: it can only make reads less fresh.
      const minLsn = token ? verifyLsnToken(token, options.tokenSecret) : null;
      const db = options.database.session(minLsn);
      sessionByRequest.set(request, db);
      dbTargetsByRequest.set(request, db.targets);
      return { db };
    })
    .onAfterHandle({ as: 'global' }, async ({ request, set, responseValue }) => {
      const db = sessionByRequest.get(request);
      if (!db) return;
      const headers: Array<[string, string]> = [];
      if (db.wrote && options.database.replicas.length > 0) {
        const lsn = await options.database.currentWalInsertLsn().catch(() => null);
        if (lsn !== null) {
          const token = signLsnToken(lsn, options.tokenSecret, options.tokenTtlS);
          headers.push([LSN_HEADER, token]);
          const secure = options.secureCookies ? '; Secure' : '';
          headers.push(['set-cookie', `${LSN_COOKIE}=${encodeURIComponent(token)}; Path=/; Max-Age=${options.tokenTtlS}; HttpOnly; SameSite=Lax${secure}`]);
        }
      }
      if (options.debugHeaders && db.lastTarget) headers.push([TARGET_HEADER, db.lastTarget]);
      if (responseValue instanceof Response) {
        // Better-Auth answers with its own Response: headers must go onto it, not onto `set`.
        for (const [name, value] of headers) responseValue.headers.append(name, value);
        return;
      }
      for (const [name, value] of headers) {
        if (name === 'set-cookie') {
          const existing = set.headers['set-cookie'];
          set.headers['set-cookie'] = existing === undefined ? value : [...(Array.isArray(existing) ? existing : [existing]), value];
        } else {
          set.headers[name] = value;
        }
      }
    });
