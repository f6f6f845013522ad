"""The review page of an output (``otio-heygen review``): build it with ``build_review``."""

from otio_heygen.review.page import ReviewPage, build_review, review_dir_for, sent_audio_for

__all__ = ["ReviewPage", "build_review", "review_dir_for", "sent_audio_for"]
