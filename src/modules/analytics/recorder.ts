/**
 * The analytics reader of the outbox: the notifications' dispatch hands it every event in the
 * dispatch's own transaction (src/modules/notifications/dispatch.ts), and it keeps the ones
 * analytics reads as analytics_events rows, keyed by the outbox event's id: a dispatch that ran
 * twice records the event once. With a Mixpanel token the row is also queued for forwarding
 * (the forward job sends it; never a request). ENABLE_ANALYTICS=false records nothing.
 *
 * Its own failure never holds a notification back: it runs in a savepoint and is logged, except
 * a lost connection, which fails the dispatch anyway (it is retried, and the event with it).
 */
import { analyticsEvents, analyticsForwards, isConnectionError } from '../../db';
import type { OutboxConsumer } from '../outbox';
import { fromOutbox } from './events';
import type { AnalyticsSettings } from './settings';

export function analyticsRecorder(settings: AnalyticsSettings): OutboxConsumer {
  return async (tx, event, { now, logger }) => {
    if (!settings.enabled) return;
    const row = fromOutbox(event);
    if (!row) return;
    try {
      await tx.transaction(async (savepoint) => {
        const written = await savepoint
          .insert(analyticsEvents)
          .values({ ...row, recordedAt: now })
          .onConflictDoNothing()
          .returning({ eventId: analyticsEvents.eventId });
        if (written.length > 0 && settings.mixpanelToken !== null) {
          await savepoint.insert(analyticsForwards).values({ eventId: row.eventId, queuedAt: now }).onConflictDoNothing();
        }
      });
    } catch (error) {
      if (isConnectionError(error)) throw error;
      logger.error({ err: error, eventId: event.id, topic: event.topic }, 'analytics: an outbox event was not recorded');
    }
  };
}
