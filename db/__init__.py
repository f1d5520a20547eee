"""Everything the program says to PostgreSQL: the pool, the embedded server, migrations, queries."""
