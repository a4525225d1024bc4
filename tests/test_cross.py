"""neural_renderer.cross: the original package's cross product node."""
import numpy
import pytest

import neural_renderer  # (installs the NumPy 2 shim before chainer)
import chainer
from chainer import gradient_check
from chainer.utils import type_check

from neural_renderer.cross import Cross
from neural_renderer.vector_math import cross as _cross
from neural_renderer.cross import cross

from backends import to_cpu


def test_public_name():
    assert neural_renderer.cross is cross


def test_unit_vectors(xp):
    # x cross y = z, y cross z = x, z cross x = y, and anti-commutativity.
    e = numpy.eye(3, dtype=numpy.float32)
    numpy.testing.assert_array_equal(
        to_cpu(cross(xp.asarray(e), xp.asarray(e[[1, 2, 0]]))), e[[2, 0, 1]])
    numpy.testing.assert_array_equal(
        to_cpu(cross(xp.asarray(e[[1, 2, 0]]), xp.asarray(e))), -e[[2, 0, 1]])
    numpy.testing.assert_array_equal(
        to_cpu(cross(xp.asarray(e), xp.asarray(e))), numpy.zeros((3, 3)))


@pytest.mark.parametrize('shape', [(3,), (5, 3), (2, 4, 3), (0, 3)])
@pytest.mark.parametrize('dtype', [numpy.float16, numpy.float32,
                                   numpy.float64])
def test_forward_matches_numpy(xp, shape, dtype):
    rng = numpy.random.RandomState(0)
    x0 = rng.randn(*shape).astype(dtype)
    x1 = rng.randn(*shape).astype(dtype)
    y = cross(xp.asarray(x0), xp.asarray(x1))
    assert isinstance(y, chainer.Variable)
    assert isinstance(y.array, xp.ndarray)
    assert y.shape == shape and y.dtype == dtype
    tolerance = {numpy.float16: 1e-2, numpy.float32: 1e-6,
                 numpy.float64: 1e-14}[dtype]
    numpy.testing.assert_allclose(
        to_cpu(y), numpy.cross(x0.astype(numpy.float64),
                               x1.astype(numpy.float64)),
        rtol=tolerance, atol=tolerance)


def test_variables_and_raw_helper(xp):
    rng = numpy.random.RandomState(1)
    x0, x1 = rng.randn(2, 7, 3)
    y = cross(chainer.Variable(xp.asarray(x0)),
              chainer.Variable(xp.asarray(x1)))
    numpy.testing.assert_array_equal(
        to_cpu(y), to_cpu(_cross(xp.asarray(x0), xp.asarray(x1))))


def test_backward_by_hand(xp):
    # L = gy . (x0 x x1): gx0 = x1 x gy, gx1 = gy x x0. With x0 = x,
    # x1 = y and gy = z: gx0 = y x z = x, gx1 = z x x = y.
    e = numpy.eye(3)
    x0 = chainer.Variable(xp.asarray(e[:1].copy()))
    x1 = chainer.Variable(xp.asarray(e[1:2].copy()))
    y = cross(x0, x1)
    y.grad = xp.asarray(e[2:].copy())
    y.backward()
    numpy.testing.assert_array_equal(to_cpu(x0.grad), e[:1])
    numpy.testing.assert_array_equal(to_cpu(x1.grad), e[1:2])


@pytest.mark.parametrize('shape', [(4, 3), (2, 3, 3)])
def test_check_backward(xp, shape):
    rng = numpy.random.RandomState(2)
    x0, x1, gy = (xp.asarray(rng.randn(*shape)) for _ in range(3))
    gradient_check.check_backward(cross, (x0, x1), gy, dtype=numpy.float64,
                                  atol=1e-7, rtol=1e-7)


def test_check_double_backward(xp):
    rng = numpy.random.RandomState(3)
    x0, x1, gy, ggx0, ggx1 = (xp.asarray(rng.randn(5, 3)) for _ in range(5))
    gradient_check.check_double_backward(
        cross, (x0, x1), gy, (ggx0, ggx1), dtype=numpy.float64, atol=1e-7,
        rtol=1e-7)


def test_gradient_of_one_input_only(xp):
    rng = numpy.random.RandomState(4)
    x0 = chainer.Variable(xp.asarray(rng.randn(3, 3)))
    x1 = rng.randn(3, 3)
    y = cross(x0, xp.asarray(x1))
    gy = rng.randn(3, 3)
    y.grad = xp.asarray(gy)
    y.backward()
    numpy.testing.assert_allclose(to_cpu(x0.grad), numpy.cross(x1, gy),
                                  rtol=1e-12)


@pytest.mark.parametrize('x0, x1, argument', [
    (numpy.zeros((2, 3), 'f'), numpy.zeros((2, 3), 'd'), 'x1.dtype'),
    (numpy.zeros((2, 3), 'i'), numpy.zeros((2, 3), 'i'), 'x0.dtype'),
    (numpy.zeros((2, 4), 'f'), numpy.zeros((2, 4), 'f'), 'x0.shape'),
    (numpy.zeros((2, 3), 'f'), numpy.zeros((3, 3), 'f'), 'x1.shape'),
    (numpy.zeros((2, 3), 'f'), numpy.zeros((2, 1, 3), 'f'), 'x1.shape'),
    (numpy.zeros((), 'f'), numpy.zeros((), 'f'), 'x0.ndim'),
])
def test_type_errors_name_the_argument(xp, x0, x1, argument):
    with pytest.raises(type_check.InvalidType, match=argument):
        cross(xp.asarray(x0), xp.asarray(x1))


def test_wrong_number_of_inputs(xp):
    with pytest.raises(type_check.InvalidType):
        Cross().apply((xp.zeros((1, 3), 'f'),))


def test_forward_and_backward_against_numpy_cross(xp):
    # Random float64 inputs on xp's device against numpy.cross on the CPU
    # (on cupy: the check the former GPU test made).
    rng = numpy.random.RandomState(5)
    x0, x1, gy = (rng.randn(6, 3) for _ in range(3))
    v0 = chainer.Variable(xp.asarray(x0))
    v1 = chainer.Variable(xp.asarray(x1))
    y = cross(v0, v1)
    assert isinstance(y.array, xp.ndarray)
    numpy.testing.assert_allclose(to_cpu(y.array), numpy.cross(x0, x1),
                                  rtol=1e-12)
    y.grad = xp.asarray(gy)
    y.backward()
    numpy.testing.assert_allclose(to_cpu(v0.grad),
                                  numpy.cross(x1, gy), rtol=1e-12)
    numpy.testing.assert_allclose(to_cpu(v1.grad),
                                  numpy.cross(gy, x0), rtol=1e-12)
    gradient_check.check_backward(
        cross, (xp.asarray(x0), xp.asarray(x1)), xp.asarray(gy),
        dtype=numpy.float64, atol=1e-7, rtol=1e-7)
