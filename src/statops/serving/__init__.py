"""Serving: batch scoring of files (and, later, the HTTP API)."""
