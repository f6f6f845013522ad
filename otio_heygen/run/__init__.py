"""Running jobs: the orchestrator, one job's steps, limits, the journal and the backend contract."""
