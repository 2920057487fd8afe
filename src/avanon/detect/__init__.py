"""Face, pose and segmentation detectors, and the registry of pinned model files."""
