/**
 * Risk: rules that judge money moves and marketplace actions (src/modules/risk/rules.ts, pure
 * functions over facts loaded once), their events, a score per user, and the admin's review
 * queue of held withdrawals.
 */
import { Elysia } from 'elysia';
import type { ModuleInfo } from '../module';
import type { AdminDeps } from '../admin/deps';
import { RISK_ERRORS } from './errors';

export const riskModule: ModuleInfo = {
  tag: { name: 'risk', description: 'Risk rules, scores and the review queue of held withdrawals (admin)' },
  errors: RISK_ERRORS.codes,
};

export type RiskRouteDeps = AdminDeps;

export const riskRoutes = (deps: RiskRouteDeps) =>
  new Elysia({ tags: [riskModule.tag.name] }).use(deps.databasePlugin).use(deps.authPlugin);
