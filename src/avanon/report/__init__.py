"""Self-contained HTML reports (plots embedded) of evaluations and pilots."""
