"""What `uap_migrate` prints: one Reporter for every mode."""
