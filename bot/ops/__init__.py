"""Operations: doctor, backup and restore, maintenance, metrics and the migrate CLI."""
