DELETE FROM staff_roles WHERE role_id IN ('1369566988128751750', '1369197369161154560', '1396459118025375784',
  '1370702703616856074', '1409148504026120293', '1408079849377107989');
DELETE FROM server_stats WHERE id = 1;
DELETE FROM achievements WHERE id IN ('gaming-initiate', 'first-week', 'tournament-winner',
  'lorebound-master', 'productive-streak-30', 'news-contributor', 'grand-duke');
