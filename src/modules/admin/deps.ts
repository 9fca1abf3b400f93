/** What the admin console's routes are built with (src/app.ts passes them). */
import type { MarketplaceSettings, RiskSettings } from '../../config/env';
import type { JobQueue } from '../../jobs';
import type { Auth } from '../../lib/auth';
import type { AuthPlugin } from '../../plugins/auth';
import type { DatabasePlugin } from '../../plugins/database';
import type { IdempotencyPlugin } from '../../plugins/idempotency';
import type { EnqueuePayout } from '../wallet/withdrawals';

export type AdminDeps = Readonly<{
  auth: Auth;
  databasePlugin: DatabasePlugin;
  authPlugin: AuthPlugin;
  idempotencyPlugin: IdempotencyPlugin;
  /** The marketplace's settings and clock: a ban cancels open bounties through the lifecycle. */
  settings: MarketplaceSettings;
  now: () => Date;
  /** The job queue: dead letters are read and sent again through it. */
  jobs: JobQueue;
  enqueuePayout: EnqueuePayout;
  maxAmount: number;
  risk: RiskSettings;
  /** Adjustments above this (absolute, minor units) wait for a second admin. */
  dualControlCents: number;
}>;
