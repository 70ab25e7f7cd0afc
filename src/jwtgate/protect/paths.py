"""Paths an integration leaves open (``exclude_paths``): exact ones, and prefixes written ``/public/*``."""

from __future__ import annotations

from collections.abc import Collection

__all__ = ["OpenPaths"]


class OpenPaths:
    """``path in open_paths`` is True for an exact match or a listed prefix."""

    __slots__ = ("_exact", "_prefixes")

    def __init__(self, patterns: Collection[str] = ()) -> None:
        self._exact = frozenset(p for p in patterns if not p.endswith("*"))
        self._prefixes = tuple(p[:-1] for p in patterns if p.endswith("*"))

    def __contains__(self, path: object) -> bool:
        if path in self._exact:
            return True
        return bool(self._prefixes) and isinstance(path, str) and path.startswith(self._prefixes)
