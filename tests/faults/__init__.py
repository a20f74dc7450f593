"""Fault suites: killed runners, restarted servers, concurrency, hostile input, tampering."""
