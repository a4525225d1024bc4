"""Camera transforms, projection, face gathering and the input checks.

Expected values are worked out by hand in the comments; gradients are
compared with finite differences in float64.
"""
import math

import numpy
import pytest

import neural_renderer  # NOQA  (NumPy 2 shim before chainer)
import chainer
from chainer import gradient_check

from neural_renderer import _checks
from neural_renderer.get_points_from_angles import get_points_from_angles
from neural_renderer.look import look
from neural_renderer.look_at import look_at
from neural_renderer.perspective import perspective
from neural_renderer.vertices_to_faces import vertices_to_faces

from backends import to_cpu

# Default renderer camera distance: 1 / tan(30 deg) + 1.
D = 1. / math.tan(math.radians(30)) + 1

# Three points used throughout: origin, +x and +y.
POINTS = numpy.array([[[0, 0, 0], [1, 0, 0], [0, 1, 0]]], numpy.float32)


def grad_check(xp, func, inputs, seed=0, **kwargs):
    """check_backward on xp in float64 with a random output gradient."""
    rng = numpy.random.RandomState(seed)
    inputs = tuple(xp.asarray(x) for x in inputs)
    out = func(*[chainer.Variable(x.copy()) for x in inputs])
    gy = xp.asarray(rng.randn(*out.shape))
    gradient_check.check_backward(func, inputs, gy, dtype=numpy.float64,
                                  atol=1e-6, rtol=1e-5, **kwargs)


# -- get_points_from_angles ------------------------------------------------

def test_points_from_angles_scalars():
    # el 30: y = d/2 = 1.366, z = -d cos 30 = -2.366.
    point = get_points_from_angles(2.732, 30, 0)
    assert isinstance(point, tuple) and len(point) == 3
    assert all(isinstance(p, float) for p in point)
    numpy.testing.assert_allclose(point, (0, 1.366, -2.366), atol=1e-3)
    # azimuth 90 turns the camera from -z to +x.
    numpy.testing.assert_allclose(get_points_from_angles(2, 0, 90),
                                  (2, 0, 0), atol=1e-12)
    numpy.testing.assert_allclose(
        get_points_from_angles(2, math.pi / 2, 0, degrees=False),
        (0, 2, 0), atol=1e-12)


def test_points_from_angles_arrays(xp):
    distance = xp.asarray([2.732, 1.], numpy.float32)
    elevation = xp.asarray([30., 0.], numpy.float32)
    azimuth = xp.asarray([0., -90.], numpy.float32)
    points = get_points_from_angles(distance, elevation, azimuth)
    assert isinstance(points, xp.ndarray)
    assert points.shape == (2, 3) and points.dtype == numpy.float32
    numpy.testing.assert_allclose(to_cpu(points),
                                  [[0, 1.366, -2.366], [-1, 0, 0]],
                                  atol=1e-3)
    # Python scalars broadcast against arrays and do not change the dtype.
    points = get_points_from_angles(1., elevation, 0.)
    assert points.shape == (2, 3) and points.dtype == numpy.float32


def test_points_from_angles_variables(xp):
    distance = chainer.Variable(xp.asarray([2., 3.]))
    azimuth = chainer.Variable(xp.asarray([10., 200.]))
    points = get_points_from_angles(distance, 20., azimuth)
    assert isinstance(points, chainer.Variable)
    assert points.shape == (2, 3) and points.dtype == numpy.float64
    single = get_points_from_angles(chainer.Variable(xp.asarray(2.)), 0, 90)
    assert single.shape == (3,)
    numpy.testing.assert_allclose(to_cpu(single.array), (2, 0, 0),
                                  atol=1e-12)
    grad_check(xp, lambda d, e, a: get_points_from_angles(d, e, a),
               (numpy.array([2., 3.]), numpy.array([20., -40.]),
                numpy.array([10., 200.])))


def test_points_from_angles_bad_type():
    with pytest.raises(TypeError, match='elevation'):
        get_points_from_angles(1., 'high', 0.)


