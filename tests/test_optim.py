"""gdcheck.optim: each rule in NumPy, its optax twin and its torch.optim twin take the same steps.

The problem is a fixed, ill-conditioned quadratic :math:`f(p) = ½ pᵀAp − bᵀp` over dict params
(``W`` (3, 2) and ``v`` (4,), flattened in that order: 10 entries, eigenvalues of A from 1e-3 to
1). Every trajectory runs 500 steps from the same start; they are compared per step by the
norm-relative difference ``‖p_a − p_b‖∞ / ‖p_b‖∞`` (the params stay O(1), so no floor needed).
"""

from __future__ import annotations

import functools
import inspect
import math

import numpy as np
import pytest

import gdcheck.optim as optim
from gdcheck.errors import InputError, InputTypeError
from gdcheck.examples import updates

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")
optax = pytest.importorskip("optax")
torch = pytest.importorskip("torch")

STEPS = 500
FLOAT64_RTOL = 1e-12
# float32: measured at most 4.9e-6 over CASES (adamw(weight_decay=0.1), optax vs NumPy; torch
# 4.6e-6 on adamw(); SGD/momentum ≤ 8.4e-7). Each library rounds the gradient A·p − b in its
# own order (a few ulps, 6e-8 each) and 1 − β₂ᵗ in float32 (β₂ = 0.999 is itself off by
# 1.3e-8, i.e. 1e-5 of 1 − β₂, and XLA's and NumPy's pow differ there by ~6e-6 relative);
# these add up along 500 steps, and Adam's normalised step divides the gradient's rounding by
# √v̂. The bound is 4× the measurement:
FLOAT32_RTOL = 2e-5
MISTAKE_RTOL = 1e-3

# (id, optimizer, lr, the correct handwritten rule in examples/updates.py, its kwargs)
CASES = [
    ("sgd-lr0.5", optim.sgd(), 0.5, "sgd", {}),
    ("sgd-lr1.5", optim.sgd(), 1.5, "sgd", {}),
    ("momentum-0.9", optim.momentum(beta=0.9), 0.1, "momentum", {"beta": 0.9}),
    ("momentum-0.5", optim.momentum(beta=0.5), 0.5, "momentum", {"beta": 0.5}),
    ("nesterov-0.9", optim.momentum(beta=0.9, nesterov=True), 0.1, "nesterov", {"beta": 0.9}),
    ("nesterov-0.99", optim.momentum(beta=0.99, nesterov=True), 0.01, "nesterov", {"beta": 0.99}),
    ("adam-default", optim.adam(), 0.01, "adam", {}),
    ("adam-0.8-0.99", optim.adam(b1=0.8, b2=0.99), 0.01, "adam", {"b1": 0.8, "b2": 0.99}),
    ("adam-eps1e-3", optim.adam(b2=0.99, eps=1e-3), 0.05, "adam", {"b2": 0.99, "eps": 1e-3}),
    ("adamw-default", optim.adamw(), 0.01, "adamw", {}),
    ("adamw-wd0.1", optim.adamw(weight_decay=0.1), 0.05, "adamw", {"weight_decay": 0.1}),
    (
        "adamw-0.8-0.99-wd0.5",
        optim.adamw(b1=0.8, b2=0.99, eps=1e-6, weight_decay=0.5),
        0.01,
        "adamw",
        {"b1": 0.8, "b2": 0.99, "eps": 1e-6, "weight_decay": 0.5},
    ),
]
# Known, explained: with a short second-moment memory (β₂ = 0.9) or no first moment (β₁ = 0),
# Adam near the optimum is chaotic: |g| is tiny, the step ≈ η·sign-like, and a 1e-16 rounding
# difference grows ~6 % a step (NumPy against optax or torch, adam-0.5-0.9: 1e-10 at step 100,
# 3e-8 at 200, 3e-3 at 400; first over 1e-12 at step 82, and at 337 for adam-0-0.99). All
# three are right; the trajectories agree to the tolerance for the first `agree` steps only. (id, optimizer, lr, example, kwargs, agree)
CHAOTIC = [
    (
        "adam-0.5-0.9",
        optim.adam(b1=0.5, b2=0.9, eps=1e-6),
        0.01,
        "adam",
        {"b1": 0.5, "b2": 0.9, "eps": 1e-6},
        60,
    ),
    ("adam-0-0.99", optim.adam(b1=0.0, b2=0.99), 0.01, "adam", {"b1": 0.0, "b2": 0.99}, 250),
]
DTYPES = [np.float64, np.float32]

