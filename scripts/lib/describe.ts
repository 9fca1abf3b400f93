import { findErrorCode } from '../../src/lib/errors';

/** One-line descriptions for operator scripts: never print a password from a URL. */
export function describeTarget(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port || '5432'}${parsed.pathname}`;
  } catch {
    return 'the database';
  }
}

export function describeDatabaseError(error: unknown): string {
  const code = findErrorCode(error);
  if (code === 'ECONNREFUSED') return 'cannot reach the database (connection refused)';
  if (code === 'CONNECT_TIMEOUT') return 'cannot reach the database (connect timeout)';
  if (code === '28P01' || code === '28000') return 'authentication failed';
  if (code === '3D000') return 'the database does not exist';
  // The innermost error says what actually went wrong; drizzle's wrapper only repeats the SQL.
  let innermost: unknown = error;
  for (let depth = 0; depth < 4 && innermost instanceof Error && innermost.cause instanceof Error; depth += 1) innermost = innermost.cause;
  const message = innermost instanceof Error ? innermost.message.split('\n')[0] : String(error);
  return `${code ? `${code} ` : ''}${message}`;
}
