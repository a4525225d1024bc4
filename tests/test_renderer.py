"""The Renderer link against an independent NumPy pipeline.

The reference projects with the conventions written out in float64 (look-at
camera, perspective x / (z tan a)) and rasterizes with the brute-force
reference rasterizer.
"""
import math
import os

import numpy
import pytest

import chainer
import chainer.functions as F

import neural_renderer as nr

import reference_rasterizer as ref
from backends import to_cpu

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'data')


def load(name):
    return nr.load_obj(os.path.join(DATA, name))


def camera_position(distance, elevation, azimuth):
    el, az = math.radians(elevation), math.radians(azimuth)
    return numpy.array([distance * math.cos(el) * math.sin(az),
                        distance * math.sin(el),
                        -distance * math.cos(el) * math.cos(az)])


def reference_screen(vertices, eye, angle=30., aspect=1.):
    vertices = numpy.asarray(vertices, numpy.float64)
    z = -eye / numpy.linalg.norm(eye)
    x = numpy.cross([0., 1., 0.], z)
    x /= numpy.linalg.norm(x)
    y = numpy.cross(z, x)
    camera = (vertices - eye) @ numpy.stack([x, y, z]).T
    tan = math.tan(math.radians(angle))
    return numpy.stack([camera[:, 0] / (camera[:, 2] * tan) / aspect,
                        camera[:, 1] / (camera[:, 2] * tan),
                        camera[:, 2]], axis=1)


def reference_render(vertices, faces, eye, height, width, textures=None,
                     fill_back=True):
    screen = reference_screen(vertices, eye, aspect=width / height)
    if fill_back:
        faces = numpy.concatenate([faces, faces[:, ::-1]])
        if textures is not None:
            textures = numpy.concatenate(
                [textures, textures.transpose(0, 3, 2, 1, 4)])
    return ref.rasterize(screen[faces], height, width, textures)


POSES = [(2.732, 30, 0), (2.732, 30, 90), (2.0, -45, 200), (3.5, 80, 317)]


@pytest.mark.parametrize('pose', POSES)
def test_teapot_silhouette_and_depth(xp, pose):
    vertices, faces = load('teapot.obj')
    eye = camera_position(*pose)
    renderer = nr.Renderer()
    renderer.image_size = 96
    renderer.anti_aliasing = False
    renderer.eye = eye.astype(numpy.float32)
    out = renderer.render_rgbad(xp.asarray(vertices[None]),
                                xp.asarray(faces[None]),
                                xp.ones((1, len(faces), 1, 1, 1, 3), 'f'))
    face_index, depth, _ = reference_render(vertices, faces, eye, 96, 96)
    numpy.testing.assert_array_equal(to_cpu(out['alpha'].array)[0],
                                     face_index >= 0)
    numpy.testing.assert_allclose(to_cpu(out['depth'].array)[0], depth,
                                  atol=1e-4, rtol=0)
    assert 0.05 < (face_index >= 0).mean() < 0.9


def test_rectangular_image_keeps_pixels_square(xp):
    vertices, faces = load('teapot.obj')
    eye = camera_position(2.732, 30, 45)
    renderer = nr.Renderer()
    renderer.image_size = (60, 100)
    renderer.anti_aliasing = False
    renderer.eye = eye
    alpha = renderer.render_silhouettes(xp.asarray(vertices[None]),
                                        xp.asarray(faces[None]))
    assert alpha.shape == (1, 60, 100)
    alpha = to_cpu(alpha.array)
    face_index, _, _ = reference_render(vertices, faces, eye, 60, 100)
    numpy.testing.assert_array_equal(alpha[0], face_index >= 0)
    # The middle 60 columns see what a 60 x 60 render sees... up to the
    # horizontal field of view: compare a square render's silhouette area
    # per pixel instead (same vertical angle, same pixel size).
    renderer.image_size = 60
    square = to_cpu(renderer.render_silhouettes(xp.asarray(vertices[None]),
                                                xp.asarray(faces[None])).array)
    assert abs(alpha.sum() - square.sum()) <= 0.02 * square.sum()


