"""Content extraction: one module per format behind one interface (see base.py).

``sniff`` decides a content's format from its bytes; ``EXTRACTORS[format]`` turns it into pieces
(text, URLs, images, children, unscannable) that the scanner (scan.py) hands to the finders.
"""

from .base import (
    Budget,
    BudgetExceeded,
    ChildPiece,
    Extracted,
    Extractor,
    ImagePiece,
    TextPiece,
    Unscannable,
    UnscannableReason,
    UrlPiece,
)
from .registry import DOCUMENT_FORMATS, EXTRACTORS, sniff

__all__ = [
    "DOCUMENT_FORMATS",
    "EXTRACTORS",
    "Budget",
    "BudgetExceeded",
    "ChildPiece",
    "Extracted",
    "Extractor",
    "ImagePiece",
    "TextPiece",
    "Unscannable",
    "UnscannableReason",
    "UrlPiece",
    "sniff",
]
