-- Rollback of 030_website_events.sql: the website's event functions go, events, active_events,
-- content's policy, increment_view_count() and check_rate_limit() are as 029 left them. The bot's
-- db/events.py of before does what the event_* functions did itself.

DROP TRIGGER content_search_update ON content;
CREATE TRIGGER content_search_update
  BEFORE INSERT OR UPDATE ON content
  FOR EACH ROW EXECUTE FUNCTION tsvector_update_trigger(search_vector, 'pg_catalog.english', title, body);
DROP TRIGGER update_content_updated_at ON content;
CREATE TRIGGER update_content_updated_at BEFORE UPDATE ON content
  FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();

REVOKE EXECUTE ON FUNCTION check_rate_limit(TEXT, INTEGER, INTEGER) FROM service_role;
GRANT EXECUTE ON FUNCTION check_rate_limit(TEXT, INTEGER, INTEGER) TO PUBLIC;

REVOKE EXECUTE ON FUNCTION increment_view_count(UUID) FROM anon, authenticated, service_role;
GRANT EXECUTE ON FUNCTION increment_view_count(UUID) TO PUBLIC;
CREATE OR REPLACE FUNCTION increment_view_count(content_id UUID)
RETURNS VOID
LANGUAGE sql SECURITY INVOKER AS $$
  UPDATE content SET view_count = view_count + 1 WHERE id = increment_view_count.content_id
$$;
ALTER FUNCTION increment_view_count(UUID) RESET search_path;
COMMENT ON FUNCTION increment_view_count(UUID) IS 'Count one view of a content item';

DROP POLICY content_select_published ON content;
CREATE POLICY content_select_published ON content
  FOR SELECT
  USING (status = 'published' OR author_id = (SELECT public.current_member_id()));

CREATE OR REPLACE VIEW active_events WITH (security_barrier) AS
SELECT
  e.*,
  CARDINALITY(e.participants) AS participant_count,
  CASE
    WHEN e.start_date > NOW() THEN 'upcoming'
    WHEN e.end_date IS NULL OR e.end_date > NOW() THEN 'ongoing'
    ELSE 'completed'
  END AS computed_status
FROM events e
WHERE e.is_active = true AND e.status <> 'draft'
ORDER BY e.start_date;
COMMENT ON VIEW active_events IS
  'Listed (not draft) active events with participant count and a status computed from the clock, read with the owner''s rights';

DO $$
DECLARE
  v_columns TEXT;
BEGIN
  SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO v_columns
  FROM pg_attribute a
  WHERE a.attrelid = 'public.events'::regclass AND a.attnum > 0 AND NOT a.attisdropped AND a.attname <> 'participants';
  EXECUTE format('REVOKE SELECT (%s) ON public.events FROM anon, authenticated', v_columns);
END
$$;
GRANT SELECT ON events TO anon, authenticated;

DROP FUNCTION public.rate_event(UUID, INTEGER, TEXT);
DROP FUNCTION public.leave_event(UUID);
DROP FUNCTION public.register_for_event(UUID);
DROP FUNCTION public.website_event_for(UUID, TEXT);
DROP FUNCTION public.event_leave(UUID, TEXT, INTEGER);
DROP FUNCTION public.event_register(UUID, TEXT, INTEGER);
DROP FUNCTION public.event_fill_places(UUID, INTEGER);
DROP FUNCTION public.event_waitlist_position(UUID, TEXT);
DROP FUNCTION public.event_sync_participants(UUID);
