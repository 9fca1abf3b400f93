/**
 * The admin console: the audit log, accounts (ban, unban, roles, wallet freezes), money (ledger
 * accounts and postings, manual adjustments under dual control), dead letters and disputes.
 * Who may do what is the statement table in src/lib/permissions.ts; every action that changes
 * something is audited in its own transaction (src/modules/audit) and needs a recent sign-in.
 * Moderation (reports, blocks) and risk have modules of their own.
 */
import { Elysia } from 'elysia';
import { LEDGER_ERRORS } from '../ledger';
import type { ModuleInfo } from '../module';
import { adminAuditRoutes } from './audit';
import { adminDeadLetterRoutes } from './dead-letters';
import { DEAD_LETTER_ERRORS } from './dead-letters-service';
import { adminDisputeRoutes } from './disputes';
import { DISPUTE_ADMIN_ERRORS } from './disputes-service';
import { adminLedgerRoutes } from './ledger';
import { LEDGER_ADMIN_ERRORS } from './ledger-schemas';
import type { AdminDeps } from './deps';
import { ADMIN_ERRORS } from './errors';
import { adminUsersRoutes } from './users';

export const adminModule: ModuleInfo = {
  tag: { name: 'admin', description: 'Staff console: audit log, accounts, money operations, dead letters, disputes' },
  errors: { ...ADMIN_ERRORS.codes, ...LEDGER_ADMIN_ERRORS.codes, ...LEDGER_ERRORS.codes, ...DEAD_LETTER_ERRORS.codes, ...DISPUTE_ADMIN_ERRORS.codes },
};

export const adminRoutes = (deps: AdminDeps) =>
  new Elysia({ tags: [adminModule.tag.name] })
    .use(adminAuditRoutes(deps))
    .use(adminLedgerRoutes(deps))
    .use(adminDeadLetterRoutes(deps))
    .use(adminDisputeRoutes(deps))
    .use(adminUsersRoutes(deps));

export type { AdminDeps } from './deps';
