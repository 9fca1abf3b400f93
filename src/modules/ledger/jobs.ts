/** The periodic ledger check, on the job queue (cron: once per cluster per run). */
import { z } from 'zod';
import { defineJob } from '../../jobs';
import { runLedgerCheck } from './check';

export const LEDGER_CHECK_JOB = 'ledger.check';

export const ledgerCheckJob = defineJob<Record<string, never>>({
  name: LEDGER_CHECK_JOB,
  payload: z.object({}).strict(),
  retryLimit: 2,
  retryDelaySeconds: 60,
  retryBackoff: false,
  // Sums every account's entries: minutes on a large ledger, never at request time.
  expireInSeconds: 30 * 60,
  cron: '*/15 * * * *',
  async handler(_payload, context) {
    await runLedgerCheck(context.database.primary, context.logger);
  },
});
