"""Ready-made models: the character-level language models of makemore's path (bigram, MLP,
LSTM, GPT).

Example:
    >>> import chainrule as cr
    >>> from chainrule.models import GPT
    >>> GPT(vocab_size=27, block_size=8, n_layer=1, n_head=2, n_embd=8)(cr.tensor([[0, 1]])).shape
    (1, 2, 27)
"""

from .charlm import (
    CHAR_MODELS,
    GPT,
    LSTM,
    MLP,
    Bigram,
    Block,
    CausalSelfAttention,
    build_char_model,
    generate,
)

__all__ = [
    "CHAR_MODELS", "GPT", "LSTM", "MLP", "Bigram", "Block", "CausalSelfAttention",
    "build_char_model", "generate",
]  # fmt: skip
