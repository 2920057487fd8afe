"""Voice transforms and audio redaction."""
