"""The Renderer with the PyTorch port's keyword constructor and calibrated
camera (camera_mode='projection'): against a ray caster through the same
OpenCV pixel centres, the stand-alone nr.projection, a fit of the camera,
and bad input."""
import math
import os

import numpy
import pytest

import chainer
import chainer.functions as F

import neural_renderer as nr
import reference_raycast

from backends import to_cpu

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'data')


def teapot():
    vertices, faces = nr.load_obj(os.path.join(DATA, 'teapot.obj'))
    return vertices.astype(numpy.float64), faces


def camera(height, width):
    return reference_raycast.tilted_camera(height, width)


def ray_cast(vertices, faces, K, R, t, height, width, near=0.1, far=100.):
    """(hit [H, W] bool, depth [H, W]): the nearest face (either side)
    along the ray through each OpenCV pixel centre (j + 0.5, i + 0.5),
    depth = camera z of the hit, kept when near < z < far."""
    triangles = vertices[faces]  # [F, 3, 3] world
    hit = numpy.zeros((height, width), bool)
    depth = numpy.full((height, width), far)
    for i in range(height):
        for j in range(width):
            origin, direction = reference_raycast.pixel_ray(K, R, t, i, j)
            inside, z, _ = reference_raycast.hits(triangles, origin,
                                                  direction)
            ok = inside & (z > near) & (z < far)
            if ok.any():
                hit[i, j] = True
                depth[i, j] = z[ok].min()
    return hit, depth


def projection_renderer(height, width, **kwargs):
    K, R, t = camera(height, width)
    return nr.Renderer(camera_mode='projection', K=K[None], R=R[None],
                       t=t[None], orig_size=(height, width),
                       image_size=(height, width), anti_aliasing=False,
                       **kwargs)


def test_the_keyword_constructor_takes_the_ports_names():
    default = nr.Renderer()
    assert default.camera_mode == 'look_at'  # the original's, not 'projection'
    assert default.eye == pytest.approx([0, 0, -2.7320508])
    assert default.orig_size == 1024 and default.K is None
    renderer = nr.Renderer(image_size=64, anti_aliasing=False,
                           background_color=[1, 0, 0], fill_back=False,
                           camera_mode='look', viewing_angle=15,
                           camera_direction=[0, 0, 1], near=0.5, far=20,
                           light_intensity_ambient=0.2,
                           light_intensity_directional=0.8,
                           light_color_ambient=[1, 1, 0],
                           light_color_directional=[0, 1, 1],
                           light_direction=[1, 0, 0], perspective=False,
                           orig_size=256)
    assert (renderer.image_size, renderer.anti_aliasing,
            renderer.background_color, renderer.fill_back,
            renderer.camera_mode, renderer.viewing_angle, renderer.near,
            renderer.far, renderer.light_intensity_ambient,
            renderer.light_direction, renderer.perspective,
            renderer.orig_size) == (
        64, False, [1, 0, 0], False, 'look', 15, 0.5, 20, 0.2, [1, 0, 0],
        False, 256)
    # The eye follows the viewing angle, as in the port.
    assert renderer.eye[2] == pytest.approx(
        -(1 / math.tan(math.radians(15)) + 1))
    renderer.near = 0.2  # still settable
    assert renderer.near == 0.2
    # Defaults are not shared; arrays and Variables are kept as given.
    default.background_color[0] = 1
    assert nr.Renderer().background_color == [0, 0, 0]
    direction = chainer.Variable(numpy.ones((2, 3), 'f'))
    assert nr.Renderer(light_direction=direction).light_direction is \
        direction
    with pytest.raises(TypeError, match='focal_length'):
        nr.Renderer(focal_length=3)


@pytest.mark.parametrize('height, width', [(24, 32), (20, 20)])
def test_silhouette_and_depth_match_a_ray_caster(height, width):
    vertices, faces = teapot()
    K, R, t = camera(height, width)
    renderer = projection_renderer(height, width)
    alpha = renderer.render_silhouettes(vertices[None], faces[None]).array[0]
    depth = renderer.render_depth(vertices[None], faces[None]).array[0]
    hit, expected = ray_cast(vertices, faces, K, R, t, height, width)
    assert hit.sum() > height * width / 8  # the teapot is in view
    # Pixel centres within rounding of an edge may go either way.
    assert (alpha.astype(bool) != hit).sum() <= 2
    both = hit & alpha.astype(bool)
    # (Weights clamped to the face at centres within rounding of an edge.)
    numpy.testing.assert_allclose(depth[both], expected[both], rtol=1e-7)


