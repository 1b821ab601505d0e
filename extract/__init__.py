"""Stage 03 logic: batched, cached, resumable feature extraction."""