# -- the problem -----------------------------------------------------------------------------
SHAPES = {"W": (3, 2), "v": (4,)}
_rng = np.random.default_rng(0)
_Q, _ = np.linalg.qr(_rng.normal(size=(10, 10)))
A = _Q @ np.diag(np.logspace(-3, 0, 10)) @ _Q.T
A = (A + A.T) / 2
P_STAR = _rng.normal(size=10)
B = A @ P_STAR
P0 = {"W": _rng.normal(size=(3, 2)), "v": _rng.normal(size=4)}


def flat(tree) -> np.ndarray:
    return np.concatenate([np.asarray(tree[k], np.float64).ravel() for k in SHAPES])


def numpy_grad(p: dict, dtype) -> dict:
    x = np.concatenate([p[k].ravel() for k in SHAPES])
    g, out, i = A.astype(dtype) @ x - B.astype(dtype), {}, 0
    for k, s in SHAPES.items():
        out[k] = g[i : i + math.prod(s)].reshape(s)
        i += math.prod(s)
    return out


def numpy_run(update, lr: float, dtype, steps: int = STEPS) -> np.ndarray:
    p = {k: v.astype(dtype) for k, v in P0.items()}
    state, traj = None, [flat(p)]
    for _ in range(steps):
        p, state = update(p, numpy_grad(p, dtype), state, lr)
        traj.append(flat(p))
    assert {v.dtype for v in p.values()} == {np.dtype(dtype)}
    return np.array(traj)


def jax_run(tx, dtype, steps: int = STEPS) -> np.ndarray:
    with jax.enable_x64(dtype == np.float64):
        A_, B_ = jnp.asarray(A, dtype), jnp.asarray(B, dtype)

        def f(p):
            x = jnp.concatenate([p[k].ravel() for k in SHAPES])
            return 0.5 * x @ A_ @ x - B_ @ x

        def body(carry, _):
            p, s = carry
            u, s = tx.update(jax.grad(f)(p), s, p)
            p = optax.apply_updates(p, u)
            return (p, s), jnp.concatenate([p[k].ravel() for k in SHAPES])

        p = {k: jnp.asarray(v, dtype) for k, v in P0.items()}
        _, traj = jax.lax.scan(body, (p, tx.init(p)), length=steps)
        assert traj.dtype == dtype
        return np.vstack([flat(P0).astype(dtype)[None], np.asarray(traj)]).astype(np.float64)


def torch_run(make, dtype, steps: int = STEPS) -> np.ndarray:
    tdtype = {np.float64: torch.float64, np.float32: torch.float32}[dtype]
    A_, B_ = torch.tensor(A, dtype=tdtype), torch.tensor(B, dtype=tdtype)
    tensors = [torch.tensor(P0[k], dtype=tdtype, requires_grad=True) for k in SHAPES]
    opt = make(tensors)
    traj = [flat(P0).astype(dtype)]
    for _ in range(steps):
        opt.zero_grad()
        x = torch.cat([t.reshape(-1) for t in tensors])
        (0.5 * x @ A_ @ x - B_ @ x).backward()
        opt.step()
        traj.append(torch.cat([t.detach().reshape(-1) for t in tensors]).numpy())
    assert tensors[0].dtype == tdtype
    return np.array(traj, dtype=np.float64)