def test_textured_render_with_lighting_matches_reference(xp):
    vertices, faces = load('sphere_642.obj')
    rng = numpy.random.RandomState(0)
    textures = rng.uniform(0, 1, (len(faces), 2, 2, 2, 3)).astype('f')
    eye = camera_position(2.732, 20, 30)
    renderer = nr.Renderer()
    renderer.image_size = 32
    renderer.anti_aliasing = True
    renderer.eye = eye
    renderer.light_intensity_ambient = 0.3
    renderer.light_intensity_directional = 0.6
    renderer.light_direction = [0.3, 0.8, -0.5]
    renderer.background_color = [0.1, 0.2, 0.3]
    images = renderer.render(xp.asarray(vertices[None]),
                             xp.asarray(faces[None]),
                             xp.asarray(textures[None]))

    # Reference lighting: per face colour *= Ia + Id max(n . d, 0),
    # n = normalize(cross(v0 - v1, v2 - v1)).
    tri = vertices[faces].astype(numpy.float64)
    all_faces = numpy.concatenate([faces, faces[:, ::-1]])
    all_tri = vertices[all_faces].astype(numpy.float64)
    n = numpy.cross(all_tri[:, 0] - all_tri[:, 1],
                    all_tri[:, 2] - all_tri[:, 1])
    n /= numpy.linalg.norm(n, axis=1, keepdims=True)
    light = 0.3 + 0.6 * numpy.maximum(n @ [0.3, 0.8, -0.5], 0)
    all_textures = numpy.concatenate(
        [textures, textures.transpose(0, 3, 2, 1, 4)]) * light[:, None, None,
                                                               None, None]
    screen = reference_screen(vertices, eye)
    # Anti-aliasing renders 64 x 64 samples of x, y scaled by 63 / 62 (the
    # original's (2S - 1) / (2S - 2)).
    screen[:, :2] *= 63. / 62.
    _, _, rgb = ref.rasterize(screen[all_faces], 64, 64, all_textures,
                              background=(0.1, 0.2, 0.3))
    assert len(tri) == len(faces)
    numpy.testing.assert_allclose(to_cpu(images.array)[0],
                                  ref.average_2x2(rgb), atol=1e-5)


def test_fill_back_shows_the_inside(xp):
    # Looking into a single triangle from behind: drawn only with fill_back.
    vertices = xp.asarray([[[-0.5, -0.5, 0], [0.5, -0.5, 0], [0, 0.5, 0]]],
                          'f')
    faces = xp.asarray([[[0, 1, 2]]], numpy.int32)
    renderer = nr.Renderer()
    renderer.image_size = 16

    def area():
        return to_cpu(renderer.render_silhouettes(vertices,
                                                  faces).array).sum()
    front = area()
    renderer.eye = [0, 0, 2.732]
    renderer.fill_back = False
    assert area() == 0
    renderer.fill_back = True
    assert area() == front


def test_one_pass_outputs_match_separate_calls(xp):
    vertices, faces = load('teapot.obj')
    vertices, faces = xp.asarray(vertices[None]), xp.asarray(faces[None])
    textures = xp.asarray(numpy.random.RandomState(0).rand(
        1, faces.shape[1], 2, 2, 2, 3).astype('f'))
    renderer = nr.Renderer()
    renderer.image_size = 32
    rgb, depth, alpha = renderer(vertices, faces, textures)
    numpy.testing.assert_array_equal(
        to_cpu(rgb.array),
        to_cpu(renderer.render(vertices, faces, textures).array))
    numpy.testing.assert_array_equal(
        to_cpu(alpha.array),
        to_cpu(renderer.render_silhouettes(vertices, faces).array))
    numpy.testing.assert_array_equal(
        to_cpu(depth.array),
        to_cpu(renderer.render_depth(vertices, faces).array))
    out = renderer.render_rgbad(vertices, faces, textures)
    numpy.testing.assert_array_equal(to_cpu(out['rgb'].array),
                                     to_cpu(rgb.array))


