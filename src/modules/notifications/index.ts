/**
 * Notifications: the in-app feed, preferences by category and channel, push devices.
 * (Skeleton: the routes are being written.)
 */
import { Elysia } from 'elysia';
import { defineErrors } from '../../lib/errors';
import type { AuthPlugin } from '../../plugins/auth';
import type { DatabasePlugin } from '../../plugins/database';
import type { ModuleInfo } from '../module';

export const notificationsModule: ModuleInfo = {
  tag: { name: 'notifications', description: 'Your notification feed, preferences by category and channel, and push devices' },
  errors: defineErrors({}).codes,
};

export type NotificationsDeps = {
  databasePlugin: DatabasePlugin;
  authPlugin: AuthPlugin;
  now: () => Date;
};

export const notificationsRoutes = (deps: NotificationsDeps) =>
  new Elysia({ tags: [notificationsModule.tag.name] }).use(deps.databasePlugin).use(deps.authPlugin);