def rel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per step: ``‖a_k − b_k‖∞ / ‖b_k‖∞``."""
    return np.abs(a - b).max(axis=1) / np.abs(b).max(axis=1)


def first_over(r: np.ndarray, tol: float) -> int | None:
    bad = np.flatnonzero(r > tol)
    return int(bad[0]) if bad.size else None


# -- every rule, four ways -------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize(
    ("opt", "lr", "example", "kwargs", "agree"),
    [pytest.param(*c[1:], STEPS, id=c[0]) for c in CASES]
    + [pytest.param(*c[1:], id=c[0]) for c in CHAOTIC],
)
def test_trajectories_agree(opt, lr, example, kwargs, agree, dtype):
    tol = FLOAT64_RTOL if dtype == np.float64 else FLOAT32_RTOL
    ref = numpy_run(opt.update, lr, dtype)
    runs = {
        "examples/updates.py": numpy_run(
            functools.partial(getattr(updates, example), **kwargs), lr, dtype
        ),
        "optax": jax_run(opt.optax(lr), dtype),
        "torch.optim": torch_run(lambda ts: opt.torch(ts, lr), dtype),
    }
    assert np.abs(ref[-1] - ref[0]).max() > 0.1, "the run should move the parameters"
    for name, traj in runs.items():
        r = rel(traj[: agree + 1], ref[: agree + 1])
        k = first_over(r, tol)
        assert k is None, (
            f"{opt.name}{opt.hyper} {np.dtype(dtype).name}: {name} differs from "
            f"Optimizer.update at step {k} by {r[k]:.2e} relative (tolerance {tol:.0e})"
        )


# -- planted mistakes differ where the table says, and not before ----------------------------
@pytest.mark.parametrize("mistake", updates.MISTAKES, ids=lambda m: m.name)
def test_planted_mistake_differs_at_its_step(mistake):
    claimed = getattr(optim, mistake.factory)(**mistake.kwargs)
    steps = mistake.first_step + 2
    ref = jax_run(claimed.optax(mistake.lr), np.float64, steps)
    r = rel(numpy_run(mistake.update, mistake.lr, np.float64, steps), ref)
    assert r[mistake.first_step] > MISTAKE_RTOL, (mistake.name, r)
    assert (r[: mistake.first_step] <= FLOAT64_RTOL).all(), (mistake.name, r)


@pytest.mark.parametrize("mistake", updates.MISTAKES, ids=lambda m: m.name)
def test_planted_mistake_defaults_are_its_claim(mistake):
    params = inspect.signature(mistake.update).parameters
    defaults = {k: p.default for k, p in params.items() if p.default is not inspect.Parameter.empty}
    claim = {k: v for k, v in mistake.kwargs.items() if k != "nesterov"}
    assert defaults == claim
    assert mistake.claims.startswith(f"{mistake.factory}(") and mistake.why


def test_eps_inside_sqrt_is_slight_at_default_eps():
    """The table's claim: with ε = 1e-8 the mistake shows (> rounding) but stays below 1e-3."""
    wrong = functools.partial(updates.adam_eps_inside_sqrt, eps=1e-8)
    r = rel(numpy_run(wrong, 0.05, np.float64), numpy_run(optim.adam().update, 0.05, np.float64))
    assert r[1] > 1e-7 and r.max() < 3e-5, (r[1], r.max())


# -- the NumPy rule's contract ---------------------------------------------------------------
ALL = [optim.sgd(), optim.momentum(), optim.momentum(nesterov=True), optim.adam(), optim.adamw()]