def test_gradients_reach_vertices_textures_lights_and_camera(xp, device):
    vertices, faces = load('sphere_642.obj')
    v = chainer.Variable(xp.asarray(vertices[None]))
    t = chainer.Variable(xp.full((1, len(faces), 2, 2, 2, 3), 0.5, 'f'))
    model = chainer.Chain()
    with model.init_scope():
        model.renderer = nr.Renderer()
        model.eye = chainer.Parameter(
            camera_position(2.732, 30, 20).astype('f'))
        model.ambient = chainer.Parameter(numpy.array(0.4, 'f'))
        model.direction = chainer.Parameter(
            numpy.array([0.2, 0.9, -0.3], 'f'))
        model.colour = chainer.Parameter(numpy.array([1., 0.9, 0.8], 'f'))
    model.to_device(device)
    r = model.renderer
    r.image_size = 32
    r.eye = model.eye
    r.light_intensity_ambient = model.ambient
    r.light_direction = model.direction
    r.light_color_directional = model.colour
    target = xp.asarray(
        numpy.random.RandomState(0).rand(1, 3, 32, 32).astype('f'))
    images = r.render(v, xp.asarray(faces[None]), t)
    F.sum((images - target) ** 2).backward()
    for param in (v, t, model.eye, model.ambient, model.direction,
                  model.colour):
        assert param.grad is not None
        assert numpy.isfinite(to_cpu(param.grad)).all()
        assert numpy.abs(to_cpu(param.grad)).sum() > 0


def test_orthographic_without_camera_draws_vertices_as_given(xp):
    vertices, faces = load('sphere_642.obj')
    vertices = vertices * numpy.array([0.8, 0.5, 0.6], 'f') + \
        numpy.array([0, 0, 2], 'f')
    renderer = nr.Renderer()
    renderer.image_size = (24, 40)
    renderer.anti_aliasing = False
    renderer.perspective = False
    renderer.camera_mode = 'none'
    out = renderer.render_rgbad(xp.asarray(vertices[None]),
                                xp.asarray(faces[None]),
                                xp.ones((1, len(faces), 1, 1, 1, 3), 'f'))
    all_faces = numpy.concatenate([faces, faces[:, ::-1]])
    face_index, depth, _ = ref.rasterize(vertices[all_faces], 24, 40)
    numpy.testing.assert_array_equal(to_cpu(out['alpha'].array)[0],
                                     face_index >= 0)
    numpy.testing.assert_allclose(to_cpu(out['depth'].array)[0], depth,
                                  atol=1e-5)


@pytest.mark.parametrize('vertices, faces, error, words', [
    (numpy.zeros((4, 3), 'f'), numpy.zeros((1, 2, 3), 'i'), ValueError,
     'vertices: expected shape [*, *, 3]'),
    (numpy.full((1, 4, 3), numpy.nan, 'f'), numpy.zeros((1, 2, 3), 'i'),
     ValueError, 'vertices'),
    (numpy.zeros((1, 4, 3), 'f'), numpy.zeros((1, 2, 3), 'f'), TypeError,
     'faces: expected a signed integer or unsigned integer dtype'),
    (numpy.zeros((1, 4, 3), 'f'), numpy.full((1, 2, 3), 4, 'i'), ValueError,
     'faces: indices must be in [0, V=4)'),
])
def test_bad_meshes_name_the_argument(xp, vertices, faces, error, words):
    with pytest.raises(error) as info:
        nr.Renderer().render_silhouettes(xp.asarray(vertices),
                                         xp.asarray(faces))
    assert words in str(info.value)


