/**
 * Notifications: the in-app feed (every notification, whatever the channels), preferences by
 * category x channel, push devices, and for admins the deliveries that failed for good. Another
 * person's notification or device is a 404, as one that does not exist.
 */
import { Elysia } from 'elysia';
import { z } from 'zod';
import type { RiskSettings } from '../../config/env';
import { authErrors, commonErrors, ok, page, pageSchema, successSchema } from '../../lib/http';
import { rolesFor, staffSecurity } from '../../lib/permissions';
import { clampLimit } from '../../lib/validation';
import type { AuthPlugin } from '../../plugins/auth';
import type { DatabasePlugin } from '../../plugins/database';
import type { ModuleInfo } from '../module';
import { registerDevice, removeDevice } from './devices';
import { NOTIFICATIONS_ERRORS } from './errors';
import { getPreferences, updatePreferences } from './preferences';
import {
  deadLetterSchema,
  deadLettersQuery,
  deviceSchema,
  listNotificationsQuery,
  markedSchema,
  notificationIdParams,
  notificationSchema,
  preferencesSchema,
  registerDeviceBody,
  removeDeviceBody,
  unseenCountSchema,
  updatePreferencesBody,
} from './schemas';
import { idCursor, listDeadLetters, listNotifications, markAllRead, markAllSeen, markRead, unseenCount } from './service';

export const notificationsModule: ModuleInfo = {
  tag: { name: 'notifications', description: 'Your notification feed, preferences by category and channel, and push devices' },
  errors: NOTIFICATIONS_ERRORS.codes,
};

export type NotificationsDeps = {
  databasePlugin: DatabasePlugin;
  authPlugin: AuthPlugin;
  now: () => Date;
  /** The risk rules: several accounts on one device are flagged. */
  risk: RiskSettings;
};

const deletedDeviceSchema = z.object({ token: deviceSchema.shape.token, deleted: z.literal(true) });

export const notificationsRoutes = (deps: NotificationsDeps) =>
  new Elysia({ tags: [notificationsModule.tag.name] })
    .use(deps.databasePlugin)
    .use(deps.authPlugin)
    .get(
      '/notifications',
      async ({ query, user, db }) => {
        const result = await listNotifications(db, user.id, { limit: clampLimit(query.limit), cursor: idCursor(query.cursor), unreadOnly: query.unread === 'true' });
        return page(result.items, result.nextCursor);
      },
      {
        auth: true,
        query: listNotificationsQuery,
        response: { 200: pageSchema(notificationSchema), ...authErrors, ...commonErrors },
        detail: {
          summary: 'Your notifications',
          description: 'Newest first, paged by cursor; `unread=true` for the ones not read yet. New ones also arrive live as `notification.created` on /ws/messages.',
        },
      },
    )
    .get('/notifications/unseen-count', async ({ user, db }) => ok({ unseen: await unseenCount(db, user.id) }), {
      auth: true,
      response: { 200: successSchema(unseenCountSchema), ...authErrors, ...commonErrors },
      detail: { summary: 'The badge: notifications not seen yet', description: 'Cleared by POST /notifications/seen.' },
    })
    .post('/notifications/seen', async ({ user, db }) => ok({ marked: await markAllSeen(db, user.id, deps.now()) }), {
      auth: true,
      response: { 200: successSchema(markedSchema), ...authErrors, ...commonErrors },
      detail: { summary: 'Mark the feed seen', description: 'Everything received until now is seen (the badge clears); it stays unread until opened.' },
    })
    .post('/notifications/read-all', async ({ user, db }) => ok({ marked: await markAllRead(db, user.id, deps.now()) }), {
      auth: true,
      response: { 200: successSchema(markedSchema), ...authErrors, ...commonErrors },
      detail: { summary: 'Mark every notification read', description: 'Everything received until now is read (and seen).' },
    })
    .post('/notifications/:id/read', async ({ params, user, db }) => ok(await markRead(db, user.id, Number(params.id), deps.now())), {
      auth: true,
      params: notificationIdParams,
      response: { 200: successSchema(notificationSchema), ...authErrors, ...commonErrors },
      detail: { summary: 'Mark one notification read', description: 'Yours only: any other id is 404 NOTIFICATION_NOT_FOUND. Reading it again keeps the first time.' },
    })
    .get('/notifications/preferences', async ({ user, db }) => ok(await getPreferences(db, user.id)), {
      auth: true,
      response: { 200: successSchema(preferencesSchema), ...authErrors, ...commonErrors },
      detail: {
        summary: 'Your notification preferences',
        description:
          'Every category with its push and email setting and the default; `locked` categories (money, security) are always sent at once: never off, never a digest.',
      },
    })
    .put('/notifications/preferences', async ({ body, user, db }) => ok(await updatePreferences(db, user.id, body.preferences, deps.now())), {
      auth: true,
      body: updatePreferencesBody,
      response: { 200: successSchema(preferencesSchema), ...authErrors, ...commonErrors },
      detail: {
        summary: 'Change notification preferences',
        description:
          'Only the listed (category, channel) pairs change; the answer is the whole matrix. `off` or `digest` on money or security is ' +
          '422 CATEGORY_LOCKED (naming them, nothing written): those notices are sent at once. `digest` on push is 422 DIGEST_EMAIL_ONLY.',
      },
    })
    .post(
      '/notifications/devices',
      async ({ body, user, db, set }) => {
        const device = await registerDevice(db, user.id, body, deps.now(), deps.risk);
        set.status = 201;
        return ok(device);
      },
      {
        auth: true,
        body: registerDeviceBody,
        response: { 201: successSchema(deviceSchema), ...authErrors, ...commonErrors },
        detail: {
          summary: 'Register a push device',
          description:
            'An Expo push token (ExponentPushToken[...]; anything else is 422 INVALID_PUSH_TOKEN). Registering it again refreshes it; ' +
            'a token registered by another account moves to yours (one phone, one account at a time).',
        },
      },
    )
    .delete(
      '/notifications/devices',
      async ({ body, user, db }) => {
        await removeDevice(db, user.id, body.token);
        return ok({ token: body.token, deleted: true as const });
      },
      {
        auth: true,
        body: removeDeviceBody,
        response: { 200: successSchema(deletedDeviceSchema), ...authErrors, ...commonErrors },
        detail: {
          summary: 'Remove a push device',
          description: 'The token in the body (never in the URL, which access logs keep). Yours only: any other token is 404 DEVICE_NOT_FOUND.',
        },
      },
    )
    .get(
      '/admin/notifications/dead-letters',
      async ({ query, db }) => {
        const result = await listDeadLetters(db, { limit: clampLimit(query.limit), cursor: idCursor(query.cursor) });
        return page(result.items, result.nextCursor);
      },
      {
        auth: { role: rolesFor('operations.dead_letters') },
        query: deadLettersQuery,
        response: { 200: pageSchema(deadLetterSchema), ...authErrors, ...commonErrors },
        detail: {
          summary: 'Deliveries that failed for good (admin)',
          description: 'Push and email deliveries past their last retry, newest first, with the last error and the number of attempts.',
          security: staffSecurity('operations.dead_letters'),
        },
      },
    );
