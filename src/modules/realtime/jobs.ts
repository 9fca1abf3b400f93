/** Real time's housekeeping: event streams are kept for EVENT_RETENTION_DAYS, then dropped. */
import { z } from 'zod';
import { type AnyJobDefinition, defineJob } from '../../jobs';
import { pruneUserEvents } from './stream';

/** A client away longer than this reloads its conversations instead of replaying events. */
export const EVENT_RETENTION_DAYS = 7;

export const realtimeJobs = (deps: { now: () => Date }): readonly AnyJobDefinition[] => [
  defineJob<Record<string, never>>({
    name: 'realtime.prune_events',
    payload: z.object({}).strict(),
    retryLimit: 2,
    retryDelaySeconds: 60,
    retryBackoff: false,
    expireInSeconds: 10 * 60,
    cron: '41 3 * * *',
    async handler(_payload, context) {
      const before = new Date(deps.now().getTime() - EVENT_RETENTION_DAYS * 86_400_000);
      const deleted = await pruneUserEvents(context.database.primary, before);
      context.logger.info({ deleted }, 'old user events pruned');
    },
  }),
];
