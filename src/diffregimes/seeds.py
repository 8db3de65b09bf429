"""One documented rule for every seed the project derives (no ad-hoc offsets).

A derived seed is the first 63 bits of ``numpy.random.SeedSequence`` entropy built from the root seed
and a key of strings and integers (each string hashed to 32-bit words with SHA-256). SeedSequence mixes
its inputs, so neighbouring roots or keys give unrelated streams, and the derivation is the same on
every platform and in every process (workers need no shared RNG state).
"""

from __future__ import annotations

import hashlib
import numbers

from .errors import ValidationError

# NumPy is imported inside the functions that need it: the CLI reads SEED_MAX while building its
# parser, and `diffregimes list` must not load NumPy.

__all__ = ["SEED_MAX", "check_seed", "derive_seed"]

#: the largest run seed: every generator the project seeds (NumPy, torch) accepts [0, 2**63 - 1]
SEED_MAX = 2**63 - 1


def check_seed(seed: int, name: str = "seed") -> int:
    """The one rule for run seeds, in every command: an integer in [0, 2**63 - 1]."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= int(seed) <= SEED_MAX:
        raise ValidationError(f"{name} must be an integer in [0, {SEED_MAX}]: {name}={seed!r}")
    return int(seed)


def _words(part: str | int) -> list[int]:
    import numpy as np

    if isinstance(part, bool) or not isinstance(part, (str, int)):
        raise TypeError(f"seed key parts must be str or int: {part!r}")
    if isinstance(part, int):
        if part < 0:
            raise ValidationError(f"seed key integers must be >= 0: {part}")
        return [1, *(int(w) for w in np.frombuffer(part.to_bytes(16, "little"), dtype=np.uint32))]
    digest = hashlib.sha256(part.encode()).digest()[:16]
    return [2, *(int(w) for w in np.frombuffer(digest, dtype=np.uint32))]


def derive_seed(root: int, *key: str | int) -> int:
    """A seed in [0, 2**63) for the unit named by ``key`` under the run seed ``root``.

    Example: the weights of MNIST model (pairing, g, seed index) are initialised from
    ``derive_seed(run_seed, "mnist-model", seed_index)``; its training noise from
    ``derive_seed(model_seed, "train-noise")``.
    """
    import numpy as np

    check_seed(root)
    entropy = [w for part in (int(root), *key) for w in _words(part)]
    state = np.random.SeedSequence(entropy).generate_state(2, dtype=np.uint32)
    return (int(state[0]) << 31) ^ int(state[1])
