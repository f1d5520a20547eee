-- Importing XP from the bot a community leaves (MEE6, Lurkr, Amari, Polaris, a CSV): each member's
-- imported XP is one ledger row (source 'import'), so totals, levels and boards follow the one path
-- every grant takes. A member has at most one live imported amount: a later import naming them
-- replaces it (a negative 'import' row, then the new one), never adds to it.

-- NOT VALID, then VALIDATE: the check of the existing rows does not hold the ledger's strongest lock.
ALTER TABLE xp_ledger DROP CONSTRAINT xp_ledger_source_check;
ALTER TABLE xp_ledger ADD CONSTRAINT xp_ledger_source_check
  CHECK (source IN ('message', 'voice', 'event', 'achievement', 'manual', 'reversal', 'import')) NOT VALID;
ALTER TABLE xp_ledger VALIDATE CONSTRAINT xp_ledger_source_check;

CREATE TABLE xp_imports (
  id TEXT PRIMARY KEY,
  source TEXT NOT NULL CHECK (source IN ('mee6', 'lurkr', 'amari', 'polaris', 'csv')),
  mapping TEXT NOT NULL CHECK (mapping IN ('level', 'xp')),
  origin TEXT NOT NULL CHECK (length(origin) <= 300),
  digest TEXT NOT NULL,
  members_only BOOLEAN NOT NULL DEFAULT false,
  actor_id TEXT REFERENCES users(id) ON DELETE SET NULL,
  status TEXT NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'done', 'undone')),
  rows_total INTEGER NOT NULL CHECK (rows_total >= 0),
  rows_done INTEGER NOT NULL DEFAULT 0,
  imported INTEGER NOT NULL DEFAULT 0,
  unchanged INTEGER NOT NULL DEFAULT 0,
  total_xp BIGINT NOT NULL DEFAULT 0,
  started_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  heartbeat_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  finished_at TIMESTAMPTZ,
  undone_at TIMESTAMPTZ,
  evaluated_at TIMESTAMPTZ
);
COMMENT ON TABLE xp_imports IS 'One import of XP from another bot: resumable (rows_done) and undoable';
COMMENT ON COLUMN xp_imports.digest IS 'SHA-256 of the rows and options: the same import run again resumes this one';
COMMENT ON COLUMN xp_imports.heartbeat_at IS 'Written after every chunk: a running import silent for a minute has crashed (it may be resumed)';
-- One import at a time: two would race for the same members' imported amounts.
CREATE UNIQUE INDEX idx_xp_imports_one_running ON xp_imports ((true)) WHERE status = 'running';
COMMENT ON COLUMN xp_imports.evaluated_at IS 'When the bot evaluated achievements for the imported members (NULL: not yet)';

CREATE TABLE xp_import_entries (
  import_id TEXT NOT NULL,  -- xp_imports.id (imports are never deleted; no foreign key to check per row)
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  source_ref TEXT NOT NULL,
  amount INTEGER NOT NULL CHECK (amount >= 0),
  replaced_import TEXT,
  replaced_amount INTEGER NOT NULL DEFAULT 0 CHECK (replaced_amount >= 0),
  messages_added INTEGER NOT NULL DEFAULT 0 CHECK (messages_added >= 0),
  live BOOLEAN NOT NULL DEFAULT true,
  PRIMARY KEY (import_id, user_id)
);
COMMENT ON TABLE xp_import_entries IS 'What an import gave each member it named (its ledger row), and what it replaced';
COMMENT ON COLUMN xp_import_entries.replaced_amount IS 'The XP actually taken back from the import it replaced (never more than the member held)';
COMMENT ON COLUMN xp_import_entries.messages_added IS 'How much it raised the member''s message count (an undo lowers it again)';

-- Members erased at their request, by a hash of their Discord id: an import never brings them back.
CREATE TABLE erased_members (
  discord_hash TEXT PRIMARY KEY,
  erased_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
COMMENT ON TABLE erased_members IS 'SHA-256 of the Discord ids of erased members (imports skip them); the id itself is not kept';
CREATE UNIQUE INDEX idx_xp_import_entries_live ON xp_import_entries (user_id) WHERE live;

ALTER TABLE xp_imports ENABLE ROW LEVEL SECURITY;
ALTER TABLE xp_import_entries ENABLE ROW LEVEL SECURITY;
ALTER TABLE erased_members ENABLE ROW LEVEL SECURITY;
GRANT ALL ON xp_imports, xp_import_entries, erased_members TO service_role;
CREATE POLICY erased_members_service_all ON erased_members FOR ALL TO service_role USING (true) WITH CHECK (true);
CREATE POLICY xp_imports_service_all ON xp_imports FOR ALL TO service_role USING (true) WITH CHECK (true);
CREATE POLICY xp_import_entries_service_all ON xp_import_entries FOR ALL TO service_role USING (true) WITH CHECK (true);
REVOKE ALL ON xp_imports, xp_import_entries, erased_members FROM anon, authenticated;
