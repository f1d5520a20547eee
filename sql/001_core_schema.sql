-- The guide's tables, with design.md's fixes: TIMESTAMPTZ, gen_random_uuid(), TEXT host_id,
-- activity_score kept by the database, and a staff_roles table instead of hard-coded role ids.

CREATE TABLE users (
  id TEXT PRIMARY KEY DEFAULT ('user_' || gen_random_uuid()::text),
  discord_id TEXT UNIQUE NOT NULL,
  username TEXT NOT NULL,
  discriminator TEXT DEFAULT '0',
  global_name TEXT,
  avatar TEXT,
  avatar_url TEXT,
  banner TEXT,
  banner_url TEXT,
  email TEXT,
  nickname TEXT,
  roles TEXT[] DEFAULT '{}',
  permissions JSONB DEFAULT '{}'::jsonb,
  in_server BOOLEAN DEFAULT false,
  server_booster BOOLEAN DEFAULT false,
  boost_since TIMESTAMPTZ,
  joined_at TIMESTAMPTZ DEFAULT NOW(),
  pathways JSONB DEFAULT '[]'::jsonb,
  primary_pathway TEXT CHECK (primary_pathway IN ('gaming', 'lorebound', 'productive', 'news') OR primary_pathway IS NULL),
  pathway_join_dates JSONB DEFAULT '{}'::jsonb,
  is_verified BOOLEAN DEFAULT false,
  is_banned BOOLEAN DEFAULT false,
  ban_reason TEXT,
  created_at TIMESTAMPTZ DEFAULT NOW(),
  updated_at TIMESTAMPTZ DEFAULT NOW(),
  last_seen TIMESTAMPTZ DEFAULT NOW()
);
COMMENT ON TABLE users IS 'Discord user data and server membership; one row per Discord account the community has seen';
COMMENT ON COLUMN users.id IS 'Primary key: ''user_'' followed by a random UUID';
COMMENT ON COLUMN users.discord_id IS 'Discord user ID (snowflake, as text)';
COMMENT ON COLUMN users.discriminator IS 'Legacy Discord discriminator; ''0'' for accounts on unique usernames';
COMMENT ON COLUMN users.global_name IS 'Discord display name, distinct from the unique username';
COMMENT ON COLUMN users.roles IS 'Array of Discord role IDs the member holds in the guild';
COMMENT ON COLUMN users.permissions IS 'Permission object mirrored from Discord';
COMMENT ON COLUMN users.in_server IS 'True while the account is a member of the guild';
COMMENT ON COLUMN users.pathways IS 'JSON array of pathway ids the member has joined';
COMMENT ON COLUMN users.primary_pathway IS 'The member''s main pathway (the first joined unless changed)';
COMMENT ON COLUMN users.pathway_join_dates IS 'JSON object: pathway id -> ISO timestamp of joining';
COMMENT ON COLUMN users.last_seen IS 'Last time the bot saw the member active';

CREATE TABLE user_profiles (
  user_id TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
  display_name TEXT,
  bio TEXT,
  banner TEXT,
  total_xp INTEGER DEFAULT 0 CHECK (total_xp >= 0),
  level INTEGER DEFAULT 1 CHECK (level >= 1),
  message_count INTEGER DEFAULT 0 CHECK (message_count >= 0),
  voice_minutes INTEGER DEFAULT 0 CHECK (voice_minutes >= 0),
  events_attended INTEGER DEFAULT 0 CHECK (events_attended >= 0),
  tournaments_won INTEGER DEFAULT 0 CHECK (tournaments_won >= 0),
  activity_score INTEGER GENERATED ALWAYS AS (
    COALESCE(message_count, 0) + 2 * COALESCE(voice_minutes, 0)
    + 10 * COALESCE(events_attended, 0) + 50 * COALESCE(tournaments_won, 0)
  ) STORED CHECK (activity_score >= 0),
  achievements JSONB DEFAULT '[]'::jsonb,
  badges JSONB DEFAULT '[]'::jsonb,
  last_active TIMESTAMPTZ DEFAULT NOW(),
  preferences JSONB DEFAULT '{
    "particlesEnabled": true,
    "soundsEnabled": true,
    "animationsEnabled": true,
    "theme": "default",
    "notifications": true,
    "public_profile": true,
    "show_activity": true,
    "allow_dms": true
  }'::jsonb,
  created_at TIMESTAMPTZ DEFAULT NOW(),
  updated_at TIMESTAMPTZ DEFAULT NOW()
);
COMMENT ON TABLE user_profiles IS 'Extended member information, lifetime stats and preferences; created with each user';
COMMENT ON COLUMN user_profiles.total_xp IS 'Lifetime global XP across all sources';
COMMENT ON COLUMN user_profiles.level IS 'Global level: floor(sqrt(total_xp / 100)) + 1';
COMMENT ON COLUMN user_profiles.activity_score IS 'Always message_count + 2*voice_minutes + 10*events_attended + 50*tournaments_won (generated)';
COMMENT ON COLUMN user_profiles.achievements IS 'JSON array of earned achievement ids';
COMMENT ON COLUMN user_profiles.badges IS 'JSON array of badge ids';
COMMENT ON COLUMN user_profiles.preferences IS 'Member settings; public_profile=false hides the profile from other members on the website';