def composed_render(renderer, vertices, faces, textures):
    """What Renderer.render computes, composed from the public functions the
    original package chains: fill_back on faces and texel cubes, lighting()
    on the cubes, camera, projection, rasterize(). The renderer instead
    hands the rasterizer one light factor per face and the undoubled cubes."""
    xp = chainer.backend.get_array_module(faces)
    faces = xp.concatenate((faces, faces[:, :, ::-1]), axis=1)
    textures = F.concat(
        (textures, F.transpose(textures, (0, 1, 4, 3, 2, 5))), axis=1)
    textures = nr.lighting(
        nr.vertices_to_faces(vertices, faces), textures,
        renderer.light_intensity_ambient,
        renderer.light_intensity_directional, renderer.light_color_ambient,
        renderer.light_color_directional, renderer.light_direction)
    screen = nr.perspective(nr.look_at(vertices, renderer.eye),
                            renderer.viewing_angle)
    return nr.rasterize(nr.vertices_to_faces(screen, faces), textures,
                        renderer.image_size, renderer.anti_aliasing,
                        renderer.near, renderer.far, renderer.rasterizer_eps,
                        renderer.background_color)


@pytest.mark.parametrize('dtype', [numpy.float32, numpy.float64])
def test_in_kernel_lighting_and_fill_back_equal_the_composed_pipeline(
        xp, dtype):
    vertices, faces = load('teapot.obj')
    vertices = xp.asarray(vertices[None].astype(dtype))
    faces = xp.asarray(faces[None])
    rng = numpy.random.RandomState(3)
    textures = xp.asarray(
        rng.rand(1, faces.shape[1], 3, 3, 3, 3).astype(dtype))
    renderer = nr.Renderer()
    renderer.image_size = 40
    renderer.eye = nr.get_points_from_angles(2.732, 25, 130)
    renderer.light_direction = [0.3, 0.8, -0.5]
    renderer.light_color_directional = [1., 0.6, 0.3]
    intensity = chainer.Variable(xp.asarray(0.7, dtype))
    renderer.light_intensity_directional = intensity
    grad = xp.asarray(rng.randn(1, 3, 40, 40).astype(dtype))

    results = []
    for render in (renderer.render,
                   lambda v, f, t: composed_render(renderer, v, f, t)):
        v, t = chainer.Variable(vertices.copy()), chainer.Variable(textures)
        intensity.cleargrad()
        images = render(v, faces, t)
        F.sum(images * grad).backward()
        results.append(tuple(to_cpu(x) for x in (images.array, v.grad, t.grad,
                                                 intensity.grad)))
    tolerance = 1e-5 if dtype == numpy.float32 else 1e-10
    for ours, composed in zip(*results):
        numpy.testing.assert_allclose(ours, composed, rtol=10 * tolerance,
                                      atol=tolerance * abs(composed).max())
    assert abs(results[0][1]).max() > 0  # the vertices got gradients


# -- audit issue 16: errors that name the user's attribute or argument -------

def small_renderer(**settings):
    renderer = nr.Renderer()
    renderer.image_size = 16
    for name, value in settings.items():
        setattr(renderer, name, value)
    return renderer


def teapot(xp=numpy):
    vertices, faces = load('teapot.obj')
    return xp.asarray(vertices[None]), xp.asarray(faces[None])


def test_camera_mode_values(xp):
    vertices, faces = teapot(xp)
    with pytest.raises(ValueError) as info:
        small_renderer(camera_mode='lookat').render_silhouettes(vertices,
                                                                faces)
    message = str(info.value)
    assert 'camera_mode' in message and "'lookat'" in message
    for accepted in ("'look_at'", "'look'", "'projection'", "'none'",
                     'None'):
        assert accepted in message
    # None and 'none': no view transform (the mesh moved in front).
    moved = vertices + xp.asarray([0, 0, 3], 'f')
    images = [to_cpu(small_renderer(camera_mode=mode).render_silhouettes(
        moved, faces).array) for mode in (None, 'none')]
    numpy.testing.assert_array_equal(images[0], images[1])
    assert images[0].sum() > 0
    assert nr.renderer.CAMERA_MODES == (
        'look_at', 'look', 'projection', 'none', None)


def test_vertex_at_camera_depth_is_clipped(xp):
    # near > 0 (required): the faces of a vertex at depth 0 are clipped at
    # the near plane (tests/test_clipping.py), never divided by zero.
    vertices, faces = teapot()
    vertices = vertices.copy()
    vertices[0, faces[0, 0, 0]] = [0.3, 0.2, -nr.Renderer().eye[2] * -1]
    vertices, faces = xp.asarray(vertices), xp.asarray(faces)
    alpha = to_cpu(small_renderer().render_silhouettes(vertices, faces).array)
    assert numpy.isfinite(alpha).all() and alpha.sum() > 0
    with pytest.raises(ValueError, match='expected 0 < near < far'):
        small_renderer(near=-0.5).render_silhouettes(vertices, faces)


