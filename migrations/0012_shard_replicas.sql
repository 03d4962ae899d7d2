-- Read replicas of hot shard leaves (worker/geoshard.ts grow): a leaf whose objects pass their
-- request budget gets more objects holding the same fences; a person's pings go to one of them
-- by a stable hash of the person (worker/shards.ts shardKeyOfPoint). Writes still go to the
-- leaf's primary object (`<cell>/0`), which forwards each change to its replicas. A leaf with no
-- row has one object.
CREATE TABLE IF NOT EXISTS geofence_replicas (
	tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
	cell TEXT NOT NULL,
	replicas INTEGER NOT NULL CHECK (replicas BETWEEN 1 AND 64),
	-- Requests a second the object that asked for more measured (mean over its window).
	rate REAL NOT NULL,
	updated_at INTEGER NOT NULL,
	PRIMARY KEY (tenant_id, cell)
);
