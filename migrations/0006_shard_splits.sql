-- The shard layout of each tenant (src/geo/shard.ts): the H3 cells whose GeoShard object was
-- split because it passed its fence budget; their finer cells serve in their place. A split
-- cell's own object is emptied once no isolate can still route to it (cleared_at).
CREATE TABLE geofence_splits (
	tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
	cell TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	cleared_at INTEGER,
	PRIMARY KEY (tenant_id, cell)
);
