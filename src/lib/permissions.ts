/**
 * What staff may do, as one statement table (after Better-Auth's admin plugin): each permission
 * names the roles that hold it. Routes ask `rolesFor(permission)` for their auth requirement, the
 * BFLA matrix test (tests/admin-security.test.ts) derives who must pass and who must not from it,
 * and README's operator section lists it. Moderators moderate; only admins touch accounts,
 * money and roles.
 *
 * Pure: no database, no HTTP.
 */
import type { UserRole } from '../db';

export const PERMISSIONS = {
  /** The moderation queue: reports and what they point at. */
  'reports.read': ['moderator', 'admin'],
  /** Dismiss a report, remove a message or a review, warn its author. */
  'reports.resolve': ['moderator', 'admin'],
  /** Remove a reported bounty: it is cancelled and its escrow refunded (money: admins). */
  'reports.remove_bounty': ['admin'],
  /** Resolve a report by banning its subject (a users action). */
  'reports.ban': ['admin'],
  /** The audit log. */
  'audit.read': ['admin'],
  /** Accounts: search, detail. */
  'users.read': ['admin'],
  /** Ban, unban, freeze and unfreeze a wallet. */
  'users.manage': ['admin'],
  /** Grant or remove a role. */
  'users.role': ['admin'],
  /** Ledger accounts and postings. */
  'ledger.read': ['admin'],
  /** Manual adjustments: create, approve, reject. */
  'ledger.adjust': ['admin'],
  /** Dead-lettered jobs and webhook events: read and retry. */
  'operations.dead_letters': ['admin'],
  /** GET /debug: this instance's version, non-secret configuration, pools, replicas and queues. */
  'operations.debug': ['admin'],
  /** Disputes with their evidence. */
  'disputes.read': ['admin'],
  /** Rule on a dispute (POST /bounties/:id/resolve): release, refund or split the escrow. */
  'disputes.resolve': ['admin'],
  /** Cancel any bounty with a reason (POST /bounties/:id/admin-cancel): its escrow is refunded. */
  'bounties.cancel': ['admin'],
  /** Join a disputed bounty's conversation to help settle it. */
  'conversations.join': ['admin'],
  /** The risk queue, scores and events. */
  'risk.read': ['admin'],
  /** Approve or reject a withdrawal held for review. */
  'risk.decide': ['admin'],
  /** The marketplace's figures (GET /analytics/overview, /analytics/daily). */
  'analytics.read': ['admin'],
} as const satisfies Record<string, readonly UserRole[]>;

export type Permission = keyof typeof PERMISSIONS;

/** The roles that hold a permission: what a route puts in `auth: { role }`. */
export const rolesFor = (permission: Permission): readonly UserRole[] => PERMISSIONS[permission];

/** Whether `role` holds `permission` (the pure check; an unknown role holds nothing). */
export const can = (role: string, permission: Permission): boolean => (PERMISSIONS[permission] as readonly string[]).includes(role);

/** Staff are the roles that hold any permission. */
export const isStaff = (role: string): boolean => role === 'moderator' || role === 'admin';

/**
 * The OpenAPI security of a staff route whose path says admin (/admin/..., /bounties/{id}/admin-cancel):
 * the staff scheme (`adminSession`, the same cookie) with the roles that hold the permission
 * (OpenAPI 3.1 lets a scheme list them). OWASP's API5 rule wants such paths to carry a requirement
 * no other path has. Clients read who may call
 * it; the BFLA matrix (tests/admin-security.test.ts) reads it to know who must pass and who not.
 */
export const staffSecurity = (permission: Permission): Array<Record<string, string[]>> => [{ adminSession: [...PERMISSIONS[permission]] }];

/** The same for a staff route outside /admin (a ruling on a bounty): the session cookie with the roles. */
export const roleSecurity = (permission: Permission): Array<Record<string, string[]>> => [{ sessionCookie: [...PERMISSIONS[permission]] }];

/** The table as README's operator section carries it (tests/operator-docs.test.ts keeps the two equal). */
export function permissionsMarkdown(): string {
  const rows = (Object.keys(PERMISSIONS) as Permission[]).map((permission) => `| \`${permission}\` | ${PERMISSIONS[permission].join(', ')} |`);
  return ['| permission | roles |', '| --- | --- |', ...rows].join('\n');
}
