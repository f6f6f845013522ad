"""DaVinci Resolve: ``bridge`` (the logic, testable with a fake Resolve), ``connect`` (finding Resolve)
and ``otio_heygen_resolve.py`` (the thin script users run from Workspace > Scripts or a terminal)."""
