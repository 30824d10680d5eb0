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


# ----------------------------------------------------------------------------- schedules


def two_group_sgd(lr=1.0, momentum=0.0):
    return optim.SGD(
        [
            {"params": [nn.Parameter(np.ones(1))]},
            {"params": [nn.Parameter(np.ones(1))], "lr": lr / 4},
        ],
        lr=lr,
        momentum=momentum,
    )


def lrs_over(opt, sched, epochs, metrics=None):
    """The groups' learning rates at each epoch (read before that epoch's step)."""
    out = []
    for e in range(epochs):
        out.append([g["lr"] for g in opt.param_groups])
        opt.step()
        sched.step() if metrics is None else sched.step(metrics[e])
    return np.array(out)


EPOCH_SCHEDULES = [
    ("StepLR", dict(step_size=3, gamma=0.5), lambda b, e: b * 0.5 ** (e // 3)),
    (
        "MultiStepLR",
        dict(milestones=[6, 2, 6, 9], gamma=0.3),  # unsorted, 6 twice: counts twice
        lambda b, e: b * 0.3 ** ((e >= 2) + 2 * (e >= 6) + (e >= 9)),
    ),
    ("ExponentialLR", dict(gamma=0.8), lambda b, e: b * 0.8**e),
    (
        "LambdaLR",
        dict(lr_lambda=lambda e: 1 / (1 + e) ** 2),
        lambda b, e: b / (1 + e) ** 2,
    ),
    (
        "CosineAnnealingLR",
        dict(T_max=5, eta_min=0.01),
        lambda b, e: 0.01 + (b - 0.01) * (1 + math.cos(math.pi * e / 5)) / 2,
    ),
]


@pytest.mark.parametrize("name,kw,formula", EPOCH_SCHEDULES, ids=[s[0] for s in EPOCH_SCHEDULES])
def test_epoch_schedules_follow_their_formula(name, kw, formula):
    opt = two_group_sgd()
    sched = getattr(lr_scheduler, name)(opt, **kw)
    got = lrs_over(opt, sched, 14)
    want = np.array([[formula(1.0, e), formula(0.25, e)] for e in range(14)])
    np.testing.assert_allclose(got, want, rtol=1e-13)
    assert sched.get_last_lr() == [g["lr"] for g in opt.param_groups]
    assert sched.last_epoch == 14


@pytest.mark.parametrize("name,kw,formula", EPOCH_SCHEDULES, ids=[s[0] for s in EPOCH_SCHEDULES])
def test_epoch_schedules_against_torch(name, kw, formula):
    torch = pytest.importorskip("torch")
    opt = two_group_sgd()
    got = lrs_over(opt, getattr(lr_scheduler, name)(opt, **kw), 14)
    topt = torch.optim.SGD(
        [
            {"params": [torch.zeros(1, requires_grad=True)]},
            {"params": [torch.zeros(1, requires_grad=True)], "lr": 0.25},
        ],
        lr=1.0,
    )
    want = lrs_over(topt, getattr(torch.optim.lr_scheduler, name)(topt, **kw), 14)
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_lambda_lr_per_group_and_state_of_callable_objects():
    class Warmup:
        def __init__(self, n):
            self.n = n

        def __call__(self, e):
            return min(1.0, (e + 1) / self.n)

    opt = two_group_sgd()
    w = Warmup(4)
    sched = lr_scheduler.LambdaLR(opt, [w, lambda e: 0.5**e])
    for _ in range(2):
        sched.step()
    assert sched.get_last_lr() == pytest.approx([0.75, 0.25 * 0.25])
    sd = sched.state_dict()
    assert sd["lr_lambdas"] == [{"n": 4}, None]  # a function is not saved, an object's state is
    w2 = Warmup(10)
    opt2 = two_group_sgd()
    s2 = lr_scheduler.LambdaLR(opt2, [w2, lambda e: 0.5**e])
    s2.load_state_dict(sd)
    assert w2.n == 4 and s2.last_epoch == 2
    s2.step()
    sched.step()
    assert s2.get_last_lr() == sched.get_last_lr()
    with pytest.raises(ValueError, match="expected 2 lr_lambdas, got 1"):
        lr_scheduler.LambdaLR(opt, [w])


def plateau_reference(
    metrics, lr, mode, factor, patience, threshold, threshold_mode, cooldown, min_lr, eps
):
    """ReduceLROnPlateau's rule, written out: the lr in force at each epoch."""
    best = math.inf if mode == "min" else -math.inf
    bad = cool = 0
    out = []
    for m in metrics:
        out.append(lr)
        if mode == "min":
            better = m < (best * (1 - threshold) if threshold_mode == "rel" else best - threshold)
        else:
            better = m > (best * (1 + threshold) if threshold_mode == "rel" else best + threshold)
        if better:
            best, bad = m, 0
        else:
            bad += 1
        if cool > 0:
            cool, bad = cool - 1, 0
        if bad > patience:
            new = max(lr * factor, min_lr)
            if lr - new > eps:
                lr = new
            cool, bad = cooldown, 0
    return out


PLATEAU_METRICS = [
    5.0,
    4.0,
    4.0,
    3.9999,
    4.1,
    3.0,
    3.0,
    3.0,
    2.9,
    3.5,
    3.5,
    3.5,
    3.5,
    1.0,
    2.0,
    2.0,
    2.0,
    2.0,
    2.0,
    2.0,
    2.0,
    2.0,
    2.0,
    2.0,
]
PLATEAU_CASES = option_grid(
    dict(factor=0.5, patience=1, threshold=1e-3),
    mode=["min", "max"],
    threshold_mode=["rel", "abs"],
    cooldown=[0, 2],
    min_lr=[0.0, 0.05],
    eps=[1e-8, 0.2],
)


@pytest.mark.parametrize("kw", PLATEAU_CASES, ids=case_id)
def test_reduce_lr_on_plateau_against_rule(kw):
    p = nn.Parameter(np.ones(1))
    opt = optim.SGD([p], lr=1.0)
    sched = lr_scheduler.ReduceLROnPlateau(opt, **kw)
    metrics = PLATEAU_METRICS if kw["mode"] == "min" else [-m for m in PLATEAU_METRICS]
    got = lrs_over(opt, sched, len(metrics), metrics)[:, 0]
    want = plateau_reference(metrics, 1.0, **kw)
    np.testing.assert_array_equal(got, want)
    assert len(set(want)) > 2  # the case exercises at least two reductions


def test_reduce_lr_on_plateau_against_torch():
    torch = pytest.importorskip("torch")
    for kw in PLATEAU_CASES:
        metrics = PLATEAU_METRICS if kw["mode"] == "min" else [-m for m in PLATEAU_METRICS]
        opt = two_group_sgd()
        got = lrs_over(opt, lr_scheduler.ReduceLROnPlateau(opt, **kw), len(metrics), metrics)
        topt = torch.optim.SGD(
            [
                {"params": [torch.zeros(1, requires_grad=True)]},
                {"params": [torch.zeros(1, requires_grad=True)], "lr": 0.25},
            ],
            lr=1.0,
        )
        tsched = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kw)
        want = lrs_over(topt, tsched, len(metrics), metrics)
        np.testing.assert_array_equal(got, want, err_msg=case_id(kw))


def test_reduce_lr_on_plateau_options_and_state():
    opt = two_group_sgd()
    with pytest.raises(ValueError, match="factor must be < 1.0"):
        lr_scheduler.ReduceLROnPlateau(opt, factor=1.0)
    with pytest.raises(ValueError, match="mode must be 'min' or 'max'"):
        lr_scheduler.ReduceLROnPlateau(opt, mode="lowest")
    with pytest.raises(ValueError, match="threshold_mode must be 'rel' or 'abs'"):
        lr_scheduler.ReduceLROnPlateau(opt, threshold_mode="pct")
    with pytest.raises(ValueError, match="expected 2 values for min_lr, got 3"):
        lr_scheduler.ReduceLROnPlateau(opt, min_lr=[0, 0, 0])
    s = lr_scheduler.ReduceLROnPlateau(opt, patience=0, min_lr=[0.3, 0.0])
    s.step(mg.tensor(1.0))  # a one-element tensor is a metric too
    s.step(2.0)
    assert s.get_last_lr() == [0.3, 0.025]  # the first group stops at its min_lr
    sd = s.state_dict()
    opt2 = two_group_sgd()
    s2 = lr_scheduler.ReduceLROnPlateau(opt2, patience=0, min_lr=[0.3, 0.0])
    s2.load_state_dict(sd)
    assert s2.best == 1.0 and s2.last_epoch == 2


def onecycle_reference(
    step, total, max_lr, pct, div, final_div, three_phase, cos, top=0.95, bottom=0.85
):
    """(lr, momentum) of OneCycleLR at ``step``, from the phase table written out."""
    lo, hi = max_lr / div, max_lr
    floor = lo / final_div
    if three_phase:
        table = [
            (pct * total - 1, lo, hi, top, bottom),
            (2 * pct * total - 2, hi, lo, bottom, top),
            (total - 1, lo, floor, top, top),
        ]
    else:
        table = [(pct * total - 1, lo, hi, top, bottom), (total - 1, hi, floor, bottom, top)]
    begin = 0.0
    for i, (end, a, b, ma, mb) in enumerate(table):
        if step <= end or i == len(table) - 1:
            t = (step - begin) / (end - begin)
            if cos:
                mix = (1 + math.cos(math.pi * t)) / 2
                return b + (a - b) * mix, mb + (ma - mb) * mix
            return a + (b - a) * t, ma + (mb - ma) * t
        begin = end


ONECYCLE_CASES = option_grid(
    dict(max_lr=0.4, total_steps=20, div_factor=10.0, final_div_factor=100.0),
    pct_start=[0.3, 0.25],
    anneal_strategy=["cos", "linear"],
    three_phase=[False, True],
    optimizer=["SGD", "Adam"],
)


def _onecycle_run(lib, kw, steps):
    kw = dict(kw)
    name = kw.pop("optimizer")
    p = (lib.tensor([1.0], requires_grad=True),) if lib is not mg else (nn.Parameter(np.ones(1)),)
    opt_mod = optim if lib is mg else lib.optim
    opt = opt_mod.SGD(p, lr=0.1, momentum=0.9) if name == "SGD" else opt_mod.Adam(p, lr=0.1)
    sched_mod = lr_scheduler if lib is mg else lib.optim.lr_scheduler
    sched = sched_mod.OneCycleLR(opt, **kw)
    out = []
    for _ in range(steps):
        g = opt.param_groups[0]
        out.append((g["lr"], g["momentum"] if name == "SGD" else g["betas"][0]))
        opt.step()
        sched.step()
    return np.array(out), sched


@pytest.mark.parametrize("kw", ONECYCLE_CASES, ids=case_id)
def test_onecycle_against_phase_table(kw):
    got, sched = _onecycle_run(mg, kw, 20)
    cos = kw["anneal_strategy"] == "cos"
    args = (20, 0.4, kw["pct_start"], 10.0, 100.0, kw["three_phase"], cos)
    want = [onecycle_reference(s, *args) for s in range(20)]
    np.testing.assert_allclose(got, np.array(want), rtol=1e-12, atol=1e-15)
    assert got[0, 0] == pytest.approx(0.04) and got[-1, 0] == pytest.approx(0.0004)
    with pytest.raises(ValueError, match="tried to step 21 times, but total_steps is 20"):
        sched.step()


def test_onecycle_against_torch():
    torch = pytest.importorskip("torch")
    for kw in ONECYCLE_CASES:
        got, _ = _onecycle_run(mg, kw, 20)
        want, _ = _onecycle_run(torch, kw, 20)
        np.testing.assert_allclose(got, want, rtol=1e-12, err_msg=case_id(kw))


def test_onecycle_options():
    opt = two_group_sgd(momentum=0.9)
    s = lr_scheduler.OneCycleLR(opt, max_lr=[1.0, 2.0], epochs=2, steps_per_epoch=5)
    assert s.total_steps == 10 and s.get_last_lr() == pytest.approx([1.0 / 25, 2.0 / 25])
    assert [g["momentum"] for g in opt.param_groups] == [0.95, 0.95]
    with pytest.raises(ValueError, match="give total_steps, or epochs and steps_per_epoch"):
        lr_scheduler.OneCycleLR(opt, max_lr=1.0, epochs=3)
    with pytest.raises(ValueError, match="total_steps must be a positive int, got 0"):
        lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=0)
    with pytest.raises(ValueError, match="pct_start must be a float in"):
        lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=10, pct_start=1.5)
    with pytest.raises(ValueError, match="anneal_strategy must be"):
        lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=10, anneal_strategy="exp")
    with pytest.raises(ValueError, match="expected 2 values for max_lr, got 1"):
        lr_scheduler.OneCycleLR(opt, max_lr=[1.0], total_steps=10)
    with pytest.raises(ValueError, match="phase of length 0"):  # PyTorch: ZeroDivisionError
        lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=10, pct_start=0.1)
    ada = optim.Adagrad([nn.Parameter(np.ones(1))])
    with pytest.raises(ValueError, match="cycle_momentum needs an optimizer with momentum"):
        lr_scheduler.OneCycleLR(ada, max_lr=1.0, total_steps=10)
    s = lr_scheduler.OneCycleLR(ada, max_lr=1.0, total_steps=10, cycle_momentum=False)
    assert "momentum" not in ada.param_groups[0] and "betas" not in ada.param_groups[0]


