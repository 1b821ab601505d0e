"""Stage 05 logic: metrics, baselines, leaderboard and the visual summary."""
