"""Flat lighting: hand-computed light values and finite-difference gradients.

The normal is n = normalize((v0 - v1) x (v2 - v1)). For the "floor" face
v0 = (0,0,0), v1 = (1,0,0), v2 = (0,0,1): v0 - v1 = (-1,0,0), v2 - v1 =
(-1,0,1), cross = (0*1 - 0*0, 0*(-1) - (-1)*1, (-1)*0 - 0*(-1)) = (0,1,0):
it faces up, toward the default light direction (0,1,0).
"""
import math

import numpy
import pytest

import neural_renderer  # NOQA  (NumPy 2 shim before chainer)
import chainer
from chainer import gradient_check

from neural_renderer.lighting import lighting

try:
    import cupy
    HAVE_GPU = cupy.cuda.runtime.getDeviceCount() > 0
except Exception:  # no cupy, no driver or no device
    HAVE_GPU = False

FLOOR = [[0, 0, 0], [1, 0, 0], [0, 0, 1]]        # normal +y
CEILING = [[0, 0, 1], [1, 0, 0], [0, 0, 0]]      # reversed: normal -y
# Rotated 45 degrees about z: normal (-1, 1, 0) / sqrt 2.
TILTED = [[0, 0, 0], [1, 1, 0], [0, 0, 1]]


def make_faces(*faces, dtype=numpy.float32):
    return numpy.array([faces], dtype)


def light_of(faces, **kwargs):
    """The light [B, F, 3] as seen through textures of ones."""
    textures = numpy.ones(faces.shape[:2] + (2, 2, 2, 3), faces.dtype)
    out = lighting(faces, textures, **kwargs).array
    # Every texel of a face gets the same light.
    numpy.testing.assert_array_equal(out, numpy.broadcast_to(
        out[:, :, :1, :1, :1], out.shape))
    return out[:, :, 0, 0, 0]


def test_default_light():
    faces = make_faces(FLOOR, CEILING, TILTED)
    light = light_of(faces)
    assert light.dtype == numpy.float32
    # 0.5 ambient + 0.5 * max(n . (0,1,0), 0).
    expected = [1., 0.5, 0.5 + 0.5 / math.sqrt(2)]
    numpy.testing.assert_allclose(light[0], numpy.repeat(
        numpy.array(expected)[:, None], 3, axis=1), rtol=1e-6)


def test_colours_intensities_direction():
    faces = make_faces(FLOOR, TILTED)
    light = light_of(faces, intensity_ambient=0.2, intensity_directional=0.6,
                     color_ambient=(1, 0, 0.5), color_directional=[0, 1, 1],
                     direction=(-2, 0, 0))
    # direction is not normalised: FLOOR: n . d = 0; TILTED: 2 / sqrt 2.
    ambient = 0.2 * numpy.array([1, 0, 0.5])
    numpy.testing.assert_allclose(light[0, 0], ambient, rtol=1e-6)
    numpy.testing.assert_allclose(
        light[0, 1], ambient + 0.6 * math.sqrt(2) * numpy.array([0, 1, 1]),
        rtol=1e-6)


def test_textures_are_multiplied():
    faces = make_faces(FLOOR, CEILING)
    textures = numpy.random.RandomState(0).rand(1, 2, 3, 3, 3, 3).astype(
        numpy.float32)
    out = lighting(faces, textures).array
    numpy.testing.assert_allclose(out[0, 0], textures[0, 0], rtol=1e-6)
    numpy.testing.assert_allclose(out[0, 1], textures[0, 1] * 0.5, rtol=1e-6)


def test_per_batch_arguments():
    faces = numpy.concatenate([make_faces(FLOOR), make_faces(FLOOR)])
    light = light_of(faces, intensity_ambient=numpy.array([0., 1.]),
                     intensity_directional=numpy.array([1., 0.]),
                     color_directional=[[1, 1, 1], [5, 5, 5]],
                     direction=[[0, 1, 0], [0, -1, 0]])
    numpy.testing.assert_allclose(light, [[[1, 1, 1]], [[1, 1, 1]]])


def test_float64():
    faces = make_faces(FLOOR, dtype=numpy.float64)
    assert lighting(faces, numpy.ones((1, 1, 1, 1, 1, 3))).dtype == \
        numpy.float64


def test_small_faces_keep_unit_normals():
    # A face 1e-6 across still gets the full directional light.
    faces = make_faces(FLOOR) * 1e-6
    numpy.testing.assert_allclose(light_of(faces), 1, rtol=1e-6)


def test_degenerate_faces_are_finite():
    point = [[0.3, 0.2, 0.1]] * 3
    collinear = [[0, 0, 0], [1, 1, 1], [2, 2, 2]]
    faces = chainer.Variable(make_faces(point, collinear, FLOOR,
                                        dtype=numpy.float64))
    textures = chainer.Variable(numpy.ones((1, 3, 2, 2, 2, 3)))
    colour = chainer.Variable(numpy.array([1., 1., 1.]))
    direction = chainer.Variable(numpy.array([0.2, 1., 0.3]))
    out = lighting(faces, textures, color_directional=colour,
                   direction=direction)
    # Zero-area faces get ambient light only.
    numpy.testing.assert_allclose(out.array[0, :2], 0.5)
    numpy.testing.assert_allclose(out.array[0, 2], 1.)
    out.grad = numpy.random.RandomState(0).randn(*out.shape)
    out.backward()
    for x in (faces, textures, colour, direction):
        assert numpy.isfinite(x.grad).all()