@pytest.mark.parametrize(
    "make",
    [
        lambda o: lr_scheduler.MultiStepLR(o, [2, 5]),
        lambda o: lr_scheduler.ExponentialLR(o, 0.9),
        lambda o: lr_scheduler.CosineAnnealingLR(o, 6),
        lambda o: lr_scheduler.OneCycleLR(o, max_lr=1.0, total_steps=12, three_phase=True),
    ],
)
def test_scheduler_state_dict_resumes(make, tmp_path):
    opt = two_group_sgd(momentum=0.9)
    s = make(opt)
    for _ in range(4):
        opt.step()
        s.step()
    save({"opt": opt.state_dict(), "sched": s.state_dict()}, tmp_path / "s.ckpt")
    opt2 = two_group_sgd(momentum=0.9)
    s2 = make(opt2)
    ck = load(tmp_path / "s.ckpt")
    opt2.load_state_dict(ck["opt"])
    s2.load_state_dict(ck["sched"])
    for _ in range(5):
        s.step()
        s2.step()
        assert s2.get_last_lr() == s.get_last_lr()
        assert [g["momentum"] for g in opt2.param_groups] == [
            g["momentum"] for g in opt.param_groups
        ]


@pytest.mark.parametrize("make", OPTIMIZER_FACTORIES)
def test_steps_update_the_parameter_array_in_place(make):
    # references to the array (tied layers, p.data, views) see the update
    p = nn.Parameter(np.ones((2, 3)))
    arr, view = p.numpy(), p.numpy()[0]
    p.grad = mg.tensor(np.full((2, 3), 0.5))
    opt = make([p])
    opt.step()
    assert p.numpy() is arr and not np.all(view == 1)


@pytest.mark.parametrize("make", OPTIMIZER_FACTORIES)
def test_step_bumps_the_version_counter_so_a_stale_graph_refuses_backward(make):
    # PyTorch's guard: a graph that saved a parameter cannot backward after a step
    # changed it, so optimizer._apply_update writes through an in-place op.
    p = nn.Parameter(np.ones(3))
    x = mg.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    loss = (p * x).sum()
    before = p._version
    p.grad = mg.tensor(np.ones(3))
    make([p]).step()
    assert p._version > before
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        loss.backward()
