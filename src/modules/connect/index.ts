/** Payout accounts through Stripe Connect Express: create, onboard, and see what is still due. */
import { Elysia } from 'elysia';
import { authErrors, commonErrors, ok, successSchema } from '../../lib/http';
import { PROVIDER_ERRORS, type Stripe } from '../../lib/stripe';
import type { AuthPlugin } from '../../plugins/auth';
import type { DatabasePlugin } from '../../plugins/database';
import type { IdempotencyPlugin } from '../../plugins/idempotency';
import type { ModuleInfo } from '../module';
import { CONNECT_ERRORS } from './errors';
import { connectAccountSchema, onboardingLinkSchema } from './schemas';
import { createOnboardingLink, ensureConnectAccount, findConnectAccount } from './service';

export const connectModule: ModuleInfo = {
  tag: { name: 'connect', description: 'Payout accounts (Stripe Connect Express) for withdrawals' },
  errors: { ...CONNECT_ERRORS.codes, ...PROVIDER_ERRORS.codes },
};

export type ConnectRouteDeps = {
  databasePlugin: DatabasePlugin;
  authPlugin: AuthPlugin;
  idempotencyPlugin: IdempotencyPlugin;
  stripe: Stripe;
  returnUrl: string;
  refreshUrl: string;
};

export const connectRoutes = (deps: ConnectRouteDeps) =>
  new Elysia({ prefix: '/connect', tags: [connectModule.tag.name] })
    .use(deps.databasePlugin)
    .use(deps.authPlugin)
    .use(deps.idempotencyPlugin)
    .post(
      '/account',
      async ({ user, db, set }) => {
        const { account, created } = await ensureConnectAccount({ db, stripe: deps.stripe, returnUrl: deps.returnUrl, refreshUrl: deps.refreshUrl }, user);
        set.status = created ? 201 : 200;
        return ok(account);
      },
      {
        auth: true,
        idempotency: 'optional',
        response: { 200: successSchema(connectAccountSchema), 201: successSchema(connectAccountSchema), ...authErrors, ...commonErrors },
        detail: { summary: 'Create your payout account', description: 'Creates your Stripe Express account (201) or returns the one you have (200).' },
      },
    )
    .post(
      '/onboarding-link',
      async ({ user, db }) => {
        const link = await createOnboardingLink({ db, stripe: deps.stripe, returnUrl: deps.returnUrl, refreshUrl: deps.refreshUrl }, user.id);
        if (!link) throw CONNECT_ERRORS.error('CONNECT_ACCOUNT_NOT_FOUND');
        return ok(link);
      },
      {
        auth: true,
        idempotency: 'optional',
        response: { 200: successSchema(onboardingLinkSchema), ...authErrors, ...commonErrors },
        detail: { summary: 'Onboarding link', description: "A fresh link to Stripe's hosted onboarding (links expire: ask for a new one each time)." },
      },
    )
    .get(
      '/account',
      async ({ user, db }) => {
        const account = await findConnectAccount(db, user.id);
        if (!account) throw CONNECT_ERRORS.error('CONNECT_ACCOUNT_NOT_FOUND');
        return ok(account);
      },
      {
        auth: true,
        response: { 200: successSchema(connectAccountSchema), ...authErrors, ...commonErrors },
        detail: { summary: 'Your payout account', description: 'Details submitted, payouts enabled and what is still due, kept current by Stripe\'s account.updated events.' },
      },
    );
