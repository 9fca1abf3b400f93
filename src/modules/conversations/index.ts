/**
 * Conversations: one per (bounty, hunter), the application thread before acceptance and the work
 * room after. (Skeleton: the routes are being written.)
 */
import { Elysia } from 'elysia';
import type { ConversationSettings } from '../../config/env';
import { defineErrors } from '../../lib/errors';
import type { AuthPlugin } from '../../plugins/auth';
import type { DatabasePlugin } from '../../plugins/database';
import type { IdempotencyPlugin } from '../../plugins/idempotency';
import type { ModuleInfo } from '../module';

export const conversationsModule: ModuleInfo = {
  tag: { name: 'conversations', description: 'Chat between a poster and a hunter, per bounty; live over the /ws/messages WebSocket' },
  errors: defineErrors({}).codes,
};

export type ConversationsDeps = {
  databasePlugin: DatabasePlugin;
  authPlugin: AuthPlugin;
  idempotencyPlugin: IdempotencyPlugin;
  settings: ConversationSettings;
  /** The clock every write is stamped with (tests move it). */
  now: () => Date;
};

export const conversationsRoutes = (deps: ConversationsDeps) =>
  new Elysia({ tags: [conversationsModule.tag.name] }).use(deps.databasePlugin).use(deps.authPlugin).use(deps.idempotencyPlugin);
