/**
 * Where recorded events may be forwarded, behind one interface: Mixpanel (the official `mixpanel`
 * package, its /track batch endpoint) when MIXPANEL_TOKEN is set, nothing otherwise. Tests point
 * the same client at src/dev/mixpanel-local (MIXPANEL_API_HOST, MIXPANEL_PROTOCOL=http).
 *
 * A forwarded event carries what the analytics row holds and nothing else: the user's id as
 * distinct_id, ids of the bounty and its parties, amounts, durations. `$insert_id` is the
 * outbox event's id, so Mixpanel drops a batch sent twice (a retry after a lost answer).
 */
import Mixpanel from 'mixpanel';
import type { AnalyticsEvent } from '../../db';
import type { AnalyticsSettings } from './settings';

export type ForwardedEvent = Readonly<{
  name: string;
  /** Unique per event (Mixpanel's $insert_id: at most 36 letters, digits and dashes). */
  insertId: string;
  distinctId: string;
  time: Date;
  properties: Readonly<Record<string, string | number>>;
}>;

export interface AnalyticsSink {
  readonly name: string;
  /** Sends one request's worth (at most forward.ts's REQUEST_SIZE); rejects when it was refused or failed. */
  send(events: readonly ForwardedEvent[]): Promise<void>;
}

/** A row as it leaves the service: its nulls dropped, snake_case as Mixpanel's own properties. */
export function toForwarded(row: AnalyticsEvent): ForwardedEvent {
  const properties: Record<string, string | number> = {};
  const put = (key: string, value: string | number | null) => {
    if (value !== null) properties[key] = value;
  };
  put('bounty_id', row.bountyId);
  put('poster_id', row.posterId);
  put('hunter_id', row.hunterId);
  put('amount', row.amount);
  put('fee', row.fee);
  put('currency', row.currency);
  put('seconds', row.seconds);
  return { name: row.name, insertId: `bx-${row.eventId}`, distinctId: row.userId, time: row.occurredAt, properties };
}

/** The Mixpanel sink, or null without a token. */
export function mixpanelSink(settings: AnalyticsSettings): AnalyticsSink | null {
  if (settings.mixpanelToken === null) return null;
  const client = Mixpanel.init(settings.mixpanelToken, {
    host: settings.mixpanelHost ?? 'api.mixpanel.com',
    protocol: settings.mixpanelProtocol,
    // Never geolocate by the sender: the service's own address says nothing about the user.
    geolocate: false,
    // Runs a minute apart: no connection to keep open between them.
    keepAlive: false,
  });
  return {
    name: 'mixpanel',
    send: (events) =>
      new Promise<void>((resolve, reject) => {
        const batch = events.map((event) => ({
          event: event.name,
          properties: { ...event.properties, distinct_id: event.distinctId, time: event.time.getTime(), $insert_id: event.insertId },
        }));
        client.track_batch(batch, (errors) => (errors && errors.length > 0 ? reject(errors[0]) : resolve()));
      }),
  };
}