def test_gradients():
    rng = numpy.random.RandomState(1)
    # Perturbed copies of faces whose normals are well away from
    # perpendicular to the light (max(., 0) has a kink there).
    base = numpy.array([FLOOR, CEILING, TILTED, FLOOR], numpy.float64)
    faces = base[None].repeat(2, axis=0) + rng.uniform(-0.1, 0.1,
                                                       (2, 4, 3, 3))
    textures = rng.rand(2, 4, 2, 2, 2, 3)
    inputs = (faces, textures, numpy.array([0.3, 0.6]), numpy.array(0.7),
              numpy.array([0.9, 0.5, 0.2]),
              rng.uniform(0.2, 1, (2, 3)), numpy.array([0.3, 1.2, -0.2]))

    def func(f, t, ia, id_, ca, cd, d):
        return lighting(f, t, ia, id_, ca, cd, d)

    gy = rng.randn(2, 4, 2, 2, 2, 3)
    gradient_check.check_backward(func, inputs, gy, dtype=numpy.float64,
                                  atol=1e-6, rtol=1e-5)


def test_errors():
    faces = make_faces(FLOOR)
    textures = numpy.ones((1, 1, 2, 2, 2, 3), numpy.float32)
    with pytest.raises(ValueError, match='faces'):
        lighting(faces[0], textures)
    with pytest.raises(ValueError, match='textures'):
        lighting(faces, textures[:, :, 0])
    with pytest.raises(ValueError, match='textures'):
        lighting(faces, numpy.ones((1, 2, 2, 2, 2, 3), numpy.float32))
    with pytest.raises(ValueError, match='textures'):
        lighting(faces, numpy.ones((1, 1, 2, 3, 2, 3), numpy.float32))
    with pytest.raises(ValueError, match='color_ambient'):
        lighting(faces, textures, color_ambient=(1, 1))
    with pytest.raises(ValueError, match='intensity_directional'):
        lighting(faces, textures, intensity_directional=[0.5, 0.5])
    with pytest.raises(ValueError, match='direction'):
        lighting(faces, textures, direction=(0, float('inf'), 0))
    with pytest.raises(TypeError, match='textures'):
        lighting(faces, textures.astype(numpy.int32))


@pytest.mark.skipif(not HAVE_GPU, reason='needs CuPy and a GPU')
def test_gpu_matches_cpu():
    rng = numpy.random.RandomState(2)
    faces = rng.randn(2, 5, 3, 3).astype(numpy.float32)
    textures = rng.rand(2, 5, 2, 2, 2, 3).astype(numpy.float32)
    direction = chainer.Variable(cupy.asarray([0.2, 1., 0.], numpy.float32))
    gpu = lighting(cupy.asarray(faces), cupy.asarray(textures),
                   color_ambient=[1, 0.5, 0.2], direction=direction)
    chainer.functions.sum(gpu).backward()
    cpu_direction = chainer.Variable(numpy.array([0.2, 1., 0.], numpy.float32))
    cpu = lighting(faces, textures, color_ambient=[1, 0.5, 0.2],
                   direction=cpu_direction)
    chainer.functions.sum(cpu).backward()
    numpy.testing.assert_allclose(cupy.asnumpy(gpu.array), cpu.array,
                                  rtol=1e-5, atol=1e-6)
    numpy.testing.assert_allclose(cupy.asnumpy(direction.grad),
                                  cpu_direction.grad, rtol=1e-4, atol=1e-5)


def test_fill_back_light_is_the_light_of_the_reversed_copies():
    # fill_back computes the copies' light from the negated normals instead
    # of gathering the copies: the same bits as the doubled faces, and the
    # same gradients.
    from neural_renderer.face_light import face_light
    rng = numpy.random.RandomState(3)
    faces = rng.randn(2, 5, 3, 3)
    doubled = numpy.concatenate([faces, faces[:, :, ::-1]], axis=1)
    kwargs = dict(intensity_ambient=0.3, intensity_directional=0.8,
                  color_directional=(1., 0.5, 0.2), direction=(0.3, 1, -0.4))
    numpy.testing.assert_array_equal(
        face_light(faces.astype(numpy.float32), fill_back=True,
                   **kwargs).array,
        face_light(doubled.astype(numpy.float32), **kwargs).array)

    def func(f, ia, cd, d):
        return face_light(f, ia, 0.7, (1, 1, 1), cd, d, fill_back=True)

    inputs = (faces, numpy.array([0.3, 0.6]), rng.uniform(0.2, 1, (2, 3)),
              numpy.array([0.3, 1.2, -0.2]))
    gy = rng.randn(2, 10, 3)
    gradient_check.check_backward(func, inputs, gy, dtype=numpy.float64,
                                  atol=1e-6, rtol=1e-5)
