-- register_for_event as 030 defined it.
CREATE OR REPLACE FUNCTION public.register_for_event(p_event_id UUID)
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
