/**
 * Query plans are tested (issue 8): on a database of this file's own, seeded with 20,000 users,
 * 20,000 posts and 20,000 of each money record (issue 9) and analysed, every list query the API runs (captured from the request pools
 * while the routes answer) is EXPLAINed; none may Sort over a Seq Scan of its table for a keyset
 * page. Regression: GET /posts sorted every published row per request, because the index said
 * `DESC NULLS LAST` (drizzle's `.desc()`) where the query's `DESC` means NULLS FIRST.
 * Every later list and search route joins LIST_ROUTES below. The marketplace's own lists (a
 * poster's bounties, requests both ways, reviews, a bounty's history) and the public profile's
 * statistics run over thousands of the member's bounties, requests, reviews and history rows.
 * Notifications: 20,000 across feeds, a quarter of them the member's; few unread (50, all the
 * member's) and few dead deliveries (44, across users) as in service, and deliveries stored out of
 * id order as status updates leave them, so that a page without its partial index sorts a table
 * scan here (checked by dropping them).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { sql } from 'drizzle-orm';
import postgres from 'postgres';
import { applyMigrations } from '../src/db';
import { daysToRoll, utcDay } from '../src/modules/analytics/rollup';
import { createAdmin, signUp, type TestAccount } from './support/accounts';
import { clusterEnv, hasCluster, startTestApp, type TestApp, withDatabase } from './support/harness';
import { at, readJson } from './support/json';

const ROWS = 20_000;
/** The member's own bounties, their own requests, reviews about them; requests on one of their bounties. */
const MARKETPLACE_ROWS = 3_000;
const CROWDED_REQUESTS = 2_000;
const CROWDED_MESSAGES = 2_000;
const databaseName = `plans_${Date.now().toString(36)}`;

type Captured = { query: string; parameters: readonly unknown[] };
type PlanNode = { 'Node Type': string; 'Relation Name'?: string; Plans?: PlanNode[] };

/** "Sort over a Seq Scan of <table>" anywhere in the plan, as a path of node types. */
function sortsATableScan(node: PlanNode, underSort = false, path: string[] = []): string | null {
  const here = [...path, `${node['Node Type']}${node['Relation Name'] ? ` on ${node['Relation Name']}` : ''}`];
  const sorting = underSort || node['Node Type'] === 'Sort' || node['Node Type'] === 'Incremental Sort';
  if (sorting && node['Node Type'] === 'Seq Scan') return here.join(' > ');
  for (const child of node.Plans ?? []) {
    const found = sortsATableScan(child, sorting, here);
    if (found) return found;
  }
  return null;
}

