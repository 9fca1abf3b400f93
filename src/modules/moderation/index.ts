/**
 * Moderation: reports (anyone signed in files one; moderators and admins work the queue) and
 * blocks (a person's own list). Resolutions are audited; a ban goes through the admin console's
 * account service, so it does exactly what the admin's ban does.
 */
import { Elysia } from 'elysia';
import type { ModuleInfo } from '../module';
import type { AdminDeps } from '../admin/deps';
import { MODERATION_ERRORS } from './errors';

export const moderationModule: ModuleInfo = {
  tag: { name: 'moderation', description: 'Reports of bounties, users, messages and reviews; the moderation queue; blocking people' },
  errors: MODERATION_ERRORS.codes,
};

export type ModerationDeps = AdminDeps;

export const moderationRoutes = (deps: ModerationDeps) =>
  new Elysia({ tags: [moderationModule.tag.name] }).use(deps.databasePlugin).use(deps.authPlugin);
