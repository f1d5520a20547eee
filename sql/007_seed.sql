-- The seven achievements the guide names, and the server_stats singleton.
-- requirements follow the guide's format: {type, amount, pathway?, conditions?}.

INSERT INTO achievements (id, name, description, pathway, category, rarity, xp, points, requirements) VALUES
  ('gaming-initiate', 'Gaming Initiate', 'Join the Gaming Realm and reach level 2 in it.',
   'gaming', 'pathway', 'common', 50, 10,
   '{"type": "level", "amount": 2, "pathway": "gaming"}'),
  ('first-week', 'First Week', 'Stay with the community for your first seven days.',
   NULL, 'milestone', 'common', 100, 10,
   '{"type": "days_member", "amount": 7}'),
  ('tournament-winner', 'Tournament Winner', 'Win a community tournament.',
   'gaming', 'special', 'epic', 1000, 50,
   '{"type": "tournaments_won", "amount": 1, "pathway": "gaming"}'),
  ('lorebound-master', 'Lorebound Master', 'Reach the rank of Master (level 35) in the Lorebound Realm.',
   'lorebound', 'pathway', 'legendary', 2500, 100,
   '{"type": "level", "amount": 35, "pathway": "lorebound"}'),
  ('productive-streak-30', 'Thirty Days Strong', 'Earn Productive Palace XP thirty days in a row.',
   'productive', 'pathway', 'rare', 750, 30,
   '{"type": "streak", "amount": 30, "pathway": "productive"}'),
  ('news-contributor', 'News Contributor', 'Contribute five pieces to the News Nexus.',
   'news', 'community', 'uncommon', 250, 20,
   '{"type": "contributions", "amount": 5, "pathway": "news"}'),
  ('grand-duke', 'Grand Duke', 'Reach level 50 overall and attend ten community events.',
   NULL, 'special', 'mythic', 5000, 250,
   '{"type": "xp", "amount": 250000, "conditions": {"level": 50, "events_attended": 10}}');

INSERT INTO server_stats (id) VALUES (1);

-- The guide's six staff roles; the bot replaces these with the configured staff_role_ids at start-up.
INSERT INTO staff_roles (role_id, name) VALUES
  ('1369566988128751750', 'Owner'),
  ('1369197369161154560', 'Board'),
  ('1396459118025375784', 'Head Admin'),
  ('1370702703616856074', 'Admin'),
  ('1409148504026120293', 'Head Mod'),
  ('1408079849377107989', 'Moderator');