describe.skipIf(!hasCluster)('list query plans at 20,000 rows', () => {
  let t: TestApp;
  let admin: TestAccount;
  let member: TestAccount;
  let direct: ReturnType<typeof postgres>;
  const captured: Captured[] = [];
  /** One of the member's open bounties with CROWDED_REQUESTS requests, and one with a long history. */
  let crowdedBountyId = '';
  let longHistoryBountyId = '';
  /** One of the member's conversations with CROWDED_MESSAGES messages. */
  let crowdedConversationId = '';
  /** The member's available account (a ledger account id). */
  let memberAvailableAccountId = '';

  beforeAll(async () => {
    const setup = await startTestApp();
    await setup.database.primary.execute(sql.raw(`create database ${databaseName}`));
    await setup.close();
    const url = withDatabase(clusterEnv.databaseUrl ?? '', databaseName);
    t = await startTestApp(
      { DATABASE_URL: url, DATABASE_REPLICA_URLS: '' },
      { observeQueries: (query, parameters) => captured.push({ query, parameters }) },
    );
    await applyMigrations(t.database.primary);
    admin = await createAdmin(t, 'plans-admin');
    member = await signUp(t, 'plans-member');
    direct = postgres(url, { max: 1, onnotice: () => {} });
    await direct.unsafe(`
      insert into users (id, name, email, created_at, updated_at)
        select 'seed-' || n, 'Seed ' || n, 'seed-' || n || '@example.com', now() - n * interval '1 minute', now()
        from generate_series(1, ${ROWS}) as n;
      insert into posts (author_id, title, content, published, created_at, updated_at)
        select 'seed-' || (1 + n % 500), 'Post ' || n, 'content', n % 10 <> 0, now() - n * interval '1 minute', now()
        from generate_series(1, ${ROWS}) as n;
      analyze users; analyze posts;`);
    // Money: ${ROWS} deposits into the member's wallet (a balanced, chained transaction each, as
    // the ledger's triggers demand), and ${ROWS} deposits and withdrawals, half of them the member's.
    const memberId = member.id;
    await direct.unsafe(`
      insert into ledger_accounts (owner_type, owner_id, kind, currency, user_id, allow_negative) values
        ('platform', 'platform', 'external', 'usd', null, true),
        ('user', '${memberId}', 'available', 'usd', '${memberId}', false),
        ('user', '${memberId}', 'withdrawal_hold', 'usd', '${memberId}', false),
        ('user', '${memberId}', 'receivable', 'usd', '${memberId}', true);
      insert into ledger_transactions (kind, effect_key, fingerprint, description, created_at)
        select 'deposit', 'seed:' || n, 'seed', 'Seed deposit', now() - (${ROWS} - n) * interval '1 second'
        from generate_series(1, ${ROWS}) as n order by n;
      insert into ledger_entries (transaction_id, account_id, currency, amount, balance_after, created_at)
        select t.id, (select id from ledger_accounts where kind = 'external'), 'usd', -1, -row_number() over (order by t.id), t.created_at
        from ledger_transactions t where t.effect_key like 'seed:%' order by t.id;
      insert into ledger_entries (transaction_id, account_id, currency, amount, balance_after, created_at)
        select t.id, (select id from ledger_accounts where owner_id = '${memberId}' and kind = 'available'), 'usd', 1, row_number() over (order by t.id), t.created_at
        from ledger_transactions t where t.effect_key like 'seed:%' order by t.id;
      update ledger_accounts set balance = case kind when 'external' then -${ROWS} when 'available' then ${ROWS} else 0 end;
      insert into ledger_holds (kind, reference_id, user_id, source_account_id, hold_account_id, amount, currency)
        select 'withdrawal', 'seed', '${memberId}', a.id, h.id, 1, 'usd' from ledger_accounts a, ledger_accounts h
        where a.owner_id = '${memberId}' and a.kind = 'available' and h.owner_id = '${memberId}' and h.kind = 'withdrawal_hold';
      insert into deposits (user_id, request_key, amount, currency, method, status, created_at)
        select case when n % 2 = 0 then '${memberId}' else 'seed-' || n end, 'seed-' || n, 100, 'usd', 'card', 'succeeded', now() - n * interval '1 second'
        from generate_series(1, ${ROWS}) as n;
      insert into withdrawals (user_id, request_key, hold_id, amount, currency, status, stripe_account_id, created_at)
        select case when n % 2 = 0 then '${memberId}' else 'seed-' || n end, 'seed-' || n, (select id from ledger_holds limit 1), 100, 'usd',
               case when n % 50 = 0 then 'held' else 'paid' end, 'acct_seed', now() - n * interval '1 second'
        from generate_series(1, ${ROWS}) as n;
      analyze ledger_accounts; analyze ledger_transactions; analyze ledger_entries; analyze ledger_holds; analyze deposits; analyze withdrawals;`);
    // Bounties: 70% open, the rest in the other states (drafts and cancelled ones included);
    // categories, tags and rewards spread; 30% in person around five cities. "telescope" is in 60
    // open bounties (0.3%, in titles and descriptions): ranking sorts a term's matches, found by the
    // GIN index; a term in most rows is cheaper to rank from a table scan, which the planner then
    // rightly prefers (the search bench measures that case: bun run bench --only search).
    await direct.unsafe(`
      insert into bounties (poster_id, hunter_id, state, cancel_reason, title, description, criteria, reward_amount, currency,
                            category, tags, remote, latitude, longitude, deadline, published_at, created_at, updated_at)
      select 'seed-' || (1 + n % 500),
             case when s.state in ('in_progress', 'completed') then 'seed-' || (1 + (n + 7) % 500) end,
             s.state, case when s.state = 'cancelled' then 'poster' end,
             'Bounty ' || n || ' ' || (array['logo', 'api', 'bug', 'garden', 'photo', 'translate'])[1 + n % 6] || case when n % 500 = 0 then ' telescope' else '' end,
             'Task ' || n || ': ' || (array['fix the checkout', 'write a guide', 'move a sofa', 'clean a dataset'])[1 + n % 4] || case when n % 1000 = 250 then ' with a telescope' else '' end,
             '[{"id": 1, "text": "Done"}]', 100 + (n * 7919) % 100000, 'usd',
             (array['development', 'design', 'writing', 'marketing', 'research', 'data', 'errands', 'other'])[1 + n % 8],
             array[(array['rust', 'python', 'figma', 'seo', 'excel', 'moving'])[1 + n % 6], (array['urgent', 'small', 'remote-ok'])[1 + n % 3]],
             n % 10 >= 3, c.lat, c.lng, now() + (1 + n % 60) * interval '1 day',
             case when s.state <> 'draft' then now() - n * interval '1 minute' end, now() - n * interval '1 minute', now()
      from generate_series(1, ${ROWS}) as n
      cross join lateral (select case when n % 10 < 7 then 'open' when n % 10 = 7 then 'in_progress' when n % 10 = 8 then 'completed'
                                      when n % 20 = 9 then 'draft' else 'cancelled' end as state) s
      cross join lateral (select case when n % 10 >= 3 then null else (array[-33.87, 51.51, 40.71, 35.68, -23.55])[1 + n % 5] + (n % 17 - 8) * 0.02 end as lat,
                                 case when n % 10 >= 3 then null else (array[151.21, -0.13, -74.01, 139.69, -46.63])[1 + n % 5] + (n % 13 - 6) * 0.02 end as lng) c`);
    // The marketplace's other lists, for the member: MARKETPLACE_ROWS bounties of their own (every
    // state); requests (CROWDED_REQUESTS on one of their open bounties, MARKETPLACE_ROWS of their
    // own, one more on each seeded bounty); reviews about them and about seed users; and the history
    // the profile statistics count (publish for every published bounty, accept/submit/approve for
    // completed ones, a fifth with the member as the hunter; 300 steps on one bounty).
    await direct.unsafe(`
      insert into bounties (poster_id, hunter_id, state, cancel_reason, title, description, criteria, reward_amount, currency,
                            category, remote, deadline, published_at, closed_at, created_at, updated_at)
      select '${memberId}', case when n % 4 = 1 then 'seed-' || (1 + n % 500) end,
             (array['open', 'completed', 'draft', 'cancelled'])[1 + n % 4], case when n % 4 = 3 then 'poster' end,
             'Member bounty ' || n, 'Posted by the member', '[{"id": 1, "text": "Done"}]', 1000 + n, 'usd', 'writing', true,
             now() + interval '30 days', case when n % 4 <> 2 then now() - n * interval '1 hour' end,
             case when n % 4 in (1, 3) then now() - n * interval '1 hour' + interval '30 minutes' end, now() - n * interval '1 hour', now()
      from generate_series(1, ${MARKETPLACE_ROWS}) as n;
      insert into bounty_requests (bounty_id, hunter_id, message, status, created_at, updated_at)
        select b.id, 'seed-' || n, 'Request ' || n, 'pending', now() - (${CROWDED_REQUESTS} - n) * interval '1 minute', now()
        from generate_series(1, ${CROWDED_REQUESTS}) as n, (select id from bounties where poster_id = '${memberId}' and title = 'Member bounty 4') b;
      insert into bounty_requests (bounty_id, hunter_id, message, status, closed_reason, created_at, updated_at)
        select b.id, '${memberId}', 'The member applies', (array['pending', 'rejected', 'withdrawn'])[1 + b.n % 3],
               (array[null, 'poster', 'hunter'])[1 + b.n % 3], b.created_at + interval '1 minute', now()
        from (select id, created_at, row_number() over (order by id) as n from bounties where state = 'open' and poster_id like 'seed-%' limit ${MARKETPLACE_ROWS}) b;
      insert into bounty_requests (bounty_id, hunter_id, message, status, created_at, updated_at)
        select b.id, 'seed-' || (1 + (b.n * 13) % ${ROWS}), 'Another hunter', 'pending', b.created_at + interval '2 minutes', now()
        from (select id, created_at, row_number() over (order by id) as n from bounties where poster_id like 'seed-%') b;
      insert into bounty_reviews (bounty_id, reviewer_id, reviewee_id, reviewer_role, rating, text, context, visible_from, created_at)
        select b.id, b.poster_id, case when b.n <= ${MARKETPLACE_ROWS} then '${memberId}' else 'seed-' || (1 + b.n % 500) end, 'poster', 1 + b.n % 5,
               'Seeded review', 'completed', case when b.n % 10 = 0 then now() + interval '5 days' else now() - b.n * interval '1 minute' end,
               now() - b.n * interval '1 minute'
        from (select id, poster_id, row_number() over (order by id) as n from bounties where poster_id like 'seed-%') b;
      insert into bounty_transitions (bounty_id, action, from_state, to_state, actor_role, hunter_id, created_at)
        select b.id, s.action, s.from_state, s.to_state, s.role,
               case when s.action = 'publish' then null when b.n % 5 = 0 then '${memberId}' else coalesce(b.hunter_id, 'seed-1') end,
               b.created_at + s.k * interval '1 hour'
        from (select id, hunter_id, state, created_at, row_number() over (order by id) as n from bounties where state <> 'draft') b
        cross join (values (1, 'publish', 'draft', 'open', 'poster'), (2, 'accept', 'open', 'in_progress', 'poster'),
                           (3, 'submit', 'in_progress', 'submitted', 'hunter'), (4, 'approve', 'submitted', 'completed', 'poster')) as s(k, action, from_state, to_state, role)
        where s.k = 1 or b.state = 'completed'
        order by b.id, s.k;
      insert into bounty_transitions (bounty_id, action, from_state, to_state, actor_role, hunter_id, created_at)
        select b.id, case when n % 2 = 0 then 'request_changes' else 'submit' end, 'submitted', 'submitted', 'hunter', 'seed-2', now() - (400 - n) * interval '1 minute'
        from generate_series(1, 300) as n, (select id from bounties where poster_id = '${memberId}' and title = 'Member bounty 1') b;
      analyze bounty_requests; analyze bounty_reviews; analyze bounty_transitions; analyze profiles;`);
    // Conversations: one per (bounty, hunter) of every request above (thousands of the member's),
    // each with a message, and one of the member's with 2,000 messages.
    await direct.unsafe(`
      insert into conversations (bounty_id, poster_id, hunter_id, created_at)
        select r.bounty_id, b.poster_id, r.hunter_id, min(r.created_at) from bounty_requests r join bounties b on b.id = r.bounty_id
        where r.hunter_id <> b.poster_id group by 1, 2, 3;
      insert into conversation_members (conversation_id, user_id, role, activity_at, joined_at)
        select c.id, m.user_id, m.role, c.created_at, c.created_at from conversations c
        cross join lateral (values (c.poster_id, 'poster'), (c.hunter_id, 'hunter')) as m(user_id, role);
      insert into messages (conversation_id, sender_id, kind, body, created_at)
        select c.id, c.hunter_id, 'text', 'Hello', c.created_at from conversations c;
      insert into messages (conversation_id, sender_id, kind, body, created_at)
        select c.id, case when n % 2 = 0 then c.poster_id else c.hunter_id end, 'text', 'Message ' || n, c.created_at + n * interval '1 second'
        from generate_series(1, ${CROWDED_MESSAGES}) as n,
             (select id, poster_id, hunter_id, created_at from conversations where poster_id = '${memberId}' order by id limit 1) c
        order by n;
      update conversations c set last_message_id = m.id, last_message_at = m.at
        from (select conversation_id, max(id) as id, max(created_at) as at from messages group by 1) m where m.conversation_id = c.id;
      analyze conversations; analyze conversation_members; analyze messages;`);
    // Notifications: each from a seeded outbox event (n is in its subject id); each with a push and an email delivery.
    await direct.unsafe(`
      insert into outbox_events (topic, recipient_id, subject_type, subject_id, created_at, delivered_at)
        select 'bounty.approve', case when n % 4 = 0 then '${memberId}' else 'seed-' || (1 + n % 500) end, 'bounty', 'seed-' || n,
               now() - (${ROWS} - n) * interval '1 second', now()
        from generate_series(1, ${ROWS}) as n order by n;
      insert into notifications (event_id, recipient_id, topic, category, title, body, subject_type, subject_id, data, created_at, seen_at, read_at)
        select e.id, e.recipient_id, e.topic, 'money', 'Work approved', 'Seeded', e.subject_type, e.subject_id, '{}'::jsonb, e.created_at,
               case when split_part(e.subject_id, '-', 2)::int % 400 <> 0 then e.created_at end,
               case when split_part(e.subject_id, '-', 2)::int % 400 <> 0 then e.created_at end
        from outbox_events e where e.topic = 'bounty.approve' and e.subject_id like 'seed-%' order by e.id;
      insert into notification_deliveries (id, notification_id, recipient_id, channel, status, attempts, last_error, created_at) overriding system value
        select row_number() over (order by n.id, c.channel), n.id, n.recipient_id, c.channel,
               case when c.channel = 'push' then 'skipped' when n.id % 450 = 0 then 'dead' else 'sent' end,
               case when c.channel = 'email' and n.id % 450 = 0 then 11 else 1 end,
               case when c.channel = 'email' and n.id % 450 = 0 then 'Error: SMTP said 554' end, n.created_at
        from notifications n cross join (values ('push'), ('email')) as c(channel) order by random();
      select setval(pg_get_serial_sequence('notification_deliveries', 'id'), (select max(id) from notification_deliveries));
      analyze outbox_events; analyze notifications; analyze notification_deliveries;`);
    // Trust and safety: 20,000 audit rows over 50 actors, the actions of the catalog and 5,000 targets;
    // 20,000 reports, few of them open (60), as a worked queue is.
    await direct.unsafe(`
      insert into audit_log (at, actor_id, actor_role, action, target_type, target_id, reason, request_id)
        select now() - (${ROWS} - n) * interval '1 second', case when n % 7 = 0 then null else 'seed-' || (1 + n % 50) end,
               case when n % 7 = 0 then 'system' else 'admin' end,
               (array['user.ban', 'user.unban', 'report.dismiss', 'risk.decision', 'ledger.adjustment.create', 'bounty.admin_cancel'])[1 + n % 6],
               'user', 'seed-' || (1 + n % 5000), 'Seeded', 'req-' || n
        from generate_series(1, ${ROWS}) as n order by n;
      insert into reports (reporter_id, target_type, target_id, subject_user_id, reason, text, snapshot, status, resolution, resolved_by, resolved_at, created_at)
        select 'seed-' || (1 + n % 500), 'user', 'seed-' || (1 + (n * 7) % ${ROWS}), 'seed-' || (1 + (n * 7) % ${ROWS}), 'spam', 'Seeded report', '{}'::jsonb,
               case when n % 333 = 0 then 'open' else 'dismissed' end, case when n % 333 = 0 then null else 'dismiss' end,
               case when n % 333 = 0 then null else 'seed-1' end, case when n % 333 = 0 then null else now() end,
               now() - (${ROWS} - n) * interval '1 second'
        from generate_series(1, ${ROWS}) as n;
      insert into risk_events (user_id, rule, outcome, subject_type, subject_id, detail, created_at)
        select case when n % 4 = 0 then '${memberId}' else 'seed-' || (1 + n % 5000) end, 'card_hold', 'deny', 'withdrawal', null, '{}', now() - n * interval '1 second'
        from generate_series(1, ${ROWS}) as n;
      update users set role = 'moderator' where id like 'seed-%' and split_part(id, '-', 2)::int % 200 = 0;
      update users set banned = true, ban_reason = 'Seeded' where id like 'seed-%' and split_part(id, '-', 2)::int % 150 = 0;
      insert into wallet_freezes (user_id, source, reason)
        select 'seed-' || n, 'admin', 'Seeded' from generate_series(1, ${ROWS}) as n where n % 180 = 0;
      insert into risk_scores (user_id, score, level, factors, computed_at)
        select 'seed-' || n, case when n % 100 = 0 then 80 else 10 end, case when n % 100 = 0 then 'high' else 'low' end, '{}', now()
        from generate_series(1, ${ROWS}) as n where n % 3 = 0 or n % 100 = 0;
      insert into ledger_adjustments (request_key, user_id, account_kind, currency, amount, reason, status, created_by, decided_by, created_at, decided_at)
        select 'seed-' || n, case when n % 4 = 0 then '${memberId}' else 'seed-' || (1 + n % 5000) end, 'available', 'usd', 100, 'Seeded',
               case when n % 100 = 0 then 'pending_approval' else 'rejected' end, 'staff-1', case when n % 100 = 0 then null else 'staff-2' end,
               now() - (${ROWS} - n) * interval '1 second', case when n % 100 = 0 then null else now() end
        from generate_series(1, ${ROWS}) as n;
      insert into bounty_disputes (bounty_id, opened_by, opened_by_role, from_state, reason, cited_items, respond_by, created_at, resolved_at, outcome)
        select b.id, b.poster_id, 'poster', 'submitted', 'Seeded dispute', '{1}', now() + interval '5 days', b.created_at,
               case when b.n % 20 = 0 then null else now() end, case when b.n % 20 = 0 then null else 'refund' end
        from (select id, poster_id, created_at, row_number() over (order by id) as n from bounties where state = 'in_progress' and poster_id like 'seed-%') b;
      insert into user_blocks (blocker_id, blocked_id, created_at)
        select '${memberId}', 'seed-' || (10000 + n), now() - n * interval '1 minute' from generate_series(1, 50) as n;
      insert into user_blocks (blocker_id, blocked_id, created_at)
        select 'seed-' || (1 + n % 5000), 'seed-' || (5001 + n), now() - n * interval '1 second' from generate_series(1, ${ROWS} - 6000) as n;
      insert into ledger_accounts (owner_type, owner_id, kind, currency, user_id, allow_negative)
        select 'user', 'seed-' || n, 'available', 'usd', 'seed-' || n, false from generate_series(1, ${ROWS}) as n;
      analyze audit_log; analyze reports; analyze risk_events; analyze users; analyze wallet_freezes; analyze risk_scores;
      analyze ledger_adjustments; analyze bounty_disputes; analyze user_blocks;`);
        const [chatty] = await direct`select id from conversations where poster_id = ${memberId} order by id limit 1`;
    crowdedConversationId = String(chatty?.id);
    const [available] = await direct`select id from ledger_accounts where owner_id = ${memberId} and kind = 'available'`;
    memberAvailableAccountId = String(available?.id);
    const [crowded] = await direct`select id from bounties where poster_id = ${memberId} and title = 'Member bounty 4'`;
    const [longHistory] = await direct`select id from bounties where poster_id = ${memberId} and title = 'Member bounty 1'`;
    crowdedBountyId = String(crowded?.id);
    longHistoryBountyId = String(longHistory?.id);
    // VACUUM, not only ANALYZE: a bulk insert leaves the full-text GIN index's entries in its pending
    // list, which every search scans whole (priced so that a table scan wins), until a vacuum, as
    // autovacuum soon does in service, moves them into the index.
    await direct.unsafe('vacuum analyze bounties');
    // The ledger rows go through their triggers one by one: about a minute on a busy 2-core machine.
  }, 180_000);
  afterAll(async () => {
    await direct?.end({ timeout: 1 });
    await t?.close();
    const teardown = await startTestApp();
    await teardown.database.primary.execute(sql.raw(`drop database if exists ${databaseName} with (force)`));
    await teardown.close();
  }, 60_000);

  /**
   * The list routes, each with a second page by its own cursor: a path (a function when it names a
   * seeded row), who asks, and how the next page is asked for (default: `cursor` from
   * `pagination.nextCursor`).
   */
  const LIST_ROUTES: Array<{ name: string; path: string | (() => string); as: () => TestAccount | null; next?: { param: string; field: string } }> = [
    { name: 'GET /posts (anonymous)', path: '/posts?limit=20', as: () => null },
    { name: 'GET /posts (signed in)', path: '/posts?limit=20', as: () => member },
    { name: 'GET /posts (admin)', path: '/posts?limit=20', as: () => admin },
    { name: 'GET /users (admin)', path: '/users?limit=20', as: () => admin },
    { name: 'GET /users?name= (admin)', path: '/users?limit=20&name=Seed', as: () => admin },
    { name: 'GET /wallet/transactions', path: '/wallet/transactions?limit=20', as: () => member },
    { name: 'GET /wallet/deposits', path: '/wallet/deposits?limit=20', as: () => member },
    { name: 'GET /wallet/withdrawals', path: '/wallet/withdrawals?limit=20', as: () => member },
    { name: 'GET /bounties (the same browse)', path: '/bounties?sort=reward&limit=20', as: () => null },
    { name: 'search: newest', path: '/search/bounties?limit=20', as: () => null },
    { name: 'search: reward', path: '/search/bounties?sort=reward&limit=20', as: () => null },
    { name: 'search: deadline', path: '/search/bounties?sort=deadline&limit=20', as: () => null },
    { name: 'search: category', path: '/search/bounties?category=design&limit=20', as: () => null },
    { name: 'search: category by reward', path: '/search/bounties?category=design&sort=reward&limit=20', as: () => null },
    { name: 'search: tags', path: '/search/bounties?tags=rust,urgent&limit=20', as: () => null },
    { name: 'search: reward range', path: '/search/bounties?rewardMin=1000&rewardMax=5000&limit=20', as: () => null },
    { name: 'search: reward range by reward', path: '/search/bounties?rewardMin=1000&rewardMax=5000&sort=reward&limit=20', as: () => null },
    { name: 'search: near', path: '/search/bounties?near=-33.87,151.21&radiusKm=50&limit=20', as: () => null },
    { name: 'search: near by deadline', path: '/search/bounties?near=-33.87,151.21&sort=deadline&limit=20', as: () => null },
    { name: 'search: near by reward', path: '/search/bounties?near=-33.87,151.21&sort=reward&limit=20', as: () => null },
    // Beyond the cells a page reads one by one (MAX_NEAR_CELLS), and with q: the box path.
    { name: 'search: near, wide', path: '/search/bounties?near=-33.87,151.21&radiusKm=400&limit=20', as: () => null },
    { name: 'search: near with q', path: '/search/bounties?near=-33.87,151.21&q=logo&sort=newest&limit=20', as: () => null },
    { name: 'search: remote, in progress', path: '/search/bounties?remote=true&status=in_progress&limit=20', as: () => null },
    { name: 'search: q by relevance', path: '/search/bounties?q=telescope&limit=20', as: () => null },
    { name: 'search: q newest', path: '/search/bounties?q=telescope&sort=newest&limit=20', as: () => null },
    { name: 'search: q with filters', path: '/search/bounties?q=telescope&remote=false&rewardMin=100&limit=20', as: () => null },
    { name: 'GET /bounties/mine', path: '/bounties/mine?limit=20', as: () => member },
    { name: 'GET /requests/me', path: '/requests/me?limit=20', as: () => member },
    { name: 'GET /requests/me?status=pending', path: '/requests/me?limit=20&status=pending', as: () => member },
    { name: 'GET /bounties/:id/requests (its poster)', path: () => `/bounties/${crowdedBountyId}/requests?limit=20`, as: () => member },
    { name: 'GET /bounties/:id/requests (admin)', path: () => `/bounties/${crowdedBountyId}/requests?limit=20`, as: () => admin },
    { name: 'GET /profiles/:userId/reviews', path: () => `/profiles/${member.id}/reviews?limit=20`, as: () => null },
    { name: 'GET /conversations', path: '/conversations?limit=20', as: () => member },
    {
      name: 'GET /conversations/:id/messages',
      path: () => `/conversations/${crowdedConversationId}/messages?limit=20`,
      as: () => member,
      next: { param: 'before', field: 'nextBefore' },
    },
    {
      name: 'GET /conversations/:id/messages (admin)',
      path: () => `/conversations/${crowdedConversationId}/messages?limit=20`,
      as: () => admin,
      next: { param: 'before', field: 'nextBefore' },
    },
    { name: 'GET /notifications', path: '/notifications?limit=20', as: () => member },
    { name: 'GET /notifications?unread=true', path: '/notifications?limit=20&unread=true', as: () => member },
    { name: 'GET /admin/notifications/dead-letters', path: '/admin/notifications/dead-letters?limit=20', as: () => admin },
    { name: 'GET /admin/audit', path: '/admin/audit?limit=20', as: () => admin },
    { name: 'GET /admin/risk/queue', path: '/admin/risk/queue?limit=20', as: () => admin },
    { name: 'GET /admin/users', path: '/admin/users?limit=20', as: () => admin },
    { name: 'GET /admin/users?q=', path: '/admin/users?limit=20&q=Seed', as: () => admin },
    { name: 'GET /admin/users?role=', path: '/admin/users?limit=20&role=moderator', as: () => admin },
    { name: 'GET /admin/users?banned=true', path: '/admin/users?limit=20&banned=true', as: () => admin },
    { name: 'GET /admin/users?frozen=true', path: '/admin/users?limit=20&frozen=true', as: () => admin },
    { name: 'GET /admin/users?riskLevel=', path: '/admin/users?limit=20&riskLevel=high', as: () => admin },
    { name: 'GET /admin/ledger/users/:userId/postings', path: () => `/admin/ledger/users/${member.id}/postings?limit=20`, as: () => admin },
    { name: 'GET /admin/ledger/accounts/:id', path: () => `/admin/ledger/accounts/${memberAvailableAccountId}?limit=20`, as: () => admin },
    { name: 'GET /admin/ledger/users/:userId', path: () => `/admin/ledger/users/${member.id}?limit=1`, as: () => admin },
    { name: 'GET /admin/ledger/adjustments (pending)', path: '/admin/ledger/adjustments?limit=20', as: () => admin },
    { name: 'GET /admin/ledger/adjustments?userId=', path: () => `/admin/ledger/adjustments?userId=${member.id}&limit=20`, as: () => admin },
    { name: 'GET /admin/disputes', path: '/admin/disputes?limit=20', as: () => admin },
    { name: 'GET /admin/reports (queue)', path: '/admin/reports?limit=20', as: () => admin },
    { name: 'GET /admin/reports?targetType=', path: '/admin/reports?limit=20&targetType=user', as: () => admin },
    { name: 'GET /admin/reports?status=dismissed', path: '/admin/reports?limit=20&status=dismissed', as: () => admin },
    { name: 'GET /blocks', path: '/blocks?limit=20', as: () => member },
    { name: 'search: newest (signed in)', path: '/search/bounties?limit=20', as: () => member },
    { name: 'search: near (signed in)', path: '/search/bounties?near=-33.87,151.21&radiusKm=50&limit=20', as: () => member },
    { name: 'search: q newest (signed in)', path: '/search/bounties?q=logo&sort=newest&limit=20', as: () => member },
    { name: 'GET /admin/risk/users/:userId', path: () => `/admin/risk/users/${member.id}?limit=20`, as: () => admin },
    { name: 'GET /admin/audit?actorId=', path: '/admin/audit?limit=20&actorId=seed-7', as: () => admin },
    { name: 'GET /admin/audit?action=', path: '/admin/audit?limit=20&action=user.ban', as: () => admin },
    { name: 'GET /admin/audit?targetType=&targetId=', path: '/admin/audit?limit=1&targetType=user&targetId=seed-42', as: () => admin },
    { name: 'GET /admin/audit?targetId= (no type)', path: '/admin/audit?limit=1&targetId=seed-42', as: () => admin },
    { name: 'GET /admin/audit?from=&to=', path: () => `/admin/audit?limit=20&from=${encodeURIComponent(new Date(Date.now() - 3_600_000).toISOString())}&to=${encodeURIComponent(new Date(Date.now() - 600_000).toISOString())}`, as: () => admin },
    {
      name: 'GET /bounties/:id/history',
      path: () => `/bounties/${longHistoryBountyId}/history?limit=20`,
      as: () => null,
      next: { param: 'after', field: 'nextAfter' },
    },
  ];

  test('no list query sorts a table scan, on its first page or a later one', async () => {
    const problems: string[] = [];
    let explained = 0;
    for (const route of LIST_ROUTES) {
      const account = route.as();
      const headers: Record<string, string> = account ? { cookie: account.jar.header() } : {};
      const first = typeof route.path === 'function' ? route.path() : route.path;
      let path = first;
      for (const page of [1, 2]) {
        const from = captured.length;
        const response = await t.request(path, { headers });
        expect([route.name, response.status]).toEqual([route.name, 200]);
        const lists = captured.slice(from).filter(({ query }) => /^\(?select/i.test(query) && /order by/i.test(query));
        expect([route.name, page, lists.length > 0]).toEqual([route.name, page, true]);
        for (const { query, parameters } of lists) {
          const [row] = await direct.unsafe(`explain (format json) ${query}`, parameters as never[]);
          const plan = (at(row, 'QUERY PLAN', 0, 'Plan') ?? {}) as PlanNode;
          explained += 1;
          const bad = sortsATableScan(plan);
          if (bad) problems.push(`${route.name}, page ${page}: ${bad}\n  ${query}`);
        }
        const { param, field } = route.next ?? { param: 'cursor', field: 'nextCursor' };
        const cursor = at(await readJson(response), 'pagination', field);
        expect([route.name, typeof cursor]).toEqual([route.name, field === 'nextCursor' ? 'string' : 'number']);
        path = `${first}&${param}=${String(cursor)}`;
      }
    }
    expect(explained).toBeGreaterThanOrEqual(LIST_ROUTES.length * 2);
    expect(problems).toEqual([]);
  }, 60_000);

  test("GET /profiles/:userId: the statistics over a poster's and a hunter's history sort no table scan", async () => {
    const problems: string[] = [];
    // The member (thousands of bounties, requests and reviews) and a seed user (a few dozen).
    for (const userId of [member.id, 'seed-2']) {
      const from = captured.length;
      const response = await t.request(`/profiles/${userId}`);
      expect(response.status).toBe(200);
      const stats = at(await readJson(response), 'data', 'stats');
      // The seeded history is really counted: as hunter, as poster, and reviews.
      const counted = [at(stats, 'asHunter', 'accepted'), at(stats, 'asPoster', 'bountiesPosted'), at(stats, 'reviews', 'count')];
      expect([userId, counted.every((value) => Number(value) > 0)]).toEqual([userId, true]);
      const statements = captured.slice(from).filter(({ query }) => /^(select|with)/i.test(query.trim()));
      expect(statements.some(({ query }) => /^with/i.test(query.trim()))).toBe(true);
      for (const { query, parameters } of statements) {
        const [row] = await direct.unsafe(`explain (format json) ${query}`, parameters as never[]);
        const bad = sortsATableScan((at(row, 'QUERY PLAN', 0, 'Plan') ?? {}) as PlanNode);
        if (bad) problems.push(`${userId}: ${bad}\n  ${query}`);
      }
    }
    expect(problems).toEqual([]);
  }, 60_000);

  /** Every node of a plan that reads a whole table, as "Seq Scan on <table>". */
  const tableScans = (node: PlanNode): string[] => [
    ...(node['Node Type'] === 'Seq Scan' && node['Relation Name'] ? [`Seq Scan on ${node['Relation Name']}`] : []),
    ...(node.Plans ?? []).flatMap(tableScans),
  ];

  test('the analytics reports (staff and a poster\'s own) read their rows by index, never by a scan of the events or the rollups', async () => {
    // 20,000 events over 1,000 days (a quarter about the member's bounties), and their rollups:
    // the whole marketplace's 20 figures a day, six a day for the member and for 500 other posters.
    await direct.unsafe(`
      insert into analytics_events (event_id, name, occurred_at, recorded_at, user_id, poster_id, hunter_id, bounty_id, amount, fee, currency, seconds)
        select 1000000000 + n, (array['bounty.created', 'bounty.published', 'bounty.accepted', 'bounty.completed', 'request.created', 'message.sent', 'deposit.succeeded'])[1 + n % 7],
               now() - n * interval '72 minutes', now(), 'seed-' || (1 + n % 500),
               case when n % 7 = 6 then null when n % 4 = 0 then '${member.id}' else 'seed-' || (1 + n % 500) end, 'seed-' || (1 + (n * 7) % 500),
               null, case when n % 7 in (3, 6) then 1000 end, case when n % 7 = 3 then 100 end, case when n % 7 in (3, 6) then 'usd' end,
               case when n % 7 in (2, 3) then 60 * (n % 300) end
        from generate_series(1, ${ROWS}) as n;
      insert into analytics_daily (dimension, day, metric, currency, value, computed_at)
        select 'all', current_date - d, m.metric, case when m.metric in ('gmv', 'platform_fees', 'deposit_volume', 'payout_volume') then 'usd' else '' end, d % 50, now()
        from generate_series(0, 999) as d,
             unnest(array['events', 'signups', 'bounties_created', 'bounties_published', 'bounties_accepted', 'bounties_completed', 'bounties_settled', 'disputes_opened',
                          'requests_created', 'messages_sent', 'deposits', 'payouts', 'gmv', 'platform_fees', 'deposit_volume', 'payout_volume', 'active_posters',
                          'active_hunters', 'median_seconds_to_accept', 'median_seconds_to_approve']) as m(metric);
      insert into analytics_daily (dimension, day, metric, currency, value, computed_at)
        select 'poster:' || p.id, current_date - d, m.metric, case when m.metric = 'gmv' then 'usd' else '' end, 1, now()
        from (select '${member.id}' as id union all select 'seed-' || n from generate_series(1, 500) as n) p,
             generate_series(0, 59) as d,
             unnest(array['bounties_created', 'bounties_published', 'bounties_accepted', 'bounties_completed', 'requests_created', 'gmv']) as m(metric);
      analyze analytics_events; analyze analytics_daily;`);
    const problems: string[] = [];
    const reports: Array<[string, () => TestAccount]> = [
      ['/analytics/overview', () => admin],
      ['/analytics/daily?metric=gmv', () => admin],
      ['/analytics/me', () => member],
      ['/analytics/me/daily?metric=bounties_published', () => member],
    ];
    for (const [path, as] of reports) {
      const from = captured.length;
      const response = await t.request(path, { headers: { cookie: as().jar.header() } });
      expect([path, response.status]).toEqual([path, 200]);
      const statements = captured.slice(from).filter(({ query }) => /^select/i.test(query.trim()) && /analytics_/.test(query));
      expect([path, statements.length > 0]).toEqual([path, true]);
      for (const { query, parameters } of statements) {
        const [row] = await direct.unsafe(`explain (format json) ${query}`, parameters as never[]);
        const scans = tableScans((at(row, 'QUERY PLAN', 0, 'Plan') ?? {}) as PlanNode).filter((scan) => scan.includes('analytics_'));
        if (scans.length > 0) problems.push(`${path}: ${scans.join(', ')}\n  ${query}`);
      }
    }
    expect(problems).toEqual([]);
  }, 60_000);

  test('the rollup job finds late and uncomputed days by index, never by a scan of the events or the rollups', async () => {
    // The last run came after every event above was recorded; since, one more arrived late (for
    // 20 days ago), and a day's rollup is missing (500 days ago).
    await direct.unsafe(`
      update analytics_daily set computed_at = now() + interval '1 hour' where dimension = 'all' and day = current_date and metric = 'events';
      insert into analytics_events (event_id, name, occurred_at, recorded_at, user_id)
        values (2000000000, 'bounty.created', now() - interval '20 days', now() + interval '2 hours', 'seed-1');
      delete from analytics_daily where dimension = 'all' and day = current_date - 500;
      analyze analytics_events; analyze analytics_daily;`);
    const from = captured.length;
    const plan = await daysToRoll(t.database.primary, new Date());
    expect(plan.days).toEqual(expect.arrayContaining([utcDay(new Date(Date.now() - 20 * 86_400_000)), utcDay(new Date(Date.now() - 500 * 86_400_000))]));
    const statements = captured.slice(from).filter(({ query }) => /^select/i.test(query.trim()) && /analytics_/.test(query));
    expect(statements.length).toBe(3);
    const problems: string[] = [];
    for (const { query, parameters } of statements) {
      const [row] = await direct.unsafe(`explain (format json) ${query}`, parameters as never[]);
      const scans = tableScans((at(row, 'QUERY PLAN', 0, 'Plan') ?? {}) as PlanNode).filter((scan) => scan.includes('analytics_'));
      if (scans.length > 0) problems.push(`${scans.join(', ')}\n  ${query}`);
    }
    expect(problems).toEqual([]);
  });
});
