"""The run loop: pre-flight, plan, backend, trial records, leaderboard, retrained winner."""
