DELETE FROM server_stats WHERE id = 1;
DELETE FROM achievements WHERE id IN ('gaming-initiate', 'first-week', 'tournament-winner',
  'lorebound-master', 'productive-streak-30', 'news-contributor', 'grand-duke');
