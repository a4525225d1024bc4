"""nr.projection, the port's calibrated camera (K, R, t, distortion),
against the formula written out in NumPy, by finite differences, and its
errors."""
import numpy
import pytest

import chainer
from chainer import gradient_check

import neural_renderer as nr
from neural_renderer.projection import calibrated_camera

from backends import to_cpu


def rotation(rng):
    q, r = numpy.linalg.qr(rng.randn(3, 3))
    q = q * numpy.sign(numpy.diag(r))
    return q * numpy.linalg.det(q)  # a proper rotation


def scene(rng, batch=2, points=7, dtype=numpy.float64):
    """Points in front of per-batch cameras with off-centre principal points
    and unequal focal lengths, and mild distortion."""
    R = numpy.stack([rotation(rng) for _ in range(batch)])
    t = rng.uniform(-0.3, 0.3, (batch, 1, 3)) + [0, 0, 4]
    camera = rng.uniform(-1, 1, (batch, points, 3)) + [0, 0, 4]
    # World points whose camera coordinates are `camera`.
    vertices = numpy.einsum('bnj,bjk->bnk', camera - t, R)
    K = numpy.zeros((batch, 3, 3))
    K[:, 0, 0] = rng.uniform(400, 600, batch)
    K[:, 1, 1] = rng.uniform(300, 500, batch)
    K[:, 0, 1] = rng.uniform(-5, 5, batch)
    K[:, 0, 2] = rng.uniform(250, 350, batch)
    K[:, 1, 2] = rng.uniform(200, 260, batch)
    K[:, 2, 2] = 1
    dist = rng.uniform(-0.05, 0.05, (batch, 5))
    return [a.astype(dtype) for a in (vertices, K, R, t, dist)]


def reference(vertices, K, R, t, dist, height, width, eps=1e-9):
    """The formula, point by point in float64."""
    out = numpy.empty(vertices.shape)
    for b in range(vertices.shape[0]):
        for n in range(vertices.shape[1]):
            x, y, z = R[b] @ vertices[b, n] + t[b].reshape(3)
            xp, yp = x / (z + eps), y / (z + eps)
            if dist is not None:
                k1, k2, p1, p2, k3 = dist[b]
                r2 = xp * xp + yp * yp
                radial = 1 + k1 * r2 + k2 * r2 ** 2 + k3 * r2 ** 3
                xp, yp = (xp * radial + 2 * p1 * xp * yp +
                          p2 * (r2 + 2 * xp * xp),
                          yp * radial + p1 * (r2 + 2 * yp * yp) +
                          2 * p2 * xp * yp)
            u = K[b, 0, 0] * xp + K[b, 0, 1] * yp + K[b, 0, 2]
            v = K[b, 1, 0] * xp + K[b, 1, 1] * yp + K[b, 1, 2]
            v = height - v
            out[b, n] = (2 * (u - width / 2) / width,
                         2 * (v - height / 2) / height, z)
    return out


@pytest.mark.parametrize('dtype, rtol', [(numpy.float32, 2e-5),
                                         (numpy.float64, 1e-12)])
@pytest.mark.parametrize('distortion', [True, False])
def test_matches_the_formula(xp, dtype, rtol, distortion):
    rng = numpy.random.RandomState(0)
    vertices, K, R, t, dist = scene(rng, dtype=dtype)
    dist = dist if distortion else None
    for orig_size, (height, width) in ((512, (512, 512)),
                                       ((480, 640), (480, 640))):
        out = nr.projection(*[None if a is None else xp.asarray(a) for a in
                              (vertices, K, R, t, dist)], orig_size)
        expected = reference(*[None if a is None else a.astype(numpy.float64)
                               for a in (vertices, K, R, t, dist)],
                             height=height, width=width)
        assert out.dtype == dtype and out.shape == vertices.shape
        numpy.testing.assert_allclose(to_cpu(out.array), expected, rtol=rtol,
                                      atol=rtol)


def test_one_camera_serves_the_batch_and_t_may_be_flat(xp):
    rng = numpy.random.RandomState(1)
    vertices, K, R, t, dist = scene(rng, batch=3)
    one = [K[:1], R[:1], t[:1], dist[:1]]
    tiled = [numpy.repeat(a, 3, axis=0) for a in one]
    a = nr.projection(xp.asarray(vertices), *[xp.asarray(v) for v in one],
                      orig_size=600)
    b = nr.projection(xp.asarray(vertices), *[xp.asarray(v) for v in tiled],
                      orig_size=600)
    c = nr.projection(xp.asarray(vertices), xp.asarray(K[0]),
                      xp.asarray(R[0]), xp.asarray(t[0, 0]),
                      xp.asarray(dist[0]), orig_size=600)
    d = nr.projection(xp.asarray(vertices), xp.asarray(tiled[0]),
                      xp.asarray(tiled[1]), xp.asarray(tiled[2][:, 0]),
                      xp.asarray(tiled[3]), orig_size=600)
    for other in (b, c, d):
        numpy.testing.assert_array_equal(to_cpu(a.array),
                                         to_cpu(other.array))


