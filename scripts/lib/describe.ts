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
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current instanceof Error; depth += 1) {
    const code = 'code' in current && typeof current.code === 'string' ? current.code : undefined;
    if (code === 'ECONNREFUSED') return 'cannot reach the database (connection refused)';
    if (code === 'CONNECT_TIMEOUT') return 'cannot reach the database (connect timeout)';
    if (code === '28P01' || code === '28000') return 'authentication failed';
    if (code === '3D000') return 'the database does not exist';
    if (!(current.cause instanceof Error)) return `${code ? `${code} ` : ''}${current.message.split('\n')[0]}`;
    current = current.cause;
  }
  return String(error);
}
