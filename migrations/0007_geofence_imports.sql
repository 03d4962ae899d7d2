-- Staged imports (worker/routes/geofence-imports.ts): a large store network uploaded in chunks
-- and applied at once by a commit, all or nothing. A chunk's validated fences are kept as JSON
-- arrays in parts of at most about 1 MB (a bound D1 value may be at most 2 MB).
CREATE TABLE geofence_imports (
	id TEXT PRIMARY KEY,
	tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
	status TEXT NOT NULL CHECK (status IN ('open', 'committed')),
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	committed_at INTEGER,
	-- The commit's answer, JSON: a commit sent again answers the same.
	result TEXT
);
CREATE INDEX geofence_imports_by_tenant ON geofence_imports (tenant_id, expires_at);

CREATE TABLE geofence_import_parts (
	import_id TEXT NOT NULL REFERENCES geofence_imports(id) ON DELETE CASCADE,
	chunk INTEGER NOT NULL,
	part INTEGER NOT NULL,
	features INTEGER NOT NULL,
	-- JSON array of normalized fences (src/geo/types.ts Fence).
	body TEXT NOT NULL,
	PRIMARY KEY (import_id, chunk, part)
);
