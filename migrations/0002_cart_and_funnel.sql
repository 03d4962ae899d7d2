-- Cart hook, conversions and the offer funnel.

-- Webhook secret rotation: the previous secret stays valid until it expires.
ALTER TABLE tenants ADD COLUMN webhook_secret_prev_enc TEXT;
ALTER TABLE tenants ADD COLUMN webhook_secret_prev_expires_at TEXT;
-- Bumped on every campaign change, so rule indexes cached per isolate know when to rebuild.
ALTER TABLE tenants ADD COLUMN campaign_version INTEGER NOT NULL DEFAULT 0;

-- Where an offer's links lead: {"url": "...", "actions": {"<actionId>": "<url>"}}.
-- Click links point at the service, which redirects here after checking the signature.
ALTER TABLE offers ADD COLUMN links TEXT;
-- "geofence" or "cart": what triggered the offer.
ALTER TABLE offers ADD COLUMN trigger_type TEXT;

-- Display, dismissal and clicks reported by apps or by the signed click link.
CREATE TABLE offer_events (
	id TEXT PRIMARY KEY,
	tenant_id TEXT NOT NULL,
	offer_id TEXT NOT NULL,
	campaign_id TEXT NOT NULL,
	variant_id TEXT,
	-- displayed | dismissed | clicked
	type TEXT NOT NULL,
	-- the action button clicked, null for the notification body
	action TEXT,
	created_at TEXT NOT NULL
);
CREATE INDEX offer_events_campaign ON offer_events(tenant_id, campaign_id, type);
CREATE INDEX offer_events_offer ON offer_events(tenant_id, offer_id);

-- A purchase credited to the last offer (or holdout) the person was exposed to within the
-- tenant's attribution window. holdout = 1: the person was held out (no offer_id).
CREATE TABLE conversions (
	id TEXT PRIMARY KEY,
	tenant_id TEXT NOT NULL,
	user_id TEXT NOT NULL,
	campaign_id TEXT NOT NULL,
	variant_id TEXT,
	offer_id TEXT,
	holdout INTEGER NOT NULL,
	event_id TEXT NOT NULL,
	revenue REAL NOT NULL,
	created_at TEXT NOT NULL,
	UNIQUE (tenant_id, event_id)
);
CREATE INDEX conversions_campaign ON conversions(tenant_id, campaign_id);
CREATE INDEX conversions_user ON conversions(tenant_id, user_id);
