-- Audiences (issue 16): a decision `suppressed` with reason `not_in_audience` keeps the
-- condition that kept the person out (JSON: {"path": [...], "condition": {...}}), so the
-- decision log says why. Person data (CRM attributes, interests, visit counters) lives in the
-- person's Durable Object, not here.
ALTER TABLE decisions ADD COLUMN audience_failed TEXT;
