"""Privacy and utility metrics that compare original and anonymized media, and pilot sweeps."""
