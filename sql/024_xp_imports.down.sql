-- Rollback of 024_xp_imports.sql. The ledger is append-only: imported rows (an undo adds rows too)
-- cannot be deleted, so a database that holds any is refused: they would lose their source.
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM xp_ledger WHERE source = 'import') THEN
    RAISE EXCEPTION 'the XP ledger holds imported rows (imports, or their undos): 024 cannot be rolled back without losing them';
  END IF;
END
$$;
DROP TABLE IF EXISTS erased_members;
DROP TABLE IF EXISTS xp_import_entries;
DROP TABLE IF EXISTS xp_imports;
ALTER TABLE xp_ledger DROP CONSTRAINT xp_ledger_source_check;
ALTER TABLE xp_ledger ADD CONSTRAINT xp_ledger_source_check
  CHECK (source IN ('message', 'voice', 'event', 'achievement', 'manual', 'reversal'));
