-- What the website may do with events and content, and what it may not read:
-- - A signed-in member registers for an event, leaves it and rates it through functions (supabase-js
--   .rpc), with the bot's own rules: the same eligibility (status, deadline, sanctions in force, level,
--   pathway, roles), the same capacity and waitlist, in the same order (the event's row is locked, as
--   the bot locks it). Capacity, the waitlist and the participants list have one implementation, the
--   event_* functions below, which the bot calls too (db/events.py).
-- - A member promoted from the waitlist by a website leave is told in their notifications (the bot
--   tells its own promotions by DM as well).
-- - anon and authenticated no longer read events.participants (who registered): the table's other
--   columns stay readable; active_events lists only participants in the server whose profile is
--   public (and the reader themself).
-- - Leaving a cancelled or finished event, or rating one not over yet, is refused as in Discord, and
--   a place freed in an event no longer to come promotes nobody.
-- - Published content that was soft-deleted (deleted_at set) is no longer public.
-- - increment_view_count() counts a view of published content for anyone (the guide's website call,
--   which failed: the API roles may not update content) without stamping updated_at or recomputing
--   the search vector (a view is not an edit); check_rate_limit() is the service role's
--   (anyone could spend another member's requests).

CREATE FUNCTION public.event_sync_participants(p_event_id UUID) RETURNS VOID
LANGUAGE sql AS $$
  UPDATE public.events e SET participants = reg.ids, current_participants = cardinality(reg.ids)
  FROM (SELECT COALESCE(array_agg(r.user_id ORDER BY r.registered_at, r.id), '{}') AS ids
        FROM public.event_registrations r
        WHERE r.event_id = p_event_id AND r.status IN ('registered', 'attended')) reg
  WHERE e.id = p_event_id
    AND (e.participants IS DISTINCT FROM reg.ids OR e.current_participants IS DISTINCT FROM cardinality(reg.ids));
$$;
COMMENT ON FUNCTION public.event_sync_participants(UUID) IS
  'events.participants and current_participants follow the registered set (registered and attended, in registration order)';

CREATE FUNCTION public.event_waitlist_position(p_event_id UUID, p_user_id TEXT) RETURNS INTEGER
LANGUAGE sql STABLE AS $$
  SELECT q.n::integer FROM (
    SELECT w.user_id, row_number() OVER (ORDER BY w.registered_at, w.id) AS n
    FROM public.event_registrations w WHERE w.event_id = p_event_id AND w.status = 'waitlisted') q
  WHERE q.user_id = p_user_id;
$$;
COMMENT ON FUNCTION public.event_waitlist_position(UUID, TEXT) IS 'A member''s place in an event''s waitlist (1 = next), or NULL';

CREATE FUNCTION public.event_fill_places(p_event_id UUID, p_capacity INTEGER)
RETURNS TABLE (promoted_user_id TEXT)
LANGUAGE plpgsql AS $$
DECLARE
  v_free INTEGER;
BEGIN
  IF p_capacity IS NOT NULL THEN
    SELECT GREATEST(0, p_capacity - count(*)) INTO v_free FROM public.event_registrations r
    WHERE r.event_id = p_event_id AND r.status IN ('registered', 'attended');
  END IF;
  RETURN QUERY
  WITH promoted AS (
    UPDATE public.event_registrations r SET status = 'registered'
    FROM (SELECT w.id FROM public.event_registrations w
          WHERE w.event_id = p_event_id AND w.status = 'waitlisted'
          ORDER BY w.registered_at, w.id LIMIT v_free) first
    WHERE r.id = first.id
    RETURNING r.user_id, r.registered_at, r.id)
  SELECT p.user_id FROM promoted p ORDER BY p.registered_at, p.id;
  PERFORM public.event_sync_participants(p_event_id);
END
$$;
COMMENT ON FUNCTION public.event_fill_places(UUID, INTEGER) IS
  'Promote the first waiting members into free places (a leave, a raised capacity); in a transaction that locked the event row';

CREATE FUNCTION public.event_register(p_event_id UUID, p_user_id TEXT, p_capacity INTEGER)
RETURNS TABLE (registration_status TEXT, waitlist_position INTEGER, changed BOOLEAN)
LANGUAGE plpgsql AS $$
DECLARE
  v_current TEXT;
  v_taken INTEGER;
  v_status TEXT;
BEGIN
  SELECT r.status INTO v_current FROM public.event_registrations r
  WHERE r.event_id = p_event_id AND r.user_id = p_user_id;
  IF v_current IN ('registered', 'attended', 'waitlisted') THEN
    RETURN QUERY SELECT v_current, public.event_waitlist_position(p_event_id, p_user_id), false;
    RETURN;
  END IF;
  SELECT count(*) INTO v_taken FROM public.event_registrations r
  WHERE r.event_id = p_event_id AND r.status IN ('registered', 'attended');
  v_status := CASE WHEN p_capacity IS NULL OR v_taken < p_capacity THEN 'registered' ELSE 'waitlisted' END;
  INSERT INTO public.event_registrations AS r (event_id, user_id, status, registered_at)
  VALUES (p_event_id, p_user_id, v_status, clock_timestamp())
  ON CONFLICT (event_id, user_id) DO UPDATE SET status = EXCLUDED.status, registered_at = clock_timestamp();
  PERFORM public.event_sync_participants(p_event_id);
  RETURN QUERY SELECT v_status, public.event_waitlist_position(p_event_id, p_user_id), true;
END
$$;
COMMENT ON FUNCTION public.event_register(UUID, TEXT, INTEGER) IS
  'Register a member, or put them on the waitlist when the event is full; in a transaction that locked the event row';

CREATE FUNCTION public.event_leave(p_event_id UUID, p_user_id TEXT, p_capacity INTEGER)
RETURNS TABLE (status_before TEXT, promoted_user_ids TEXT[])
LANGUAGE plpgsql AS $$
DECLARE
  v_before TEXT;
  v_promoted TEXT[] := '{}';
BEGIN
  UPDATE public.event_registrations r SET status = 'cancelled'
  FROM (SELECT o.status FROM public.event_registrations o
        WHERE o.event_id = p_event_id AND o.user_id = p_user_id FOR UPDATE) old
  WHERE r.event_id = p_event_id AND r.user_id = p_user_id AND old.status IN ('registered', 'waitlisted')
  RETURNING old.status INTO v_before;
  IF v_before = 'registered' AND EXISTS (
       SELECT 1 FROM public.events e
       WHERE e.id = p_event_id AND COALESCE(e.is_active, true) AND e.status IN ('upcoming', 'ongoing')) THEN
    SELECT COALESCE(array_agg(f.promoted_user_id), '{}') INTO v_promoted
    FROM public.event_fill_places(p_event_id, p_capacity) f;
  END IF;
  PERFORM public.event_sync_participants(p_event_id);
  RETURN QUERY SELECT v_before, v_promoted;
END
$$;
COMMENT ON FUNCTION public.event_leave(UUID, TEXT, INTEGER) IS
  'Cancel a member''s registration or place in the waitlist; a freed place goes to the first waiting while the event is to come or on. In a transaction that locked the event row';

REVOKE EXECUTE ON FUNCTION public.event_sync_participants(UUID), public.event_waitlist_position(UUID, TEXT),
  public.event_fill_places(UUID, INTEGER), public.event_register(UUID, TEXT, INTEGER),
  public.event_leave(UUID, TEXT, INTEGER) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.event_sync_participants(UUID), public.event_waitlist_position(UUID, TEXT),
  public.event_fill_places(UUID, INTEGER), public.event_register(UUID, TEXT, INTEGER),
  public.event_leave(UUID, TEXT, INTEGER) TO service_role;

-- The signed-in member's event (locked) or a refusal; drafts are their host's only.
CREATE FUNCTION public.website_event_for(p_event_id UUID, p_member TEXT) RETURNS public.events
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  e public.events;
BEGIN
  IF p_member IS NULL THEN
    RAISE EXCEPTION 'Sign in with Discord first.' USING ERRCODE = 'insufficient_privilege';
  END IF;
  SELECT * INTO e FROM public.events WHERE id = p_event_id FOR UPDATE;
  IF NOT FOUND OR (e.status = 'draft' AND e.host_id IS DISTINCT FROM p_member) THEN
    RAISE EXCEPTION 'There is no such event.' USING ERRCODE = 'no_data_found';
  END IF;
  RETURN e;
END
$$;
REVOKE EXECUTE ON FUNCTION public.website_event_for(UUID, TEXT) FROM PUBLIC;

CREATE FUNCTION public.register_for_event(p_event_id UUID)
RETURNS TABLE (registration_status TEXT, waitlist_position INTEGER)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  v_member TEXT := public.current_member_id();
  e public.events;
  u RECORD;
  v_sanction TEXT;
BEGIN
  e := public.website_event_for(p_event_id, v_member);
  IF e.status = 'cancelled' OR NOT COALESCE(e.is_active, true) THEN
    RAISE EXCEPTION 'This event was cancelled.';
  END IF;
  IF e.status IN ('completed', 'draft') OR (e.status = 'ongoing' AND e.start_date <= now()) THEN
    RAISE EXCEPTION 'Registration for this event is closed.';
  END IF;
  IF e.registration_deadline IS NOT NULL AND now() > e.registration_deadline THEN
    RAISE EXCEPTION 'The registration deadline has passed.';
  END IF;
  SELECT m.discord_id, COALESCE(m.in_server, false) AS in_server, COALESCE(m.roles, '{}') AS roles,
         COALESCE(m.pathways, '[]'::jsonb) AS pathways, COALESCE(p.level, 1) AS level
    INTO u FROM public.users m LEFT JOIN public.user_profiles p ON p.user_id = m.id WHERE m.id = v_member;
  IF NOT u.in_server THEN
    RAISE EXCEPTION 'Join the Discord server to register for its events.';
  END IF;
  SELECT s.kind INTO v_sanction FROM public.moderation_sanctions s
  WHERE s.target_discord_id = u.discord_id AND s.status = 'active'
  ORDER BY array_position(ARRAY['ban', 'timeout', 'mute'], s.kind) LIMIT 1;
  IF v_sanction IS NOT NULL THEN
    RAISE EXCEPTION 'You can''t register while a % is in force.', v_sanction;
  END IF;
  IF u.level < COALESCE(e.min_level, 0) THEN
    RAISE EXCEPTION 'This event needs level %; you are level %.', e.min_level, u.level;
  END IF;
  IF e.required_pathway IS NOT NULL AND e.required_pathway <> '' AND NOT u.pathways ? e.required_pathway THEN
    RAISE EXCEPTION 'This event is for members of the % pathway (/pathway join).', e.required_pathway;
  END IF;
  IF EXISTS (SELECT 1 FROM jsonb_array_elements_text(COALESCE(e.required_roles, '[]'::jsonb)) r(id)
             WHERE NOT r.id = ANY (u.roles)) THEN
    RAISE EXCEPTION 'This event needs a role you do not hold in the Discord server.';
  END IF;
  RETURN QUERY SELECT r.registration_status, r.waitlist_position
    FROM public.event_register(p_event_id, v_member, e.max_participants) r;
END
$$;
COMMENT ON FUNCTION public.register_for_event(UUID) IS
  'The signed-in member registers for an event (or joins its waitlist), with the bot''s rules; a refusal is an error saying why';

CREATE FUNCTION public.leave_event(p_event_id UUID) RETURNS TEXT
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  v_member TEXT := public.current_member_id();
  e public.events;
  v_before TEXT;
  v_promoted TEXT[];
BEGIN
  e := public.website_event_for(p_event_id, v_member);
  IF e.status = 'cancelled' OR NOT COALESCE(e.is_active, true) THEN
    RAISE EXCEPTION 'This event was cancelled.';
  END IF;
  IF e.status = 'completed' THEN
    RAISE EXCEPTION 'This event is over.';
  END IF;
  SELECT l.status_before, l.promoted_user_ids INTO v_before, v_promoted
    FROM public.event_leave(p_event_id, v_member, e.max_participants) l;
  INSERT INTO public.notifications (user_id, title, message, type, metadata)
  SELECT p, left('You''re in: ' || e.title, 200),
         'A place opened and you were next on the waitlist: you are registered.', 'success',
         jsonb_build_object('source', 'events', 'event_id', e.id)
    FROM unnest(v_promoted) p;
  RETURN v_before;
END
$$;
COMMENT ON FUNCTION public.leave_event(UUID) IS
  'The signed-in member leaves an event or its waitlist; their status before (NULL: they were not on it). Whoever a freed place goes to is notified';

CREATE FUNCTION public.rate_event(p_event_id UUID, p_rating INTEGER, p_comments TEXT DEFAULT NULL) RETURNS VOID
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  v_member TEXT := public.current_member_id();
  v_status TEXT;
BEGIN
  IF (public.website_event_for(p_event_id, v_member)).status IS DISTINCT FROM 'completed' THEN
    RAISE EXCEPTION 'Ratings open once the event is over.';
  END IF;
  IF p_rating IS NULL OR p_rating NOT BETWEEN 1 AND 5 THEN
    RAISE EXCEPTION 'A rating is 1 to 5.' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF length(p_comments) > 1000 THEN
    RAISE EXCEPTION 'Comments are at most 1,000 characters.' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  SELECT r.status INTO v_status FROM public.event_registrations r
  WHERE r.event_id = p_event_id AND r.user_id = v_member FOR UPDATE;
  IF v_status IS DISTINCT FROM 'attended' THEN
    RAISE EXCEPTION 'Only those who attended an event rate it.';
  END IF;
  UPDATE public.event_registrations r SET rating = p_rating,
         feedback = COALESCE(r.feedback, '{}'::jsonb) || jsonb_build_object('comments', NULLIF(btrim(p_comments), ''))
  WHERE r.event_id = p_event_id AND r.user_id = v_member;
END
$$;
COMMENT ON FUNCTION public.rate_event(UUID, INTEGER, TEXT) IS
  'The signed-in member rates an event they attended, once it is over (1-5), with optional comments (at most 1,000 characters)';

REVOKE EXECUTE ON FUNCTION public.register_for_event(UUID), public.leave_event(UUID),
  public.rate_event(UUID, INTEGER, TEXT) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.register_for_event(UUID), public.leave_event(UUID),
  public.rate_event(UUID, INTEGER, TEXT) TO authenticated, service_role;

-- Who registered is not public: every column of events but participants stays readable.
REVOKE SELECT ON events FROM anon, authenticated;
DO $$
DECLARE
  v_columns TEXT;
BEGIN
  SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO v_columns
  FROM pg_attribute a
  WHERE a.attrelid = 'public.events'::regclass AND a.attnum > 0 AND NOT a.attisdropped AND a.attname <> 'participants';
  EXECUTE format('GRANT SELECT (%s) ON public.events TO anon, authenticated', v_columns);
END
$$;

CREATE OR REPLACE VIEW active_events WITH (security_barrier) AS
SELECT
  e.id, e.discord_event_id, e.title, e.description, e.type, e.pathway, e.start_date, e.end_date, e.timezone,
  e.recurring, e.recurrence_pattern, e.location_type, e.voice_channel_id, e.stream_url, e.meeting_link,
  e.max_participants, e.current_participants,
  ARRAY(SELECT p FROM unnest(e.participants) WITH ORDINALITY AS t(p, n)
        WHERE p = (SELECT public.current_member_id())
           OR EXISTS (SELECT 1 FROM public.users u JOIN public.user_profiles up ON up.user_id = u.id
                      WHERE u.id = t.p AND u.in_server AND public.profile_is_public(up.preferences))
        ORDER BY t.n) AS participants,
  e.registration_required, e.registration_deadline, e.host, e.host_id, e.co_hosts, e.requirements,
  e.required_roles, e.required_pathway, e.min_level, e.banner_image, e.thumbnail, e.attachments, e.rewards,
  e.status, e.is_active, e.cancelled_reason, e.created_at, e.updated_at,
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
  'Listed (not draft) active events with participant count and a status computed from the clock, read with the owner''s rights; participants lists only current members with a public profile (and the reader)';

DROP POLICY content_select_published ON content;
CREATE POLICY content_select_published ON content
  FOR SELECT
  USING ((status = 'published' AND deleted_at IS NULL) OR author_id = (SELECT public.current_member_id()));

CREATE OR REPLACE FUNCTION increment_view_count(content_id UUID)
RETURNS VOID
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
  UPDATE public.content SET view_count = view_count + 1
  WHERE id = increment_view_count.content_id AND status = 'published' AND deleted_at IS NULL;
$$;
COMMENT ON FUNCTION increment_view_count(UUID) IS 'Count one view of a published content item (anyone may: the website counts its readers)';
REVOKE EXECUTE ON FUNCTION increment_view_count(UUID) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION increment_view_count(UUID) TO anon, authenticated, service_role;

-- A view is not an edit: counting one neither stamps updated_at nor recomputes the search vector.
DROP TRIGGER update_content_updated_at ON content;
CREATE TRIGGER update_content_updated_at BEFORE UPDATE ON content
  FOR EACH ROW WHEN ((to_jsonb(OLD) - 'view_count') IS DISTINCT FROM (to_jsonb(NEW) - 'view_count'))
  EXECUTE FUNCTION update_updated_at_column();
DROP TRIGGER content_search_update ON content;
CREATE TRIGGER content_search_update BEFORE INSERT OR UPDATE OF title, body ON content
  FOR EACH ROW EXECUTE FUNCTION tsvector_update_trigger(search_vector, 'pg_catalog.english', title, body);

REVOKE EXECUTE ON FUNCTION check_rate_limit(TEXT, INTEGER, INTEGER) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION check_rate_limit(TEXT, INTEGER, INTEGER) TO service_role;
