/**
 * Sessions that ended and users who were banned, as this instance heard them (the sessions
 * channel: triggers in drizzle/0008 announce every deleted session and every ban, on commit).
 * A signed cookie cache of one of them is not trusted: the request goes to the database, which
 * refuses it. Without this, a banned or signed-out user's plain reads (GETs) went on from the
 * cookie cache for up to AUTH_COOKIE_CACHE_S.
 *
 * A cached cookie lives at most that long, so an entry older than it cannot matter and is dropped.
 * Announcements missed while the LISTEN connection was down (or before this instance listened)
 * cannot be known: for one cache lifetime after each (re)LISTEN no cache is trusted at all.
 */
export class SessionRevocations {
  private readonly sessions = new Map<string, number>();
  private readonly users = new Map<string, number>();
  private distrustAllUntil = 0;

  /** `windowMs`: the cookie cache's lifetime (AUTH_COOKIE_CACHE_S). */
  constructor(
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  sessionEnded(sessionId: string): void {
    this.note(this.sessions, sessionId);
  }

  userBanned(userId: string): void {
    this.note(this.users, userId);
  }

  /** After a (re)LISTEN: whatever was announced meanwhile is unknown. */
  missedAnnouncements(): void {
    this.distrustAllUntil = this.now() + this.windowMs;
  }

  /**
   * What this instance knows of a cached session: `ended` (it heard the session end or the user
   * banned: check the database, and never fall back to the cache), `unsure` (after a (re)LISTEN:
   * check the database, but when the primary cannot answer the cache may serve, as before any of
   * this; no revocation is known), or `trusted`.
   */
  check(session: { id: string; userId: string }): 'ended' | 'unsure' | 'trusted' {
    const now = this.now();
    const cutoff = now - this.windowMs;
    if ((this.sessions.get(session.id) ?? -Infinity) > cutoff || (this.users.get(session.userId) ?? -Infinity) > cutoff) return 'ended';
    return now < this.distrustAllUntil ? 'unsure' : 'trusted';
  }

  /** Whether a cached session must be checked in the database instead. */
  revoked(session: { id: string; userId: string }): boolean {
    return this.check(session) !== 'trusted';
  }

  private note(entries: Map<string, number>, id: string): void {
    const now = this.now();
    // Re-inserted at the end, so the map stays in time order and pruning stops at the first fresh entry.
    entries.delete(id);
    entries.set(id, now);
    const cutoff = now - this.windowMs;
    for (const [key, at] of entries) {
      if (at > cutoff) break;
      entries.delete(key);
    }
  }
}
