-- The typed parts of an agent's turn beside a message's text: tool calls (assistant), tool
-- results (tool) and reasoning, as a JSON array ([] for plain text). A reply that ends by
-- calling tools is stored `complete` with tool-call parts and read back as `requires_action`.
ALTER TABLE messages ADD COLUMN parts JSONB NOT NULL DEFAULT '[]';
