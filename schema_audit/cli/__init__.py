"""`uap_migrate`'s edge: its modes (one table, modes.py), what it prints, its fleet runs."""
