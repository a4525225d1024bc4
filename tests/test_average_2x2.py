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


def test_only_the_kernels_dtypes_are_accepted(xp):
    with pytest.raises(chainer.utils.type_check.InvalidType,
                       match='float32, float64'):
        average_2x2(xp.zeros((4, 4), numpy.float16))


def test_equals_the_four_term_sum_bitwise(xp):
    # (((x00 + x10) + x01) + x11) / 4, the order resolve_pixels averages
    # in (the forward-only path): the two paths give the same bits.
    rng = numpy.random.RandomState(2)
    x = rng.randn(3, 2, 8, 6).astype(numpy.float32)
    expected = (((x[..., 0::2, 0::2] + x[..., 1::2, 0::2]) +
                 x[..., 0::2, 1::2]) + x[..., 1::2, 1::2]) * numpy.float32(
                     0.25)
    y = to_cpu(average_2x2(xp.asarray(x)).array)
    assert y.tobytes() == expected.tobytes()
    gy = rng.randn(3, 2, 4, 3).astype(numpy.float32)
    v = chainer.Variable(xp.asarray(x))
    F.sum(average_2x2(v) * xp.asarray(gy)).backward()
    assert to_cpu(v.grad).tobytes() == numpy.repeat(numpy.repeat(
        gy * numpy.float32(0.25), 2, -2), 2, -1).tobytes()
