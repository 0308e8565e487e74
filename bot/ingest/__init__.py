"""Ingest: input validation, safe fetching, article extraction, Arabic text handling, dates."""