# -- look_at ---------------------------------------------------------------

def test_look_at_default_eye_is_a_translation(xp):
    out = look_at(xp.asarray(POINTS), [0, 0, -D])
    assert out.dtype == numpy.float32
    numpy.testing.assert_allclose(
        to_cpu(out.array), POINTS + numpy.array([0, 0, D], numpy.float32),
        atol=1e-6)


def test_look_at_eye_on_x_axis(xp):
    # Camera at +2x looking at the origin: z = -x_world, x = up cross z =
    # +z_world, y = +y_world.
    out = look_at(xp.asarray(POINTS), xp.asarray([2, 0, 0], numpy.float32))
    numpy.testing.assert_allclose(
        to_cpu(out.array), [[[0, 0, 2], [0, 0, 1], [0, 1, 2]]], atol=1e-6)


def test_look_at_at_and_up(xp):
    # Looking from the origin at +z with up = -y: the camera is upside
    # down, so world +x is camera -x and world +y is camera -y.
    out = look_at(xp.asarray(POINTS), [0, 0, 0], at=[0, 0, 5],
                  up=[0, -3, 0])
    numpy.testing.assert_allclose(
        to_cpu(out.array), [[[0, 0, 0], [-1, 0, 0], [0, -1, 0]]], atol=1e-6)
    # at is not at the origin: it maps to (0, 0, |at - eye|).
    out = look_at(xp.asarray([[[1, 2, 3]]], numpy.float32), [1, 2, -1],
                  at=[1, 2, 3])
    numpy.testing.assert_allclose(to_cpu(out.array), [[[0, 0, 4]]],
                                  atol=1e-6)


def test_look_at_is_a_rigid_motion(xp):
    rng = numpy.random.RandomState(1)
    vertices = rng.randn(3, 10, 3)
    eye = rng.randn(3, 3) * 3
    out = to_cpu(look_at(xp.asarray(vertices), xp.asarray(eye)).array)
    assert out.dtype == numpy.float64
    # Distances to the eye are preserved, and the origin (at) lies on +z.
    numpy.testing.assert_allclose(
        numpy.linalg.norm(out, axis=2),
        numpy.linalg.norm(vertices - eye[:, None], axis=2), rtol=1e-12)
    origin = to_cpu(look_at(xp.zeros((3, 1, 3)),
                            xp.asarray(eye)).array)[:, 0]
    numpy.testing.assert_allclose(origin[:, :2], 0, atol=1e-12)
    numpy.testing.assert_allclose(origin[:, 2], numpy.linalg.norm(eye, axis=1))


def test_look_at_batched_eye(xp):
    points = xp.asarray(POINTS)
    vertices = xp.concatenate([points, points])
    out = to_cpu(look_at(vertices, [[0, 0, -D], [2, 0, 0]]).array)
    numpy.testing.assert_allclose(
        out[0], to_cpu(look_at(points, [0, 0, -D]).array)[0], atol=1e-6)
    numpy.testing.assert_allclose(
        out[1], to_cpu(look_at(points, [2, 0, 0]).array)[0], atol=1e-6)


@pytest.mark.parametrize('eye_y, world_z_in_camera',
                         [(3., [0, 1, 0]), (-3., [0, -1, 0])])
def test_look_at_parallel_up_fallback(xp, eye_y, world_z_in_camera):
    # Straight down (up): camera x = world +x, camera y = +z (-z), the limit
    # of an azimuth-0 camera as the elevation goes to 90 (-90) degrees.
    out = to_cpu(look_at(xp.asarray(POINTS), [0, eye_y, 0]).array)
    assert numpy.isfinite(out).all()
    # World +z relative to the origin lands on camera +y (-y).
    probe = to_cpu(look_at(xp.asarray([[[0., 0, 0], [0, 0, 1]]]),
                           [0, eye_y, 0]).array)
    delta = probe[0, 1] - probe[0, 0]
    numpy.testing.assert_allclose(delta, world_z_in_camera, atol=1e-12)
    numpy.testing.assert_allclose(out[0, 1] - out[0, 0], [1, 0, 0],
                                  atol=1e-6)
    # Continuity with a camera just off the pole at azimuth 0.
    near = to_cpu(look_at(xp.asarray(POINTS.astype(numpy.float64)),
                          get_points_from_angles(abs(eye_y), 89.9999 *
                                                 numpy.sign(eye_y),
                                                 0)).array)
    numpy.testing.assert_allclose(out, near, atol=1e-4)