@pytest.mark.parametrize('with_crossing_face', [False, True])
def test_faces_that_cannot_be_drawn_never_raise(xp, with_crossing_face):
    # Audit issue 25, item 3: a face wholly behind the camera with a vertex
    # at depth 0 raised "in the plane of the camera" unless another face
    # crossed the near plane. Now neither way, with finite gradients that
    # are zero for the face that is not drawn.
    behind = [[0., 0., 0.], [1., 0., -1.], [0., 1., -1.]]
    front = [[-.5, -.5, 2.], [.5, -.5, 2.], [0., .5, 2.]]
    crossing = [[-.5, -.5, 2.], [.5, -.5, 2.], [0., .5, -1.]]
    triangles = [behind, crossing if with_crossing_face else front]
    vertices = chainer.Variable(xp.asarray(triangles, 'f').reshape(1, 6, 3))
    faces = xp.arange(6, dtype=numpy.int32).reshape(1, 2, 3)
    renderer = small_renderer(camera_mode='none')
    alpha = renderer.render_silhouettes(vertices, faces)
    assert to_cpu(alpha.array).sum() > 0
    F.sum(alpha).backward()
    grad = to_cpu(vertices.grad)
    assert numpy.isfinite(grad).all()
    assert (grad[0, :3] == 0).all() and (grad[0, 3:] != 0).any()


def test_a_vertex_used_by_no_face_gets_a_zero_gradient(xp):
    # Audit issue 25, item 4: at depth 0 (camera coordinates) or at the
    # eye (look_at), its gradient row was NaN.
    front = [[-.5, -.5, 2.], [.5, -.5, 2.], [0., .5, 2.]]
    for renderer, unused in ((small_renderer(camera_mode='none'),
                              [0., 0., 0.]),
                             (small_renderer(), list(nr.Renderer().eye))):
        vertices = chainer.Variable(xp.asarray([front + [unused]], 'f'))
        faces = xp.asarray([[[0, 1, 2]]], numpy.int32)
        F.sum(renderer.render_silhouettes(vertices, faces)).backward()
        grad = to_cpu(vertices.grad)
        assert numpy.isfinite(grad).all() and (grad[0, 3] == 0).all()


def test_faces_behind_the_camera_are_skipped_not_errors(xp):
    # One triangle in front, one wholly behind, one straddling the camera.
    vertices = xp.asarray([[[-.5, -.5, 1], [.5, -.5, 1], [0, .5, 1],
                            [-.5, -.5, -1], [.5, -.5, -1], [0, .5, -1],
                            [-.5, -.5, -1], [.5, -.5, 1], [0, .5, 1]]], 'f')
    faces = xp.arange(9, dtype=numpy.int32).reshape(1, 3, 3)
    renderer = small_renderer(camera_mode='none')
    alpha = to_cpu(renderer.render_silhouettes(vertices, faces).array)
    assert 0 < alpha.sum() and numpy.isfinite(alpha).all()


def test_unreferenced_vertex_at_camera_depth_is_ignored(xp):
    vertices, faces = teapot(xp)
    extra = xp.asarray([[[0, 0, -nr.Renderer().eye[2] * -1]]], 'f')
    padded = xp.concatenate([vertices, extra], axis=1)
    renderer = small_renderer()
    numpy.testing.assert_array_equal(
        to_cpu(renderer.render_silhouettes(padded, faces).array),
        to_cpu(renderer.render_silhouettes(vertices, faces).array))


