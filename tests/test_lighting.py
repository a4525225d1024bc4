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

from backends import to_cpu

FLOOR = [[0, 0, 0], [1, 0, 0], [0, 0, 1]]        # normal +y
CEILING = [[0, 0, 1], [1, 0, 0], [0, 0, 0]]      # reversed: normal -y
# Rotated 45 degrees about z: normal (-1, 1, 0) / sqrt 2.
TILTED = [[0, 0, 0], [1, 1, 0], [0, 0, 1]]


def make_faces(*faces, dtype=numpy.float32):
    return numpy.array([faces], dtype)


def light_of(xp, faces, **kwargs):
    """The light [B, F, 3] as seen through textures of ones, on the CPU."""
    textures = numpy.ones(faces.shape[:2] + (2, 2, 2, 3), faces.dtype)
    out = to_cpu(lighting(xp.asarray(faces), xp.asarray(textures),
                          **kwargs).array)
    # Every texel of a face gets the same light.
    numpy.testing.assert_array_equal(out, numpy.broadcast_to(
        out[:, :, :1, :1, :1], out.shape))
    return out[:, :, 0, 0, 0]


def test_default_light(xp):
    faces = make_faces(FLOOR, CEILING, TILTED)
    light = light_of(xp, faces)
    assert light.dtype == numpy.float32
    # 0.5 ambient + 0.5 * max(n . (0,1,0), 0).
    expected = [1., 0.5, 0.5 + 0.5 / math.sqrt(2)]
    numpy.testing.assert_allclose(light[0], numpy.repeat(
        numpy.array(expected)[:, None], 3, axis=1), rtol=1e-6)


def test_colours_intensities_direction(xp):
    faces = make_faces(FLOOR, TILTED)
    light = light_of(xp, faces, intensity_ambient=0.2,
                     intensity_directional=0.6, color_ambient=(1, 0, 0.5),
                     color_directional=[0, 1, 1], direction=(-2, 0, 0))
    # direction is not normalised: FLOOR: n . d = 0; TILTED: 2 / sqrt 2.
    ambient = 0.2 * numpy.array([1, 0, 0.5])
    numpy.testing.assert_allclose(light[0, 0], ambient, rtol=1e-6)
    numpy.testing.assert_allclose(
        light[0, 1], ambient + 0.6 * math.sqrt(2) * numpy.array([0, 1, 1]),
        rtol=1e-6)


def test_textures_are_multiplied(xp):
    faces = make_faces(FLOOR, CEILING)
    textures = numpy.random.RandomState(0).rand(1, 2, 3, 3, 3, 3).astype(
        numpy.float32)
    out = to_cpu(lighting(xp.asarray(faces), xp.asarray(textures)).array)
    numpy.testing.assert_allclose(out[0, 0], textures[0, 0], rtol=1e-6)
    numpy.testing.assert_allclose(out[0, 1], textures[0, 1] * 0.5, rtol=1e-6)


def test_per_batch_arguments(xp):
    faces = numpy.concatenate([make_faces(FLOOR), make_faces(FLOOR)])
    light = light_of(xp, faces, intensity_ambient=xp.asarray([0., 1.]),
                     intensity_directional=xp.asarray([1., 0.]),
                     color_directional=[[1, 1, 1], [5, 5, 5]],
                     direction=[[0, 1, 0], [0, -1, 0]])
    numpy.testing.assert_allclose(light, [[[1, 1, 1]], [[1, 1, 1]]])


def test_float64(xp):
    faces = make_faces(FLOOR, dtype=numpy.float64)
    assert lighting(xp.asarray(faces),
                    xp.ones((1, 1, 1, 1, 1, 3))).dtype == numpy.float64


def test_small_faces_keep_unit_normals(xp):
    # A face 1e-6 across still gets the full directional light.
    faces = make_faces(FLOOR) * 1e-6
    numpy.testing.assert_allclose(light_of(xp, faces), 1, rtol=1e-6)