@pytest.mark.parametrize('planes', [dict(near=2.95), dict(far=3.1)])
def test_clipping_in_projection_mode(planes):
    # A plane cuts through the teapot: only what lies between near and far
    # is drawn, as the ray caster (nearest hit in range, as the z-buffer)
    # sees it.
    height, width = 20, 24
    vertices, faces = teapot()
    K, R, t = camera(height, width)
    renderer = projection_renderer(height, width, **planes)
    alpha = renderer.render_silhouettes(vertices[None], faces[None]).array[0]
    hit, _ = ray_cast(vertices, faces, K, R, t, height, width, **planes)
    full, _ = ray_cast(vertices, faces, K, R, t, height, width)
    assert hit.sum() < full.sum()
    assert (alpha.astype(bool) != hit).sum() <= 2


def test_distortion_draws_what_nr_projection_gives():
    height, width = 30, 40
    vertices, faces = teapot()
    K, R, t = camera(height, width)
    dist = numpy.array([[-0.2, 0.05, 0.01, -0.01, 0.02]])
    renderer = projection_renderer(height, width)
    alpha = renderer.render_silhouettes(vertices[None], faces[None],
                                        dist_coeffs=dist).array
    screen = nr.projection(vertices[None], K[None], R[None], t[None], dist,
                           (height, width))
    both = numpy.concatenate([faces, faces[:, ::-1]])[None]
    expected = nr.rasterize_silhouettes(
        nr.vertices_to_faces(screen, both), (height, width),
        anti_aliasing=False).array
    numpy.testing.assert_array_equal(alpha, expected)
    plain = renderer.render_silhouettes(vertices[None], faces[None]).array
    assert (alpha != plain).sum() > 0


def test_arguments_win_and_one_camera_serves_the_batch(xp):
    height, width = 16, 20
    vertices, faces = teapot()
    K, R, t = camera(height, width)
    batch_v = xp.asarray(numpy.stack([vertices, vertices * 0.8]))
    batch_f = xp.asarray(numpy.stack([faces, faces]))
    renderer = nr.Renderer(camera_mode='projection', image_size=(height,
                                                                 width),
                           orig_size=(height, width), anti_aliasing=False)
    one = renderer.render_silhouettes(
        batch_v, batch_f, K=xp.asarray(K[None]), R=xp.asarray(R[None]),
        t=xp.asarray(t[None]))
    per_item = renderer(batch_v, batch_f, mode='silhouettes',
                        K=xp.asarray(numpy.stack([K, K])),
                        R=xp.asarray(numpy.stack([R, R])),
                        t=xp.asarray(numpy.stack([t, t])[:, None]))
    numpy.testing.assert_array_equal(to_cpu(one.array), to_cpu(per_item.array))
    # Attributes, then a call argument overriding one of them.
    renderer.K, renderer.R, renderer.t = (xp.asarray(a[None])
                                          for a in (K, R, t))
    same = renderer.render_silhouettes(batch_v, batch_f)
    numpy.testing.assert_array_equal(to_cpu(one.array), to_cpu(same.array))
    wider = K.copy()
    wider[0, 0] *= 0.5
    other = renderer.render_silhouettes(batch_v, batch_f,
                                        K=xp.asarray(wider[None]))
    assert to_cpu(other.array).sum() < to_cpu(one.array).sum()


def test_a_calibrated_copy_of_the_look_at_camera_renders_the_same(xp):
    # K, R, t written for the original's look_at + perspective camera give
    # the same images, colours included: the light is computed in world
    # space, before either camera.
    size = 24
    vertices, faces = teapot()
    rng = numpy.random.RandomState(0)
    textures = rng.uniform(0, 1, (1, faces.shape[0], 2, 2, 2, 3))
    eye = numpy.asarray(nr.get_points_from_angles(2.732, 30, 45))
    z = -eye / numpy.linalg.norm(eye)
    x = numpy.cross([0, 1, 0], z)
    x /= numpy.linalg.norm(x)
    y = numpy.cross(z, x)
    R = numpy.stack([x, -y, z])  # OpenCV's y runs down
    t = -R @ eye
    f = size / 2 / math.tan(math.radians(30))
    K = numpy.array([[f, 0, size / 2], [0, f, size / 2], [0, 0, 1]])
    args = [xp.asarray(a) for a in (vertices[None], faces[None], textures)]
    look_at = nr.Renderer(image_size=size)
    look_at.eye = eye
    calibrated = nr.Renderer(image_size=size, camera_mode='projection',
                             K=xp.asarray(K[None]), R=xp.asarray(R[None]),
                             t=xp.asarray(t[None]), orig_size=size)
    for a, b in zip(look_at(*args), calibrated(*args)):
        numpy.testing.assert_allclose(to_cpu(a.array), to_cpu(b.array),
                                      atol=1e-9)
    assert to_cpu(look_at.render_silhouettes(*args[:2]).array).sum() > 50


