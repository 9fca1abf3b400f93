/** One bound for work that may hang (a database probe, a scrape's query, a call to another service). */

export class TimeoutError extends Error {
  override name = 'TimeoutError';
}

/**
 * `work`'s outcome, or a TimeoutError after `timeoutMs` (`what` names it in the message). The work
 * itself goes on: callers whose work holds something (a connection) release it themselves.
 * A caller that reads failure and lateness alike as "no answer" writes `.catch(() => null)`.
 */
export async function withTimeout<T>(work: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(`${what} timed out after ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
