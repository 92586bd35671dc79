"""Results: every run, its facts, trials and samples in SQLite, and exports for other tools."""
