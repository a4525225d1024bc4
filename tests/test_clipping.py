"""Near- and far-plane clipping: faces crossing a plane are clipped in camera
space, not dropped.

References written independently of neural_renderer.clip_faces: a ray
caster for planes and boxes, and a polygon clipper (Sutherland-Hodgman on
one triangle, then a fan) that also tracks each new vertex's barycentric
weights on its face.
"""
import math

import numpy
import pytest

import chainer
import chainer.functions as F
from chainer import gradient_check

import neural_renderer as nr

TAN30 = math.tan(math.radians(30))


def camera_frame(direction, up=(0., 1., 0.)):
    """Rows x, y, z of the 'look' camera frame."""
    z = numpy.asarray(direction, numpy.float64)
    z = z / numpy.linalg.norm(z)
    x = numpy.cross(up, z)
    x /= numpy.linalg.norm(x)
    return numpy.stack([x, numpy.cross(z, x), z])


def pixel_rays(size, direction):
    """World directions [S, S, 3] through the pixel centres, scaled so that
    their camera-space depth is 1 (a hit at t has depth t)."""
    centres = (2 * numpy.arange(size) + 1 - size) / size
    x = centres[None, :]
    y = -centres[:, None]  # row 0 is the top
    camera = numpy.stack(numpy.broadcast_arrays(x * TAN30, y * TAN30,
                                                numpy.ones_like(x * y)), -1)
    return camera @ camera_frame(direction)


def look_renderer(eye, direction, size=64, **settings):
    renderer = nr.Renderer()
    renderer.camera_mode = 'look'
    renderer.eye = list(eye)
    renderer.camera_direction = list(direction)
    renderer.image_size = size
    renderer.anti_aliasing = False
    for name, value in settings.items():
        setattr(renderer, name, value)
    return renderer


def floor(half=10.):
    vertices = numpy.array([[-half, 0, -half], [half, 0, -half],
                            [half, 0, half], [-half, 0, half]])
    # Counter-clockwise seen from above.
    faces = numpy.array([[0, 2, 1], [0, 3, 2]], numpy.int32)
    return vertices[None], faces[None]


def floor_ray_cast(eye, direction, size, near, far, half=10.):
    """The ray caster's view of floor(half): which pixels see it (hit inside
    the square, depth in (near, far)) and the depth t of the hit."""
    rays = pixel_rays(size, direction)
    t = -eye[1] / rays[..., 1]
    hit = numpy.asarray(eye) + t[..., None] * rays
    drawn = ((rays[..., 1] < 0) & (numpy.abs(hit[..., 0]) <= half) &
             (numpy.abs(hit[..., 2]) <= half) & (t > near) & (t < far))
    return drawn, t


def test_floor_under_the_camera_matches_a_ray_caster():
    # A 20 x 20 floor as 2 triangles, the camera 1 above it looking ahead
    # and down: both triangles reach behind the camera. Without clipping
    # they were dropped (0% of the image); clipped, every pixel equals the
    # ray caster's (hit inside the square, depth in (near, far)).
    eye, direction, size = (0.3, 1., -0.5), (0.1, -0.4, 1.), 128
    vertices, faces = floor()
    renderer = look_renderer(eye, direction, size)
    alpha = renderer.render_silhouettes(vertices, faces).array[0]
    depth = renderer.render_depth(vertices, faces).array[0]

    drawn, t = floor_ray_cast(eye, direction, size, renderer.near,
                              renderer.far)
    assert 0.3 < drawn.mean() < 0.9
    assert (alpha != drawn).sum() == 0
    numpy.testing.assert_allclose(depth[drawn], t[drawn], atol=1e-4,
                                  rtol=0)
    assert (depth[~drawn] == renderer.far).all()


