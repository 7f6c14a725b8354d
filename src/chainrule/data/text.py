"""Characters as token ids: :class:`CharTokenizer`, makemore's vocabulary with ``.`` as the
boundary token (id 0) that starts and ends every word.

Example:
    >>> tok = CharTokenizer.from_texts(["emma", "ava"])
    >>> tok.itos
    ['.', 'a', 'e', 'm', 'v']
    >>> X, Y = tok.training_pairs(["emma", "ava"])
    >>> X.tolist()[1], Y.tolist()[1]
    ([0, 1, 4, 1, 0], [1, 4, 1, 0, -1])
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from ..tensor import Tensor

__all__ = ["CharTokenizer"]


class CharTokenizer:
    """A character-level vocabulary: the boundary token ``boundary`` is id 0, then the other
    characters in sorted order (so ``a..z`` are ids 1..26 for lowercase names, as in makemore).

    Args:
        chars: the characters of the vocabulary (any iterable of 1-character strings, or one
            string); duplicates and the boundary character itself are ignored.
        boundary: the token that marks the start and the end of a word.

    Example:
        >>> tok = CharTokenizer("abc")
        >>> tok.vocab_size, tok.encode("cab"), tok.decode([3, 1, 2, 0])
        (4, [3, 1, 2], 'cab.')
    """

    def __init__(self, chars: Iterable[str], boundary: str = ".") -> None:
        if not isinstance(boundary, str) or len(boundary) != 1:
            raise ValueError(f"CharTokenizer: boundary must be one character, got {boundary!r}")
        symbols = set()
        for c in chars:
            if not isinstance(c, str) or len(c) != 1:
                raise ValueError(f"CharTokenizer: vocabulary entries must be characters, got {c!r}")
            symbols.add(c)
        symbols.discard(boundary)
        self.boundary = boundary
        self.itos: list[str] = [boundary, *sorted(symbols)]
        self.stoi: dict[str, int] = {c: i for i, c in enumerate(self.itos)}

    @classmethod
    def from_texts(cls, texts: Iterable[str], boundary: str = ".") -> CharTokenizer:
        """The vocabulary of every character in ``texts``.

        Example:
            >>> CharTokenizer.from_texts(["bob", "al"]).itos
            ['.', 'a', 'b', 'l', 'o']
        """
        return cls("".join(texts), boundary=boundary)

    @classmethod
    def from_vocab(cls, itos: Sequence[str]) -> CharTokenizer:
        """The tokenizer whose :attr:`itos` is ``itos`` (boundary first), as a checkpoint stores it.

        Example:
            >>> CharTokenizer.from_vocab(['.', 'a', 'b']).encode("ba")
            [2, 1]
        """
        itos = list(itos)
        tok = cls(itos[1:] if itos else [], boundary=itos[0] if itos else ".")
        if tok.itos != itos:
            raise ValueError(
                f"CharTokenizer.from_vocab: expected the boundary token then sorted, distinct "
                f"characters, got {itos!r}"
            )
        return tok

    @property
    def vocab_size(self) -> int:
        """Number of token ids (the boundary token included)."""
        return len(self.itos)

    @property
    def boundary_id(self) -> int:
        """The id of the boundary token: 0."""
        return 0

    def encode(self, text: str) -> list[int]:
        """The ids of the characters of ``text`` (no boundary tokens added).

        Example:
            >>> CharTokenizer("ab").encode("abba")
            [1, 2, 2, 1]
        """
        try:
            return [self.stoi[c] for c in text]
        except KeyError:
            pos = next(i for i, c in enumerate(text) if c not in self.stoi)
            raise ValueError(
                f"CharTokenizer.encode: character {text[pos]!r} at position {pos} of {text!r} is "
                f"not in the vocabulary {''.join(self.itos)!r}"
            ) from None

    def decode(self, ids: Iterable[int] | Tensor | np.ndarray) -> str:
        """The characters of the token ids ``ids`` (a list, an array or a 1-d tensor).

        Example:
            >>> import chainrule as cr
            >>> CharTokenizer("ab").decode(cr.tensor([2, 1, 0]))
            'ba.'
        """
        arr = ids.numpy() if isinstance(ids, Tensor) else np.asarray(list(ids), dtype=np.int64)
        if arr.ndim != 1:
            raise ValueError(
                f"CharTokenizer.decode: expected a 1-d sequence of ids, got {arr.shape}"
            )
        if arr.size and (arr.min() < 0 or arr.max() >= self.vocab_size):
            bad = int(arr[(arr < 0) | (arr >= self.vocab_size)][0])
            raise ValueError(
                f"CharTokenizer.decode: id {bad} is outside the vocabulary "
                f"(0..{self.vocab_size - 1})"
            )
        return "".join(self.itos[i] for i in arr.tolist())

    def training_pairs(
        self, texts: Sequence[str], max_length: int | None = None
    ) -> tuple[Tensor, Tensor]:
        """Inputs and next-token targets for language modelling, as makemore's ``CharDataset``.

        Row ``i`` of ``X`` is the boundary id then the ids of ``texts[i]``, padded with the
        boundary id; row ``i`` of ``Y`` is the ids of ``texts[i]``, the boundary id (the end),
        padded with ``-1`` (to be ignored by ``cross_entropy(..., ignore_index=-1)``). Both are
        int64 of shape ``(len(texts), max_length + 1)``.

        Args:
            texts: the words.
            max_length: the longest word allowed (default: the longest of ``texts``).

        Example:
            >>> X, Y = CharTokenizer("ab").training_pairs(["ab", "b"])
            >>> X.tolist(), Y.tolist()
            ([[0, 1, 2], [0, 2, 0]], [[1, 2, 0], [2, 0, -1]])
        """
        encoded = [self.encode(t) for t in texts]
        longest = max((len(e) for e in encoded), default=0)
        n = longest if max_length is None else int(max_length)
        if longest > n:
            raise ValueError(
                f"CharTokenizer.training_pairs: a text of {longest} characters is longer than "
                f"max_length={n}"
            )
        lengths = np.array([len(e) for e in encoded], dtype=np.int64)
        flat = np.fromiter(
            (i for e in encoded for i in e), dtype=np.int64, count=int(lengths.sum())
        )
        cols = np.arange(n + 1)
        inside = cols[None, :] < lengths[:, None]  # (rows, n + 1): where a word's ids go
        X = np.zeros((len(encoded), n + 1), dtype=np.int64)
        Y = np.full((len(encoded), n + 1), -1, dtype=np.int64)
        Y[inside] = flat
        Y[np.arange(len(encoded)), lengths] = self.boundary_id
        X[:, 1:][inside[:, :-1]] = flat  # X is Y shifted right by one, behind a boundary id
        return Tensor._wrap(X), Tensor._wrap(Y)

    def __repr__(self) -> str:
        return f"CharTokenizer({''.join(self.itos[1:])!r}, boundary={self.boundary!r})"

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, CharTokenizer) and other.itos == self.itos
