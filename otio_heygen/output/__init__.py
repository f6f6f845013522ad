"""Output: conforming the new tracks (pure) and writing timelines atomically."""