def box(half=1.):
    """A cube's 12 triangles, front faces (counter-clockwise on screen) for
    a camera inside."""
    corners = numpy.array([[x, y, z] for x in (-half, half)
                           for y in (-half, half) for z in (-half, half)])
    quads = [(0, 2, 6, 4), (1, 5, 7, 3), (0, 4, 5, 1), (2, 3, 7, 6),
             (0, 1, 3, 2), (4, 6, 7, 5)]
    faces = []
    for a, b, c, d in quads:
        faces += [(a, b, c), (a, c, d)]
    faces = numpy.array(faces, numpy.int32)
    # Screen x = camera x = (world) up x forward: the projection mirrors,
    # and a face is counter-clockwise on screen when its right-handed
    # normal points away from the camera: outward, for a camera inside.
    tri = corners[faces]
    normal = numpy.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    inward = (normal * tri.mean(axis=1)).sum(axis=1) < 0
    faces[inward] = faces[inward][:, ::-1]
    return corners[None], faces[None]


@pytest.mark.parametrize('direction', [(0.3, 0.2, 1.), (-1., -0.4, 0.2),
                                       (0.1, 1., 0.3)])
def test_camera_inside_a_box_sees_its_walls(direction):
    # Every wall reaches behind the camera; each pixel sees the wall its
    # ray leaves the box through, at the ray caster's depth.
    eye, size = numpy.array([0.2, -0.1, 0.3]), 48
    vertices, faces = box()
    renderer = look_renderer(eye, direction, size, fill_back=False)
    alpha = renderer.render_silhouettes(vertices, faces).array[0]
    depth = renderer.render_depth(vertices, faces).array[0]
    rays = pixel_rays(size, direction)
    with numpy.errstate(divide='ignore'):
        t = numpy.where(rays != 0, (numpy.sign(rays) - eye) / rays,
                        numpy.inf).min(axis=-1)
    assert (alpha == 1).all()
    numpy.testing.assert_allclose(depth, t, atol=1e-6, rtol=0)


# -- a reference clipper -----------------------------------------------------

def reference_clip(face, near, far):
    """Pieces of one camera-space face [3, 3] inside near <= z <= far:
    list of (piece [3, 3], weights [3, 3]) with row k of weights the piece's
    vertex k as barycentric weights on the face. New vertices get the
    plane's depth moved 4 units in the last place into the slab (the
    contract of clip_faces: the rasterizer draws depths strictly inside)."""
    polygon = [(face[k], numpy.eye(3)[k]) for k in range(3)]
    for plane, sign in ((near, 1.), (far, -1.)):
        inner = plane
        for _ in range(4):
            inner = numpy.nextafter(inner, sign * numpy.inf)
        result = []
        for n in range(len(polygon)):
            (p, wp), (q, wq) = polygon[n], polygon[(n + 1) % len(polygon)]
            p_in = sign * (p[2] - plane) >= 0
            q_in = sign * (q[2] - plane) >= 0
            if p_in:
                result.append((p, wp))
            if p_in != q_in:
                s = (plane - p[2]) / (q[2] - p[2])
                point = p + s * (q - p)
                point[2] = inner
                result.append((point, wp + s * (wq - wp)))
        polygon = result
    pieces = []
    for n in range(1, len(polygon) - 1):
        triple = [polygon[0], polygon[n], polygon[n + 1]]
        pieces.append((numpy.array([v for v, _ in triple]),
                       numpy.array([w for _, w in triple])))
    return pieces


def crossing_scene(seed, count=6):
    """Camera-space triangles around the near plane (some wholly in front,
    some crossing it or z = 0, some behind), counter-clockwise on screen."""
    rng = numpy.random.RandomState(seed)
    centres = numpy.concatenate([rng.uniform(-0.6, 0.6, (count, 1, 2)),
                                 rng.uniform(-0.5, 2.5, (count, 1, 1))], 2)
    faces = centres + rng.uniform(-1.2, 1.2, (count, 3, 3))
    faces[..., :2] *= numpy.maximum(faces[..., 2:], 0.5)
    normal_z = ((faces[:, 1, 0] - faces[:, 0, 0]) *
                (faces[:, 2, 1] - faces[:, 0, 1]) -
                (faces[:, 2, 0] - faces[:, 0, 0]) *
                (faces[:, 1, 1] - faces[:, 0, 1]))
    faces[normal_z < 0] = faces[normal_z < 0][:, ::-1]
    return faces


