-- An eventId names one cart event per tenant: the first user it arrived for owns it, and
-- the same id for another user is refused instead of firing a second time.
CREATE TABLE cart_events (
	tenant_id TEXT NOT NULL,
	event_id TEXT NOT NULL,
	user_id TEXT NOT NULL,
	created_at TEXT NOT NULL,
	PRIMARY KEY (tenant_id, event_id)
);
