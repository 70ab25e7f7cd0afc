"""The package's public API is explicit (STYLE.md #14): ``jwtgate.__all__`` is sorted and lists exactly
the public names of the package, and the recipe names of issue 2 are among them."""

from __future__ import annotations

from types import ModuleType

import jwtgate

RECIPE = {"generate_key", "KeySet", "Issuer", "Verifier", "TokenError"}


def public_names(module: ModuleType) -> set[str]:
    # Submodules (jwtgate.errors, jwtgate.jose, ...) become attributes when imported; they are not names
    # the package exports.
    return {
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and not isinstance(value, ModuleType)
    }


def test_all_is_sorted() -> None:
    assert list(jwtgate.__all__) == sorted(jwtgate.__all__)


def test_all_has_no_duplicates() -> None:
    assert len(set(jwtgate.__all__)) == len(jwtgate.__all__)


def test_all_equals_the_public_names() -> None:
    assert set(jwtgate.__all__) == public_names(jwtgate)


def test_recipe_names_are_exported() -> None:
    assert set(jwtgate.__all__) >= RECIPE


def test_star_import_gives_exactly_all() -> None:
    namespace: dict[str, object] = {}
    exec("from jwtgate import *", namespace)  # noqa: S102 - the point is to exercise a star import
    assert set(namespace) - {"__builtins__"} == set(jwtgate.__all__)
