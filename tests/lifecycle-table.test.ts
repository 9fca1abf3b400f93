/**
 * The lifecycle table's own rules, without a database: ARCHITECTURE.md carries the table the code
 * enforces, every state but the final ones can be left, and the pure guards answer as the routes
 * document (the viewer's allowed transitions, who acts next).
 */
import { describe, expect, test } from 'bun:test';
import { readFileSync } from 'node:fs';
import { parseConfig } from '../src/config/env';
import { bountyStates } from '../src/db';
import { allowedTransitions, LIFECYCLE, lifecycleMarkdown, nextStep, TRANSITION_NAMES } from '../src/modules/bounties/lifecycle';

const settings = parseConfig({ NODE_ENV: 'test' }).marketplace;
const noFacts = { dispute: null };
const bounty = (state: (typeof bountyStates)[number], extra: Partial<{ hunterId: string | null; cancelProposedBy: string | null; revisionsUsed: number }> = {}) => ({
  state,
  posterId: 'poster',
  hunterId: ['draft', 'open'].includes(state) ? null : 'hunter',
  revisionsUsed: 0,
  maxRevisions: 2,
  cancelProposedBy: null,
  ...extra,
});

describe('the lifecycle table', () => {
  test('ARCHITECTURE.md carries the table the engine enforces, row for row', () => {
    expect(readFileSync(new URL('../ARCHITECTURE.md', import.meta.url), 'utf8')).toContain(lifecycleMarkdown());
  });

  test('every state but completed and cancelled can be left, and every state can be reached', () => {
    const leavable = new Set<string>(TRANSITION_NAMES.flatMap((name) => [...LIFECYCLE[name].from]));
    const reachable = new Set<string>(['draft', 'completed', 'cancelled']);
    for (const name of TRANSITION_NAMES) {
      const to: string = LIFECYCLE[name].to;
      if (to !== 'same' && to !== 'outcome') reachable.add(to);
    }
    for (const state of bountyStates) {
      expect([state, leavable.has(state)]).toEqual([state, state !== 'completed' && state !== 'cancelled']);
      expect([state, reachable.has(state)]).toEqual([state, true]);
    }
  });

  test('a timer-only transition has no route, and every routed one names who may take it', () => {
    for (const name of TRANSITION_NAMES) {
      const rule = LIFECYCLE[name];
      const timerOnly = rule.by.every((party) => party === 'system');
      expect([name, rule.path === null]).toEqual([name, timerOnly || name === 'accept']);
    }
  });

  test('allowed transitions per viewer: the poster, the hunter, a stranger, an admin', () => {
    const poster = { id: 'poster', role: 'user' };
    const hunter = { id: 'hunter', role: 'user' };
    const admin = { id: 'someone', role: 'admin' };
    expect(allowedTransitions(bounty('open'), poster, noFacts)).toEqual(['cancel']);
    expect(allowedTransitions(bounty('open'), { id: 'stranger', role: 'user' }, noFacts)).toEqual([]);
    expect(allowedTransitions(bounty('submitted'), poster, noFacts)).toEqual(['request-changes', 'approve', 'dispute', 'propose-cancel']);
    expect(allowedTransitions(bounty('submitted', { revisionsUsed: 2 }), poster, noFacts)).toEqual(['approve', 'dispute', 'propose-cancel']);
    expect(allowedTransitions(bounty('in_progress'), poster, noFacts)).toEqual(['unassign', 'propose-cancel']);
    // An admin who posted the bounty acts as its poster, never as its judge.
    expect(allowedTransitions(bounty('disputed'), { id: 'poster', role: 'admin' }, { ...noFacts, dispute: { openedByRole: 'hunter', answered: false } })).toEqual([
      'respond-dispute',
      'propose-cancel',
    ]);
    expect(allowedTransitions(bounty('submitted', { cancelProposedBy: 'poster' }), hunter, noFacts)).toEqual(['dispute', 'accept-cancel', 'decline-cancel']);
    expect(allowedTransitions(bounty('disputed'), admin, { ...noFacts, dispute: { openedByRole: 'poster', answered: false } })).toEqual(['resolve', 'admin-cancel']);
    expect(allowedTransitions(bounty('disputed'), hunter, { ...noFacts, dispute: { openedByRole: 'poster', answered: false } })).toEqual(['respond-dispute', 'propose-cancel']);
    expect(allowedTransitions(bounty('completed'), poster, noFacts)).toEqual([]);
  });

  test('who acts next and by when, from the state', () => {
    const deadline = new Date('2027-01-10T12:00:00Z');
    const submittedAt = new Date('2027-01-05T12:00:00Z');
    expect(nextStep({ state: 'open', deadline, lastSubmittedAt: null }, settings, null)).toEqual({
      nextActionBy: 'poster',
      nextDeadlineAt: new Date(deadline.getTime() + settings.expiryGraceHours * 3_600_000),
    });
    expect(nextStep({ state: 'submitted', deadline, lastSubmittedAt: submittedAt }, settings, null)).toEqual({
      nextActionBy: 'poster',
      nextDeadlineAt: new Date(submittedAt.getTime() + settings.autoApproveDays * 86_400_000),
    });
    const respondBy = new Date('2027-01-12T00:00:00Z');
    expect(nextStep({ state: 'disputed', deadline, lastSubmittedAt: submittedAt }, settings, { openedByRole: 'hunter', answered: false, escalated: false, respondBy })).toEqual({
      nextActionBy: 'poster',
      nextDeadlineAt: respondBy,
    });
    expect(nextStep({ state: 'disputed', deadline, lastSubmittedAt: submittedAt }, settings, { openedByRole: 'hunter', answered: true, escalated: false, respondBy }).nextActionBy).toBe('admin');
    expect(nextStep({ state: 'completed', deadline, lastSubmittedAt: submittedAt }, settings, null)).toEqual({ nextActionBy: 'none', nextDeadlineAt: null });
  });
});
