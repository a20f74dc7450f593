"""The engine: plan, lock, and run each file (in a transaction or statement by statement)."""