def test_degenerate_faces_are_finite(xp):
    point = [[0.3, 0.2, 0.1]] * 3
    collinear = [[0, 0, 0], [1, 1, 1], [2, 2, 2]]
    faces = chainer.Variable(xp.asarray(make_faces(point, collinear, FLOOR,
                                                   dtype=numpy.float64)))
    textures = chainer.Variable(xp.ones((1, 3, 2, 2, 2, 3)))
    colour = chainer.Variable(xp.asarray([1., 1., 1.]))
    direction = chainer.Variable(xp.asarray([0.2, 1., 0.3]))
    out = lighting(faces, textures, color_directional=colour,
                   direction=direction)
    # Zero-area faces get ambient light only.
    numpy.testing.assert_allclose(to_cpu(out.array)[0, :2], 0.5)
    numpy.testing.assert_allclose(to_cpu(out.array)[0, 2], 1.)
    out.grad = xp.asarray(numpy.random.RandomState(0).randn(*out.shape))
    out.backward()
    for x in (faces, textures, colour, direction):
        assert numpy.isfinite(to_cpu(x.grad)).all()


def test_gradients(xp):
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
    gradient_check.check_backward(
        func, tuple(xp.asarray(x) for x in inputs), xp.asarray(gy),
        dtype=numpy.float64, atol=1e-6, rtol=1e-5)


def test_errors(xp):
    faces = xp.asarray(make_faces(FLOOR))
    textures = xp.ones((1, 1, 2, 2, 2, 3), numpy.float32)
    with pytest.raises(ValueError, match='faces'):
        lighting(faces[0], textures)
    with pytest.raises(ValueError, match='textures'):
        lighting(faces, textures[:, :, 0])
    with pytest.raises(ValueError, match='textures'):
        lighting(faces, xp.ones((1, 2, 2, 2, 2, 3), numpy.float32))
    with pytest.raises(ValueError, match='textures'):
        lighting(faces, xp.ones((1, 1, 2, 3, 2, 3), numpy.float32))
    with pytest.raises(ValueError, match='color_ambient'):
        lighting(faces, textures, color_ambient=(1, 1))
    with pytest.raises(ValueError, match='intensity_directional'):
        lighting(faces, textures, intensity_directional=[0.5, 0.5])
    with pytest.raises(ValueError, match='direction'):
        lighting(faces, textures, direction=(0, float('inf'), 0))
    with pytest.raises(TypeError, match='textures'):
        lighting(faces, textures.astype(numpy.int32))


def test_matches_the_cpu_with_a_direction_variable(xp):
    # Forward and the direction's gradient on xp's device against NumPy
    # (the CPU-GPU cross-check on cupy; trivially equal on numpy).
    rng = numpy.random.RandomState(2)
    faces = rng.randn(2, 5, 3, 3).astype(numpy.float32)
    textures = rng.rand(2, 5, 2, 2, 2, 3).astype(numpy.float32)
    direction = chainer.Variable(xp.asarray([0.2, 1., 0.], numpy.float32))
    out = lighting(xp.asarray(faces), xp.asarray(textures),
                   color_ambient=[1, 0.5, 0.2], direction=direction)
    chainer.functions.sum(out).backward()
    cpu_direction = chainer.Variable(numpy.array([0.2, 1., 0.], numpy.float32))
    cpu = lighting(faces, textures, color_ambient=[1, 0.5, 0.2],
                   direction=cpu_direction)
    chainer.functions.sum(cpu).backward()
    numpy.testing.assert_allclose(to_cpu(out.array), cpu.array,
                                  rtol=1e-5, atol=1e-6)
    numpy.testing.assert_allclose(to_cpu(direction.grad),
                                  cpu_direction.grad, rtol=1e-4, atol=1e-5)


def test_fill_back_light_is_the_light_of_the_reversed_copies(xp):
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
        to_cpu(face_light(xp.asarray(faces.astype(numpy.float32)),
                          fill_back=True, **kwargs).array),
        to_cpu(face_light(xp.asarray(doubled.astype(numpy.float32)),
                          **kwargs).array))

    def func(f, ia, cd, d):
        return face_light(f, ia, 0.7, (1, 1, 1), cd, d, fill_back=True)

    inputs = (faces, numpy.array([0.3, 0.6]), rng.uniform(0.2, 1, (2, 3)),
              numpy.array([0.3, 1.2, -0.2]))
    gy = rng.randn(2, 10, 3)
    gradient_check.check_backward(
        func, tuple(xp.asarray(x) for x in inputs), xp.asarray(gy),
        dtype=numpy.float64, atol=1e-6, rtol=1e-5)
