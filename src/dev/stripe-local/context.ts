/**
 * What endpoint code works with: the store and a way to emit events (bound to the request that
 * causes them, or to none for a test control); routes also get the request's parameters.
 */
import type { Params } from './params';
import type { Store } from './state';

export type Emit = (type: string, object: object, account?: string) => void;

export type Ops = { store: Store; emit: Emit };

export type RouteContext = Ops & {
  /** The object id captured from the URL ('' for routes without one). */
  id: string;
  params: Params;
  /** The request path, for lists' `url`. */
  path: string;
  /** This server's base URL (account links point back to it). */
  serverUrl: string;
};

export type Route = {
  method: 'GET' | 'POST';
  pattern: RegExp;
  /** The top-level parameters the endpoint accepts (`expand` always is). */
  params: readonly string[];
  handle(context: RouteContext): object;
};

/** A path with `:id` for one id segment, e.g. '/v1/customers/:id/payment_methods'. */
export const route = (method: Route['method'], path: string, params: readonly string[], handle: Route['handle']): Route => ({
  method,
  pattern: new RegExp(`^${path.replace(':id', '([^/]+)')}$`),
  params,
  handle,
});
