"""Media input/output with PyAV: probing, decoding, encoding, metadata stripping, A/V remux."""
