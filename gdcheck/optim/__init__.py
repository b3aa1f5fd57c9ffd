"""The update rules a handwritten update can claim, and their optax / torch.optim twins.

Each factory returns an :class:`Optimizer`: the rule in NumPy (``update``, the signature of
``gdcheck.Model.update``), as one line of math (``rule``), and as the optax and torch.optim
calls that compute the same update (``optax(lr)``, ``torch(tensors, lr)``, and their text).
"""

from __future__ import annotations

from ._adam import adam as adam
from ._adam import adamw as adamw
from ._base import Optimizer as Optimizer
from ._base import Params as Params
from ._base import State as State
from ._sgd import momentum as momentum
from ._sgd import sgd as sgd

__all__ = ["Optimizer", "Params", "State", "adam", "adamw", "momentum", "sgd"]