def test_look_at_parallel_up_gradients_are_finite(xp):
    eye = chainer.Variable(xp.asarray([0., 3., 0.]))
    vertices = chainer.Variable(xp.asarray(POINTS.astype(numpy.float64)))
    out = look_at(vertices, eye, up=[0, 2, 0])
    out.grad = xp.ones_like(out.array)
    out.backward()
    assert numpy.isfinite(to_cpu(eye.grad)).all()
    assert numpy.isfinite(to_cpu(vertices.grad)).all()


def test_look_at_gradients(xp):
    rng = numpy.random.RandomState(2)
    vertices = rng.randn(2, 4, 3)
    eye = numpy.array([1., 2., -3.])
    grad_check(xp, lambda v, e: look_at(v, e), (vertices, eye))
    grad_check(xp, lambda v, e: look_at(v, e),
               (vertices, rng.randn(2, 3) * 3))
    grad_check(xp, lambda v, e, a, u: look_at(v, e, a, u),
               (vertices, eye, numpy.array([0.1, 0.2, 0.3]),
                numpy.array([0.2, 1., 0.1])))


def test_look_at_eye_parameter_in_float32(xp):
    # Example 4 optimises the eye as a Parameter of the vertices' dtype.
    eye = chainer.Parameter(xp.asarray([6., 10., -14.], numpy.float32))
    out = look_at(xp.asarray(POINTS), eye)
    chainer.functions.sum(out).backward()
    assert eye.grad.shape == (3,) and numpy.isfinite(to_cpu(eye.grad)).all()


def test_look_at_errors(xp):
    points = xp.asarray(POINTS)
    with pytest.raises(ValueError, match='eye and at must differ'):
        look_at(points, [0, 0, 0])
    with pytest.raises(ValueError, match='up'):
        look_at(points, [0, 0, -1], up=[0, 0, 0])
    with pytest.raises(ValueError, match='vertices'):
        look_at(points[0], [0, 0, -1])
    with pytest.raises(ValueError, match='eye'):
        look_at(points, [0, 0, -1, 1])
    with pytest.raises(ValueError, match='eye'):
        look_at(points, xp.zeros((4, 3)) + 1)
    with pytest.raises(ValueError, match='eye'):
        look_at(points, [0, float('nan'), -1])
    with pytest.raises(TypeError, match='vertices'):
        look_at(points.astype(numpy.int32), [0, 0, -1])
    with pytest.raises(TypeError, match='eye'):
        look_at(points, 'front')


# -- look ------------------------------------------------------------------

def test_look_default_direction(xp):
    # Direction +z from (0, 0, -D): the same as look_at the origin.
    points = xp.asarray(POINTS)
    numpy.testing.assert_allclose(
        to_cpu(look(points, [0, 0, -D]).array),
        to_cpu(look_at(points, [0, 0, -D]).array), atol=1e-6)


def test_look_matches_look_at(xp):
    rng = numpy.random.RandomState(3)
    vertices = xp.asarray(rng.randn(2, 5, 3))
    eye = rng.randn(2, 3)
    direction = numpy.array([0.3, -0.5, 2.])
    numpy.testing.assert_allclose(
        to_cpu(look(vertices, xp.asarray(eye),
                    xp.asarray(direction * 7)).array),
        to_cpu(look_at(vertices, xp.asarray(eye),
                       at=xp.asarray(eye + direction)).array), atol=1e-12)
    # Looking straight down uses the same fallback as look_at.
    numpy.testing.assert_allclose(
        to_cpu(look(vertices, [0, 3, 0], [0, -1, 0]).array),
        to_cpu(look_at(vertices, [0, 3, 0]).array), atol=1e-12)


