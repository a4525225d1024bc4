"""The reconstruction's InPlaceAdam against chainer.optimizers.Adam."""
import os
import sys

import numpy
import pytest

import chainer

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', '..', 'examples', 'reconstruction'))
import inplace_adam  # noqa: E402


def make_link(seed=0):
    # Sizes chosen around the patched block of 1000 elements: one below a
    # block, one of several blocks with a ragged end.
    link = chainer.Sequential(chainer.links.Linear(7, 100),
                              chainer.links.Linear(100, 37))
    rng = numpy.random.RandomState(seed)
    for param in link.params():
        param.array[...] = rng.randn(*param.shape)
    return link


def run_both(steps=4, **hyperparams):
    ours, theirs = make_link(), make_link()
    optimizers = (inplace_adam.InPlaceAdam(**hyperparams).setup(ours),
                  chainer.optimizers.Adam(**hyperparams).setup(theirs))
    rng = numpy.random.RandomState(1)
    for _ in range(steps):
        for a, b in zip(ours.params(), theirs.params()):
            grad = rng.randn(*a.shape).astype(numpy.float32)
            a.grad, b.grad = grad.copy(), grad.copy()
        for optimizer in optimizers:
            optimizer.update()
    return ours, theirs, optimizers


@pytest.mark.parametrize('hyperparams', [
    {'alpha': 3e-4},
    {'alpha': 0.01, 'beta1': 0.5, 'beta2': 0.9, 'eps': 1e-3, 'eta': 0.5},
    # Not specialised: chainer's own code runs.
    {'alpha': 0.01, 'weight_decay_rate': 0.1},
    {'alpha': 0.01, 'amsgrad': True},
])
def test_parameters_and_moments_are_bitwise_chainers(monkeypatch,
                                                     hyperparams):
    # Small blocks so that 3700 elements take several blocks per worker.
    monkeypatch.setattr(inplace_adam, 'BLOCK', 1000)
    monkeypatch.setattr(inplace_adam, '_workers', lambda: 2)
    ours, theirs, optimizers = run_both(**hyperparams)
    for (name, a), (_, b) in zip(sorted(ours.namedparams()),
                                 sorted(theirs.namedparams())):
        numpy.testing.assert_array_equal(a.array, b.array, err_msg=name)
        assert a.update_rule.t == b.update_rule.t == 4
        assert sorted(a.update_rule.state) == sorted(b.update_rule.state)
        for key in a.update_rule.state:
            numpy.testing.assert_array_equal(
                a.update_rule.state[key], b.update_rule.state[key],
                err_msg=name + ' ' + key)
    # The parameters did move.
    assert not numpy.array_equal(ours[1].W.array, make_link()[1].W.array)


def test_snapshots_load_into_chainers_adam(tmp_path):
    ours, theirs, (optimizer, _) = run_both(alpha=3e-4)
    path = str(tmp_path / 'optimizer.npz')
    chainer.serializers.save_npz(path, optimizer)
    fresh = chainer.optimizers.Adam(alpha=3e-4).setup(make_link())
    chainer.serializers.load_npz(path, fresh)
    for a, b in zip(fresh.target.params(), ours.params()):
        numpy.testing.assert_array_equal(a.update_rule.state['m'],
                                         b.update_rule.state['m'])
        assert a.update_rule.t == 4


def test_a_grad_of_none_leaves_the_parameter_alone():
    link = make_link()
    optimizer = inplace_adam.InPlaceAdam().setup(link)
    before = link[0].W.array.copy()
    link.cleargrads()
    optimizer.update()
    numpy.testing.assert_array_equal(link[0].W.array, before)
