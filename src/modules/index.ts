/**
 * The module list: every feature module, in the order src/app.ts mounts them. The API document's
 * tags and error-code lists come from here; tests/structure.test.ts checks that every mounted
 * route carries one of these tags, so a module cannot be mounted without being listed.
 */
import { adminModule } from './admin';
import { analyticsModule } from './analytics';
import { authModule } from './auth';
import { bountiesModule } from './bounties';
import { connectModule } from './connect';
import { conversationsModule } from './conversations';
import { debugModule } from './debug';
import { healthModule } from './health';
import { metricsModule } from './metrics';
import { moderationModule } from './moderation';
import { notificationsModule } from './notifications';
import type { ModuleInfo } from './module';
import { paymentsModule } from './payments';
import { postsModule } from './posts';
import { profilesModule } from './profiles';
import { riskModule } from './risk';
import { realtimeModule } from './realtime';
import { searchModule } from './search';
import { requestsModule } from './requests';
import { usersModule } from './users';
import { walletModule } from './wallet';
import { webhooksModule } from './webhooks';

export const MODULES: readonly ModuleInfo[] = [
  healthModule,
  metricsModule,
  debugModule,
  authModule,
  usersModule,
  postsModule,
  searchModule,
  profilesModule,
  bountiesModule,
  requestsModule,
  conversationsModule,
  notificationsModule,
  realtimeModule,
  walletModule,
  paymentsModule,
  connectModule,
  webhooksModule,
  moderationModule,
  riskModule,
  analyticsModule,
  adminModule,
];

export type { ModuleInfo, ModuleTag } from './module';
