"""Optimizers: 20-step trajectories on a fixed quadratic against the update equations
written out here, parameter groups, state dicts, schedulers, and PyTorch where installed."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn, optim
from minigrad.optim import lr_scheduler
from minigrad.serialization import load, save

# f(theta) = 1/2 theta^T A theta - b^T theta, gradient A theta - b
A = np.array([[3.0, 0.5, 0.0], [0.5, 2.0, -0.3], [0.0, -0.3, 1.0]])
B = np.array([1.0, -2.0, 0.5])
THETA0 = np.array([0.7, -0.4, 1.3])
STEPS = 20


def quad_grad(theta):
    return A @ theta - B


def run_minigrad(make_opt, steps=STEPS):
    theta = nn.Parameter(THETA0.copy())
    opt = make_opt([theta])
    traj = []
    for _ in range(steps):
        opt.zero_grad()
        loss = 0.5 * (theta @ (mg.tensor(A) @ theta)) - mg.tensor(B) @ theta
        loss.backward()
        opt.step()
        traj.append(theta.numpy().copy())
    return np.array(traj)


def sgd_reference(lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
    theta, buf, traj = THETA0.copy(), None, []
    for _ in range(STEPS):
        g = quad_grad(theta) + weight_decay * theta
        if momentum:
            buf = g.copy() if buf is None else momentum * buf + (1 - dampening) * g
            g = g + momentum * buf if nesterov else buf
        theta = theta - lr * g
        traj.append(theta)
    return np.array(traj)


def adam_reference(lr, b1, b2, eps, weight_decay=0.0, amsgrad=False, decoupled=False):
    theta, m, v, vmax, traj = THETA0.copy(), np.zeros(3), np.zeros(3), np.zeros(3), []
    for t in range(1, STEPS + 1):
        g = quad_grad(theta)
        if decoupled:
            theta = theta * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * theta
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        vmax = np.maximum(vmax, v)
        m_hat = m / (1 - b1**t)
        v_hat = (vmax if amsgrad else v) / (1 - b2**t)
        theta = theta - lr * m_hat / (np.sqrt(v_hat) + eps)
        traj.append(theta)
    return np.array(traj)


def rmsprop_reference(
    lr, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False, maximize=False
):
    theta, traj = THETA0.copy(), []
    v, m, buf = np.zeros(3), np.zeros(3), np.zeros(3)
    for _ in range(STEPS):
        g = quad_grad(theta) * (-1 if maximize else 1) + weight_decay * theta
        v = alpha * v + (1 - alpha) * g**2
        if centered:
            m = alpha * m + (1 - alpha) * g
            d = np.sqrt(v - m**2) + eps
        else:
            d = np.sqrt(v) + eps
        if momentum > 0:
            buf = momentum * buf + g / d
            theta = theta - lr * buf
        else:
            theta = theta - lr * g / d
        traj.append(theta)
    return np.array(traj)


def adagrad_reference(
    lr, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10, maximize=False
):
    theta, s, traj = THETA0.copy(), np.full(3, float(initial_accumulator_value)), []
    for t in range(1, STEPS + 1):
        g = quad_grad(theta) * (-1 if maximize else 1) + weight_decay * theta
        s = s + g**2
        theta = theta - lr / (1 + (t - 1) * lr_decay) * g / (np.sqrt(s) + eps)
        traj.append(theta)
    return np.array(traj)


def adadelta_reference(lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, maximize=False):
    theta, v, u, traj = THETA0.copy(), np.zeros(3), np.zeros(3), []
    for _ in range(STEPS):
        g = quad_grad(theta) * (-1 if maximize else 1) + weight_decay * theta
        v = rho * v + (1 - rho) * g**2
        d = np.sqrt(u + eps) / np.sqrt(v + eps) * g
        u = rho * u + (1 - rho) * d**2
        theta = theta - lr * d
        traj.append(theta)
    return np.array(traj)


def option_grid(fixed, **choices):
    """Every combination of ``choices`` (each a list of values), merged into ``fixed``."""
    keys = list(choices)
    return [dict(fixed, **dict(zip(keys, vals))) for vals in itertools.product(*choices.values())]


def case_id(opts):
    return ",".join(f"{k}={v}" for k, v in opts.items())


# every combination of the options that switch equations on, with non-default values
RMSPROP_CASES = option_grid(
    dict(lr=0.01),
    alpha=[0.99, 0.8],
    eps=[1e-8, 1e-3],
    weight_decay=[0.0, 0.1],
    momentum=[0.0, 0.9],
    centered=[False, True],
    maximize=[False, True],
)
ADAGRAD_CASES = option_grid(
    dict(lr=0.1),
    lr_decay=[0.0, 0.05],
    weight_decay=[0.0, 0.1],
    initial_accumulator_value=[0.0, 0.5],
    eps=[1e-10, 1e-2],
    maximize=[False, True],
)
ADADELTA_CASES = option_grid(
    dict(),
    lr=[1.0, 0.3],
    rho=[0.9, 0.5],
    eps=[1e-6, 1e-3],
    weight_decay=[0.0, 0.1],
    maximize=[False, True],
)
NEW_OPTIMIZERS = [
    ("RMSprop", RMSPROP_CASES, rmsprop_reference),
    ("Adagrad", ADAGRAD_CASES, adagrad_reference),
    ("Adadelta", ADADELTA_CASES, adadelta_reference),
]
NEW_CASES = [(name, opts, ref) for name, cases, ref in NEW_OPTIMIZERS for opts in cases]


@pytest.mark.parametrize(
    "name,opts,reference", NEW_CASES, ids=[f"{n}-{case_id(o)}" for n, o, _ in NEW_CASES]
)
def test_adaptive_optimizer_trajectory(name, opts, reference):
    got = run_minigrad(lambda p: getattr(optim, name)(p, **opts))
    np.testing.assert_allclose(got, reference(**opts), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name,cases", [(n, c) for n, c, _ in NEW_OPTIMIZERS])
def test_adaptive_optimizers_against_torch(name, cases):
    torch = pytest.importorskip("torch")
    for opts in cases:
        got = run_minigrad(lambda p, o=opts: getattr(optim, name)(p, **o))
        ref = run_torch(torch, lambda p, o=opts: getattr(torch.optim, name)(p, **o))
        np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-12, err_msg=case_id(opts))


def run_torch(torch, make_opt, steps=STEPS):
    th = torch.tensor(THETA0.copy(), requires_grad=True)
    opt = make_opt([th])
    traj = []
    for _ in range(steps):
        opt.zero_grad()
        loss = 0.5 * th @ (torch.tensor(A) @ th) - torch.tensor(B) @ th
        loss.backward()
        opt.step()
        traj.append(th.detach().numpy().copy())
    return np.array(traj)


SGD_CASES = [
    dict(lr=0.1),
    dict(lr=0.05, momentum=0.9),
    dict(lr=0.05, momentum=0.9, dampening=0.3),
    dict(lr=0.05, momentum=0.8, nesterov=True),
    dict(lr=0.1, momentum=0.5, weight_decay=0.1),
]


@pytest.mark.parametrize(
    "opts", SGD_CASES, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items())
)
def test_sgd_trajectory(opts):
    got = run_minigrad(lambda p: optim.SGD(p, **opts))
    np.testing.assert_allclose(got, sgd_reference(**opts), rtol=1e-12, atol=1e-14)


ADAM_CASES = [
    dict(lr=0.1, b1=0.9, b2=0.999, eps=1e-8),
    dict(lr=0.05, b1=0.8, b2=0.99, eps=1e-6, weight_decay=0.1),
    dict(lr=0.1, b1=0.9, b2=0.9, eps=1e-8, amsgrad=True),
]


@pytest.mark.parametrize("opts", ADAM_CASES, ids=str)
def test_adam_trajectory(opts):
    o = dict(opts)
    kw = dict(
        lr=o["lr"],
        betas=(o["b1"], o["b2"]),
        eps=o["eps"],
        weight_decay=o.get("weight_decay", 0.0),
        amsgrad=o.get("amsgrad", False),
    )
    got = run_minigrad(lambda p: optim.Adam(p, **kw))
    np.testing.assert_allclose(got, adam_reference(**opts), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("amsgrad", [False, True])
def test_adamw_trajectory(amsgrad):
    got = run_minigrad(lambda p: optim.AdamW(p, lr=0.1, weight_decay=0.2, amsgrad=amsgrad))
    ref = adam_reference(0.1, 0.9, 0.999, 1e-8, 0.2, amsgrad=amsgrad, decoupled=True)
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-14)


def test_sgd_converges_to_minimum():
    got = run_minigrad(lambda p: optim.SGD(p, lr=0.1, momentum=0.5), steps=300)
    np.testing.assert_allclose(got[-1], np.linalg.solve(A, B), atol=1e-8)


def test_maximize_flips_the_step():
    got = run_minigrad(lambda p: optim.SGD(p, lr=0.1, maximize=True), steps=1)
    np.testing.assert_allclose(got[0], THETA0 + 0.1 * quad_grad(THETA0))


def test_param_groups_have_their_own_options():
    a, b = nn.Parameter(np.ones(2)), nn.Parameter(np.ones(2))
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5, "momentum": 0.9}], lr=0.1)
    assert opt.param_groups[0]["lr"] == 0.1 and opt.param_groups[0]["momentum"] == 0
    assert opt.param_groups[1]["lr"] == 0.5
    g = np.array([1.0, -2.0])
    for p in (a, b):
        p.grad = mg.tensor(g)
    opt.step()
    opt.step()
    np.testing.assert_allclose(a.numpy(), 1 - 2 * 0.1 * g)
    # momentum: step 1 uses g, step 2 uses 0.9 g + g
    np.testing.assert_allclose(b.numpy(), 1 - 0.5 * g - 0.5 * 1.9 * g)


def test_steps_skip_params_without_grad_and_never_touch_grad():
    a, b = nn.Parameter(np.ones(3)), nn.Parameter(np.ones(3))
    shared = mg.tensor(np.array([1.0, 2.0, 3.0]))
    a.grad = shared  # the same gradient object could be referenced elsewhere
    before = shared.numpy().copy()
    for opt in (
        optim.SGD([a, b], lr=0.1, momentum=0.9, weight_decay=0.1),
        optim.Adam([a, b], weight_decay=0.1),
        optim.AdamW([a, b]),
        optim.RMSprop([a, b], momentum=0.9, centered=True, weight_decay=0.1),
        optim.Adagrad([a, b], weight_decay=0.1),
        optim.Adadelta([a, b], weight_decay=0.1),
    ):
        opt.step()
        opt.step()
        np.testing.assert_array_equal(shared.numpy(), before)
        np.testing.assert_array_equal(b.numpy(), np.ones(3))


def test_float32_params_stay_float32():
    p = nn.Parameter(np.ones(4, dtype=np.float32))
    p.grad = mg.tensor(np.full(4, 0.5, dtype=np.float32))
    for opt in (
        optim.SGD([p], lr=0.1, momentum=0.9),
        optim.Adam([p]),
        optim.AdamW([p]),
        optim.RMSprop([p], momentum=0.9, centered=True),
        optim.Adagrad([p]),
        optim.Adadelta([p]),
    ):
        opt.step()
        assert p.dtype == np.float32
        assert all(
            v.dtype == np.float32 for v in opt.state[p].values() if isinstance(v, np.ndarray)
        )


def test_zero_grad():
    p = nn.Parameter(np.ones(2))
    p.grad = mg.tensor(np.ones(2))
    g = p.grad
    opt = optim.SGD([p], lr=0.1)
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(p.grad.numpy(), 0)
    np.testing.assert_array_equal(g.numpy(), 1)  # the old gradient array was not zeroed
    opt.zero_grad()
    assert p.grad is None


def test_bad_options_and_params():
    p = nn.Parameter(np.ones(2))
    with pytest.raises(ValueError, match="learning rate"):
        optim.SGD([p], lr=-1)
    with pytest.raises(ValueError, match="nesterov"):
        optim.SGD([p], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="betas"):
        optim.Adam([p], betas=(0.9, 1.0))
    # non-numeric options are named (they failed inside a comparison before)
    with pytest.raises(TypeError, match="SGD: lr must be a number"):
        optim.SGD([p], lr="0.1")
    with pytest.raises(TypeError, match="SGD: momentum must be a number"):
        optim.SGD([{"params": [p], "momentum": None}], lr=0.1)
    with pytest.raises(TypeError, match="AdamW: beta2 must be a number"):
        optim.AdamW([p], betas=(0.9, "0.999"))
    with pytest.raises(ValueError, match="betas must be a pair"):
        optim.Adam([p], betas=(0.9,))
    with pytest.raises(ValueError, match="more than one"):
        optim.SGD([{"params": [p]}, {"params": [p]}], lr=0.1)
    with pytest.raises(TypeError, match="single Tensor"):
        optim.SGD(p, lr=0.1)
    with pytest.raises(ValueError, match="empty"):
        optim.Adam([])
    with pytest.raises(ValueError, match="RMSprop: invalid alpha=-0.1"):
        optim.RMSprop([p], alpha=-0.1)
    with pytest.raises(ValueError, match="RMSprop: invalid momentum=-1"):
        optim.RMSprop([p], momentum=-1)
    with pytest.raises(ValueError, match="Adagrad: invalid lr_decay=-0.5"):
        optim.Adagrad([p], lr_decay=-0.5)
    with pytest.raises(ValueError, match="Adagrad: invalid initial_accumulator_value"):
        optim.Adagrad([p], initial_accumulator_value=-1)
    with pytest.raises(ValueError, match=r"Adadelta: invalid rho=1.5 \(must be in \[0, 1\]\)"):
        optim.Adadelta([p], rho=1.5)
    with pytest.raises(TypeError, match="Adadelta: eps must be a number"):
        optim.Adadelta([p], eps=None)


def _train(opt, params, steps):
    for _ in range(steps):
        opt.zero_grad()
        loss = sum(((p - 0.3) * (p - 0.3)).sum() for p in params)
        loss.backward()
        opt.step()


@pytest.mark.parametrize(
    "make",
    [
        lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
        lambda ps: optim.Adam(ps, lr=0.05, amsgrad=True),
        lambda ps: optim.AdamW([{"params": ps[:1]}, {"params": ps[1:], "lr": 0.01}], lr=0.05),
        lambda ps: optim.RMSprop(ps, lr=0.01, momentum=0.5, centered=True),
        lambda ps: optim.Adagrad(ps, lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1),
        lambda ps: optim.Adadelta(ps, lr=0.5, weight_decay=0.01),
    ],
)
def test_state_dict_round_trip_resumes_identically(make, tmp_path):
    def fresh():
        mg.manual_seed(3)
        return [nn.Parameter(mg.randn(2, 3, dtype=np.float64)), nn.Parameter(mg.randn(4))]

    ps = fresh()
    opt = make(ps)
    _train(opt, ps, 5)
    save({"params": [p.numpy() for p in ps], "opt": opt.state_dict()}, tmp_path / "o.ckpt")
    _train(opt, ps, 5)
    expected = [p.numpy().copy() for p in ps]

    ps2 = fresh()
    ck = load(tmp_path / "o.ckpt")
    for p, a in zip(ps2, ck["params"]):
        p.data[...] = a
    opt2 = make(ps2)
    opt2.load_state_dict(ck["opt"])
    _train(opt2, ps2, 5)
    for p, e in zip(ps2, expected):
        np.testing.assert_array_equal(p.numpy(), e)  # bit-exact


def test_load_state_dict_checks_shapes():
    p = nn.Parameter(np.ones(3))
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    p.grad = mg.tensor(np.ones(3))
    opt.step()
    sd = opt.state_dict()
    q = nn.Parameter(np.ones(4))
    with pytest.raises(ValueError, match="shape"):
        optim.SGD([q], lr=0.1, momentum=0.9).load_state_dict(sd)
    with pytest.raises(ValueError, match="parameter groups"):
        optim.SGD(
            [{"params": [q]}, {"params": [nn.Parameter(np.ones(1))]}], lr=0.1
        ).load_state_dict(sd)


def test_step_lr_and_cosine():
    p = nn.Parameter(np.ones(1))
    opt = optim.SGD([p], lr=1.0)
    sched = lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)
    lrs = []
    for _ in range(8):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs == [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25]

    opt = optim.SGD([{"params": [p]}, {"params": [nn.Parameter(np.ones(1))], "lr": 0.5}], lr=1.0)
    sched = lr_scheduler.CosineAnnealingLR(opt, T_max=10, eta_min=0.1)
    for epoch in range(12):
        for g, base in zip(opt.param_groups, (1.0, 0.5)):
            want = 0.1 + (base - 0.1) * (1 + math.cos(math.pi * epoch / 10)) / 2
            assert g["lr"] == pytest.approx(want, rel=1e-12)
        sched.step()
    assert sched.get_last_lr()[0] == pytest.approx(opt.param_groups[0]["lr"])


def test_scheduler_state_round_trip():
    p = nn.Parameter(np.ones(1))
    opt = optim.SGD([p], lr=1.0)
    s = lr_scheduler.StepLR(opt, 2, 0.1)
    for _ in range(5):
        s.step()
    opt2 = optim.SGD([nn.Parameter(np.ones(1))], lr=1.0)
    s2 = lr_scheduler.StepLR(opt2, 2, 0.1)
    s2.load_state_dict(s.state_dict())
    s.step()
    s2.step()
    assert s2.get_last_lr() == s.get_last_lr() and s.last_epoch == s2.last_epoch == 6


def test_against_torch():
    torch = pytest.importorskip("torch")
    cases = [
        (
            lambda p: optim.SGD(p, lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01),
            lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01),
        ),
        (
            lambda p: optim.Adam(p, lr=0.05, weight_decay=0.01, amsgrad=True),
            lambda p: torch.optim.Adam(p, lr=0.05, weight_decay=0.01, amsgrad=True),
        ),
        (lambda p: optim.AdamW(p, lr=0.05), lambda p: torch.optim.AdamW(p, lr=0.05)),
    ]
    for ours, theirs in cases:
        got = run_minigrad(ours)
        th = torch.tensor(THETA0.copy(), requires_grad=True)
        opt = theirs([th])
        ref = []
        for _ in range(STEPS):
            opt.zero_grad()
            loss = 0.5 * th @ (torch.tensor(A) @ th) - torch.tensor(B) @ th
            loss.backward()
            opt.step()
            ref.append(th.detach().numpy().copy())
        np.testing.assert_allclose(got, np.array(ref), rtol=1e-10, atol=1e-12)


def test_schedulers_against_torch():
    torch = pytest.importorskip("torch")
    for ours_cls, theirs_cls, kw in [
        (lr_scheduler.StepLR, torch.optim.lr_scheduler.StepLR, dict(step_size=4, gamma=0.3)),
        (
            lr_scheduler.CosineAnnealingLR,
            torch.optim.lr_scheduler.CosineAnnealingLR,
            dict(T_max=7, eta_min=0.01),
        ),
    ]:
        opt = optim.SGD([nn.Parameter(np.ones(1))], lr=0.5)
        sched = ours_cls(opt, **kw)
        topt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.5)
        tsched = theirs_cls(topt, **kw)
        for _ in range(25):
            assert opt.param_groups[0]["lr"] == pytest.approx(
                topt.param_groups[0]["lr"], rel=1e-9, abs=1e-12
            )
            opt.step()
            topt.step()
            sched.step()
            tsched.step()


@pytest.mark.parametrize("betas", [0.9, (0.9,), "ab", (0.9, 0.99, 0.999)])
def test_adam_betas_must_be_a_pair(betas):
    p = nn.Parameter(np.zeros(3))
    with pytest.raises(ValueError, match=r"Adam: betas must be a pair"):
        optim.Adam([p], betas=betas)


OPTIMIZER_FACTORIES = [
    lambda p: optim.SGD(p, lr=0.05, momentum=0.9),
    lambda p: optim.Adam(p, lr=0.05),
    lambda p: optim.AdamW(p, lr=0.05),
    lambda p: optim.RMSprop(p, lr=0.01),
    lambda p: optim.Adagrad(p, lr=0.1),
    lambda p: optim.Adadelta(p),
]


@pytest.mark.parametrize("make", OPTIMIZER_FACTORIES)
def test_step_with_closure_returns_its_loss_and_equals_plain_steps(make):
    expected = run_minigrad(make, steps=5)
    theta = nn.Parameter(THETA0.copy())
    opt = make([theta])
    calls = []

    def closure():
        opt.zero_grad()
        loss = 0.5 * (theta @ (mg.tensor(A) @ theta)) - mg.tensor(B) @ theta
        loss.backward()
        calls.append(loss.item())
        return loss

    for k in range(5):
        with mg.no_grad():  # the closure records its graph even when called from no_grad
            loss = opt.step(closure)
        assert loss.item() == calls[-1] and len(calls) == k + 1
        np.testing.assert_array_equal(theta.numpy(), expected[k])
    assert opt.step() is None  # without a closure: None, as in PyTorch


def test_state_is_keyed_by_parameter():
    p = nn.Parameter(np.ones(2))
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    p.grad = mg.tensor(np.ones(2))
    opt.step()
    np.testing.assert_array_equal(opt.state[p]["momentum_buffer"], [1.0, 1.0])
    ada = optim.Adagrad([p], initial_accumulator_value=0.25)
    # PyTorch fills Adagrad's accumulators when the optimizer is built
    np.testing.assert_array_equal(ada.state[p]["sum"], [0.25, 0.25])
    assert ada.state_dict()["state"][0]["step"] == 0


def test_closure_against_torch():
    torch = pytest.importorskip("torch")
    theta = nn.Parameter(THETA0.copy())
    th = torch.tensor(THETA0.copy(), requires_grad=True)
    opt, topt = optim.RMSprop([theta], lr=0.01), torch.optim.RMSprop([th], lr=0.01)

    def closure():
        opt.zero_grad()
        loss = 0.5 * (theta @ (mg.tensor(A) @ theta)) - mg.tensor(B) @ theta
        loss.backward()
        return loss

    def tclosure():
        topt.zero_grad()
        loss = 0.5 * th @ (torch.tensor(A) @ th) - torch.tensor(B) @ th
        loss.backward()
        return loss

    for _ in range(3):
        assert opt.step(closure).item() == pytest.approx(topt.step(tclosure).item(), rel=1e-12)
    np.testing.assert_allclose(theta.numpy(), th.detach().numpy(), rtol=1e-12)
