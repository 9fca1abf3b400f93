-- Every request of the previous release gets the conversation new requests are created with:
-- one per (bounty, hunter), its poster and hunter as members, dated from the first request.
-- Idempotent (ON CONFLICT DO NOTHING), so a conversation created meanwhile is kept as it is.
INSERT INTO "conversations" ("bounty_id", "poster_id", "hunter_id", "created_at")
SELECT r."bounty_id", b."poster_id", r."hunter_id", min(r."created_at")
FROM "bounty_requests" r
JOIN "bounties" b ON b."id" = r."bounty_id"
GROUP BY r."bounty_id", b."poster_id", r."hunter_id"
ON CONFLICT ("bounty_id", "hunter_id") DO NOTHING;--> statement-breakpoint
INSERT INTO "conversation_members" ("conversation_id", "user_id", "role", "last_read_message_id", "activity_at", "joined_at")
SELECT c."id", m."user_id", m."role", 0, c."created_at", c."created_at"
FROM "conversations" c
CROSS JOIN LATERAL (VALUES (c."poster_id", 'poster'), (c."hunter_id", 'hunter')) AS m("user_id", "role")
ON CONFLICT ("conversation_id", "user_id") DO NOTHING;
