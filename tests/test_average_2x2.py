"""The 2 x 2 block average used for anti-aliasing."""
import numpy
import pytest

import chainer
import chainer.functions as F
from chainer import gradient_check

from neural_renderer.average_2x2 import average_2x2

from backends import to_cpu


def test_matches_average_pooling_forward_and_backward(xp):
    rng = numpy.random.RandomState(0)
    x = xp.asarray(rng.rand(2, 3, 6, 10).astype(numpy.float32))
    gy = xp.asarray(rng.rand(2, 3, 3, 5).astype(numpy.float32))
    a, b = chainer.Variable(x), chainer.Variable(x)
    ya, yb = average_2x2(a), F.average_pooling_2d(b, 2, 2)
    numpy.testing.assert_allclose(to_cpu(ya.array), to_cpu(yb.array),
                                  rtol=1e-6)
    F.sum(ya * gy).backward()
    F.sum(yb * gy).backward()
    numpy.testing.assert_allclose(to_cpu(a.grad), to_cpu(b.grad), rtol=1e-6)


def test_by_hand_on_three_axes(xp):
    x = numpy.arange(16, dtype=numpy.float64).reshape(1, 4, 4)
    numpy.testing.assert_array_equal(to_cpu(average_2x2(xp.asarray(x)).array),
                                     [[[2.5, 4.5], [10.5, 12.5]]])


def test_gradient_check(xp):
    rng = numpy.random.RandomState(1)
    gradient_check.check_backward(
        average_2x2, xp.asarray(rng.rand(2, 4, 6)),
        xp.asarray(rng.rand(2, 2, 3)), dtype=numpy.float64)


def test_odd_sizes_are_rejected(xp):
    with pytest.raises(chainer.utils.type_check.InvalidType):
        average_2x2(xp.zeros((3, 5), numpy.float32))
