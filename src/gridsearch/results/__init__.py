"""The results folder: trial records, the leaderboard, the winner's config, reopening a finished run."""
