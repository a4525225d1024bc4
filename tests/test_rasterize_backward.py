"""Backward of rasterization.

Approximate (edge) gradients on single triangles against values derived by
hand from the paper's eq. (1)-(4); exact parts (depth, textures) against
finite differences.

The triangle used by most tests, in NDC on a 10 x 10 image (pixel centres at
odd multiples of 0.1), is right-angled with

    v0 = (-0.71, -0.61)   v1 = (0.43, -0.61)   v2 = (-0.71, 0.53)

so no pixel centre lies on an edge. Its hypotenuse v1 -> v2 is the line
x + y = -0.18. Row 4 has its centres at y = 0.1.

The distance d from an edge to a pixel centre enters the ramp as the
original package computes it: d + eps away from the edge (d > 0 ? d + eps :
d - eps), for every pixel, not only those closer than eps.
"""
import numpy
import pytest

import chainer
import chainer.functions as F
from chainer import gradient_check

import neural_renderer as nr

from backends import to_cpu

V0, V1, V2 = (-0.71, -0.61), (0.43, -0.61), (-0.71, 0.53)
SIZE = 10


def triangle(z=(2., 2., 2.), dtype=numpy.float64):
    xy = numpy.array([V0, V1, V2])
    return numpy.concatenate([xy, numpy.array(z)[:, None]], 1).astype(dtype)


def pixel_x(j):
    return (2 * j + 1 - SIZE) / SIZE


def pixel_y(i):
    return (SIZE - 1 - 2 * i) / SIZE


EPS = 1e-4  # rasterize_silhouettes' default, the original's DEFAULT_EPS


def ramp(d, eps=EPS):
    """The original's distance term: d moved eps away from the edge."""
    return d + eps if d > 0 else d - eps


def alpha_grad(xp, faces, grad_map, eps=EPS):
    """d(sum(alpha * grad_map)) / d(faces) with anti-aliasing off, faces
    and grad_map on xp's device, the gradient on the CPU."""
    faces = chainer.Variable(xp.asarray(faces))
    alpha = nr.rasterize_silhouettes(faces, SIZE, anti_aliasing=False,
                                     eps=eps)
    F.sum(alpha * xp.asarray(grad_map)).backward()
    return to_cpu(faces.grad)


def one_hot(i, j, value, batch=1):
    grad = numpy.zeros((batch, SIZE, SIZE))
    grad[:, i, j] = value
    return grad


def test_forward_layout_of_the_test_triangle(xp):
    alpha = to_cpu(nr.rasterize_silhouettes(xp.asarray(triangle()[None, None]),
                                            SIZE,
                                            anti_aliasing=False).array)[0]
    assert alpha[4, 8] == 0 and alpha[4, 2] == 1
    # x + y <= -0.18, x >= -0.71, y >= -0.61 at the centres:
    x = pixel_x(numpy.arange(SIZE))[None, :]
    y = pixel_y(numpy.arange(SIZE))[:, None]
    expected = (x + y <= -0.18) & (x >= -0.71) & (y >= -0.61)
    numpy.testing.assert_array_equal(alpha, expected)


@pytest.mark.parametrize('eps', [EPS, 0.05])
def test_pixel_outside_gets_the_ramp_of_eq1(xp, eps):
    # Loss = -alpha[P], P = (row 4, col 8) = (0.7, 0.1), outside the face.
    # Row 4 crosses the hypotenuse at c = -0.18 - 0.1 = -0.28, a fraction
    # t = (0.1 - -0.61) / (0.53 - -0.61) = 0.71 / 1.14 of the way from v1 to
    # v2. Moving v1 by dx moves the crossing by (1 - t) dx, so the edge hits
    # P after dx1 = (0.7 - c) / (1 - t); then alpha goes 0 -> 1: dI = 1.
    # Eq. (1): dI/dx1 = dI / dx1, flowing since dP * dI = -1 < 0.
    # Column 8 (x = 0.7) is beyond every edge, so y gets nothing; the
    # vertical edge v2 -> v0 faces away from P. The distance 0.7 - c = 0.98
    # enters as 0.98 + eps (with eps = 0.05: 1.03, where a clamp of the
    # distance at eps would leave 0.98).
    t = 0.71 / 1.14
    c = -0.28
    grad = alpha_grad(xp, triangle()[None, None], one_hot(4, 8, -1.),
                      eps=eps)[0, 0]
    expected = numpy.zeros((3, 3))
    expected[1, 0] = -1 * 1 / (ramp(0.7 - c, eps) / (1 - t))
    expected[2, 0] = -1 * 1 / (ramp(0.7 - c, eps) / t)
    numpy.testing.assert_allclose(grad, expected, rtol=1e-10, atol=1e-12)