CREATE TABLE pathway_progress (
  id SERIAL PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  pathway_id TEXT NOT NULL CHECK (pathway_id IN ('gaming', 'lorebound', 'productive', 'news')),
  level INTEGER DEFAULT 1 CHECK (level >= 1),
  xp INTEGER DEFAULT 0 CHECK (xp >= 0),
  total_xp INTEGER DEFAULT 0 CHECK (total_xp >= 0),
  next_level_xp INTEGER DEFAULT 100 CHECK (next_level_xp > 0),
  current_rank TEXT DEFAULT 'Initiate',
  tasks_completed INTEGER DEFAULT 0 CHECK (tasks_completed >= 0),
  events_attended INTEGER DEFAULT 0 CHECK (events_attended >= 0),
  contributions INTEGER DEFAULT 0 CHECK (contributions >= 0),
  streak_days INTEGER DEFAULT 0 CHECK (streak_days >= 0),
  achievements TEXT[] DEFAULT '{}',
  unlocked_content JSONB DEFAULT '[]'::jsonb,
  completed_challenges JSONB DEFAULT '[]'::jsonb,
  earned_titles JSONB DEFAULT '[]'::jsonb,
  pathway_data JSONB DEFAULT '{}'::jsonb,
  custom_data JSONB DEFAULT '{}'::jsonb,
  joined_at TIMESTAMPTZ DEFAULT NOW(),
  last_active TIMESTAMPTZ DEFAULT NOW(),
  created_at TIMESTAMPTZ DEFAULT NOW(),
  updated_at TIMESTAMPTZ DEFAULT NOW(),
  UNIQUE (user_id, pathway_id)
);
COMMENT ON TABLE pathway_progress IS 'A member''s progress in one of the four pathways (gaming, lorebound, productive, news)';
COMMENT ON COLUMN pathway_progress.xp IS 'XP earned inside the current level: total_xp - (level-1)^2*100';
COMMENT ON COLUMN pathway_progress.total_xp IS 'Lifetime XP earned in this pathway';
COMMENT ON COLUMN pathway_progress.next_level_xp IS 'Total XP at which the next level starts: level^2*100';
COMMENT ON COLUMN pathway_progress.current_rank IS 'Rank title for the pathway level (Initiate .. Grand Master)';
COMMENT ON COLUMN pathway_progress.streak_days IS 'Consecutive days with XP in this pathway';

