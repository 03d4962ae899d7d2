-- Leaves a merge took out of a tenant's layout (worker/routes/geofences.ts mergeSparseLeaves):
-- their objects keep their fences a while for isolates a geofence version behind, then are emptied
-- (unless a later split made the cell a leaf again).
CREATE TABLE geofence_retired (
	tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
	key TEXT NOT NULL,
	retired_at INTEGER NOT NULL,
	PRIMARY KEY (tenant_id, key)
);
