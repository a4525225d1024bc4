"""The 2 x 2 block average used for anti-aliasing."""
import numpy
import pytest

import chainer
import chainer.functions as F
from chainer import gradient_check

from neural_renderer.average_2x2 import average_2x2


def test_matches_average_pooling_forward_and_backward():
    rng = numpy.random.RandomState(0)
    x = rng.rand(2, 3, 6, 10).astype(numpy.float32)
    gy = rng.rand(2, 3, 3, 5).astype(numpy.float32)
    a, b = chainer.Variable(x), chainer.Variable(x)
    ya, yb = average_2x2(a), F.average_pooling_2d(b, 2, 2)
    numpy.testing.assert_allclose(ya.array, yb.array, rtol=1e-6)
    F.sum(ya * gy).backward()
    F.sum(yb * gy).backward()
    numpy.testing.assert_allclose(a.grad, b.grad, rtol=1e-6)


def test_by_hand_on_three_axes():
    x = numpy.arange(16, dtype=numpy.float64).reshape(1, 4, 4)
    numpy.testing.assert_array_equal(average_2x2(x).array,
                                     [[[2.5, 4.5], [10.5, 12.5]]])


def test_gradient_check():
    rng = numpy.random.RandomState(1)
    gradient_check.check_backward(
        average_2x2, rng.rand(2, 4, 6), rng.rand(2, 2, 3), dtype=numpy.float64)


def test_odd_sizes_are_rejected():
    with pytest.raises(chainer.utils.type_check.InvalidType):
        average_2x2(numpy.zeros((3, 5), numpy.float32))
