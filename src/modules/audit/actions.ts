/**
 * Every action the audit log records, with the kind of thing it acts on. One catalog: writers name
 * an action from it (a typo is a type error), GET /admin/audit documents its `action` filter from
 * it, and the operator section of the README lists it.
 */
export const AUDIT_ACTIONS = {
  'user.ban': { target: 'user', summary: 'An admin banned an account (sessions revoked, open work withdrawn or cancelled and refunded)' },
  'user.unban': { target: 'user', summary: 'An admin lifted a ban' },
  'user.role': { target: 'user', summary: 'An admin changed a role' },
  'user.create': { target: 'user', summary: 'An admin created an account' },
  'user.update': { target: 'user', summary: "An admin changed another account's name or image" },
  'user.delete': { target: 'user', summary: 'An admin deleted an account' },
  'wallet.freeze': { target: 'user', summary: 'An admin froze a wallet (no withdrawals)' },
  'wallet.unfreeze': { target: 'user', summary: 'An admin lifted a wallet freeze' },
  'report.dismiss': { target: 'report', summary: 'A moderator dismissed a report' },
  'report.remove_content': { target: 'report', summary: 'A moderator removed the reported content' },
  'report.warn': { target: 'report', summary: "A moderator warned the content's author" },
  'report.ban': { target: 'report', summary: "An admin banned the report's subject" },
  'risk.decision': { target: 'user', summary: 'A risk rule held or denied something (actor: the service)' },
  'withdrawal.approve': { target: 'withdrawal', summary: 'An admin released a withdrawal held for review' },
  'withdrawal.reject': { target: 'withdrawal', summary: 'An admin rejected a held withdrawal (the money returned to the balance)' },
  'ledger.adjustment.create': { target: 'adjustment', summary: 'An admin created a manual adjustment (posted at once, or waiting for a second admin)' },
  'ledger.adjustment.approve': { target: 'adjustment', summary: 'A second admin approved an adjustment (posted)' },
  'ledger.adjustment.reject': { target: 'adjustment', summary: 'A second admin rejected an adjustment' },
  'dead_letter.retry': { target: 'job', summary: 'An admin sent a dead-lettered job or webhook event again' },
  'dispute.resolve': { target: 'bounty', summary: 'An admin ruled on a dispute (release, refund or split)' },
  'bounty.admin_cancel': { target: 'bounty', summary: 'An admin cancelled a bounty (refunded)' },
  'conversation.join': { target: 'conversation', summary: "An admin joined a disputed bounty's conversation" },
} as const satisfies Record<string, { target: string; summary: string }>;

export type AuditAction = keyof typeof AUDIT_ACTIONS;
export const AUDIT_ACTION_NAMES = Object.keys(AUDIT_ACTIONS) as AuditAction[];
