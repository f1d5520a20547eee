-- Every index the guide names. idx_users_discord_id duplicates the UNIQUE constraint's index in
-- the guide; it is kept so the catalog carries the name the website's queries are written against.

CREATE INDEX idx_users_discord_id ON users (discord_id);
CREATE INDEX idx_users_username ON users (username);
CREATE INDEX idx_users_in_server ON users (in_server);
CREATE INDEX idx_users_pathways ON users USING GIN (pathways);
CREATE INDEX idx_users_roles ON users USING GIN (roles);

CREATE INDEX idx_user_profiles_user_id ON user_profiles (user_id);
CREATE INDEX idx_user_profiles_level ON user_profiles (level DESC);
CREATE INDEX idx_user_profiles_total_xp ON user_profiles (total_xp DESC);
CREATE INDEX idx_user_profiles_last_active ON user_profiles (last_active DESC);
CREATE INDEX idx_user_profiles_activity_score ON user_profiles (activity_score DESC);
CREATE INDEX idx_user_profiles_level_xp ON user_profiles (level DESC, total_xp DESC);

CREATE INDEX idx_pathway_progress_user_id ON pathway_progress (user_id);
CREATE INDEX idx_pathway_progress_pathway_id ON pathway_progress (pathway_id);
CREATE INDEX idx_pathway_progress_level ON pathway_progress (pathway_id, level DESC);
CREATE INDEX idx_pathway_progress_xp ON pathway_progress (pathway_id, xp DESC);
CREATE INDEX idx_pathway_progress_total_xp ON pathway_progress (pathway_id, total_xp DESC);
CREATE INDEX idx_pathway_progress_last_active ON pathway_progress (last_active DESC);

CREATE INDEX idx_content_type ON content (type);
CREATE INDEX idx_content_pathway ON content (pathway);
CREATE INDEX idx_content_status ON content (status);
CREATE INDEX idx_content_slug ON content (slug);
CREATE INDEX idx_content_author_id ON content (author_id);
CREATE INDEX idx_content_published_at ON content (published_at DESC);

CREATE INDEX idx_events_pathway ON events (pathway);
CREATE INDEX idx_events_start_date ON events (start_date);
CREATE INDEX idx_events_status ON events (status);
CREATE INDEX idx_events_active ON events (is_active);
CREATE INDEX idx_events_type ON events (type);
CREATE INDEX idx_events_host_id ON events (host_id);
CREATE INDEX idx_events_pathway_start ON events (pathway, start_date DESC) WHERE is_active = true;

CREATE INDEX idx_event_registrations_event_id ON event_registrations (event_id);
CREATE INDEX idx_event_registrations_user_id ON event_registrations (user_id);
CREATE INDEX idx_event_registrations_status ON event_registrations (status);

CREATE INDEX idx_achievements_pathway ON achievements (pathway);
CREATE INDEX idx_achievements_rarity ON achievements (rarity);
CREATE INDEX idx_achievements_category ON achievements (category);
CREATE INDEX idx_achievements_active ON achievements (is_active);

CREATE INDEX idx_user_achievements_user_id ON user_achievements (user_id);
CREATE INDEX idx_user_achievements_achievement_id ON user_achievements (achievement_id);
CREATE INDEX idx_user_achievements_earned_at ON user_achievements (earned_at DESC);

CREATE INDEX idx_notifications_user_id ON notifications (user_id);
CREATE INDEX idx_notifications_read ON notifications (read);
CREATE INDEX idx_notifications_created_at ON notifications (created_at DESC);
CREATE INDEX idx_notifications_expires_at ON notifications (expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX idx_notifications_type ON notifications (type);
CREATE INDEX idx_notifications_user_unread ON notifications (user_id, created_at DESC) WHERE read = false;

CREATE INDEX idx_moderation_logs_moderator_id ON moderation_logs (moderator_id);
CREATE INDEX idx_moderation_logs_target_user_id ON moderation_logs (target_user_id);
CREATE INDEX idx_moderation_logs_action ON moderation_logs (action);
CREATE INDEX idx_moderation_logs_created_at ON moderation_logs (created_at DESC);

CREATE INDEX idx_analytics_user_id ON analytics (user_id);
CREATE INDEX idx_analytics_timestamp ON analytics (timestamp DESC);
CREATE INDEX idx_analytics_event_type ON analytics (event_type);
CREATE INDEX idx_analytics_pathway ON analytics (pathway);

CREATE INDEX idx_discord_sync_log_sync_type ON discord_sync_log (sync_type);
CREATE INDEX idx_discord_sync_log_status ON discord_sync_log (status);
CREATE INDEX idx_discord_sync_log_started_at ON discord_sync_log (started_at DESC);

CREATE INDEX idx_admin_logs_admin_id ON admin_logs (admin_id);
CREATE INDEX idx_admin_logs_target_type ON admin_logs (target_type);
CREATE INDEX idx_admin_logs_created_at ON admin_logs (created_at DESC);
