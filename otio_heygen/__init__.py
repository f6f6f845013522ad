"""otio-heygen."""
