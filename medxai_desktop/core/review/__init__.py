"""The Qt-free review session: what is open, what was explained, and the review rules."""
from medxai_desktop.core.review.session import Events, ReviewSession, merge_explanations

__all__ = ["Events", "ReviewSession", "merge_explanations"]
