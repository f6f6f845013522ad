"""Sections: markers -> sections, per-section directives and validation (pure)."""
