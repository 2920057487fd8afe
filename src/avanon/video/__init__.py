"""Video anonymization: face tracking, gap filling and obfuscation."""
