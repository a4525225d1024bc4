"""neural_renderer's Adam: zero gradients skip, per-parameter ``lr``.

Adam's first step from m = v = 0 with gradient g: m1 = (1 - b1) g,
v1 = (1 - b2) g^2, alpha_t = alpha sqrt(1 - b2) / (1 - b1), so
step = alpha_t m1 / (sqrt(v1) + eps)
     = alpha sqrt(1 - b2) g / (sqrt(1 - b2) |g| + eps)   (~ alpha sign(g)).
"""
import math

import numpy
import pytest

import neural_renderer  # NOQA  (NumPy 2 shim before chainer)
import chainer
import chainer.functions as F
import chainer.optimizers

from neural_renderer.optimizers import Adam

from backends import to_cpu


def first_step(g, alpha=0.001, beta2=0.999, eps=1e-8):
    root = math.sqrt(1 - beta2)
    return alpha * root * g / (root * abs(g) + eps)


class Model(chainer.Link):
    def __init__(self, values, dtype=numpy.float64, device='@numpy'):
        super(Model, self).__init__()
        with self.init_scope():
            self.x = chainer.Parameter(numpy.array(values, dtype))
            self.y = chainer.Parameter(numpy.array(values, dtype))
        self.to_device(device)


def step_with_grads(optimizer, model, grads):
    model.cleargrads()
    for param, grad in zip((model.x, model.y), grads):
        param.grad = model.xp.array(grad, param.dtype)
    optimizer.update()


def test_zero_gradient_elements_are_untouched(device):
    model = Model([1., 2., 3.], device=device)
    optimizer = Adam()
    optimizer.setup(model)
    step_with_grads(optimizer, model, ([0.5, 0., -2.], [0., 0., 0.]))
    expected = [1 - first_step(0.5), 2., 3 - first_step(-2.)]
    numpy.testing.assert_allclose(to_cpu(model.x.array), expected,
                                  rtol=1e-12)
    state = model.x.update_rule.state
    assert to_cpu(state['m'])[1] == 0 and to_cpu(state['v'])[1] == 0
    numpy.testing.assert_array_equal(to_cpu(model.y.array), [1., 2., 3.])
    # Second step: element 0 has momentum but no gradient now. Plain Adam
    # would move it; this one leaves it and its moments alone. (Elements
    # read on the CPU: a cupy element is a view that the update changes.)
    x0, m0, v0 = (to_cpu(model.x.array)[0], to_cpu(state['m'])[0],
                  to_cpu(state['v'])[0])
    step_with_grads(optimizer, model, ([0., 1., 1.], [0., 0., 0.]))
    assert to_cpu(model.x.array)[0] == x0
    assert to_cpu(state['m'])[0] == m0 and to_cpu(state['v'])[0] == v0
    assert to_cpu(model.x.array)[1] != 2.


def test_matches_chainer_adam_when_no_gradient_is_zero(device):
    rng = numpy.random.RandomState(0)
    ours = Model([1., -2., 3.], device=device)
    theirs = Model([1., -2., 3.], device=device)
    opt_ours = Adam(alpha=0.01, beta1=0.8, weight_decay_rate=0.1)
    opt_theirs = chainer.optimizers.Adam(alpha=0.01, beta1=0.8,
                                         weight_decay_rate=0.1)
    opt_ours.setup(ours)
    opt_theirs.setup(theirs)
    for _ in range(5):
        grads = (rng.randn(3), rng.randn(3))
        step_with_grads(opt_ours, ours, grads)
        step_with_grads(opt_theirs, theirs, grads)
    numpy.testing.assert_allclose(to_cpu(ours.x.array),
                                  to_cpu(theirs.x.array), rtol=1e-12)
    numpy.testing.assert_allclose(to_cpu(ours.y.array),
                                  to_cpu(theirs.y.array), rtol=1e-12)


def test_lr_multiplier_scales_the_step(device):
    model = Model([0., 0.], device=device)
    model.x.lr = 0.01
    optimizer = Adam(alpha=0.1)
    optimizer.setup(model)
    step_with_grads(optimizer, model, ([3., -1.], [3., -1.]))
    numpy.testing.assert_allclose(
        to_cpu(model.x.array), [-0.01 * first_step(3., 0.1),
                                -0.01 * first_step(-1., 0.1)], rtol=1e-12)
    numpy.testing.assert_allclose(
        to_cpu(model.y.array), [-first_step(3., 0.1), -first_step(-1., 0.1)],
        rtol=1e-12)


def test_per_parameter_alpha_override(device):
    model = Model([0.], device=device)
    optimizer = Adam(alpha=0.1)
    optimizer.setup(model)
    model.y.update_rule.hyperparam.alpha = 0.5
    model.y.lr = 2.
    step_with_grads(optimizer, model, ([1.], [1.]))
    numpy.testing.assert_allclose(to_cpu(model.x.array),
                                  [-first_step(1., 0.1)], rtol=1e-12)
    numpy.testing.assert_allclose(to_cpu(model.y.array),
                                  [-2 * first_step(1., 0.5)], rtol=1e-12)


def test_float32_and_optimisation_in_a_link(xp, device):
    # Minimise |x - target|^2 over a float32 Parameter; the masked element
    # (no gradient, it does not enter the loss) stays put.
    model = Model([5., -5., 7.], dtype=numpy.float32, device=device)
    target = numpy.array([1., 2.], numpy.float32)
    optimizer = Adam(alpha=0.1)
    optimizer.setup(model)
    for _ in range(300):
        model.cleargrads()
        loss = F.sum((model.x[:2] - xp.asarray(target)) ** 2)
        loss.backward()
        optimizer.update()
    assert model.x.dtype == numpy.float32
    numpy.testing.assert_allclose(to_cpu(model.x.array)[:2], target,
                                  atol=0.05)
    assert to_cpu(model.x.array)[2] == 7.
    # y never had a gradient (None): untouched.
    numpy.testing.assert_array_equal(to_cpu(model.y.array), [5., -5., 7.])


def test_unsupported_variants():
    with pytest.raises(ValueError, match='amsgrad'):
        Adam(amsgrad=True)


def test_matches_the_cpu(device):
    # Two steps on the device against the same steps on NumPy (the CPU-GPU
    # cross-check on cupy; trivially equal on numpy).
    grads = ([0.5, 0., -2.], [1., 1., 0.])
    results = []
    for on in ('@numpy', device):
        model = Model([1., 2., 3.], dtype=numpy.float32, device=on)
        model.x.lr = 0.3
        optimizer = Adam(alpha=0.1)
        optimizer.setup(model)
        for grad_pair in (grads, grads[::-1]):
            model.cleargrads()
            for param, grad in zip((model.x, model.y), grad_pair):
                param.grad = model.xp.asarray(grad, numpy.float32)
            optimizer.update()
        results.append([to_cpu(p.array) for p in (model.x, model.y)])
    for cpu, other in zip(*results):
        numpy.testing.assert_allclose(other, cpu, rtol=1e-6)
