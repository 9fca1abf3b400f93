/** Prometheus text exposition of the routing counters and replica states. */
import { Elysia } from 'elysia';
import { z } from 'zod';
import type { DatabaseCluster } from '../../db';
import type { ModuleInfo } from '../module';
import { renderLedgerMetrics, renderMetrics } from './service';

export const metricsModule: ModuleInfo = {
  tag: { name: 'metrics', description: 'Prometheus metrics' },
  errors: {},
};

export const metricsRoutes = (deps: { database: DatabaseCluster }) =>
  new Elysia({ tags: [metricsModule.tag.name] }).get(
    '/metrics',
    async ({ set }) => {
      set.headers['content-type'] = 'text/plain; version=0.0.4; charset=utf-8';
      return renderMetrics(deps.database) + (await renderLedgerMetrics(deps.database));
    },
    {
      response: { 200: z.string().max(1_000_000) },
      detail: { summary: 'Prometheus metrics', description: 'Reads by target and reason, replica state and lag, and the last ledger check.', security: [] },
    },
  );