def test_pixel_centres_land_on_the_renderers_pixel_centres():
    # A point on the ray through OpenCV pixel centre (u, v) = (j + 0.5,
    # i + 0.5) of a 3 x 5 image lands on the NDC centre of pixel (i, j).
    height, width = 3, 5
    K = numpy.array([[7., 0, 2.2], [0, 9., 1.3], [0, 0, 1]])
    for i in range(height):
        for j in range(width):
            u, v = j + 0.5, i + 0.5
            x = (u - K[0, 2]) / K[0, 0]
            y = (v - K[1, 2]) / K[1, 1]
            point = numpy.array([[[2 * x, 2 * y, 2.]]])
            out = nr.projection(point, K[None], numpy.eye(3)[None],
                                numpy.zeros((1, 3)), None,
                                (height, width)).array[0, 0]
            numpy.testing.assert_allclose(
                out, [(2 * j + 1 - width) / width,
                      (height - 1 - 2 * i) / height, 2.], atol=1e-9)


@pytest.mark.parametrize('argument', ['vertices', 'K', 'R', 't',
                                      'dist_coeffs'])
def test_gradients_by_finite_differences(argument):
    rng = numpy.random.RandomState(2)
    inputs = dict(zip(('vertices', 'K', 'R', 't', 'dist_coeffs'),
                      scene(rng, batch=2, points=4)))
    grad = rng.randn(2, 4, 3)

    def f(value):
        args = dict(inputs, **{argument: value})
        return nr.projection(args['vertices'], args['K'], args['R'],
                             args['t'], args['dist_coeffs'], (480, 640))

    gradient_check.check_backward(f, inputs[argument], grad, eps=1e-6,
                                  atol=1e-6, rtol=1e-5, dtype=numpy.float64)


def test_gradients_reach_every_input_as_variables():
    rng = numpy.random.RandomState(3)
    variables = [chainer.Variable(a) for a in scene(rng)]
    out = nr.projection(*variables, orig_size=512)
    chainer.functions.sum(out).backward()
    for v in variables:
        assert v.grad is not None and numpy.isfinite(v.grad).all() and \
            numpy.abs(v.grad).max() > 0


@pytest.mark.parametrize('argument, value, message', [
    ('K', numpy.eye(3)[None].repeat(3, 0), r'^K: expected shape \[2, 3, 3\]'),
    ('K', numpy.eye(2)[None], r'^K: expected shape \[2, 3, 3\]'),
    ('R', numpy.eye(3)[:2][None], r'^R: expected shape \[2, 3, 3\]'),
    ('t', numpy.zeros((2, 2)), r'^t: expected shape \[2, 3\]'),
    ('dist_coeffs', numpy.zeros((2, 4)),
     r'^dist_coeffs: expected shape \[2, 5\]'),
    ('K', numpy.diag([500., 0, 1])[None], '^K: expected intrinsics .* '
                                          'singular'),
    ('K', numpy.full((1, 3, 3), numpy.nan), '^K: expected finite'),
    ('orig_size', 0, '^orig_size: expected positive'),
    ('orig_size', (480, 640, 3), '^orig_size: expected a number or a'),
    ('vertices', numpy.zeros((2, 4)), '^vertices: expected'),
])
def test_bad_arguments_name_themselves(argument, value, message):
    rng = numpy.random.RandomState(4)
    args = dict(zip(('vertices', 'K', 'R', 't', 'dist_coeffs'),
                    scene(rng, batch=2, points=4)), orig_size=512)
    args[argument] = value
    with pytest.raises((ValueError, TypeError), match=message):
        nr.projection(args['vertices'], args['K'], args['R'], args['t'],
                      args['dist_coeffs'], args['orig_size'])


def test_dtype_mismatch_names_the_argument():
    rng = numpy.random.RandomState(5)
    vertices, K, R, t, dist = scene(rng)
    with pytest.raises(TypeError, match='^R: expected the dtype'):
        calibrated_camera(vertices, R.astype(numpy.float32), t)
