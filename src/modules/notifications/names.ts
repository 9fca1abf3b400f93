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
export const dispatchJobId = (eventId: number): string => `${DISPATCH_ID_PREFIX}${eventId.toString(16).padStart(12, '0')}`;