def linear_cubes(colours):
    """T = 2 texel cubes [N, 2, 2, 2, 3] whose trilinear sample at weights
    w is sum_k colours[:, k] w_k: an exact check of texel coordinates."""
    cube = numpy.zeros((len(colours), 2, 2, 2, 3))
    for i in (0, 1):
        for j in (0, 1):
            for k in (0, 1):
                cube[:, i, j, k] = (i * colours[:, 0] + j * colours[:, 1] +
                                    k * colours[:, 2])
    return cube


@pytest.mark.parametrize('seed', [0, 1, 2])
@pytest.mark.parametrize('fill_back', [False, True])
def test_rendering_equals_the_mesh_clipped_in_advance(seed, fill_back):
    # The renderer on crossing faces against the pieces of the reference
    # clipper (each a face of its own, camera space, no view transform),
    # textured with cubes linear in the weights: a piece's cube holds the
    # same colours at its own weights, so the texels looked up through the
    # original face's barycentrics must agree everywhere.
    faces = crossing_scene(seed)
    colours = numpy.random.RandomState(seed + 10).uniform(0, 1, (6, 3, 3))
    pieces, piece_colours = [], []
    for face, colour in zip(faces, colours):
        for piece, weights in reference_clip(face, 0.1, 100):
            pieces.append(piece)
            piece_colours.append(weights @ colour)
    assert len(pieces) > len(faces) - 2  # some faces become two pieces
    settings = dict(camera_mode='none', image_size=48, anti_aliasing=False,
                    fill_back=fill_back, light_intensity_ambient=1.,
                    light_intensity_directional=0.)
    ours = look_renderer((0, 0, 0), (0, 0, 1), **settings).render_rgbad(
        faces.reshape(1, -1, 3), numpy.arange(18, dtype=numpy.int32).reshape(
            1, 6, 3), linear_cubes(colours)[None])
    pieces = numpy.array(pieces)
    expected = look_renderer((0, 0, 0), (0, 0, 1), **settings).render_rgbad(
        pieces.reshape(1, -1, 3),
        numpy.arange(pieces.size // 3, dtype=numpy.int32).reshape(1, -1, 3),
        linear_cubes(numpy.array(piece_colours))[None])
    assert expected['alpha'].array.mean() > 0.2
    numpy.testing.assert_array_equal(ours['alpha'].array,
                                     expected['alpha'].array)
    for key in ('rgb', 'depth'):
        numpy.testing.assert_allclose(ours[key].array, expected[key].array,
                                      atol=1e-9, rtol=0)


def test_depth_gradient_through_the_cut_matches_finite_differences():
    # One face with a vertex behind the camera: its clipped piece's depth,
    # a function of the three vertices through the cut points.
    vertices = numpy.array([[[-0.9, -0.7, 2.], [0.8, -0.6, 1.5],
                             [0.1, 0.5, -1.]]])
    faces = numpy.array([[[0, 1, 2]]], numpy.int32)
    renderer = look_renderer((0, 0, 0), (0, 0, 1), 16, camera_mode='none',
                             fill_back=False)
    alpha = renderer.render_silhouettes(vertices, faces).array
    assert alpha.mean() > 0.2
    g = numpy.random.RandomState(0).randn(1, 16, 16) * alpha

    def depth(v):
        return renderer.render_depth(v, faces)

    gradient_check.check_backward(depth, vertices, g, eps=1e-6, atol=1e-6,
                                  rtol=1e-5)


def test_edge_gradient_reaches_the_vertices_through_the_cut():
    # The silhouette's (approximate) gradient for the pieces, chained
    # through the derivative of the reference clipper (by central
    # differences), is what the renderer gives the original vertices.
    vertices = numpy.array([[-0.9, -0.7, 2.], [0.8, -0.6, 1.5],
                            [0.1, 0.5, -1.]])
    size = 16
    renderer = look_renderer((0, 0, 0), (0, 0, 1), size, camera_mode='none',
                             fill_back=False)
    g = numpy.random.RandomState(1).randn(1, size, size)

    v = chainer.Variable(vertices[None].copy())
    F.sum(renderer.render_silhouettes(
        v, numpy.array([[[0, 1, 2]]], numpy.int32)) * g).backward()

    def clipped(flat):
        return numpy.array([p for p, _ in reference_clip(
            flat.reshape(3, 3), renderer.near, renderer.far)])
    pieces = clipped(vertices.ravel())
    p = chainer.Variable(pieces.reshape(1, -1, 3))
    piece_faces = numpy.arange(pieces.size // 3,
                               dtype=numpy.int32).reshape(1, -1, 3)
    F.sum(renderer.render_silhouettes(p, piece_faces) * g).backward()
    jacobian = numpy.zeros((pieces.size, 9))
    for n in range(9):
        step = numpy.zeros(9)
        step[n] = 1e-6
        jacobian[:, n] = (clipped(vertices.ravel() + step) -
                          clipped(vertices.ravel() - step)).ravel() / 2e-6
    expected = (p.grad.ravel() @ jacobian).reshape(3, 3)
    assert numpy.abs(expected[:, :2]).sum() > 0
    numpy.testing.assert_allclose(v.grad[0], expected, rtol=1e-5, atol=1e-7)


def test_far_plane_clips_too():
    # A floor reaching past far = 5: drawn up to depth 5 exactly.
    eye, direction, size = (0., 1., -9.), (0., -0.15, 1.), 64
    vertices, faces = floor()
    renderer = look_renderer(eye, direction, size, far=5.)
    alpha = renderer.render_silhouettes(vertices, faces).array[0]
    depth = renderer.render_depth(vertices, faces).array[0]
    drawn, t = floor_ray_cast(eye, direction, size, 0.1, 5.)
    assert 0.1 < drawn.mean() < 0.9
    assert (alpha != drawn).sum() == 0
    numpy.testing.assert_allclose(depth[drawn], t[drawn], atol=1e-4,
                                  rtol=0)


def test_meshes_in_front_take_the_unclipped_path():
    # Nothing crosses: clip_faces hands the faces back untouched and the
    # renderer's images are those of the path without clipping.
    faces = numpy.random.RandomState(0).uniform(1, 2, (1, 5, 3, 3))
    same, weights = nr.clip_faces(faces, 0.1, 100)
    assert weights is None and same.array is faces


def test_orthographic_clipping():
    # Without perspective the floor is clipped the same way: the pieces'
    # x, y are the camera-space ones.
    vertices, faces = floor()
    renderer = look_renderer((0.3, 1., -0.5), (0.1, -0.4, 1.), 32,
                             perspective=False, near=0.5)
    alpha = renderer.render_silhouettes(vertices / 10, faces).array[0]
    # The floor's visible part: camera-space points with depth > 0.5.
    frame = camera_frame((0.1, -0.4, 1.))
    camera = (vertices[0] / 10 - numpy.array([0.3, 1., -0.5])) @ frame.T
    centres = (2 * numpy.arange(32) + 1 - 32) / 32
    x, y = numpy.meshgrid(centres, -centres)
    # The floor plane in camera space: n . p = d.
    normal = numpy.cross(camera[1] - camera[0], camera[2] - camera[0])
    d = normal @ camera[0]
    z = (d - normal[0] * x - normal[1] * y) / normal[2]
    world = numpy.stack([x, y, z], -1) @ frame + numpy.array([0.3, 1., -0.5])
    inside = (numpy.abs(world[..., 0]) <= 1) & (numpy.abs(world[..., 2]) <= 1)
    drawn = inside & (z > 0.5) & (z < 100)
    assert 0.1 < drawn.mean() < 0.9
    assert (alpha != drawn).sum() == 0


@pytest.mark.parametrize('near', [1e-3, 1e-6, 1e-9])
@pytest.mark.parametrize('dtype', [numpy.float32, numpy.float64])
def test_tiny_near_planes_clip_correctly(near, dtype):
    # Audit issue 25, item 5: how small near may be. The floor under the
    # camera (it reaches behind the camera and through the near plane)
    # against the ray caster, down to near = 1e-9 in float32: the cut
    # points project to |x| up to 1e9 and still every pixel agrees.
    eye, direction, size = (0.3, 1., -0.5), (0.1, -0.4, 1.), 64
    vertices, faces = floor()
    renderer = look_renderer(eye, direction, size, near=near)
    alpha = renderer.render_silhouettes(vertices.astype(dtype),
                                        faces).array[0]
    drawn, _ = floor_ray_cast(eye, direction, size, near, renderer.far)
    assert (alpha != drawn).sum() == 0
