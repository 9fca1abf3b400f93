/**
 * The operator section of the README carries the permission table, the risk rules and the rate-limit
 * policies as the code defines them (src/lib/permissions.ts, src/modules/risk/rules.ts,
 * src/lib/rate-limits.ts): a change to any that is not written down fails here.
 */
import { describe, expect, test } from 'bun:test';
import { PERMISSIONS, permissionsMarkdown } from '../src/lib/permissions';
import { RATE_LIMIT_POLICIES, rateLimitsMarkdown } from '../src/lib/rate-limits';
import { RULE_NAMES, riskRulesMarkdown } from '../src/modules/risk/rules';

const readme = await Bun.file(new URL('../README.md', import.meta.url)).text();

const between = (start: string, end: string): string => {
  const from = readme.indexOf(start);
  const to = readme.indexOf(end);
  if (from < 0 || to < from) throw new Error(`README lacks ${start} ... ${end}`);
  return readme.slice(from + start.length, to).trim();
};

describe('README: trust and safety for operators', () => {
  test('lists every permission with the roles that hold it, as the code does', () => {
    expect(between('<!-- permissions:start -->', '<!-- permissions:end -->')).toBe(permissionsMarkdown());
    expect(permissionsMarkdown().split('\n')).toHaveLength(Object.keys(PERMISSIONS).length + 2);
  });

  test('lists every risk rule with what it judges, its outcome and its settings, as the code does', () => {
    expect(between('<!-- risk-rules:start -->', '<!-- risk-rules:end -->')).toBe(riskRulesMarkdown());
    for (const name of RULE_NAMES) expect(riskRulesMarkdown()).toContain(`\`${name}\``);
  });

  test('lists every rate-limit policy with its limit, subject and routes, as the code does', () => {
    expect(between('<!-- rate-limits:start -->', '<!-- rate-limits:end -->')).toBe(rateLimitsMarkdown());
    expect(rateLimitsMarkdown().split('\n')).toHaveLength(RATE_LIMIT_POLICIES.length + 2);
  });
});