@pytest.mark.parametrize("opt", ALL, ids=lambda o: o.rule[:24])
def test_dtype_kept_and_inputs_untouched(opt):
    rng = np.random.default_rng(1)
    params = {"W": rng.normal(size=(3, 2)).astype(np.float32), "v": np.float32(rng.normal(size=4))}
    grads = {"W": rng.normal(size=(3, 2)), "v": rng.normal(size=4)}  # float64: cast to float32
    copies = [{k: v.copy() for k, v in t.items()} for t in (params, grads)]
    p1, s1 = opt.update(params, grads, None, 0.1)
    s1_copy = {k: v if k == "step" else {n: a.copy() for n, a in v.items()} for k, v in s1.items()}
    p2, s2 = opt.update(p1, grads, s1, 0.1)
    for tree, copy in zip((params, grads), copies, strict=True):
        assert all(np.array_equal(tree[k], copy[k]) for k in tree), "update modified its input"
    for slot in opt.slots:
        assert all(np.array_equal(s1[slot][n], s1_copy[slot][n]) for n in SHAPES)
        assert {a.dtype for a in s2[slot].values()} == {np.dtype(np.float32)}
    assert set(p2) == set(params) and s2["step"] == 2
    assert {a.dtype for a in p2.values()} == {np.dtype(np.float32)}
    assert all(p2[k].shape == params[k].shape for k in params)


@pytest.mark.parametrize("opt", ALL, ids=lambda o: o.rule[:24])
def test_single_array_params(opt):
    g = np.array([[1.0], [-2.0]])
    p_arr, s_arr = opt.update(np.ones((2, 1)), g, None, 0.1)
    p_arr, s_arr = opt.update(p_arr, g, s_arr, 0.1)
    p_dict, s_dict = opt.update({"w": np.ones((2, 1))}, {"w": g}, None, 0.1)
    p_dict, s_dict = opt.update(p_dict, {"w": g}, s_dict, 0.1)
    assert isinstance(p_arr, np.ndarray) and p_arr.shape == (2, 1)
    np.testing.assert_array_equal(p_arr, p_dict["w"])
    assert all(isinstance(s_arr[s], np.ndarray) for s in opt.slots)


# -- the strings a report shows --------------------------------------------------------------
STRINGS = [
    (optim.sgd(), "p ← p − η·g", "optax.sgd(learning_rate=lr)", "torch.optim.SGD(params, lr=lr)"),
    (
        optim.momentum(),
        "b ← β·b + g;  p ← p − η·b   (β = 0.9)",
        "optax.sgd(learning_rate=lr, momentum=0.9, nesterov=False)",
        "torch.optim.SGD(params, lr=lr, momentum=0.9, dampening=0, nesterov=False)",
    ),
    (
        optim.momentum(beta=0.5, nesterov=True),
        "b ← β·b + g;  p ← p − η·(g + β·b)   (β = 0.5, Nesterov)",
        "optax.sgd(learning_rate=lr, momentum=0.5, nesterov=True)",
        "torch.optim.SGD(params, lr=lr, momentum=0.5, dampening=0, nesterov=True)",
    ),
    (
        optim.adam(),
        "m ← β₁·m + (1−β₁)·g;  v ← β₂·v + (1−β₂)·g²;  m̂ = m/(1−β₁ᵗ);  v̂ = v/(1−β₂ᵗ);  "
        "p ← p − η·m̂/(√v̂ + ε)   (β₁ = 0.9, β₂ = 0.999, ε = 1e-08)",
        "optax.adam(learning_rate=lr, b1=0.9, b2=0.999, eps=1e-08, eps_root=0.0)",
        "torch.optim.Adam(params, lr=lr, betas=(0.9, 0.999), eps=1e-08, weight_decay=0)",
    ),
    (
        optim.adamw(weight_decay=0.1),
        "m ← β₁·m + (1−β₁)·g;  v ← β₂·v + (1−β₂)·g²;  m̂ = m/(1−β₁ᵗ);  v̂ = v/(1−β₂ᵗ);  "
        "p ← p − η·(m̂/(√v̂ + ε) + λ·p)   (β₁ = 0.9, β₂ = 0.999, ε = 1e-08, λ = 0.1)",
        "optax.adamw(learning_rate=lr, b1=0.9, b2=0.999, eps=1e-08, eps_root=0.0, weight_decay=0.1)",
        "torch.optim.AdamW(params, lr=lr, betas=(0.9, 0.999), eps=1e-08, weight_decay=0.1)",
    ),
]


