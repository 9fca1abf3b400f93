/**
 * GET /debug (`operations.debug`, admins, a recent sign-in): this process as an operator needs to
 * see it while something is wrong: version, uptime, instance, non-secret configuration, pools,
 * replicas, job backlogs and the last ledger check.
 */
import { Elysia } from 'elysia';
import { authErrors, commonErrors, ok, successSchema } from '../../lib/http';
import { roleSecurity, rolesFor } from '../../lib/permissions';
import type { AuthPlugin } from '../../plugins/auth';
import type { ModuleInfo } from '../module';
import { debugSchema } from './schemas';
import { type DebugDeps, debugReport } from './service';

export const debugModule: ModuleInfo = {
  tag: { name: 'debug', description: 'This instance for operators (admins): version, uptime, configuration, pools, replicas, queues' },
  errors: {},
};

export const debugRoutes = (deps: DebugDeps & { authPlugin: AuthPlugin }) =>
  new Elysia({ tags: [debugModule.tag.name] }).use(deps.authPlugin).get('/debug', async () => ok(await debugReport(deps)), {
    auth: { role: rolesFor('operations.debug'), fresh: 'sign-in' },
    response: { 200: successSchema(debugSchema), ...authErrors, ...commonErrors },
    detail: {
      summary: 'This instance (admin)',
      description:
        'Version, uptime, instance id (its LISTEN connection in pg_stat_activity is `bountyexpo-listen-<instanceId>`), the ' +
        'configuration that is not secret (no secret, key, token or database URL ever appears: only whether one is set), ' +
        'pool permits in use and waiting, replica states and lag, job backlogs and dead letters, and the last ledger check. ' +
        'Another instance behind the load balancer answers for itself. Needs a recent sign-in (403 SESSION_NOT_FRESH).',
      security: roleSecurity('operations.debug'),
    },
  });

export type { DebugDeps } from './service';
