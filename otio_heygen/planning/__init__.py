"""Planning (pure): sections + settings -> jobs, job keys and cost."""
