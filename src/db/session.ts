/** The per-request database handle (`ctx.db`). */
import { HttpError } from '../lib/errors';
import { assertOutsideTransaction } from './guards';
import type { Lsn } from './lsn';
import { type Database, PRIMARY_NAME, type Transaction } from './types';

/** Above every real token: the reads of a request that has written go to the primary. */
export const OWN_WRITES = 'own-writes';
export type ReadFloor = Lsn | null | typeof OWN_WRITES;

/** What a session needs from the cluster (src/db/cluster.ts implements it). */
export type SessionBackend = {
  readonly primary: Database;
  routeRead<T>(floor: ReadFloor, query: (db: Database) => Promise<T>, onTarget: (name: string) => void): Promise<T>;
  runWrite<T>(work: () => Promise<T>): Promise<T>;
  runTransaction<T>(work: (tx: Transaction) => Promise<T>): Promise<T>;
};

/**
 * What one request uses. `read` is routed (token-aware, retried once), `write` and `transaction`
 * run on the primary and mark the request as having written, so the caller gets a fresh token.
 */
export class DatabaseSession {
  wrote = false;
  /**
   * Set when this request's primary work failed as unavailable (503): asking the same primary for
   * a token would only add another bounded wait to the answer.
   */
  primaryUnavailable = false;
  readonly targets: string[] = [];

  constructor(
    private readonly cluster: SessionBackend,
    readonly minLsn: Lsn | null,
  ) {}

  /**
   * A routed read. Once this request has written, its reads stay on the primary: its own write's
   * LSN is not known until the response, and no replica may have it yet.
   */
  read<T>(query: (db: Database) => Promise<T>): Promise<T> {
    return this.cluster.routeRead(this.wrote ? OWN_WRITES : this.minLsn, query, (name) => this.targets.push(name));
  }

  write<T>(query: (db: Database) => Promise<T>): Promise<T> {
    assertOutsideTransaction('write()');
    this.wrote = true;
    this.targets.push(PRIMARY_NAME);
    return this.notingUnavailable(this.cluster.runWrite(() => query(this.cluster.primary)));
  }

  transaction<T>(work: (tx: Transaction) => Promise<T>): Promise<T> {
    assertOutsideTransaction('transaction()');
    this.wrote = true;
    this.targets.push(PRIMARY_NAME);
    return this.notingUnavailable(this.cluster.runTransaction(work));
  }

  private async notingUnavailable<T>(work: Promise<T>): Promise<T> {
    try {
      return await work;
    } catch (error) {
      if (error instanceof HttpError && error.status === 503) this.primaryUnavailable = true;
      throw error;
    }
  }

  /** For writes made outside this handle (Better-Auth's own endpoints write sessions and users). */
  markWritten(): void {
    this.wrote = true;
  }

  get lastTarget(): string | null {
    return this.targets.at(-1) ?? null;
  }
}
