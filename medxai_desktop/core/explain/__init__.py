"""Explanations: the shared pass, one class per method, and CrossEAI boxes."""
from .base import ExplanationCancelled, Explainer, PassContext
from .engine import Explanation, ExplanationEngine, ExplanationSet
from .registry import PAPER_METHODS, canonical_name, explainer_names, get_explainer, register_explainer

__all__ = ["ExplanationCancelled", "Explainer", "PassContext", "Explanation", "ExplanationEngine",
           "ExplanationSet", "PAPER_METHODS", "canonical_name", "explainer_names", "get_explainer",
           "register_explainer"]
