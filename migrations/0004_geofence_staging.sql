-- All-or-nothing geofence changes across D1 and the GeoShard objects (worker/routes/geofences.ts).

-- One change (upload or delete) at a time per tenant. A lock whose holder vanished lapses at
-- expires_at (epoch ms); the next change then repairs what the holder left (see staging).
CREATE TABLE geofence_locks (
	tenant_id TEXT PRIMARY KEY REFERENCES tenants(id) ON DELETE CASCADE,
	token TEXT NOT NULL,
	expires_at INTEGER NOT NULL
);

-- The rows of a change in flight, written before any shard object is: an upload's new rows
-- (moved into geofences by one batch, in one transaction, at its commit), or the row a delete
-- removes. Rows left here name fences whose shard objects may not match geofences (the Worker
-- stopped mid-change): the next change re-syncs them from geofences, then deletes them.
CREATE TABLE geofence_staging (
	upload_id TEXT NOT NULL,
	tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
	id TEXT NOT NULL,
	name TEXT NOT NULL,
	-- Normalized fence (src/geo/types.ts Fence) as JSON.
	fence TEXT NOT NULL,
	content_hash TEXT NOT NULL,
	-- JSON array of the shard keys the fence goes to.
	shards TEXT NOT NULL,
	created_at TEXT NOT NULL,
	PRIMARY KEY (upload_id, id)
);
CREATE INDEX geofence_staging_tenant ON geofence_staging(tenant_id);
