/**
 * The audit log: one row per staff action, risk decision, manual adjustment and dispute ruling,
 * written INSIDE the transaction of the action it records (so the two commit together or not at
 * all), and never changed afterwards (drizzle/0012_trust_rules.sql refuses it).
 */
import { and, desc, eq, gte, lt, type SQL, sql } from 'drizzle-orm';
import { type AuditActorRole, type AuditEntry, type AuditSummary, auditLog, type DatabaseSession, type Transaction } from '../../db';
import type { KeysetCursor } from '../../lib/validation';
import { keysetPage } from '../../lib/validation';
import { AUDIT_ACTIONS, type AuditAction } from './actions';

/** Who acted: a signed-in person (with the role they acted in) or the service itself. */
export type AuditActor = { id: string; role: Exclude<AuditActorRole, 'system'> } | { id: null; role: 'system' };
export const SYSTEM_ACTOR: AuditActor = { id: null, role: 'system' };

/** Staff acting through a route: the person and the request that carried the action. */
export type StaffContext = Readonly<{ actor: { id: string; role: string }; requestId: string | null }>;

export type AuditRecord = Readonly<{
  actor: AuditActor;
  action: AuditAction;
  /** Defaults to the action's target kind in the catalog. */
  targetType?: string;
  targetId: string;
  reason: string;
  before?: AuditSummary | null;
  after?: AuditSummary | null;
  requestId?: string | null;
}>;

/** The role an actor acted in, as the log stores it (an unknown role is recorded as a plain user). */
export const actorOf = (person: { id: string; role: string }): AuditActor => ({
  id: person.id,
  role: person.role === 'admin' || person.role === 'moderator' ? person.role : 'user',
});

/** Writes one audit row in the caller's transaction; `at` is the transaction's own clock. */
export async function recordAudit(tx: Transaction, record: AuditRecord): Promise<void> {
  await tx.insert(auditLog).values({
    at: sql`now()`,
    actorId: record.actor.id,
    actorRole: record.actor.role,
    action: record.action,
    targetType: record.targetType ?? AUDIT_ACTIONS[record.action].target,
    targetId: record.targetId,
    reason: record.reason,
    before: record.before ?? null,
    after: record.after ?? null,
    requestId: record.requestId ?? null,
  });
}

export type AuditFilters = Readonly<{
  actorId?: string | undefined;
  targetType?: string | undefined;
  targetId?: string | undefined;
  action?: AuditAction | undefined;
  from?: Date | undefined;
  to?: Date | undefined;
}>;

/**
 * Newest first, keyset by (at, id). Each filter shape walks its own index (audit_log_*_idx);
 * `from`/`to` bound the same walk.
 */
export async function listAudit(db: DatabaseSession, filters: AuditFilters, page: { limit: number; cursor: KeysetCursor | null }) {
  const conditions: SQL[] = [];
  if (filters.actorId) conditions.push(eq(auditLog.actorId, filters.actorId));
  if (filters.targetType) conditions.push(eq(auditLog.targetType, filters.targetType));
  if (filters.targetId) conditions.push(eq(auditLog.targetId, filters.targetId));
  if (filters.action) conditions.push(eq(auditLog.action, filters.action));
  if (filters.from) conditions.push(gte(auditLog.at, filters.from));
  if (filters.to) conditions.push(lt(auditLog.at, filters.to));
  if (page.cursor) conditions.push(sql`(${auditLog.at}, ${auditLog.id}) < (${page.cursor.t}::timestamptz, ${page.cursor.i}::bigint)`);
  const rows = await db.read((reader) =>
    reader
      .select({ entry: auditLog, cursorAt: sql<string>`${auditLog.at}::text` })
      .from(auditLog)
      .where(conditions.length > 0 ? and(...conditions) : undefined)
      .orderBy(desc(auditLog.at), desc(auditLog.id))
      .limit(page.limit + 1),
  );
  return keysetPage(rows, page.limit, (row) => toAuditView(row.entry), (row) => ({ t: row.cursorAt, i: String(row.entry.id) }));
}

export const toAuditView = (entry: AuditEntry) => ({
  id: String(entry.id),
  at: entry.at,
  actorId: entry.actorId,
  actorRole: entry.actorRole,
  action: entry.action,
  targetType: entry.targetType,
  targetId: entry.targetId,
  reason: entry.reason,
  before: entry.before,
  after: entry.after,
  requestId: entry.requestId,
});
export type AuditView = ReturnType<typeof toAuditView>;