def test_look_gradients(xp):
    rng = numpy.random.RandomState(4)
    grad_check(xp, lambda v, e, d: look(v, e, d),
               (rng.randn(2, 4, 3), numpy.array([0.5, 1., -3.]),
                numpy.array([[0.1, -0.2, 1.], [0.3, 0.1, 0.9]])))


def test_look_errors(xp):
    points = xp.asarray(POINTS)
    with pytest.raises(ValueError, match='direction'):
        look(points, [0, 0, -1], [0, 0, 0])
    with pytest.raises(ValueError, match='direction'):
        look(points, [0, 0, -1], [0, 1])


# -- perspective -----------------------------------------------------------

def test_perspective_values(xp):
    # z = 2, tan 45 = 1: x and y are halved, z kept.
    point = xp.asarray([[[1., -0.5, 2.]]], numpy.float32)
    out = perspective(point, 45)
    assert out.dtype == numpy.float32
    numpy.testing.assert_allclose(to_cpu(out.array), [[[0.5, -0.25, 2.]]],
                                  rtol=1e-6)
    # Default 30 degrees: the frustum edge x = z tan 30 maps to 1.
    edge = xp.asarray([[[math.tan(math.radians(30)) * 3, 0., 3.]]])
    numpy.testing.assert_allclose(to_cpu(perspective(edge).array),
                                  [[[1, 0, 3]]], rtol=1e-12)
    # Width / height = 2 divides x once more.
    numpy.testing.assert_allclose(
        to_cpu(perspective(point, 45, aspect_ratio=2.).array),
        [[[0.25, -0.25, 2.]]], rtol=1e-6)


def test_perspective_per_batch_angle(xp):
    points = xp.asarray([[[1., 1., 2.]], [[1., 1., 2.]]])
    out = to_cpu(perspective(points, xp.asarray([45., 30.])).array)
    scale = 1 / math.tan(math.radians(30)) / 2
    numpy.testing.assert_allclose(out, [[[0.5, 0.5, 2]], [[scale, scale, 2]]],
                                  rtol=1e-12)


def test_perspective_gradients(xp):
    rng = numpy.random.RandomState(5)
    vertices = rng.randn(2, 4, 3)
    vertices[:, :, 2] = rng.uniform(1, 3, (2, 4))
    grad_check(xp, lambda v: perspective(v, 40, aspect_ratio=1.5),
               (vertices,))
    grad_check(xp, lambda v, a: perspective(v, a),
               (vertices, numpy.array([25., 35.])))
    grad_check(xp, lambda v, a: perspective(v, a, aspect_ratio=1.5),
               (vertices, numpy.array([25., 35.])))


def test_perspective_errors(xp):
    points = xp.asarray(POINTS)
    with pytest.raises(ValueError, match='angle'):
        perspective(points, 90)
    with pytest.raises(ValueError, match='aspect_ratio'):
        perspective(points, 30, aspect_ratio=0)
    with pytest.raises(ValueError, match='vertices'):
        perspective(points[:, :, :2])


# -- vertices_to_faces -----------------------------------------------------

def test_vertices_to_faces_values(xp):
    vertices = numpy.arange(2 * 4 * 3, dtype=numpy.float32).reshape(2, 4, 3)
    faces = numpy.array([[[0, 1, 2], [3, 2, 1]], [[1, 1, 0], [2, 3, 0]]],
                        numpy.int32)
    out = vertices_to_faces(xp.asarray(vertices), xp.asarray(faces))
    assert out.shape == (2, 2, 3, 3) and out.dtype == numpy.float32
    out_array = to_cpu(out.array)
    for b in range(2):
        for f in range(2):
            for k in range(3):
                numpy.testing.assert_array_equal(
                    out_array[b, f, k], vertices[b, faces[b, f, k]])
    # Any integer dtype; no faces at all.
    out = vertices_to_faces(xp.asarray(vertices),
                            xp.asarray(faces.astype(numpy.uint8)))
    assert out.shape == (2, 2, 3, 3)
    assert vertices_to_faces(xp.asarray(vertices),
                             xp.asarray(faces[:, :0])).shape == (2, 0, 3, 3)