CREATE TABLE content (
  id UUID DEFAULT gen_random_uuid() PRIMARY KEY,
  type TEXT NOT NULL CHECK (type IN ('article', 'guide', 'review', 'news', 'resource', 'announcement')),
  pathway TEXT CHECK (pathway IN ('gaming', 'lorebound', 'productive', 'news') OR pathway IS NULL),
  title TEXT NOT NULL,
  slug TEXT UNIQUE NOT NULL,
  excerpt TEXT,
  body TEXT NOT NULL,
  content TEXT,
  featured_image TEXT,
  images JSONB DEFAULT '[]'::jsonb,
  tags TEXT[] DEFAULT '{}',
  author_id TEXT REFERENCES users(id),
  author_name TEXT,
  author_role TEXT,
  reviewed_by TEXT REFERENCES users(id) ON DELETE SET NULL,
  review_notes TEXT,
  status TEXT DEFAULT 'draft' CHECK (status IN ('draft', 'pending', 'review', 'approved', 'published', 'rejected', 'archived')),
  visibility TEXT DEFAULT 'public' CHECK (visibility IN ('public', 'members', 'pathway', 'roles')),
  required_roles JSONB DEFAULT '[]'::jsonb,
  featured BOOLEAN DEFAULT false,
  pinned BOOLEAN DEFAULT false,
  view_count INTEGER DEFAULT 0 CHECK (view_count >= 0),
  like_count INTEGER DEFAULT 0 CHECK (like_count >= 0),
  comment_count INTEGER DEFAULT 0 CHECK (comment_count >= 0),
  share_count INTEGER DEFAULT 0 CHECK (share_count >= 0),
  meta_title TEXT,
  meta_description TEXT,
  meta_keywords TEXT[],
  metadata JSONB DEFAULT '{}'::jsonb,
  published_at TIMESTAMPTZ,
  scheduled_for TIMESTAMPTZ,
  expires_at TIMESTAMPTZ,
  created_at TIMESTAMPTZ DEFAULT NOW(),
  updated_at TIMESTAMPTZ DEFAULT NOW()
);
COMMENT ON TABLE content IS 'Unified CMS for articles, guides, reviews, news, resources and announcements';
COMMENT ON COLUMN content.body IS 'Main content (Markdown or HTML)';
COMMENT ON COLUMN content.content IS 'Alternative content field kept for the website';
COMMENT ON COLUMN content.visibility IS 'public, members (guild members), pathway (members of content.pathway) or roles (required_roles)';
COMMENT ON COLUMN content.required_roles IS 'JSON array of Discord role ids needed when visibility = roles';
COMMENT ON COLUMN content.scheduled_for IS 'When a scheduled piece is to be published';

CREATE TABLE events (
  id UUID DEFAULT gen_random_uuid() PRIMARY KEY,
  discord_event_id TEXT,
  title TEXT NOT NULL,
  description TEXT,
  type TEXT NOT NULL,
  pathway TEXT CHECK (pathway IN ('gaming', 'lorebound', 'productive', 'news') OR pathway IS NULL),
  start_date TIMESTAMPTZ NOT NULL,
  end_date TIMESTAMPTZ,
  timezone TEXT DEFAULT 'UTC',
  recurring BOOLEAN DEFAULT false,
  recurrence_pattern JSONB,
  location_type TEXT DEFAULT 'discord' CHECK (location_type IN ('discord', 'online', 'hybrid')),
  voice_channel_id TEXT,
  stream_url TEXT,
  meeting_link TEXT,
  max_participants INTEGER CHECK (max_participants > 0 OR max_participants IS NULL),
  current_participants INTEGER DEFAULT 0 CHECK (current_participants >= 0),
  participants TEXT[] DEFAULT '{}',
  registration_required BOOLEAN DEFAULT false,
  registration_deadline TIMESTAMPTZ,
  host TEXT,
  host_id TEXT REFERENCES users(id),
  co_hosts JSONB DEFAULT '[]'::jsonb,
  requirements TEXT[] DEFAULT '{}',
  required_roles JSONB DEFAULT '[]'::jsonb,
  required_pathway TEXT,
  min_level INTEGER DEFAULT 0,
  banner_image TEXT,
  thumbnail TEXT,
  attachments JSONB DEFAULT '[]'::jsonb,
  rewards JSONB DEFAULT '{"xp":0,"badges":[]}'::jsonb,
  status TEXT DEFAULT 'upcoming' CHECK (status IN ('draft', 'upcoming', 'ongoing', 'completed', 'cancelled')),
  is_active BOOLEAN DEFAULT true,
  cancelled_reason TEXT,
  created_at TIMESTAMPTZ DEFAULT NOW(),
  updated_at TIMESTAMPTZ DEFAULT NOW(),
  CHECK (end_date IS NULL OR end_date > start_date)
);
COMMENT ON TABLE events IS 'Community events, tournaments and activities';
COMMENT ON COLUMN events.discord_event_id IS 'Id of the matching Discord guild scheduled event, if any';
COMMENT ON COLUMN events.recurrence_pattern IS 'JSON: {frequency, interval, days, end_date}';
COMMENT ON COLUMN events.participants IS 'User ids of registered participants (denormalised from event_registrations)';
COMMENT ON COLUMN events.host_id IS 'Hosting member (users.id; TEXT, unlike the guide''s UUID, so it can reference users)';
COMMENT ON COLUMN events.rewards IS 'JSON: {xp, badges, roles, custom}';
COMMENT ON COLUMN events.min_level IS 'Minimum global level needed to register';

