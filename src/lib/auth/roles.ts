/** Roles as Better-Auth's admin plugin checks them (our routes read the same column, one value). */
import { createAccessControl } from 'better-auth/plugins/access';
import { adminAc, defaultStatements, userAc } from 'better-auth/plugins/admin/access';
import type { UserRole } from '../../db';

/**
 * Better-Auth's admin endpoints check these statements. A moderator is a distinct role our routes
 * can require, with no powers over other accounts (it cannot list users or ban anyone).
 */
export const accessControl = createAccessControl(defaultStatements);
export const roles = {
  user: userAc,
  moderator: accessControl.newRole({ user: [], session: [] }),
  admin: adminAc,
} satisfies Record<UserRole, unknown>;
