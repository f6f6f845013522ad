"""Render backends: plugins of ``otio_heygen.run.contract`` (``preview``, ``heygen``)."""