@pytest.mark.parametrize('eye, words', [
    ([0, 0, 0], 'must not be [0, 0, 0]'),
    ([0, 0, -1e30], 'at most 9.22e+18'),
    ([0, 0, -1e39], 'at most 3.4e+38'),
])
def test_bad_eye_names_eye(xp, eye, words):
    vertices, faces = teapot(xp)
    with pytest.raises(ValueError) as info:
        small_renderer(eye=eye).render_silhouettes(vertices, faces)
    assert str(info.value).startswith('Renderer.eye:')
    assert words in str(info.value) and 'faces' not in str(info.value)


@pytest.mark.parametrize('eye, words', [
    ([0, 0, 0], 'must not be [0, 0, 0]'),
    ([0, 0, -1e30], 'at most 9.22e+18'),
])
def test_bad_eye_parameter_names_eye(xp, eye, words):
    # A Parameter is not checked before the transform (no GPU read-back):
    # the non-finite projection is explained afterwards.
    vertices, faces = teapot(xp)
    renderer = small_renderer(eye=chainer.Parameter(xp.asarray(eye, 'f')))
    with pytest.raises(ValueError) as info:
        renderer.render_silhouettes(vertices, faces)
    assert str(info.value).startswith('Renderer.eye:')
    assert words in str(info.value)


def test_bad_textures_name_textures(xp):
    vertices, faces = teapot(xp)
    textures = xp.ones((1, faces.shape[1], 1, 1, 1, 3), 'f')
    renderer = small_renderer()
    with pytest.raises(TypeError, match='^textures: .*floating'):
        renderer.render(vertices, faces, textures.astype(numpy.int32))
    with pytest.raises(TypeError, match='^textures: .*array'):
        renderer.render(vertices, faces, to_cpu(textures).tolist())
    with pytest.raises(TypeError, match='^textures: .*dtype of vertices'):
        renderer.render(vertices, faces, textures.astype(numpy.float64))
    with pytest.raises(ValueError, match='^textures: expected shape'):
        renderer.render(vertices, faces, textures[0])


@pytest.mark.parametrize('name, value, words', [
    ('viewing_angle', numpy.array([90.]), '(0, 90)'),
    ('viewing_angle', 0, '(0, 90)'),
    ('viewing_angle', numpy.array([-5.]), '(0, 90)'),
    ('light_intensity_ambient', 1e39, '3.4e+38'),
    ('light_color_directional', [1e39, 1, 1], '3.4e+38'),
    ('camera_direction', [0, 0, 0], 'nonzero'),
    ('rasterizer_eps', 0, 'positive'),
])
def test_bad_attributes_are_named(xp, name, value, words):
    vertices, faces = teapot(xp)
    textures = xp.ones((1, faces.shape[1], 1, 1, 1, 3), 'f')
    renderer = small_renderer(camera_mode='look')
    renderer.eye = [0, 0, -2.732]
    setattr(renderer, name, value)
    with pytest.raises(ValueError) as info:
        renderer.render(vertices, faces, textures)
    assert str(info.value).startswith('Renderer.{}:'.format(name))
    assert words in str(info.value)


def test_light_overflow_names_the_light_attributes(xp):
    vertices, faces = teapot(xp)
    textures = xp.ones((1, faces.shape[1], 1, 1, 1, 3), 'f')
    renderer = small_renderer(light_intensity_ambient=1e20,
                              light_color_ambient=[1e20, 1, 1])
    with pytest.raises(ValueError, match='light_intensity_ambient.*float32'):
        renderer.render(vertices, faces, textures)


def test_renderer_link_on_the_device(xp, device):
    # The Renderer link moved to xp's device renders a silhouette there and
    # sends finite gradients back to the vertices.
    vertices, faces = load('teapot.obj')
    renderer = nr.Renderer()
    renderer.image_size = 64
    renderer.to_device(device)
    vertices = chainer.Variable(xp.asarray(vertices[None]))
    faces = xp.asarray(faces[None])
    images = renderer.render_silhouettes(vertices, faces)
    F.sum(images).backward()
    assert isinstance(images.array, xp.ndarray)
    assert bool(numpy.isfinite(to_cpu(vertices.grad)).all())


# -- audit issue 25: empty meshes, near and far -----------------------------

