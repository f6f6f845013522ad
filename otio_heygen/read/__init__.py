"""Reading timelines: OTIO and our own FCPXML reader, NLE dialects, rates and formats."""
