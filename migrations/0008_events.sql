-- Events out (issue 12): what happened to a person, written once by the person's Durable
-- Object (worker/events.ts) and read by GET /v1/events, the user export and webhook replays.
-- `seq` is the order events reached D1 in: a person's events arrive in their order (one
-- drain loop per person), so it is the export's cursor and "oldest first". `id` is the
-- event's own monotonic id (evt_ + time-sortable), unique, so a drain retried after a crash
-- stores nothing twice. `data` never holds coordinates.
CREATE TABLE events (
	seq INTEGER PRIMARY KEY AUTOINCREMENT,
	id TEXT NOT NULL UNIQUE,
	tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
	user_id TEXT NOT NULL,
	type TEXT NOT NULL,
	created_at TEXT NOT NULL,
	data TEXT NOT NULL
);
CREATE INDEX events_by_tenant ON events (tenant_id, seq);
CREATE INDEX events_by_tenant_time ON events (tenant_id, created_at);
CREATE INDEX events_by_user ON events (tenant_id, user_id);

-- Outgoing webhook endpoints. The secret is stored sealed (AES-GCM under a key derived from
-- KEY_PEPPER, worker/crypto.ts sealSecret): shown once at creation, never returned again.
-- Each endpoint's deliveries live in its own outbox Durable Object (worker/webhooks-outbox.ts).
CREATE TABLE webhooks (
	id TEXT PRIMARY KEY,
	tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
	url TEXT NOT NULL,
	-- JSON array of event types.
	events TEXT NOT NULL,
	description TEXT,
	secret_sealed TEXT NOT NULL,
	created_at TEXT NOT NULL,
	disabled_at TEXT,
	disabled_reason TEXT
);
CREATE INDEX webhooks_by_tenant ON webhooks (tenant_id);