@pytest.mark.parametrize(("opt", "rule", "optax_config", "torch_config"), STRINGS)
def test_strings_are_the_calls_that_run(opt, rule, optax_config, torch_config):
    assert (opt.rule, opt.optax_config, opt.torch_config) == (rule, optax_config, torch_config)
    assert getattr(optim, opt.name)(**opt.hyper) == opt
    lr = 0.05
    from_text = jax_run(eval(optax_config, {"optax": optax, "lr": lr}), np.float64, 20)
    np.testing.assert_array_equal(from_text, jax_run(opt.optax(lr), np.float64, 20))
    env = {"torch": torch, "lr": lr}
    from_text = torch_run(lambda ts: eval(torch_config, {**env, "params": ts}), np.float64, 20)
    np.testing.assert_array_equal(
        from_text, torch_run(lambda ts: opt.torch(ts, lr), np.float64, 20)
    )


def test_gain_and_relative():
    assert (optim.sgd().gain, optim.sgd().relative) == (1.0, False)
    for nesterov in (False, True):
        opt = optim.momentum(beta=0.75, nesterov=nesterov)
        assert opt.gain == pytest.approx(4.0) and not opt.relative
    assert all((o.gain, o.relative) == (1.0, True) for o in (optim.adam(), optim.adamw()))


@pytest.mark.parametrize("beta", [0.5, 0.9])
def test_momentum_gain_is_the_total_shift_of_one_error(beta):
    """One error δ in g₁ only: its total effect on p after many steps is η·δ·gain."""
    for nesterov in (False, True):
        opt, lr = optim.momentum(beta=beta, nesterov=nesterov), 0.1
        p, s = opt.update(np.zeros(1), np.ones(1), None, lr)  # the error, then zero gradients
        for _ in range(400):
            p, s = opt.update(p, np.zeros(1), s, lr)
        assert -p[0] == pytest.approx(lr * opt.gain, rel=1e-12)


# -- bad input: where, what, how to fix ------------------------------------------------------
BAD = [
    (lambda: optim.momentum(beta=1.0), InputError, "momentum: beta=1.0 is outside [0, 1)"),
    (lambda: optim.momentum(beta=0.0, nesterov=True), InputError, "use gdcheck.optim.sgd()"),
    (lambda: optim.momentum(nesterov=1), InputTypeError, "nesterov must be True or False"),
    (lambda: optim.adam(b2=-0.1), InputError, "adam: b2=-0.1 is outside [0, 1)"),
    (lambda: optim.adam(eps=0), InputError, "adam: eps=0.0 must be > 0"),
    (lambda: optim.adamw(weight_decay=-1), InputError, "weight_decay=-1.0 must be ≥ 0"),
    (lambda: optim.adam(b1="0.9"), InputTypeError, "b1 must be a real number, got '0.9'"),
    (
        lambda: optim.sgd().update({"w": np.ones(2)}, {"x": np.ones(2)}, None, 0.1),
        InputError,
        "sgd().update: grads has keys ['x'] but params has ['w']",
    ),
    (
        lambda: optim.sgd().update({"w": np.ones(2)}, {"w": np.ones(3)}, None, 0.1),
        InputError,
        "grads['w'] has shape (3,) but params['w'] has shape (2,)",
    ),
    (
        lambda: optim.sgd().update(np.ones(2), {"w": np.ones(2)}, None, 0.1),
        InputTypeError,
        "params is one array but grads is not",
    ),
    (
        lambda: optim.sgd().update(np.ones(2), np.ones(2), None, -1),
        InputError,
        "lr=-1.0 must be > 0",
    ),
    (
        lambda: optim.adam().update(np.ones(2), np.ones(2), {"step": 1}, 0.1),
        InputError,
        "state has no slot 'm'; pass None at the first step",
    ),
    (lambda: optim.sgd().torch([], 0.1), InputError, "got no tensors"),
]


@pytest.mark.parametrize(("call", "error", "text"), BAD)
def test_bad_input_message(call, error, text):
    with pytest.raises(error) as info:
        call()
    assert str(info.value).startswith("gdcheck: ") and text in str(info.value)
