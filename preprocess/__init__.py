"""Stage 00-01 logic: true labels, the demo dataset, and background removal."""
