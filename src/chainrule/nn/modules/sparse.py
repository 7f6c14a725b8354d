"""``Embedding``: a lookup table of vectors, indexed by integer ids."""

from __future__ import annotations

from typing import Any

from ...autograd.grad_mode import no_grad
from ...creation import empty
from ...tensor import Tensor
from .. import functional as F
from .. import init
from ..module import Module
from ..parameter import Parameter


class Embedding(Module):
    """Row ``i`` of ``weight`` (``(num_embeddings, embedding_dim)``, N(0, 1) at start) for
    each id ``i`` of the input. The row at ``padding_idx`` starts at zero and gets no gradient.

    Example:
        >>> import chainrule as cr
        >>> emb = cr.nn.Embedding(10, 3, padding_idx=0)
        >>> emb
        Embedding(10, 3, padding_idx=0)
        >>> emb(cr.tensor([[0, 2], [4, 9]])).shape
        (2, 2, 3)
    """

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        padding_idx: int | None = None,
        max_norm: float | None = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        sparse: bool = False,
        _weight: Tensor | None = None,
        _freeze: bool = False,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        self.num_embeddings = int(num_embeddings)
        self.embedding_dim = int(embedding_dim)
        if padding_idx is not None:
            if not -self.num_embeddings <= padding_idx < self.num_embeddings:
                raise ValueError(
                    f"Embedding: padding_idx {padding_idx} must be within num_embeddings "
                    f"({self.num_embeddings})"
                )
            padding_idx %= self.num_embeddings
        self.padding_idx = padding_idx
        self.max_norm, self.norm_type = max_norm, float(norm_type)
        self.scale_grad_by_freq, self.sparse = scale_grad_by_freq, sparse
        if _weight is None:
            self.weight = Parameter(
                empty(num_embeddings, embedding_dim, dtype=dtype, device=device),
                requires_grad=not _freeze,
            )
            self.reset_parameters()
        else:
            if tuple(_weight.shape) != (num_embeddings, embedding_dim):
                raise ValueError(
                    f"Embedding: _weight has shape {tuple(_weight.shape)}, expected "
                    f"{(num_embeddings, embedding_dim)}"
                )
            self.weight = Parameter(_weight, requires_grad=not _freeze)

    def reset_parameters(self) -> None:
        """Draw the weights again from N(0, 1) (the padding row set to zero).

        Example:
            >>> import chainrule as cr
            >>> e = cr.nn.Embedding(3, 2, padding_idx=1); e.reset_parameters()
            >>> e.weight[1].tolist()
            [0.0, 0.0]
        """
        init.normal_(self.weight)
        if self.padding_idx is not None:
            with no_grad():
                self.weight._mutate(lambda a: a.__setitem__(self.padding_idx, 0))

    @classmethod
    def from_pretrained(
        cls, embeddings: Tensor, freeze: bool = True, padding_idx: int | None = None
    ) -> Embedding:
        """An Embedding whose weight is ``embeddings`` (frozen unless ``freeze=False``).

        Example:
            >>> import chainrule as cr
            >>> e = cr.nn.Embedding.from_pretrained(cr.tensor([[1.0, 2.0], [3.0, 4.0]]))
            >>> e(cr.tensor([1])), e.weight.requires_grad
            (tensor([[3., 4.]]), False)
        """
        if embeddings.ndim != 2:
            raise ValueError(
                f"Embedding.from_pretrained: embeddings must be 2-D, got shape {embeddings.shape}"
            )
        rows, cols = embeddings.shape
        return cls(rows, cols, padding_idx=padding_idx, _weight=embeddings, _freeze=freeze)

    def forward(self, input: Tensor) -> Tensor:
        if input.dtype.kind not in "iu":
            raise TypeError(
                f"{self!r} expected an integer tensor of indices, got dtype {input.dtype}"
            )
        return F.embedding(
            input, self.weight, self.padding_idx, self.max_norm, self.norm_type,
            self.scale_grad_by_freq, self.sparse,
        )  # fmt: skip

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        return s
