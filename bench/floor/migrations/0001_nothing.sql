-- The floor program uses no D1 (see ../wrangler.toml): this migration only lets the shared
-- launcher's `wrangler d1 migrations apply` succeed.
SELECT 1;
