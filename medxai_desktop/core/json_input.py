"""JSON from files the user gives (COCO, model cards, plugin settings): one parser whose
every failure is a ValueError with a reason, never a RecursionError or MemoryError traceback."""
from __future__ import annotations

import json
from typing import Any


def parse_json(text: str) -> Any:
    """``json.loads``; ValueError (a ``json.JSONDecodeError`` for a syntax error) otherwise."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("JSON nested too deeply to read") from None
    except MemoryError:
        raise ValueError("JSON too large to read into memory") from None
