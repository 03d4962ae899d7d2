-- Trust and privacy lifecycle (API v1.1).

-- Key rotation: a rotated-out key stays valid until expires_at (NULL: the key in force).
-- Rotating with graceSeconds 0 deletes the old row instead.
ALTER TABLE api_keys ADD COLUMN expires_at TEXT;

-- Retention (a daily Cron Trigger deletes rows older than the tenant's retentionDays) and
-- erasure scan these by time and by person.
CREATE INDEX IF NOT EXISTS decisions_created ON decisions(tenant_id, created_at);
CREATE INDEX IF NOT EXISTS offers_created ON offers(tenant_id, created_at);
CREATE INDEX IF NOT EXISTS offer_events_created ON offer_events(tenant_id, created_at);
CREATE INDEX IF NOT EXISTS conversions_created ON conversions(tenant_id, created_at);
CREATE INDEX IF NOT EXISTS cart_events_created ON cart_events(tenant_id, created_at);
CREATE INDEX IF NOT EXISTS cart_events_user ON cart_events(tenant_id, user_id);
