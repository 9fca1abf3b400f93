/**
 * Dead letters: jobs that failed for good (payouts, webhook reconciliation, notification dispatch
 * and deliveries), as pg-boss keeps them in each job's `<name>.dead` queue. An admin reads them
 * newest first and sends one again: the same payload as a new job, in one transaction with the
 * dead letter's removal and the audit row, so a dead letter is retried once (a second retry is
 * 409, told apart from a missing one by the audit log). Sending a job again is safe because every
 * job here is idempotent on its subject: a payout's Stripe transfer is keyed by its withdrawal
 * and looked up before a new one is made; a reconciliation does nothing once its event is settled.
 */
import { and, eq, inArray } from 'drizzle-orm';
import { z } from 'zod';
import { auditLog, type DatabaseSession, type WebhookEventStatus, webhookEvents } from '../../db';
import { type DeadLetter, JobPayloadError, type JobQueue } from '../../jobs';
import { defineErrors } from '../../lib/errors';
import { type KeysetCursor, keysetPage } from '../../lib/validation';
import { actorOf, recordAudit, type StaffContext } from '../audit/service';
import { RECONCILE_JOB } from '../webhooks/jobs';

export const DEAD_LETTER_ERRORS = defineErrors({
  DEAD_LETTER_NOT_FOUND: { status: 404, message: 'No such dead letter' },
  DEAD_LETTER_ALREADY_RETRIED: { status: 409, message: 'This dead letter was sent again already' },
  DEAD_LETTER_NOT_SETTLED: { status: 409, message: 'Its dead-letter handling is still running: try again in a few seconds' },
  DEAD_LETTER_PAYLOAD_INVALID: { status: 409, message: 'Its payload is not one the job takes: sent again, it would fail the same way' },
});

const MAX_ERROR_TEXT = 2_000;

export type DeadLetterError = { type: string | null; message: string | null; code: string | null };
export type WebhookEventSummary = { id: string; type: string; objectId: string | null; status: WebhookEventStatus };

export type DeadLetterView = {
  id: string;
  job: string;
  jobId: string | null;
  payload: Record<string, unknown>;
  error: DeadLetterError | null;
  attempts: number | null;
  firstQueuedAt: Date | null;
  deadAt: Date;
  retryable: boolean;
  webhookEvent: WebhookEventSummary | null;
};

const textField = (value: unknown): string | null => (typeof value === 'string' ? value.slice(0, MAX_ERROR_TEXT) : null);

/**
 * What the failed job ended with: our handlers' serialized error ({ type, message, code }),
 * pg-boss's own ({ message } on an expired attempt), or a refused payload ({ error, issues }).
 */
function errorOf(output: unknown): DeadLetterError | null {
  if (typeof output !== 'object' || output === null) return output === null || output === undefined ? null : { type: null, message: textField(String(output)), code: null };
  const record: Record<string, unknown> = { ...output };
  const value = typeof record.value === 'object' && record.value !== null ? { ...record.value } : null;
  const source: Record<string, unknown> = value ?? record;
  return {
    type: textField(source.type) ?? textField(source.name),
    message: textField(source.message) ?? textField(source.error),
    code: textField(source.code)?.slice(0, 100) ?? null,
  };
}

const payloadOf = (data: unknown): Record<string, unknown> => (typeof data === 'object' && data !== null && !Array.isArray(data) ? { ...data } : { value: data });

const eventIdOf = (letter: DeadLetter): string | null => {
  const parsed = z.object({ eventId: z.string().max(255) }).safeParse(letter.data);
  return letter.sourceName === RECONCILE_JOB && parsed.success ? parsed.data.eventId : null;
};

const toView = (letter: DeadLetter, events: Map<string, WebhookEventSummary>): DeadLetterView => {
  const eventId = eventIdOf(letter);
  return {
    id: letter.id,
    job: letter.sourceName,
    jobId: letter.sourceId,
    payload: payloadOf(letter.data),
    error: errorOf(letter.sourceOutput),
    attempts: letter.sourceRetryCount === null ? null : letter.sourceRetryCount + 1,
    firstQueuedAt: letter.sourceCreatedOn,
    deadAt: letter.createdOn,
    retryable: letter.state === 'completed',
    webhookEvent: eventId === null ? null : (events.get(eventId) ?? null),
  };
};

/** Dead letters newest first; a webhook reconciliation's names its Stripe event (type, object). */
export async function listDeadLetters(db: DatabaseSession, jobs: JobQueue, page: { limit: number; cursor: KeysetCursor | null }) {
  const { cursor } = page;
  return db.read(async (reader) => {
    const letters = await jobs.listDeadLetters(reader, { limit: page.limit + 1, before: cursor ? { createdOn: cursor.t, id: cursor.i } : null });
    const eventIds = [...new Set(letters.map(eventIdOf).filter((id): id is string => id !== null))];
    const events =
      eventIds.length === 0
        ? []
        : await reader
            .select({ id: webhookEvents.id, type: webhookEvents.type, objectId: webhookEvents.objectId, status: webhookEvents.status })
            .from(webhookEvents)
            .where(inArray(webhookEvents.id, eventIds));
    const byId = new Map(events.map((event) => [event.id, event]));
    return keysetPage(letters, page.limit, (letter) => toView(letter, byId), (letter) => ({ t: letter.createdOnText, i: letter.id }));
  });
}

export type RetryResult = { deadLetterId: string; job: string; jobId: string };

/**
 * Sends the dead letter's job again and removes the dead letter, with its audit row, in one
 * transaction. The dead letter is locked first: of two retries at once, the second finds it gone.
 */
export async function retryDeadLetter(db: DatabaseSession, jobs: JobQueue, staff: StaffContext, input: { id: string; reason: string }): Promise<RetryResult> {
  return db.transaction(async (tx) => {
    const letter = await jobs.findDeadLetter(tx, input.id, { lock: true });
    if (!letter) {
      const [retried] = await tx
        .select({ id: auditLog.id })
        .from(auditLog)
        .where(and(eq(auditLog.targetType, 'job'), eq(auditLog.targetId, input.id), eq(auditLog.action, 'dead_letter.retry')))
        .limit(1);
      throw retried ? DEAD_LETTER_ERRORS.error('DEAD_LETTER_ALREADY_RETRIED') : DEAD_LETTER_ERRORS.error('DEAD_LETTER_NOT_FOUND');
    }
    // Until its hook ran (a delivery marked dead, say), a job sent again could race it.
    if (letter.state !== 'completed') throw DEAD_LETTER_ERRORS.error('DEAD_LETTER_NOT_SETTLED');
    let jobId: string;
    try {
      jobId = await jobs.resendDeadLetter(tx, letter);
    } catch (error) {
      if (error instanceof JobPayloadError) throw DEAD_LETTER_ERRORS.error('DEAD_LETTER_PAYLOAD_INVALID', undefined, error.issues.slice(0, 20));
      throw error;
    }
    const failure = errorOf(letter.sourceOutput);
    await recordAudit(tx, {
      actor: actorOf(staff.actor),
      action: 'dead_letter.retry',
      targetId: letter.id,
      reason: input.reason,
      before: {
        job: letter.sourceName,
        jobId: letter.sourceId,
        attempts: letter.sourceRetryCount === null ? null : letter.sourceRetryCount + 1,
        error: failure?.message?.slice(0, 500) ?? null,
        deadAt: letter.createdOn.toISOString(),
      },
      after: { job: letter.sourceName, jobId },
      requestId: staff.requestId,
    });
    return { deadLetterId: letter.id, job: letter.sourceName, jobId };
  });
}
