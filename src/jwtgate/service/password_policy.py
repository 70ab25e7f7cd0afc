"""Which new passwords are acceptable, after NIST SP 800-63B section 5.1.1.2 (memorized secrets).

- length: ``min_length`` (8 by default, configurable) to :data:`MAX_PASSWORD_LENGTH` characters, counted
  after normalisation; any Unicode (but NUL) is allowed, spaces included;
- normalisation: NFKC, before hashing and before verifying (:func:`normalize_password`), so the same
  password typed on two keyboards (full-width digits, composed or decomposed accents) is one password;
- refused: passwords found in the common and breached password list and the English word list that the
  ``zxcvbn`` package ships (its frequency lists: 30,000 passwords from public breach corpora and 30,000
  frequent words), compared case-insensitively; a password equal to or containing the username or the
  service name; one repeated character or a repeated short block (``"        "``, ``"abababab"``); a
  plain ascending or descending run (``"12345678"``, ``"hgfedcba"``);
- no composition rules (no "one digit, one symbol"): the standard advises against them.

The messages name the rule, never the password.
"""

from __future__ import annotations

import itertools
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

from jwtgate.errors import ConfigError, InvalidRequest
from jwtgate.service.passwords import MAX_PASSWORD_LENGTH

__all__ = [
    "DEFAULT_MIN_LENGTH",
    "PasswordPolicy",
    "load_common_passwords",
    "normalize_password",
]

DEFAULT_MIN_LENGTH = 8
#: NIST SP 800-63B: verifiers SHOULD permit at least 64 characters; a minimum above that refuses them.
_HIGHEST_MIN_LENGTH = 64
#: A username this short inside a password is a coincidence, not a hint ("al" in "totally").
_MIN_NAME_IN_PASSWORD = 3
_SERVICE_NAMES = ("jwtgate",)
_BLOCK_SIZES = (1, 2, 3)
_LISTS = ("passwords", "english_wikipedia")


def normalize_password(password: str) -> str:
    """NFKC, the form every password is hashed and verified in."""
    return unicodedata.normalize("NFKC", password)


def load_common_passwords() -> frozenset[str]:
    """The lower-case common passwords and frequent words of zxcvbn's frequency lists."""
    # Imported here: a 1 MB module of lists that only the server and the CLI need, once per policy.
    from zxcvbn.frequency_lists import FREQUENCY_LISTS  # type: ignore[import-untyped]

    words: set[str] = set()
    for name in _LISTS:
        words.update(word.casefold() for word in FREQUENCY_LISTS[name])
    return frozenset(words)


@dataclass(frozen=True, slots=True)
class PasswordPolicy:
    """Checks a new password; :meth:`check` returns its normalised form or raises InvalidRequest."""

    min_length: int = DEFAULT_MIN_LENGTH
    common: frozenset[str] = field(default_factory=load_common_passwords, repr=False)

    def __post_init__(self) -> None:
        if type(self.min_length) is not int or not (
            DEFAULT_MIN_LENGTH <= self.min_length <= _HIGHEST_MIN_LENGTH
        ):
            low, high = DEFAULT_MIN_LENGTH, _HIGHEST_MIN_LENGTH
            raise ConfigError(f"the minimum password length is an integer from {low} to {high}")

    @classmethod
    def with_words(cls, words: Iterable[str], min_length: int = DEFAULT_MIN_LENGTH) -> PasswordPolicy:
        """A policy refusing ``words`` (case-insensitive) instead of the shipped lists."""
        return cls(min_length=min_length, common=frozenset(w.casefold() for w in words))

    def check(self, password: object, *, username: str | None = None) -> str:
        """The NFKC form of ``password`` when acceptable for ``username``; InvalidRequest otherwise."""
        if not isinstance(password, str):
            raise InvalidRequest("a password must be a string")
        if "\x00" in password:
            raise InvalidRequest("a password cannot contain NUL characters")
        # Checked on the raw text too: NFKC can expand a character up to 18-fold.
        normalized = normalize_password(password[: MAX_PASSWORD_LENGTH + 1])
        too_long = len(password) > MAX_PASSWORD_LENGTH or len(normalized) > MAX_PASSWORD_LENGTH
        if too_long or len(normalized) < self.min_length:
            raise InvalidRequest(f"a password is {self.min_length} to {MAX_PASSWORD_LENGTH} characters long")
        folded = normalized.casefold()
        if folded in self.common or folded.strip() in self.common:
            raise InvalidRequest("this password is too common (it is in a list of breached passwords)")
        if username is not None:
            name = username.casefold()
            if folded == name or (len(name) >= _MIN_NAME_IN_PASSWORD and name in folded):
                raise InvalidRequest("a password cannot contain the username")
        if any(service in folded for service in _SERVICE_NAMES):
            raise InvalidRequest("a password cannot contain the name of this service")
        if _is_repetition(folded):
            raise InvalidRequest("a password cannot be one character or a short block repeated")
        if _is_run(folded):
            raise InvalidRequest("a password cannot be a plain sequence such as 12345678 or abcdefgh")
        return normalized


def _is_repetition(text: str) -> bool:
    return any(len(text) % size == 0 and text == text[:size] * (len(text) // size) for size in _BLOCK_SIZES)


def _is_run(text: str) -> bool:
    steps = {ord(b) - ord(a) for a, b in itertools.pairwise(text)}
    return steps in ({1}, {-1})
