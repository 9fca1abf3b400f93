/** The notification jobs' queue names (one place: dispatch sends push and email, the relay dispatch). */
export const DISPATCH_JOB = 'notifications.dispatch';
export const PUSH_JOB = 'notifications.push';
export const EMAIL_JOB = 'notifications.email';
export const SWEEP_JOB = 'notifications.sweep';
export const RECEIPTS_JOB = 'notifications.receipts';
export const DIGEST_JOB = 'notifications.digest';
export const REMINDERS_JOB = 'notifications.unread_reminders';

/**
 * The dispatch job of an outbox event has an id fixed by the event (a constant UUID prefix and the
 * event id in hex): every instance hearing the same NOTIFY, and every sweep, sends the same job,
 * which pg-boss inserts once (ON CONFLICT DO NOTHING on the id).
 */
const DISPATCH_ID_PREFIX = '6e6f7469-6669-4000-8000-';
const eventHex = (eventId: number): string => eventId.toString(16).padStart(12, '0');
export const dispatchJobId = (eventId: number): string => `${DISPATCH_ID_PREFIX}${eventHex(eventId)}`;

const HOUR_MS = 3_600_000;
/**
 * A later dispatch of an event whose fixed-id job failed for good (pg-boss keeps that job, so its
 * id is taken for days): the hour since the epoch, then a marker, then the event. The same within
 * an hour, so the every-minute sweep retries such an event at most once an hour; never equal to
 * dispatchJobId (its marker group differs).
 */
export const hourlyDispatchJobId = (eventId: number, now: Date): string =>
  `${Math.floor(now.getTime() / HOUR_MS).toString(16).padStart(8, '0')}-6669-4001-8000-${eventHex(eventId)}`;

/**
 * The digest job of the page after the one job `jobId` ran: a retry of that job (pg-boss keeps its
 * id) or an attempt overlapping it sends the same next page once (a second job of the same id is
 * ignored), so a run stays one chain of pages.
 */
export const digestPageJobId = (jobId: string): string => {
  const hex = new Bun.CryptoHasher('sha256').update(`notifications.digest next page\n${jobId}`).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-9${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
};