def test_vertices_to_faces_gradients(xp):
    rng = numpy.random.RandomState(6)
    faces = xp.asarray(rng.randint(0, 5, (2, 6, 3)).astype(numpy.int32))
    grad_check(xp, lambda v: vertices_to_faces(v, faces),
               (rng.randn(2, 5, 3),))


def test_vertices_to_faces_errors(xp):
    vertices = xp.zeros((2, 3, 3), numpy.float32)
    faces = xp.zeros((2, 1, 3), numpy.int32)
    with pytest.raises(ValueError, match=r'faces: indices must be in '
                                         r'\[0, V=3\), got min 0 and max 3'):
        vertices_to_faces(vertices,
                          faces + xp.asarray([[[0, 3, 1]], [[2, 0, 0]]],
                                             numpy.int32))
    with pytest.raises(ValueError, match='faces: indices'):
        vertices_to_faces(vertices, faces - 1)
    with pytest.raises(ValueError, match='faces: batch size 1'):
        vertices_to_faces(vertices, faces[:1])
    with pytest.raises(ValueError, match='faces'):
        vertices_to_faces(vertices, faces[0])
    with pytest.raises(ValueError, match='faces'):
        vertices_to_faces(vertices, faces[:, :, :2])
    with pytest.raises(TypeError, match='faces'):
        vertices_to_faces(vertices, faces.astype(numpy.float32))
    with pytest.raises(ValueError, match='vertices'):
        vertices_to_faces(vertices[:, :, :2], faces)
    with pytest.raises(TypeError, match='vertices'):
        vertices_to_faces(to_cpu(vertices).tolist(), faces)


# -- _checks ---------------------------------------------------------------

def test_check_array(xp):
    x = xp.zeros((2, 5, 3), numpy.float32)
    assert _checks.check_array('x', chainer.Variable(x), 3, (3,)) is x
    with pytest.raises(ValueError, match=r'x: expected shape \[\*, \*, 3\], '
                                         r'got \(2, 5\)'):
        _checks.check_array('x', x[:, :, 0], 3, (3,))
    with pytest.raises(ValueError, match='x: expected shape'):
        _checks.check_array('x', x, (2, 4), (None, 3))
    with pytest.raises(TypeError, match='x: expected a signed integer'):
        _checks.check_array('x', x, dtype_kind='i')
    with pytest.raises(TypeError, match='x: expected a numpy/cupy array'):
        _checks.check_array('x', [1, 2])


def test_check_finite(xp):
    _checks.check_finite('x', xp.ones(3))
    with pytest.raises(ValueError, match='x: must be finite'):
        _checks.check_finite('x',
                             chainer.Variable(xp.asarray([1, numpy.inf])))


def test_as_batched(xp):
    like = xp.zeros(1, numpy.float32)
    out = _checks.as_batched('c', [1, 2, 3], like, 4, (3,))
    assert out.shape == (4, 3) and out.dtype == numpy.float32
    assert _checks.as_batched('i', 0.5, like, 4, ()).shape == (4,)
    param = chainer.Variable(xp.ones((1, 3)))  # float64, cast to float32
    out = _checks.as_batched('c', param, like, 2, (3,))
    assert out.dtype == numpy.float32
    out.grad = xp.ones((2, 3), numpy.float32)
    out.backward()
    numpy.testing.assert_array_equal(to_cpu(param.grad), [[2, 2, 2]])
    with pytest.raises(ValueError, match=r'c: expected \[3\] or shape '
                                         r'\[B=2, 3\], got shape \(2, 2\)'):
        _checks.as_batched('c', xp.ones((2, 2)), like, 2, (3,))
    with pytest.raises(ValueError, match=r'i: expected a scalar or shape '
                                         r'\[B=2\], got shape \(3,\)'):
        _checks.as_batched('i', xp.ones(3), like, 2, ())