def test_fitting_recovers_the_translation():
    # The kind of thing users of this mode do: find t from a silhouette.
    height, width = 32, 32
    vertices, faces = teapot()
    vertices, faces = vertices.astype(numpy.float32)[None], faces[None]
    K, R, t = (a.astype(numpy.float32) for a in camera(height, width))
    renderer = nr.Renderer(camera_mode='projection', K=K[None], R=R[None],
                           image_size=(height, width),
                           orig_size=(height, width))
    target = renderer.render_silhouettes(vertices, faces, t=t[None]).array
    start = t + numpy.float32([0.25, -0.2, 0.3])
    guess = chainer.Parameter(start[None].copy())
    optimizer = chainer.optimizers.Adam(alpha=0.02)
    optimizer.setup(chainer.Link())
    link = chainer.Link()
    with link.init_scope():
        link.t = guess
    optimizer.setup(link)
    for _ in range(150):
        alpha = renderer.render_silhouettes(vertices, faces, t=link.t)
        loss = F.sum(F.square(alpha - target))
        link.cleargrads()
        loss.backward()
        optimizer.update()
    before = numpy.linalg.norm(start - t)
    after = numpy.linalg.norm(link.t.array[0] - t)
    assert after < before / 4, (before, after)


@pytest.mark.parametrize('change, message', [
    (dict(K=None), "^Renderer.camera_mode 'projection' needs K, R and t"),
    (dict(K=numpy.eye(3)[None].repeat(2, 0)),
     r'^K: expected shape \[1, 3, 3\]'),
    (dict(R=numpy.eye(2)[None]), r'^R: expected shape \[1, 3, 3\]'),
    (dict(t=numpy.zeros((1, 4))), r'^t: expected shape \[1, 3\]'),
    (dict(K=numpy.diag([10., 0, 1])[None]), '^K: expected intrinsics'),
    (dict(orig_size=-5), '^orig_size: expected positive'),
    (dict(dist_coeffs=numpy.zeros((1, 4))),
     r'^dist_coeffs: expected shape \[1, 5\]'),
])
def test_bad_cameras_name_the_argument(change, message):
    vertices, faces = teapot()
    renderer = projection_renderer(8, 8)
    with pytest.raises((ValueError, TypeError), match=message):
        renderer.render_silhouettes(vertices[None], faces[None], **change) \
            if list(change.values())[0] is not None else \
            _without(renderer, change).render_silhouettes(vertices[None],
                                                          faces[None])


def _without(renderer, change):
    for name in change:
        setattr(renderer, name, None)
    return renderer


def test_a_mesh_behind_the_camera_draws_nothing():
    vertices, faces = teapot()
    K, R, t = camera(12, 12)
    renderer = projection_renderer(12, 12)
    behind = vertices[None] - 10 * R[2]  # 7 units behind the camera
    v = chainer.Variable(behind)
    alpha = renderer.render_silhouettes(v, faces[None])
    F.sum(alpha).backward()
    assert (alpha.array == 0).all() and numpy.isfinite(v.grad).all()


def test_overflowing_distortion_is_an_error_not_a_nan_image():
    # float32 screen coordinates that overflow (a strong distortion through
    # long focal lengths): an error, never a NaN image.
    vertices, faces = teapot()
    K, R, t = (a.astype(numpy.float32)[None] for a in camera(8, 8))
    K[:, :2, :2] *= 1e20
    strong = numpy.float32([[1e25, 0, 0, 0, 0]])
    renderer = projection_renderer(8, 8)
    with pytest.raises(ValueError, match='^vertices: the calibrated camera '
                                         r'\(K, R, t, dist_coeffs\) gave NaN'):
        renderer.render_silhouettes(vertices.astype(numpy.float32)[None],
                                    faces[None], K=K, R=R, t=t,
                                    dist_coeffs=strong)