CREATE TABLE event_registrations (
  id UUID DEFAULT gen_random_uuid() PRIMARY KEY,
  event_id UUID NOT NULL REFERENCES events(id) ON DELETE CASCADE,
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  status TEXT DEFAULT 'registered' CHECK (status IN ('registered', 'attended', 'no-show', 'cancelled')),
  registered_at TIMESTAMPTZ DEFAULT NOW(),
  attended_at TIMESTAMPTZ,
  feedback JSONB,
  rating INTEGER CHECK (rating >= 1 AND rating <= 5),
  UNIQUE (event_id, user_id)
);
COMMENT ON TABLE event_registrations IS 'Sign-ups, attendance and feedback per event and member';
COMMENT ON COLUMN event_registrations.feedback IS 'JSON: {enjoyed, difficulty, comments, suggestions}';

CREATE TABLE achievements (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  description TEXT,
  pathway TEXT CHECK (pathway IN ('gaming', 'lorebound', 'productive', 'news') OR pathway IS NULL),
  category TEXT CHECK (category IN ('milestone', 'special', 'seasonal', 'pathway', 'community')),
  icon TEXT,
  icon_url TEXT,
  badge_url TEXT,
  color TEXT,
  xp INTEGER DEFAULT 0 CHECK (xp >= 0),
  rarity TEXT DEFAULT 'common' CHECK (rarity IN ('common', 'uncommon', 'rare', 'epic', 'legendary', 'mythic')),
  requirements JSONB DEFAULT '{}'::jsonb,
  points INTEGER DEFAULT 10 CHECK (points >= 0),
  hidden BOOLEAN DEFAULT false,
  is_active BOOLEAN DEFAULT true,
  total_earned INTEGER DEFAULT 0 CHECK (total_earned >= 0),
  first_earned_by TEXT REFERENCES users(id),
  first_earned_at TIMESTAMPTZ,
  created_at TIMESTAMPTZ DEFAULT NOW()
);
COMMENT ON TABLE achievements IS 'Every achievement and badge a member can earn';
COMMENT ON COLUMN achievements.xp IS 'XP granted once, when the achievement is first earned';
COMMENT ON COLUMN achievements.requirements IS 'JSON: {type, amount, pathway?, conditions?: {level?, events_attended?, ...}}';
COMMENT ON COLUMN achievements.total_earned IS 'How many members have earned it (kept by award_achievement)';
COMMENT ON COLUMN achievements.hidden IS 'Secret achievement: not listed until earned';

CREATE TABLE user_achievements (
  id SERIAL PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  achievement_id TEXT NOT NULL REFERENCES achievements(id) ON DELETE CASCADE,
  earned_at TIMESTAMPTZ DEFAULT NOW(),
  progress INTEGER DEFAULT 100 CHECK (progress >= 0 AND progress <= 100),
  showcased BOOLEAN DEFAULT false,
  UNIQUE (user_id, achievement_id)
);
COMMENT ON TABLE user_achievements IS 'Achievements earned (progress = 100) or in progress (< 100) per member';
COMMENT ON COLUMN user_achievements.progress IS 'Percent complete; 100 means earned';
COMMENT ON COLUMN user_achievements.showcased IS 'Shown on the member''s profile';

CREATE TABLE notifications (
  id SERIAL PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  title TEXT NOT NULL,
  message TEXT,
  type TEXT DEFAULT 'info' CHECK (type IN ('info', 'success', 'warning', 'error', 'gaming', 'lorebound', 'productive', 'news')),
  read BOOLEAN DEFAULT false,
  action_url TEXT,
  metadata JSONB DEFAULT '{}'::jsonb,
  created_at TIMESTAMPTZ DEFAULT NOW(),
  expires_at TIMESTAMPTZ
);
COMMENT ON TABLE notifications IS 'Notifications shown to a member on the website';
COMMENT ON COLUMN notifications.metadata IS 'JSON: {source, event_id, priority, icon, ...}';
COMMENT ON COLUMN notifications.expires_at IS 'Removed by cleanup_expired_notifications() after this time';

