"""neural_renderer.cross: the original package's cross product node."""
import numpy
import pytest

import neural_renderer  # (installs the NumPy 2 shim before chainer)
import chainer
from chainer import gradient_check
from chainer.utils import type_check

from neural_renderer.cross import Cross
from neural_renderer.cross import _cross
from neural_renderer.cross import cross


def test_public_name():
    assert neural_renderer.cross is cross


def test_unit_vectors():
    # x cross y = z, y cross z = x, z cross x = y, and anti-commutativity.
    e = numpy.eye(3, dtype=numpy.float32)
    numpy.testing.assert_array_equal(cross(e, e[[1, 2, 0]]).array,
                                     e[[2, 0, 1]])
    numpy.testing.assert_array_equal(cross(e[[1, 2, 0]], e).array,
                                     -e[[2, 0, 1]])
    numpy.testing.assert_array_equal(cross(e, e).array, numpy.zeros((3, 3)))


@pytest.mark.parametrize('shape', [(3,), (5, 3), (2, 4, 3), (0, 3)])
@pytest.mark.parametrize('dtype', [numpy.float16, numpy.float32,
                                   numpy.float64])
def test_forward_matches_numpy(shape, dtype):
    rng = numpy.random.RandomState(0)
    x0 = rng.randn(*shape).astype(dtype)
    x1 = rng.randn(*shape).astype(dtype)
    y = cross(x0, x1)
    assert isinstance(y, chainer.Variable)
    assert y.shape == shape and y.dtype == dtype
    tolerance = {numpy.float16: 1e-2, numpy.float32: 1e-6,
                 numpy.float64: 1e-14}[dtype]
    numpy.testing.assert_allclose(
        y.array, numpy.cross(x0.astype(numpy.float64),
                             x1.astype(numpy.float64)),
        rtol=tolerance, atol=tolerance)


def test_variables_and_raw_helper():
    rng = numpy.random.RandomState(1)
    x0, x1 = rng.randn(2, 7, 3)
    y = cross(chainer.Variable(x0), chainer.Variable(x1))
    numpy.testing.assert_array_equal(y.array, _cross(x0, x1))


def test_backward_by_hand():
    # L = gy . (x0 x x1): gx0 = x1 x gy, gx1 = gy x x0. With x0 = x,
    # x1 = y and gy = z: gx0 = y x z = x, gx1 = z x x = y.
    e = numpy.eye(3)
    x0 = chainer.Variable(e[:1].copy())
    x1 = chainer.Variable(e[1:2].copy())
    y = cross(x0, x1)
    y.grad = e[2:].copy()
    y.backward()
    numpy.testing.assert_array_equal(x0.grad, e[:1])
    numpy.testing.assert_array_equal(x1.grad, e[1:2])


@pytest.mark.parametrize('shape', [(4, 3), (2, 3, 3)])
def test_check_backward(shape):
    rng = numpy.random.RandomState(2)
    x0, x1, gy = (rng.randn(*shape) for _ in range(3))
    gradient_check.check_backward(cross, (x0, x1), gy, dtype=numpy.float64,
                                  atol=1e-7, rtol=1e-7)


def test_check_double_backward():
    rng = numpy.random.RandomState(3)
    x0, x1, gy, ggx0, ggx1 = (rng.randn(5, 3) for _ in range(5))
    gradient_check.check_double_backward(
        cross, (x0, x1), gy, (ggx0, ggx1), dtype=numpy.float64, atol=1e-7,
        rtol=1e-7)


def test_gradient_of_one_input_only():
    rng = numpy.random.RandomState(4)
    x0 = chainer.Variable(rng.randn(3, 3))
    x1 = rng.randn(3, 3)
    y = cross(x0, x1)
    gy = rng.randn(3, 3)
    y.grad = gy
    y.backward()
    numpy.testing.assert_allclose(x0.grad, numpy.cross(x1, gy), rtol=1e-12)


@pytest.mark.parametrize('x0, x1, argument', [
    (numpy.zeros((2, 3), 'f'), numpy.zeros((2, 3), 'd'), 'x1.dtype'),
    (numpy.zeros((2, 3), 'i'), numpy.zeros((2, 3), 'i'), 'x0.dtype'),
    (numpy.zeros((2, 4), 'f'), numpy.zeros((2, 4), 'f'), 'x0.shape'),
    (numpy.zeros((2, 3), 'f'), numpy.zeros((3, 3), 'f'), 'x1.shape'),
    (numpy.zeros((2, 3), 'f'), numpy.zeros((2, 1, 3), 'f'), 'x1.shape'),
    (numpy.zeros((), 'f'), numpy.zeros((), 'f'), 'x0.ndim'),
])
def test_type_errors_name_the_argument(x0, x1, argument):
    with pytest.raises(type_check.InvalidType, match=argument):
        cross(x0, x1)


def test_wrong_number_of_inputs():
    with pytest.raises(type_check.InvalidType):
        Cross().apply((numpy.zeros((1, 3), 'f'),))


def test_gpu():
    cupy = pytest.importorskip('cupy')
    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            pytest.skip('no GPU')
    except Exception:
        pytest.skip('no GPU')
    rng = numpy.random.RandomState(5)
    x0, x1, gy = (rng.randn(6, 3) for _ in range(3))
    v0 = chainer.Variable(cupy.asarray(x0))
    v1 = chainer.Variable(cupy.asarray(x1))
    y = cross(v0, v1)
    assert isinstance(y.array, cupy.ndarray)
    numpy.testing.assert_allclose(cupy.asnumpy(y.array), numpy.cross(x0, x1),
                                  rtol=1e-12)
    y.grad = cupy.asarray(gy)
    y.backward()
    numpy.testing.assert_allclose(cupy.asnumpy(v0.grad),
                                  numpy.cross(x1, gy), rtol=1e-12)
    numpy.testing.assert_allclose(cupy.asnumpy(v1.grad),
                                  numpy.cross(gy, x0), rtol=1e-12)
    gradient_check.check_backward(
        cross, (cupy.asarray(x0), cupy.asarray(x1)), cupy.asarray(gy),
        dtype=numpy.float64, atol=1e-7, rtol=1e-7)
