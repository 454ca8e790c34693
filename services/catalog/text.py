"""Folding Spanish text for search and duplicate checks: no accents, lowercase, single spaces.

"Plátano  Macho" and "platano macho" fold to the same key, so a search for "platano" finds
"Plátano" on SQLite and PostgreSQL alike (the folded form is stored in a column and indexed).
"""

import unicodedata


def fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(bare.casefold().split())


def escape_like(text: str) -> str:
    """Escape LIKE wildcards so user input matches literally (use with escape='\\\\')."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