CREATE TABLE server_stats (
  id INTEGER PRIMARY KEY DEFAULT 1,
  member_count INTEGER DEFAULT 0 CHECK (member_count >= 0),
  online_count INTEGER DEFAULT 0 CHECK (online_count >= 0),
  boost_level INTEGER DEFAULT 0 CHECK (boost_level >= 0),
  boost_count INTEGER DEFAULT 0 CHECK (boost_count >= 0),
  pathway_stats JSONB DEFAULT '{"gaming":0,"lorebound":0,"productive":0,"news":0}'::jsonb,
  updated_at TIMESTAMPTZ DEFAULT NOW(),
  CHECK (id = 1)
);
COMMENT ON TABLE server_stats IS 'Cached Discord server statistics (singleton: the one row has id 1)';
COMMENT ON COLUMN server_stats.pathway_stats IS 'JSON: pathway id -> member count';

CREATE TABLE moderation_logs (
  id SERIAL PRIMARY KEY,
  moderator_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  target_user_id TEXT REFERENCES users(id) ON DELETE SET NULL,
  action TEXT NOT NULL CHECK (action IN ('warn', 'mute', 'kick', 'ban', 'unban', 'timeout', 'note')),
  reason TEXT,
  duration INTEGER,
  metadata JSONB DEFAULT '{}'::jsonb,
  created_at TIMESTAMPTZ DEFAULT NOW()
);
COMMENT ON TABLE moderation_logs IS 'Audit trail of staff moderation actions';
COMMENT ON COLUMN moderation_logs.duration IS 'Length of a temporary action, in minutes';
COMMENT ON COLUMN moderation_logs.metadata IS 'JSON: {message_id, channel_id, evidence, appeal_status, ...}';

CREATE TABLE analytics (
  id UUID DEFAULT gen_random_uuid() PRIMARY KEY,
  user_id TEXT REFERENCES users(id) ON DELETE SET NULL,
  session_id TEXT,
  event_type TEXT NOT NULL,
  event_category TEXT,
  event_action TEXT,
  event_label TEXT,
  event_value NUMERIC,
  page_path TEXT,
  page_title TEXT,
  referrer TEXT,
  pathway TEXT,
  user_agent TEXT,
  ip_address INET,
  country CHAR(2),
  device_type TEXT,
  browser TEXT,
  os TEXT,
  screen_resolution TEXT,
  timestamp TIMESTAMPTZ DEFAULT NOW()
);
COMMENT ON TABLE analytics IS 'Website and bot analytics events (page_view, pathway_join, achievement_earned, ...)';
COMMENT ON COLUMN analytics.event_type IS 'page_view, click, form_submit, video_play, download, search, pathway_join, achievement_earned, ...';
COMMENT ON COLUMN analytics.country IS 'ISO 3166-1 alpha-2 country code';

CREATE TABLE discord_sync_log (
  id UUID DEFAULT gen_random_uuid() PRIMARY KEY,
  sync_type TEXT NOT NULL CHECK (sync_type IN ('members', 'roles', 'stats', 'events')),
  status TEXT NOT NULL CHECK (status IN ('started', 'completed', 'failed')),
  members_synced INTEGER DEFAULT 0,
  roles_synced INTEGER DEFAULT 0,
  events_synced INTEGER DEFAULT 0,
  started_at TIMESTAMPTZ DEFAULT NOW(),
  completed_at TIMESTAMPTZ,
  error_message TEXT,
  details JSONB DEFAULT '{}'::jsonb
);
COMMENT ON TABLE discord_sync_log IS 'Audit trail of Discord synchronisation runs';
COMMENT ON COLUMN discord_sync_log.details IS 'JSON: {total_processed, new_members, updated_members, errors, duration_ms}';

CREATE TABLE admin_logs (
  id UUID DEFAULT gen_random_uuid() PRIMARY KEY,
  admin_id TEXT REFERENCES users(id) ON DELETE SET NULL,
  action TEXT NOT NULL,
  target_type TEXT CHECK (target_type IN ('user', 'content', 'event', 'setting', 'achievement')),
  target_id TEXT,
  previous_value JSONB,
  new_value JSONB,
  reason TEXT,
  ip_address INET,
  user_agent TEXT,
  created_at TIMESTAMPTZ DEFAULT NOW()
);
COMMENT ON TABLE admin_logs IS 'Audit trail of administrative changes, with the value before and after';
COMMENT ON COLUMN admin_logs.action IS 'user_update, content_publish, event_create, setting_change, achievement_add, xp_give, ...';

CREATE TABLE staff_roles (
  role_id TEXT PRIMARY KEY,
  name TEXT
);
COMMENT ON TABLE staff_roles IS 'Discord role ids that count as staff for is_staff(); filled by the bot from configuration';
