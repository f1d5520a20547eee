"""The numbered migrations, shipped in the wheel as the package `conclave_sql` (read with importlib.resources)."""
