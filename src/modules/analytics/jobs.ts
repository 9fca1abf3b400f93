/**
 * Analytics' jobs: the daily rollups (every 15 minutes: today so far, the recent days, late and
 * missed days; rollup.ts) and the forwarding to Mixpanel (every minute, only with a token;
 * forward.ts). Both judge time by the injected clock; with ENABLE_ANALYTICS=false both do nothing.
 * Recording itself is no job of its own: the outbox's dispatch hands events to the recorder.
 */
import { z } from 'zod';
import { type AnyJobDefinition, defineJob } from '../../jobs';
import { forwardQueued } from './forward';
import { analyticsRecorder } from './recorder';
import { runRollups } from './rollup';
import type { AnalyticsSettings } from './settings';
import { type AnalyticsSink, mixpanelSink } from './sink';

export const ANALYTICS_ROLLUP_JOB = 'analytics.rollup';
export const ANALYTICS_FORWARD_JOB = 'analytics.forward';

export type AnalyticsJobDeps = {
  settings: AnalyticsSettings;
  now: () => Date;
  /** Where events are forwarded; default: Mixpanel when a token is set, else nowhere. */
  sink?: AnalyticsSink | null;
};

const cron = { payload: z.object({}).strict(), retryLimit: 2, retryDelaySeconds: 30, retryBackoff: false, expireInSeconds: 10 * 60 } as const;

export const analyticsJobs = (deps: AnalyticsJobDeps): readonly AnyJobDefinition[] => {
  const sink = deps.sink === undefined ? mixpanelSink(deps.settings) : deps.sink;
  return [
    defineJob<Record<string, never>>({
      name: ANALYTICS_ROLLUP_JOB,
      ...cron,
      cron: '*/15 * * * *',
      async handler(_payload, context) {
        if (!deps.settings.enabled) return;
        const days = await runRollups(context.database.primary, deps.now(), context.signal);
        context.logger.info({ days: days.length, first: days[0] ?? null, last: days.at(-1) ?? null }, 'analytics rollups computed');
      },
    }),
    defineJob<Record<string, never>>({
      name: ANALYTICS_FORWARD_JOB,
      ...cron,
      cron: '* * * * *',
      async handler(_payload, context) {
        if (!deps.settings.enabled || sink === null) return;
        const result = await forwardQueued(context.database.primary, sink, context.logger, deps.now(), context.signal);
        if (result.sent + result.refused + result.dropped > 0) context.logger.info({ sink: sink.name, ...result }, 'analytics events forwarded');
      },
    }),
  ];
};

/** The recorder the outbox's dispatch runs (src/job-definitions.ts hands it to the notifications' jobs). */
export const analyticsConsumers = (settings: AnalyticsSettings) => [analyticsRecorder(settings)];
