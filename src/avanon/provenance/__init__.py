"""Run records: the manifest of every file, provenance, releases."""