# -- xp against the CPU ----------------------------------------------------

def test_transforms_match_cpu(xp):
    # The whole camera chain on xp's device against NumPy (the CPU-GPU
    # cross-check on cupy; trivially equal on numpy).
    rng = numpy.random.RandomState(7)
    vertices = rng.randn(2, 5, 3).astype(numpy.float32)
    faces = rng.randint(0, 5, (2, 4, 3)).astype(numpy.int32)
    eye = chainer.Parameter(xp.asarray([1., 2., -3.], numpy.float32))

    def pipeline(v, e, xp_faces):
        v = look_at(v, e)
        v = look(v, [0, 0, 0], [0.1, 0, 1])
        v = perspective(v, 35)
        return vertices_to_faces(v, xp_faces)

    out = pipeline(xp.asarray(vertices), eye, xp.asarray(faces))
    chainer.functions.sum(out).backward()
    cpu_eye = chainer.Variable(numpy.array([1., 2., -3.], numpy.float32))
    cpu = pipeline(vertices, cpu_eye, faces)
    chainer.functions.sum(cpu).backward()
    numpy.testing.assert_allclose(to_cpu(out.array), cpu.array,
                                  rtol=1e-5, atol=1e-5)
    numpy.testing.assert_allclose(to_cpu(eye.grad), cpu_eye.grad,
                                  rtol=1e-4, atol=1e-4)
    points = get_points_from_angles(xp.asarray([2.]), 30., 10.)
    assert isinstance(points, xp.ndarray) and points.shape == (1, 3)


# -- audit issue 16: errors name the argument and the valid range ----------

def test_look_at_far_eye_names_eye_and_at(xp):
    points = xp.asarray(POINTS)
    # |at - eye|^2 would overflow float32: the frame would be NaN.
    with pytest.raises(ValueError, match=r'eye, at: .*at most 9.22e\+18'):
        look_at(points, [0, 0, -1e30])
    with pytest.raises(ValueError, match='eye: .*3.4e\\+38'):
        look_at(points, [0, 0, -1e39])
    with pytest.raises(ValueError, match='eye and at must differ'):
        look_at(points, [1, 2, 3], at=[1, 2, 3])
    with pytest.raises(ValueError, match='up: .*at most'):
        look_at(points, [0, 0, -1], up=[0, 1e30, 0])
    # float64 vertices allow far more.
    assert numpy.isfinite(to_cpu(look_at(points.astype(numpy.float64),
                                         [0, 0, -1e30]).array)).all()


def test_look_far_direction_names_direction(xp):
    with pytest.raises(ValueError, match='direction: .*at most'):
        look(xp.asarray(POINTS), [0, 0, -1], [0, 0, 1e30])


@pytest.mark.parametrize('angle', [0., 90., 120., -30.])
def test_perspective_checks_array_angles_elementwise(xp, angle):
    angles = xp.asarray([30., angle])
    points = xp.asarray(numpy.concatenate([POINTS, POINTS]))
    with pytest.raises(ValueError, match=r'angle: .*\(0, 90\).*batch item'):
        perspective(points, angles)
    with pytest.raises(ValueError, match='angle'):
        perspective(points, chainer.Variable(angles))
    with pytest.raises(ValueError, match='angle'):
        perspective(xp.asarray(POINTS), xp.asarray(angle))


def test_perspective_angle_too_small_for_the_dtype(xp):
    with pytest.raises(ValueError, match='angle: .*tangent'):
        perspective(xp.asarray(POINTS), 1e-40)
    assert numpy.isfinite(to_cpu(perspective(
        xp.asarray(POINTS.astype(numpy.float64) + [0, 0, 1]),
        1e-40).array)).all()


def test_as_batched_overflow_of_the_dtype_names_the_argument(xp):
    with pytest.raises(ValueError, match='light: .*float32'):
        _checks.as_batched_array('light', 1e39, xp.asarray(POINTS), 1, ())