@pytest.mark.parametrize('batch, num_vertices, num_faces', [
    (1, 0, 0), (2, 3, 0), (0, 3, 1)])
def test_empty_meshes_render_the_background_with_zero_gradients(
        xp, batch, num_vertices, num_faces):
    renderer = nr.Renderer()
    renderer.image_size = 8
    renderer.background_color = [0.2, 0.4, 0.6]
    renderer.far = 50
    vertices = chainer.Variable(xp.ones((batch, num_vertices, 3),
                                        numpy.float32))
    faces = xp.zeros((batch, num_faces, 3), numpy.int32)
    textures = chainer.Variable(xp.ones((batch, num_faces, 2, 2, 2, 3),
                                        numpy.float32))
    rgb, depth, alpha = renderer(vertices, faces, textures)
    maps = {'rgb': rgb, 'depth': depth, 'alpha': alpha,
            'render': renderer.render(vertices, faces, textures),
            'silhouettes': renderer.render_silhouettes(vertices, faces),
            'depth_method': renderer.render_depth(vertices, faces)}
    assert maps['rgb'].shape == maps['render'].shape == (batch, 3, 8, 8)
    for name in ('alpha', 'silhouettes', 'depth', 'depth_method'):
        assert maps[name].shape == (batch, 8, 8), name
    for name in ('rgb', 'render'):
        numpy.testing.assert_array_equal(
            to_cpu(maps[name].array),
            numpy.broadcast_to(numpy.float32([0.2, 0.4, 0.6])[:, None, None],
                               (batch, 3, 8, 8)))
    assert (to_cpu(maps['alpha'].array) == 0).all()
    assert (to_cpu(maps['silhouettes'].array) == 0).all()
    assert (to_cpu(maps['depth'].array) == 50).all()
    total = sum(F.sum(m) for m in maps.values())
    total.backward()
    assert vertices.grad is not None and (to_cpu(vertices.grad) == 0).all()
    assert textures.grad is not None and (to_cpu(textures.grad) == 0).all()


@pytest.mark.parametrize('near, far, message', [
    (-1, 100, 'expected 0 < near < far'),
    (0, 100, 'expected 0 < near < far'),
    (5, 1, 'expected 0 < near < far'),
    (0.1, 0.1, 'expected 0 < near < far'),
    ('0.1', 100, 'Renderer.near: expected a finite number'),
    (None, 100, 'Renderer.near: expected a finite number'),
    (0.1, float('inf'), 'Renderer.far: expected a finite number'),
    (float('nan'), 100, 'Renderer.near: expected a finite number'),
    (True, 100, 'Renderer.near: expected a finite number'),
])
def test_near_and_far_are_checked(near, far, message):
    renderer = nr.Renderer()
    renderer.image_size = 8
    renderer.near, renderer.far = near, far
    vertices, faces = load('teapot.obj')
    for method in (renderer.render_silhouettes, renderer.render_depth):
        with pytest.raises(ValueError, match=message):
            method(vertices[None], faces[None])


@pytest.mark.parametrize('scale', [1e30, 3e38 / 2])
def test_huge_vertices_name_vertices(xp, scale):
    # Audit issue 25, items 4 and 9: vertices scaled by 1e30 blamed the
    # light attributes; 3e38 on a face crossing the far plane gave a finite
    # image and a non-finite gradient. Beyond sqrt(max) * near / 16 in
    # their dtype, camera coordinates are refused, naming vertices.
    vertices, faces = teapot(xp)
    renderer = small_renderer()
    textures = xp.ones((1, faces.shape[1], 2, 2, 2, 3), numpy.float32)
    with pytest.raises(ValueError) as info:
        renderer.render(vertices * numpy.float32(scale), faces, textures)
    message = str(info.value)
    assert message.startswith('vertices: camera coordinates reach')
    assert 'light' not in message
    # In float64 the same mesh at 1e30 is within range and renders.
    if scale == 1e30:
        rgb = renderer.render(vertices.astype(numpy.float64) * scale, faces,
                              textures.astype(numpy.float64))
        assert numpy.isfinite(to_cpu(rgb.array)).all()
