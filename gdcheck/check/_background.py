"""A check's work beside your gradient: autodiff's gradient and the Taylor test's ladder.

Both need only the loss and the data, so :func:`gdcheck.check_gradient` starts them before it
calls your gradient (a mixin of :class:`~gdcheck.check._point.PointChecker`, whose one
background thread, ``_pool``, runs them in order; see ``POOL_WORKERS`` there).
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from .._types import NDArray
from ._deferred import Deferred
from ._ladder import Ladder, ladder
from ._witnesses import central_step


class BackgroundWork:
    """Prefetched autodiff gradients and the Taylor ladder, for :class:`PointChecker`."""

    layout: Any
    loss: Any
    data64: tuple
    _pool: ThreadPoolExecutor
    _prefetched: tuple[dict[str, NDArray], Future[dict[str, NDArray]]] | None = None

    def gradients(self, tree: dict[str, NDArray]) -> dict[str, NDArray]:  # by PointChecker
        raise NotImplementedError

    def prefetch(self, tree: dict[str, NDArray]) -> None:
        """Start the autodiff gradients at ``tree`` in the background: they need only the loss
        and the data, so they run beside your gradient; :meth:`compare` at ``tree`` takes them."""
        self._prefetched = (tree, self._pool.submit(self.gradients, tree))

    def _prefetched_or_new(self, tree: dict[str, NDArray]) -> dict[str, NDArray]:
        started, self._prefetched = self._prefetched, None
        if started is not None and started[0] is tree:
            return started[1].result()
        return self.gradients(tree)

    def start_ladder(
        self, tree: dict[str, NDArray], seed: int, short: bool = False
    ) -> Future[Ladder] | Deferred:
        r"""The Taylor test's ladder at ``tree``, in the background: it needs no gradient.

        ``short``: only the steps ``2h`` and ``h``, the central difference's best step
        :math:`h = \epsilon^{1/3}\max(1, \|p\|_\infty)` and Richardson's check of it (four
        loss values, NumPy row by row: fewer passes than one batched call costs; not the loss
        at ``p``, which central differences do not read), for the random-direction witness
        alone; evaluated in the thread that first asks for it (your
        gradient's, while the background thread computes autodiff's).
        """
        kwargs: dict[str, Any] = {"seed": seed}
        if short:
            h = central_step(self.layout.flatten(tree))
            kwargs.update(h0=2 * h, halvings=1, batched=False, center=False)
            return Deferred(ladder, self.loss, self.layout.to_user(tree), *self.data64, **kwargs)
        return self._pool.submit(
            ladder, self.loss, self.layout.to_user(tree), *self.data64, **kwargs
        )

    def close_pool(self) -> None:
        """No more background work: the pool's threads end when what was submitted is done."""
        self._pool.shutdown(wait=False)