def test_pixel_inside_sums_both_sides_eq2(xp):
    # Loss = +alpha[P], P = (row 4, col 2) = (-0.5, 0.1), inside the face.
    # Moving an edge past P reveals the background: dI = 0 - 1 = -1, and
    # dP * dI = -1 < 0, so every side flows (eq. 2-4).
    # x (row 4, y = 0.1):
    #  * hypotenuse v1 -> v2, crossing c = -0.28, t = 0.71 / 1.14: moving it
    #    left by (-0.5 - c) reaches P: v1 needs (-0.5 - c) / (1 - t), v2
    #    (-0.5 - c) / t.
    #  * vertical edge v2 -> v0 at x = -0.71, t = (0.1 - 0.53) / (-0.61 -
    #    0.53) from v2: moving it right by (-0.5 + 0.71) reaches P.
    # y (column 2, x = -0.5):
    #  * bottom edge v0 -> v1 at y = -0.61, t = (-0.5 + 0.71) / 1.14 from
    #    v0: moving it up by (0.1 + 0.61) reaches P.
    #  * hypotenuse at y = -0.18 + 0.5 = 0.32, t = (-0.5 - 0.43) / (-1.14)
    #    from v1: moving it down by (0.1 - 0.32) reaches P.
    grad = alpha_grad(xp, triangle()[None, None], one_hot(4, 2, 1.))[0, 0]
    dI = -1.
    expected = numpy.zeros((3, 3))
    t, d = 0.71 / 1.14, -0.5 - -0.28
    expected[1, 0] += dI / (ramp(d) / (1 - t))
    expected[2, 0] += dI / (ramp(d) / t)
    t, d = (0.1 - 0.53) / (-0.61 - 0.53), -0.5 - -0.71
    expected[2, 0] += dI / (ramp(d) / (1 - t))
    expected[0, 0] += dI / (ramp(d) / t)
    t, d = (-0.5 - -0.71) / 1.14, 0.1 - -0.61
    expected[0, 1] += dI / (ramp(d) / (1 - t))
    expected[1, 1] += dI / (ramp(d) / t)
    t, d = (-0.5 - 0.43) / -1.14, 0.1 - 0.32
    expected[1, 1] += dI / (ramp(d) / (1 - t))
    expected[2, 1] += dI / (ramp(d) / t)
    numpy.testing.assert_allclose(grad, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize('i, j', [(4, 8), (4, 2), (7, 1), (1, 1)])
def test_sign_gating(xp, i, j):
    # Flipping the loss's sign flips which moves lower it. For a pixel
    # outside, only growing moves can change it (dI = +1): with loss
    # +alpha[P] nothing flows. For a pixel inside, only shrinking moves can
    # (dI = -1): with loss -alpha[P] nothing flows.
    faces = triangle()[None, None]
    inside = to_cpu(nr.rasterize_silhouettes(xp.asarray(faces), SIZE,
                                             False).array)[0, i, j]
    blocked_sign = 1. if inside == 0 else -1.
    grad = alpha_grad(xp, faces, one_hot(i, j, blocked_sign))
    numpy.testing.assert_array_equal(grad, 0)
    grad = alpha_grad(xp, faces, one_hot(i, j, -blocked_sign))
    assert numpy.abs(grad).sum() > 0


def test_depth_has_no_edge_gradient_and_z_gets_none_from_alpha(xp):
    grad = alpha_grad(xp, triangle()[None, None], one_hot(4, 2, 1.))
    numpy.testing.assert_array_equal(grad[..., 2], 0)


def test_occluded_crossing_blocks_the_gradient(xp):
    # Face 0 is the test triangle at depth 3. Face 1, at depth 1, covers
    # the hypotenuse's crossing on row 4 (x = -0.28) but not P = (row 4,
    # col 8) and shares no vertex with face 0. Moving face 0's hypotenuse
    # onto P would pass behind face 1, so no gradient reaches face 0 from P.
    back = triangle(z=(3., 3., 3.))
    front = numpy.array([[-0.45, -0.05, 1.], [-0.05, -0.05, 1.],
                         [-0.25, 0.35, 1.]])
    assert to_cpu(nr.rasterize_silhouettes(xp.asarray(front[None, None]),
                                           SIZE, False).array)[0, 4, 8] == 0
    faces = numpy.stack([back, front])[None]
    grad = alpha_grad(xp, faces, one_hot(4, 8, -1.))
    numpy.testing.assert_array_equal(grad[0, 0], 0)
    # Without the occluder the same pixel pulls face 0 (see eq. 1 test).
    grad_alone = alpha_grad(xp, back[None, None], one_hot(4, 8, -1.))
    assert grad_alone[0, 0, 1, 0] < 0 and grad_alone[0, 0, 2, 0] < 0
    # An occluder behind the crossing does not block it.
    behind = front.copy()
    behind[:, 2] = 5.
    faces = numpy.stack([back, behind])[None]
    grad = alpha_grad(xp, faces, one_hot(4, 8, -1.))
    numpy.testing.assert_allclose(grad[0, 0], grad_alone[0, 0])


def test_neighbour_holding_the_vertex_does_not_block_it(xp):
    # Face 1, in front, draws the pixel just inside the hypotenuse's
    # crossing on row 4 (row 4, col 3) and holds v1 but not v2: the
    # gradient from P = (row 4, col 8) still reaches v1, not v2.
    neighbour = numpy.array([[V1[0], V1[1], 2.], [-0.1, 0.3, 1.],
                             [-0.6, 0.3, 1.]])
    shown = to_cpu(nr.rasterize_silhouettes(xp.asarray(neighbour[None, None]),
                                            SIZE, False).array)[0]
    assert shown[4, 3] == 1 and shown[4, 8] == 0
    faces = numpy.stack([triangle(), neighbour])[None]
    grad = alpha_grad(xp, faces, one_hot(4, 8, -1.))
    grad_alone = alpha_grad(xp, triangle()[None, None], one_hot(4, 8, -1.))
    assert grad_alone[0, 0, 1, 0] < 0 and grad_alone[0, 0, 2, 0] < 0
    numpy.testing.assert_allclose(grad[0, 0, 1], grad_alone[0, 0, 1])
    numpy.testing.assert_array_equal(grad[0, 0, 2], 0)
    numpy.testing.assert_array_equal(grad[0, 0, 0], 0)


def test_crossing_on_a_pixel_showing_nothing_gets_no_gradient(xp):
    # A triangle smaller than a pixel spans row 4's centre line (y = 0.1)
    # between the centres x = 0.1 and 0.3: it draws no pixel, so its
    # crossings are not drawn and P = (row 4, col 8) pulls nothing (sec.
    # 3.3). Grown to cover the pixel just inside (x = 0.1), it is pulled.
    def tiny(scale):
        centre = numpy.array([0.2, 0.1])
        xy = centre + scale * numpy.array([[-0.05, -0.04], [0.05, -0.04],
                                           [-0.05, 0.05]])
        return numpy.concatenate([xy, numpy.full((3, 1), 2.)], 1)[None, None]
    assert to_cpu(nr.rasterize_silhouettes(xp.asarray(tiny(1.)), SIZE,
                                           False).array).sum() == 0
    numpy.testing.assert_array_equal(
        alpha_grad(xp, tiny(1.), one_hot(4, 8, -1.)), 0)
    big = tiny(2.5)
    assert to_cpu(nr.rasterize_silhouettes(xp.asarray(big), SIZE,
                                           False).array)[0, 4, 5] == 1
    assert (alpha_grad(xp, big, one_hot(4, 8, -1.))[0, 0, :, 0] < 0).any()


def test_rgb_gradient_uses_colour_differences_and_sums_with_alpha(xp):
    # A uniformly coloured face (0.8, 0.5, 0.2) on background (0, 0, 0):
    # for P outside, the colour change when the edge reaches P is I_c - 0.
    faces = triangle()[None, None]
    colour = numpy.array([0.8, 0.5, 0.2])
    textures = numpy.broadcast_to(colour, (1, 1, 2, 2, 2, 3)).copy()
    g_rgb = numpy.zeros((1, 3, SIZE, SIZE))
    g_rgb[0, :, 4, 8] = [-1., 0.5, -2.]   # dL = -0.8 + 0.25 - 0.4 < 0
    g_alpha = one_hot(4, 8, -0.3)

    def grads(use_rgb, use_alpha):
        fv = chainer.Variable(xp.asarray(faces))
        out = nr.rasterize_rgbad(fv, xp.asarray(textures), SIZE,
                                 anti_aliasing=False)
        loss = 0
        if use_rgb:
            loss += F.sum(out['rgb'] * xp.asarray(g_rgb))
        if use_alpha:
            loss += F.sum(out['alpha'] * xp.asarray(g_alpha))
        loss.backward()
        return to_cpu(fv.grad)

    t, c = 0.71 / 1.14, -0.28
    d_rgb = float(numpy.dot(g_rgb[0, :, 4, 8], colour))
    rgb_only = grads(True, False)
    numpy.testing.assert_allclose(rgb_only[0, 0, 1, 0],
                                  d_rgb * (1 - t) / ramp(0.7 - c),
                                  rtol=1e-10)
    numpy.testing.assert_allclose(rgb_only[0, 0, 2, 0],
                                  d_rgb * t / ramp(0.7 - c), rtol=1e-10)
    alpha_only = grads(False, True)
    numpy.testing.assert_allclose(grads(True, True), rgb_only + alpha_only,
                                  rtol=1e-12)


def test_gradient_is_finite_for_centres_on_edges_and_degenerate_faces(xp):
    # Vertices on pixel centres: edges pass through centres; a degenerate
    # face and a face behind the camera; all gradients finite.
    faces = numpy.array([[[[-0.5, -0.5, 1.], [0.5, -0.5, 1.], [0.5, 0.5, 1.]],
                          [[0.1, 0.1, 1.], [0.1, 0.1, 1.], [0.1, 0.1, 1.]],
                          [[-0.9, -0.9, -1.], [0.9, -0.9, -1.],
                           [0., 0.9, -1.]]]])
    textures = numpy.random.RandomState(0).rand(1, 3, 2, 2, 2, 3)
    fv = chainer.Variable(xp.asarray(faces))
    tv = chainer.Variable(xp.asarray(textures))
    out = nr.rasterize_rgbad(fv, tv, 10, anti_aliasing=True)
    rng = numpy.random.RandomState(1)
    loss = (F.sum(out['rgb'] * xp.asarray(rng.randn(1, 3, 10, 10))) +
            F.sum(out['alpha'] * xp.asarray(rng.randn(1, 10, 10))) +
            F.sum(out['depth'] * xp.asarray(rng.randn(1, 10, 10))))
    loss.backward()
    faces_grad, textures_grad = to_cpu(fv.grad), to_cpu(tv.grad)
    assert numpy.isfinite(faces_grad).all() and \
        numpy.isfinite(textures_grad).all()
    assert numpy.abs(faces_grad[0, 0]).sum() > 0
    numpy.testing.assert_array_equal(faces_grad[0, 1:], 0)


def depth_faces():
    # Two faces with different depths over a 10x10 grid, with every pixel
    # centre at least 0.02 from every edge, so finite differences with a
    # step of 1e-6 never change which face a pixel shows.
    return numpy.array([[[[-0.71, -0.61, 2.], [0.43, -0.61, 3.],
                          [-0.71, 0.53, 2.5]],
                         [[0.05, 0.05, 1.5], [0.85, 0.15, 1.2],
                          [0.35, 0.87, 1.9]]]])


def test_depth_gradient_matches_finite_differences(xp):
    faces = xp.asarray(depth_faces())
    rng = numpy.random.RandomState(0)
    g = xp.asarray(rng.randn(1, SIZE, SIZE))

    def depth(f):
        return nr.rasterize_depth(f, SIZE, anti_aliasing=False)

    gradient_check.check_backward(depth, faces, g, eps=1e-6, atol=1e-6,
                                  rtol=1e-5)


def test_texture_gradient_matches_finite_differences(xp):
    faces = xp.asarray(depth_faces())
    rng = numpy.random.RandomState(0)
    textures = xp.asarray(rng.rand(1, 2, 3, 3, 3, 3))
    g = xp.asarray(rng.randn(1, 3, SIZE, SIZE))

    def rgb(t):
        return nr.rasterize(faces, t, SIZE, anti_aliasing=True)

    gradient_check.check_backward(rgb, textures, g, eps=1e-4, atol=1e-8,
                                  rtol=1e-6)


def test_texture_and_light_gradients_with_fill_back_faces(xp):
    # Faces [f0, f1, reversed f0, reversed f1] with cubes for f0 and f1
    # only, and a light factor per drawn face: rgb is linear in both, so
    # finite differences are exact.
    front = depth_faces()
    reversed_faces = front[:, :, ::-1].copy()
    # Mirror x so that the reversed copies face the camera and are drawn.
    reversed_faces[..., 0] *= -1
    faces = xp.asarray(numpy.concatenate([front, reversed_faces], axis=1))
    rng = numpy.random.RandomState(2)
    textures = xp.asarray(rng.rand(1, 2, 3, 3, 3, 3))
    light = xp.asarray(rng.rand(1, 4, 3) + 0.5)
    g = xp.asarray(rng.randn(1, 3, SIZE, SIZE))
    light_v = chainer.Variable(light)
    F.sum(nr.rasterize_rgbad(faces, textures, SIZE, False, light=light_v,
                             fill_back=True)['rgb'] * g).backward()
    assert (abs(to_cpu(light_v.grad)).sum(axis=2) > 0).all()  # all 4 drawn

    def rgb(t, lights):
        return nr.rasterize_rgbad(faces, t, SIZE, True, light=lights,
                                  fill_back=True)['rgb']

    gradient_check.check_backward(rgb, (textures, light), g, eps=1e-4,
                                  atol=1e-8, rtol=1e-6)
    # Without fill_back the halved cubes are a shape error, not a guess.
    with pytest.raises(ValueError, match='textures must have shape'):
        nr.rasterize_rgbad(faces, textures, SIZE, light=light)


def test_gradients_are_float32_in_float32(xp):
    faces = chainer.Variable(xp.asarray(triangle(dtype=numpy.float32)[None,
                                                                      None]))
    textures = chainer.Variable(xp.ones((1, 1, 2, 2, 2, 3), 'f'))
    out = nr.rasterize_rgbad(faces, textures, SIZE)
    F.sum(out['rgb'] + out['alpha'][:, None] + out['depth'][:, None]
          ).backward()
    assert faces.grad.dtype == numpy.float32
    assert textures.grad.dtype == numpy.float32
    # Same values as float64 up to float32 rounding.
    faces64 = chainer.Variable(xp.asarray(triangle()[None, None]))
    textures64 = chainer.Variable(xp.ones((1, 1, 2, 2, 2, 3)))
    out = nr.rasterize_rgbad(faces64, textures64, SIZE)
    F.sum(out['rgb'] + out['alpha'][:, None] + out['depth'][:, None]
          ).backward()
    numpy.testing.assert_allclose(to_cpu(faces.grad), to_cpu(faces64.grad),
                                  rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('seed, shape', [(0, (12, 12)), (1, (10, 15)),
                                         (2, (17, 9)), (3, (16, 16))])
def test_edge_gradient_matches_the_plain_python_statement(xp, seed, shape):
    # Random overlapping triangles (some off-screen, some sharing vertices),
    # dense random rgb and alpha gradients: the kernel's edge gradient equals
    # reference_gradient.edge_gradient, which states the rule loop by loop
    # on the independent reference rasterizer's maps.
    import reference_gradient
    import reference_rasterizer as ref
    rng = numpy.random.RandomState(seed)
    num_faces = 8
    centres = rng.uniform(-1.1, 1.1, (num_faces, 1, 2))
    xy = centres + rng.uniform(-0.6, 0.6, (num_faces, 3, 2))
    z = rng.uniform(1, 4, (num_faces, 3, 1))
    faces = numpy.concatenate([xy, z], axis=2)
    faces[1, 0] = faces[0, 1]  # a shared vertex
    faces[2, :2] = faces[3, 1::-1]  # a shared edge
    textures = rng.uniform(0, 1, (num_faces, 2, 2, 2, 3))
    height, width = shape
    g_rgb = rng.randn(3, height, width)
    g_alpha = rng.randn(height, width)

    fv = chainer.Variable(xp.asarray(faces[None]))
    out = nr.rasterize_rgbad(fv, xp.asarray(textures[None]), image_size=shape,
                             anti_aliasing=False, background_color=(0.3, 0.2,
                                                                    0.1))
    loss = (F.sum(out['rgb'] * xp.asarray(g_rgb[None])) +
            F.sum(out['alpha'] * xp.asarray(g_alpha)))
    loss.backward()

    face_index, depth, rgb = ref.rasterize(faces, height, width, textures,
                                           background=(0.3, 0.2, 0.1))
    expected = reference_gradient.edge_gradient(
        faces, textures, rgb, (face_index >= 0).astype(float), face_index,
        depth, g_rgb, g_alpha)
    assert numpy.abs(expected).sum() > 0
    numpy.testing.assert_allclose(to_cpu(fv.grad)[0, :, :, :2],
                                  expected[:, :, :2], rtol=1e-9, atol=1e-9)


def agreement_scene(dtype, batch_size=2, num_faces=300, texture_size=3):
    rng = numpy.random.RandomState(0)
    centres = rng.uniform(-1, 1, (batch_size, num_faces, 1, 2))
    xy = centres + rng.uniform(-0.3, 0.3, (batch_size, num_faces, 3, 2))
    z = rng.uniform(1, 5, (batch_size, num_faces, 3, 1))
    faces = numpy.concatenate([xy, z], axis=3).astype(dtype)
    textures = rng.uniform(0, 1, (batch_size, num_faces) +
                           (texture_size,) * 3 + (3,)).astype(dtype)
    grads = [rng.randn(batch_size, 3, 48, 40).astype(dtype),
             rng.randn(batch_size, 48, 40).astype(dtype),
             rng.randn(batch_size, 48, 40).astype(dtype)]
    return faces, textures, grads


def render_and_backward(xp, faces, textures, grads):
    """rgb, alpha, depth and the faces' and textures' gradients, computed
    on xp's device and returned on the CPU."""
    faces = chainer.Variable(xp.asarray(faces))
    textures = chainer.Variable(xp.asarray(textures))
    out = nr.rasterize_rgbad(faces, textures, image_size=(48, 40),
                             background_color=(0.1, 0.2, 0.3))
    loss = sum(F.sum(out[k] * xp.asarray(g))
               for k, g in zip(('rgb', 'alpha', 'depth'), grads))
    loss.backward()
    return ([to_cpu(out[k].array) for k in ('rgb', 'alpha', 'depth')],
            to_cpu(faces.grad), to_cpu(textures.grad))


@pytest.mark.parametrize('dtype', [numpy.float32, numpy.float64])
def test_device_agrees_with_numpy(xp, dtype):
    # The same kernel source on xp's device and on the CPU: images to 1e-5,
    # gradients to 1e-4 (the CPU-GPU cross-check on cupy; on numpy the
    # same computation twice).
    faces, textures, grads = agreement_scene(dtype)
    images_cpu, gf_cpu, gt_cpu = render_and_backward(numpy, faces, textures,
                                                     grads)
    images, gf, gt = render_and_backward(xp, faces, textures, grads)
    for a, b in zip(images_cpu, images):
        numpy.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-5)
    numpy.testing.assert_allclose(gf_cpu, gf, atol=1e-4, rtol=1e-4)
    numpy.testing.assert_allclose(gt_cpu, gt, atol=1e-4, rtol=1e-4)
