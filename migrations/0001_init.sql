-- System of record for what a back office lists and reports on. Hot per-person state
-- lives in Durable Objects; this database is written idempotently from them.

CREATE TABLE tenants (
	id TEXT PRIMARY KEY,
	name TEXT NOT NULL,
	-- Settings in force (JSON, validated by src/schemas/settings.ts before it is written).
	settings TEXT NOT NULL,
	-- Bumped by every geofence upload or delete that changes something.
	geofence_version INTEGER NOT NULL DEFAULT 0,
	-- Webhook secret encrypted with a key derived from KEY_PEPPER: HMAC verification
	-- needs the secret itself, so it cannot be stored as a one-way hash.
	webhook_secret_enc TEXT NOT NULL,
	created_at TEXT NOT NULL
);

-- Secret and publishable keys, stored as HMAC-SHA256(KEY_PEPPER, key): shown once.
CREATE TABLE api_keys (
	key_hash TEXT PRIMARY KEY,
	tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
	kind TEXT NOT NULL CHECK (kind IN ('secret', 'publishable')),
	created_at TEXT NOT NULL
);
CREATE INDEX api_keys_tenant ON api_keys(tenant_id);

CREATE TABLE geofences (
	tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
	id TEXT NOT NULL,
	name TEXT NOT NULL,
	-- Normalized fence (src/geo/types.ts Fence) as JSON.
	fence TEXT NOT NULL,
	content_hash TEXT NOT NULL,
	-- JSON array of the GeoShard cells that index this fence, to clean them up on change.
	shards TEXT NOT NULL,
	version INTEGER NOT NULL,
	created_at TEXT NOT NULL,
	updated_at TEXT NOT NULL,
	PRIMARY KEY (tenant_id, id)
);

CREATE TABLE campaigns (
	tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
	id TEXT NOT NULL,
	status TEXT NOT NULL,
	priority INTEGER NOT NULL,
	trigger_type TEXT NOT NULL,
	-- The whole campaign as validated by src/schemas/campaign.ts.
	body TEXT NOT NULL,
	created_at TEXT NOT NULL,
	updated_at TEXT NOT NULL,
	PRIMARY KEY (tenant_id, id)
);
CREATE INDEX campaigns_trigger ON campaigns(tenant_id, trigger_type, status);

-- One row per trigger and matching campaign: the "why was / wasn't this sent" trace.
CREATE TABLE decisions (
	id TEXT PRIMARY KEY,
	tenant_id TEXT NOT NULL,
	user_id TEXT NOT NULL,
	trigger_type TEXT NOT NULL,
	trigger TEXT NOT NULL,
	campaign_id TEXT NOT NULL,
	variant_id TEXT,
	decision TEXT NOT NULL CHECK (decision IN ('sent', 'holdout', 'suppressed')),
	reason TEXT,
	offer_id TEXT,
	created_at TEXT NOT NULL
);
CREATE INDEX decisions_user ON decisions(tenant_id, user_id, created_at DESC);
CREATE INDEX decisions_campaign ON decisions(tenant_id, campaign_id, created_at);

-- Offers that left (or tried to leave) the service, with their delivery outcome.
CREATE TABLE offers (
	id TEXT PRIMARY KEY,
	tenant_id TEXT NOT NULL,
	user_id TEXT NOT NULL,
	campaign_id TEXT NOT NULL,
	variant_id TEXT,
	geofence_id TEXT,
	-- pending | accepted | failed | gone | no_device
	status TEXT NOT NULL,
	attempts INTEGER NOT NULL DEFAULT 0,
	created_at TEXT NOT NULL,
	expires_at TEXT NOT NULL
);
CREATE INDEX offers_user ON offers(tenant_id, user_id);
CREATE INDEX offers_campaign ON offers(tenant_id, campaign_id);
