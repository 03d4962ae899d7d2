-- Console sessions (worker/routes/console.ts): a tenant's secret key exchanged for a
-- short-lived token that the browser console keeps in memory. Only a peppered hash of the
-- token is stored. A session is bound to the secret key that opened it (key_hash): it ends
-- when that key does (rotated out with no grace, or at the end of its grace period).
CREATE TABLE console_sessions (
	token_hash TEXT PRIMARY KEY,
	tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
	key_hash TEXT NOT NULL REFERENCES api_keys(key_hash) ON DELETE CASCADE,
	created_at TEXT NOT NULL,
	expires_at TEXT NOT NULL
);
CREATE INDEX console_sessions_by_tenant ON console_sessions (tenant_id, expires_at);
CREATE INDEX console_sessions_by_key ON console_sessions (key_hash);
