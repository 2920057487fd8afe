"""Synthetic derived features (motion, gaze and turn-taking tables) with a validation report.

See :func:`avanon.synth.pipeline.synthesize_features` and ``avanon synth``.
"""
