"""UV textures sampled at render time (nr.UVTexture): against independent
references (the brute-force rasterizer with a tent-weight bilinear sampler,
a ray caster with barycentric UV lookup, a NumPy mip pyramid), gradients by
finite differences, the edge gradient against its plain statement, batches,
thread counts and bad input."""
import math
import os
import subprocess
import sys

import numpy
import pytest

import chainer
import chainer.functions as F
from chainer import gradient_check

import neural_renderer as nr
import reference_gradient
import reference_rasterizer as ref
import reference_raycast

from backends import to_cpu

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, '..', 'data')


def random_scene(seed, num_faces=8, batch_size=1):
    """Overlapping random front-facing triangles, some partly off-screen."""
    rng = numpy.random.RandomState(seed)
    centres = rng.uniform(-1.0, 1.0, (batch_size, num_faces, 1, 2))
    xy = centres + rng.uniform(-0.7, 0.7, (batch_size, num_faces, 3, 2))
    z = rng.uniform(1, 4, (batch_size, num_faces, 3, 1))
    faces = numpy.concatenate([xy, z], axis=3)
    area = ((faces[..., 1, 0] - faces[..., 0, 0]) *
            (faces[..., 2, 1] - faces[..., 0, 1]) -
            (faces[..., 2, 0] - faces[..., 0, 0]) *
            (faces[..., 1, 1] - faces[..., 0, 1]))
    faces[area < 0] = faces[area < 0][:, ::-1]
    uvs = rng.uniform(-0.4, 1.4, (batch_size, num_faces, 3, 2))
    return rng, faces, uvs


def reference_rgb(faces, uvs, image, height, width, wrapping, light=None,
                  background=(0, 0, 0)):
    """The brute-force rasterizer, colouring with sample_uv at each pixel's
    perspective-correct weights (times the face's light)."""
    def colour(f, wp):
        u, v = wp @ uvs[f]
        c = ref.sample_uv(image, u, v, wrapping)
        return c * light[f] if light is not None else c
    return ref.rasterize(faces, height, width, colour,
                         background=background)


@pytest.mark.parametrize('wrapping', ['REPEAT', 'CLAMP_TO_EDGE'])
@pytest.mark.parametrize('seed, shape', [(0, (12, 12)), (1, (10, 15))])
def test_forward_matches_the_brute_force_reference(xp, wrapping, seed, shape):
    rng, faces, uvs = random_scene(seed, batch_size=2)
    images = rng.uniform(0, 1, (2, 5, 7, 3))
    light = rng.uniform(0.2, 1.5, (2, faces.shape[1], 3))
    height, width = shape
    out = nr.rasterize_rgbad(
        xp.asarray(faces), nr.UVTexture(xp.asarray(uvs), xp.asarray(images),
                                        wrapping, mipmap=False),
        image_size=shape, anti_aliasing=False, light=xp.asarray(light),
        background_color=(0.3, 0.2, 0.1))
    rgb = to_cpu(out['rgb'].array)
    for b in range(2):
        face_index, _, expected = reference_rgb(
            faces[b], uvs[b], images[b], height, width, wrapping, light[b],
            (0.3, 0.2, 0.1))
        assert (face_index >= 0).sum() > 20
        numpy.testing.assert_allclose(rgb[b], expected, rtol=0, atol=1e-12)


def test_views_render_as_their_copies(xp):
    # Non-contiguous uvs and image (a flipped view, a column slice) render
    # and differentiate as contiguous copies do.
    rng, faces, uvs = random_scene(10)
    image = rng.uniform(0, 1, (1, 8, 12, 3))
    views = (xp.asarray(uvs)[..., ::-1], xp.asarray(image)[:, :, ::2])
    results = []
    for uv_array, image_array in (views, [xp.ascontiguousarray(v)
                                          for v in views]):
        uv_var, image_var = (chainer.Variable(uv_array),
                             chainer.Variable(image_array))
        rgb = nr.rasterize_rgbad(xp.asarray(faces), nr.UVTexture(
            uv_var, image_var), image_size=12)['rgb']
        F.sum(rgb * rgb).backward()
        results.append([to_cpu(a) for a in (rgb.array, uv_var.grad,
                                            image_var.grad)])
    for a, b in zip(*results):
        numpy.testing.assert_array_equal(a, b)


def test_one_image_serves_the_batch(xp):
    rng, faces, uvs = random_scene(2, batch_size=3)
    image = rng.uniform(0, 1, (1, 6, 4, 3))
    shared = nr.rasterize_rgbad(xp.asarray(faces), nr.UVTexture(
        xp.asarray(uvs), xp.asarray(image)), image_size=16)['rgb']
    tiled = nr.rasterize_rgbad(xp.asarray(faces), nr.UVTexture(
        xp.asarray(uvs), xp.asarray(numpy.repeat(image, 3, 0))),
        image_size=16)['rgb']
    numpy.testing.assert_array_equal(to_cpu(shared.array),
                                     to_cpu(tiled.array))
    # Its gradient is the sum of the tiled images' gradients.
    g = rng.randn(3, 3, 16, 16)
    grads = []
    for images in (image, numpy.repeat(image, 3, 0)):
        variable = chainer.Variable(xp.asarray(images))
        rgb = nr.rasterize_rgbad(xp.asarray(faces), nr.UVTexture(
            xp.asarray(uvs), variable), image_size=16)['rgb']
        F.sum(rgb * xp.asarray(g)).backward()
        grads.append(to_cpu(variable.grad))
    assert numpy.abs(grads[0]).sum() > 0
    numpy.testing.assert_allclose(grads[0][0], grads[1].sum(0), rtol=1e-12,
                                  atol=1e-12)


def numpy_pyramid(image, wrapping):
    """Mip levels of image [H, W, 3] by explicit 2x2 means."""
    levels = [image]
    while levels[-1].shape[0] > 1 or levels[-1].shape[1] > 1:
        level = levels[-1]
        h, w = level.shape[:2]
        if h > 1 and h % 2:
            level = numpy.concatenate(
                [level, level[:1] if wrapping == 'REPEAT' else level[-1:]])
        if w > 1 and w % 2:
            level = numpy.concatenate(
                [level, level[:, :1] if wrapping == 'REPEAT'
                 else level[:, -1:]], axis=1)
        h, w = level.shape[:2]
        out = numpy.empty(((h + 1) // 2, (w + 1) // 2, 3))
        for y in range(out.shape[0]):
            for x in range(out.shape[1]):
                out[y, x] = level[2 * y:2 * y + 2, 2 * x:2 * x + 2].mean(
                    axis=(0, 1))
        levels.append(out)
    return levels


def perspective_uv(face, face_uvs, px, py):
    """UV at the NDC point (px, py) of a screen face: the reference's
    barycentric weights made perspective-correct."""
    w = ref.barycentric(face[:, :2], px, py)
    q = w / face[:, 2]
    return (q / q.sum()) @ face_uvs


def reference_level(face, face_uvs, px, py, texture_size, height, width,
                    levels):
    """The mip level at the NDC point (px, py) of a face: round(log2(rho)),
    rho = max(|d(uv)/dx|, |d(uv)/dy|) in texels per pixel by central
    differences, clamped to the levels; None within 1e-4 of a switch."""
    h = 1e-6
    du_dx = (perspective_uv(face, face_uvs, px + h, py) -
             perspective_uv(face, face_uvs, px - h, py)) / (2 * h)
    du_dy = (perspective_uv(face, face_uvs, px, py + h) -
             perspective_uv(face, face_uvs, px, py - h)) / (2 * h)
    texels = numpy.array([texture_size[1], texture_size[0]])
    rho = max(numpy.linalg.norm(du_dx * texels * 2 / width),
              numpy.linalg.norm(du_dy * texels * 2 / height))
    log_rho = math.log2(rho)
    if abs(log_rho - math.floor(log_rho) - 0.5) < 1e-4:
        return None
    return min(max(int(math.floor(log_rho + 0.5)), 0), levels - 1)


@pytest.mark.parametrize('wrapping', ['REPEAT', 'CLAMP_TO_EDGE'])
@pytest.mark.parametrize('size', [(16, 16), (12, 20)])
def test_mipmap_samples_the_level_of_each_pixels_texel_ratio(xp, wrapping,
                                                             size):
    # Faces whose UV triangles cover 1/4 to 64 times their pixel area, at
    # depths 1 to 4 (so the ratio varies over a face): each pixel samples
    # level round(log2(rho)) of the pyramid, rho = max(|d(uv)/dx|,
    # |d(uv)/dy|) in texels per pixel (OpenGL's), here by central
    # differences of the reference's interpolation and a NumPy pyramid of
    # explicit 2x2 means.
    rng, faces, _ = random_scene(3, num_faces=10)
    height, width = 24, 24
    image = rng.uniform(0, 1, size + (3,))
    levels = numpy_pyramid(image, wrapping)
    faces = faces[0]
    uvs = numpy.empty((len(faces), 3, 2))
    for f, face in enumerate(faces):
        # A UV triangle of the screen triangle's shape, its area 4^k times
        # the face's pixel area in texels.
        k = f % 5 - 1
        scale = 2. ** k / numpy.array([width / 2 / size[1],
                                       height / 2 / size[0]])
        uvs[f] = (face[:, :2] - face[:, :2].mean(0)) * scale + \
            rng.uniform(0, 1, 2)
    out = nr.rasterize_rgbad(xp.asarray(faces[None]), nr.UVTexture(
        xp.asarray(uvs[None]), xp.asarray(image[None]), wrapping),
        image_size=(height, width), anti_aliasing=False)
    rgb = to_cpu(out['rgb'].array)[0]

    used, checked = set(), 0
    face_index, _, _ = ref.rasterize(faces, height, width)
    xs, ys = ref.pixel_centres(height, width)
    for i, j in zip(*numpy.nonzero(face_index >= 0)):
        f = face_index[i, j]
        px, py = xs[j], ys[i]
        level = reference_level(faces[f], uvs[f], px, py, size, height,
                                width, len(levels))
        if level is None:
            continue  # too close to a switch for the differences
        used.add(level)
        u, v = perspective_uv(faces[f], uvs[f], px, py)
        expected = ref.sample_uv(levels[level], u, v, wrapping)
        numpy.testing.assert_allclose(rgb[:, i, j], expected, rtol=0,
                                      atol=1e-9)
        checked += 1
    assert checked > 100 and used >= {0, 1, 2}


@pytest.mark.parametrize('wrapping, mipmap, anti_aliasing', [
    ('REPEAT', False, False), ('CLAMP_TO_EDGE', False, True),
    ('REPEAT', True, True)])
def test_image_and_uv_gradients_match_finite_differences(wrapping, mipmap,
                                                         anti_aliasing):
    rng, faces, uvs = random_scene(4, num_faces=5)
    image = rng.uniform(0, 1, (1, 8, 6, 3))
    light = rng.uniform(0.5, 1.5, (1, 5, 3))
    size = 10
    grad = rng.randn(1, 3, size, size)

    def render(uvs, image):
        return nr.rasterize_rgbad(
            faces, nr.UVTexture(uvs, image, wrapping, mipmap),
            image_size=size, anti_aliasing=anti_aliasing,
            light=light)['rgb']
    gradient_check.check_backward(render, (uvs, image), grad, eps=1e-6,
                                  atol=1e-6, rtol=1e-5, dtype=numpy.float64)
    # Not vacuous: both gradients are there.
    uv_var, image_var = chainer.Variable(uvs), chainer.Variable(image)
    F.sum(render(uv_var, image_var) * grad).backward()
    assert numpy.abs(uv_var.grad).max() > 1e-3
    assert numpy.abs(image_var.grad).max() > 1e-3


def test_light_gradient_with_a_uv_texture():
    rng, faces, uvs = random_scene(5, num_faces=5)
    image = rng.uniform(0, 1, (1, 8, 8, 3))
    light = rng.uniform(0.5, 1.5, (1, 5, 3))
    grad = rng.randn(1, 3, 9, 9)

    def render(light):
        return nr.rasterize_rgbad(faces, nr.UVTexture(uvs, image),
                                  image_size=9, light=light)['rgb']
    gradient_check.check_backward(render, (light,), grad, eps=1e-6,
                                  atol=1e-7, rtol=1e-6, dtype=numpy.float64)


@pytest.mark.parametrize('seed, shape, mipmap', [
    (0, (12, 12), False), (1, (10, 15), False), (2, (14, 11), True)])
def test_edge_gradient_takes_the_colour_sampled_at_the_crossing(
        xp, seed, shape, mipmap):
    # As for texel cubes (test_rasterize_backward): the kernel's edge
    # gradient equals the plain statement of the rule, whose colour at a
    # crossing is the image sampled at the crossing's UV (at the crossing's
    # mip level with mipmap).
    rng, faces, uvs = random_scene(seed)
    if mipmap:
        uvs *= 0.5  # the crossings sample several levels
    image = rng.uniform(0, 1, (8, 8, 3))
    levels = numpy_pyramid(image, 'REPEAT') if mipmap else [image]
    height, width = shape
    g_rgb = rng.randn(3, height, width)
    g_alpha = rng.randn(height, width)
    fv = chainer.Variable(xp.asarray(faces))
    out = nr.rasterize_rgbad(
        fv, nr.UVTexture(xp.asarray(uvs), xp.asarray(image[None]),
                         mipmap=mipmap),
        image_size=shape, anti_aliasing=False,
        background_color=(0.3, 0.2, 0.1))
    loss = (F.sum(out['rgb'] * xp.asarray(g_rgb[None])) +
            F.sum(out['alpha'] * xp.asarray(g_alpha)))
    loss.backward()
    used = set()

    def colour(f, wp):
        u, v = wp @ uvs[0, f]
        level = 0
        if mipmap:
            # The point: screen weights are proportional to wp_k z_k.
            w = wp * faces[0, f, :, 2]
            px, py = (w / w.sum()) @ faces[0, f, :, :2]
            level = reference_level(faces[0, f], uvs[0, f], px, py,
                                    image.shape[:2], height, width,
                                    len(levels))
            assert level is not None
            used.add(level)
        return ref.sample_uv(levels[level], u, v)
    face_index, depth, rgb = ref.rasterize(faces[0], height, width, colour,
                                           background=(0.3, 0.2, 0.1))
    expected = reference_gradient.edge_gradient(
        faces[0], colour, rgb, (face_index >= 0).astype(float), face_index,
        depth, g_rgb, g_alpha)
    assert numpy.abs(expected).sum() > 0
    assert not mipmap or len(used) > 1
    numpy.testing.assert_allclose(to_cpu(fv.grad)[0, :, :, :2],
                                  expected[:, :, :2], rtol=1e-9, atol=1e-9)


# -- the Renderer against a ray caster -------------------------------------

def teapot_with_uvs():
    vertices, faces = nr.load_obj(os.path.join(DATA, 'teapot.obj'))
    vertices = vertices.astype(numpy.float64)
    # A cylindrical map per corner (faces across the seam interpolate
    # across the whole image: the same for the renderer and the reference).
    corners = vertices[faces]
    u = numpy.arctan2(corners[..., 2], corners[..., 0]) / (2 * math.pi) + .5
    v = (corners[..., 1] + 1) / 2
    return vertices, faces, numpy.stack([u, v], axis=-1)


def ray_cast_colours(vertices, faces, uvs, image, K, R, t, height, width,
                     near, wrapping, both_sides):
    """Per OpenCV pixel centre, the nearest hit (camera depth above near;
    on faces seen from their front, counter-clockwise on the screen with y
    up, or on either side with ``both_sides``): its colour (bilinear at
    the barycentric UV), and whether the pixel is clear of edges (all three
    3D barycentric weights above 0.02) and of near-ties (the next hit 1e-3
    or more behind)."""
    tri = vertices[faces]
    pixels = (K @ numpy.einsum('ij,fkj->fki', R, tri + R.T @ t).transpose(
        0, 2, 1)).transpose(0, 2, 1)
    sx = pixels[..., 0] / pixels[..., 2]
    sy = -pixels[..., 1] / pixels[..., 2]
    front = ((sx[:, 1] - sx[:, 0]) * (sy[:, 2] - sy[:, 0]) -
             (sx[:, 2] - sx[:, 0]) * (sy[:, 1] - sy[:, 0])) > 0
    if both_sides:
        front[:] = True
    colours = numpy.zeros((height, width, 3))
    clear = numpy.zeros((height, width), bool)
    for i in range(height):
        for j in range(width):
            origin, direction = reference_raycast.pixel_ray(K, R, t, i, j)
            hit, z, weights = reference_raycast.hits(tri, origin, direction)
            ok = hit & (z > near) & front
            if not ok.any():
                continue
            order = numpy.nonzero(ok)[0][numpy.argsort(z[ok])]
            f = order[0]
            u, v = weights[f] @ uvs[f]
            colours[i, j] = ref.sample_uv(image, u, v, wrapping)
            clear[i, j] = weights[f].min() > 0.02 and (
                len(order) == 1 or z[order[1]] - z[f] > 1e-3)
    return colours, clear


@pytest.mark.parametrize('near, fill_back, wrapping', [
    (0.1, False, 'REPEAT'), (0.1, True, 'CLAMP_TO_EDGE'),
    (2.8, False, 'REPEAT')])
def test_renderer_matches_a_ray_caster(near, fill_back, wrapping):
    # The teapot through a calibrated camera, lit by ambient light only
    # (colour = texture): at pixels clear of edges the rendered colour is
    # the image sampled at the ray's barycentric UV. near=2.8 cuts the
    # teapot: the clipped pieces sample at their original face's UVs.
    # fill_back draws the inside of the lid and spout from behind.
    height, width = 24, 32
    vertices, faces, uvs = teapot_with_uvs()
    rng = numpy.random.RandomState(6)
    image = rng.uniform(0, 1, (9, 13, 3))
    K, R, t = reference_raycast.tilted_camera(height, width)
    renderer = nr.Renderer(
        camera_mode='projection', K=K[None], R=R[None], t=t[None],
        orig_size=(height, width), image_size=(height, width),
        anti_aliasing=False, near=near, fill_back=fill_back,
        light_intensity_ambient=1, light_intensity_directional=0)
    rgb = renderer.render(vertices[None], faces[None], nr.UVTexture(
        uvs[None], image[None], wrapping, mipmap=False)).array[0]
    expected, clear = ray_cast_colours(vertices, faces, uvs, image, K, R, t,
                                       height, width, near, wrapping,
                                       fill_back)
    assert clear.sum() > 100
    error = numpy.abs(rgb.transpose(1, 2, 0) - expected).max(axis=2)
    # (1e-9 relative: calibrated_screen adds eps = 1e-9 to the depth.)
    assert error[clear].max() < 1e-6


def test_renderer_batches_meshes_with_their_own_images():
    vertices, faces, uvs = teapot_with_uvs()
    rng = numpy.random.RandomState(7)
    images = rng.uniform(0, 1, (2, 16, 16, 3))
    renderer = nr.Renderer(image_size=32)
    renderer.eye = nr.get_points_from_angles(2.732, 30, 40)
    both = renderer.render(
        numpy.stack([vertices] * 2), numpy.stack([faces] * 2),
        nr.UVTexture(numpy.stack([uvs] * 2), images)).array
    for b in range(2):
        alone = renderer.render(vertices[None], faces[None], nr.UVTexture(
            uvs[None], images[b:b + 1])).array
        numpy.testing.assert_array_equal(both[b], alone[0])
    assert numpy.abs(both[0] - both[1]).max() > 0.1


def test_empty_meshes_connect_uv_textures_with_zero_gradients():
    renderer = nr.Renderer(image_size=8)
    uvs = chainer.Variable(numpy.zeros((1, 0, 3, 2), 'f'))
    image = chainer.Variable(numpy.ones((1, 4, 4, 3), 'f'))
    rgb = renderer.render(numpy.zeros((1, 3, 3), 'f'),
                          numpy.zeros((1, 0, 3), 'i'),
                          nr.UVTexture(uvs, image))
    F.sum(rgb).backward()
    assert (image.grad == 0).all()


# -- thread counts ------------------------------------------------------------

GRADIENTS = r'''
import sys
import numpy
import chainer
import chainer.functions as F
import neural_renderer as nr

vertices, faces = nr.load_obj(sys.argv[2])
rng = numpy.random.RandomState(0)
uvs = chainer.Variable(rng.uniform(-0.5, 1.5, (1, len(faces), 3, 2))
                       .astype('f'))
image = chainer.Variable(rng.uniform(0, 1, (1, 32, 32, 3)).astype('f'))
vertices = chainer.Variable(vertices[None])
renderer = nr.Renderer(image_size=64, fill_back=True)
renderer.eye = nr.get_points_from_angles(2.732, 30, 40)
rgb = renderer.render(vertices, faces[None], nr.UVTexture(uvs, image))
F.sum(rgb * rng.randn(*rgb.shape).astype('f')).backward()
numpy.savez(sys.argv[1], vertices=vertices.grad, uvs=uvs.grad,
            image=image.grad)
'''


def test_uv_gradients_are_bitwise_the_same_for_any_thread_count(tmp_path):
    # The image's gradient is summed per pyramid row by the index that
    # owns the row, in sample order: no atomics, so the thread count does
    # not change the bits.
    results = []
    for threads in (1, 3):
        out = str(tmp_path / 'grad_{}.npz'.format(threads))
        subprocess.run([sys.executable, '-c', GRADIENTS, out,
                        os.path.join(DATA, 'teapot.obj')], check=True,
                       env=dict(os.environ, OMP_NUM_THREADS=str(threads)))
        with numpy.load(out) as data:
            results.append({key: data[key] for key in data.files})
    for key in results[0]:
        assert numpy.abs(results[0][key]).sum() > 0, key
        numpy.testing.assert_array_equal(results[0][key], results[1][key])


# -- bad input ----------------------------------------------------------------

@pytest.mark.parametrize('change, error, message', [
    (lambda u, i: (u[:, :2], i), ValueError, 'uvs'),
    (lambda u, i: (u[..., :1], i), ValueError, 'uvs'),
    (lambda u, i: (u, i[..., :2]), ValueError, 'image'),
    (lambda u, i: (u, numpy.repeat(i, 2, 0)), ValueError, 'image'),
    (lambda u, i: (u.astype('f'), i), TypeError, 'uvs'),
    (lambda u, i: (u, i.astype('f')), TypeError, 'image'),
    (lambda u, i: (u * numpy.nan, i), ValueError, 'uvs'),
    (lambda u, i: (u, i * numpy.inf), ValueError, 'image'),
])
def test_bad_uv_textures_name_the_argument(change, error, message):
    _, faces, uvs = random_scene(0, num_faces=3, batch_size=3)
    image = numpy.ones((1, 4, 4, 3))
    uvs, image = change(uvs, image)
    with pytest.raises(error, match=message):
        nr.rasterize_rgbad(faces, nr.UVTexture(uvs, image), image_size=8)


def test_bad_uv_texture_options():
    with pytest.raises(ValueError, match='wrapping'):
        nr.UVTexture(numpy.zeros((1, 1, 3, 2)), numpy.zeros((1, 1, 1, 3)),
                     'MIRROR')
    with pytest.raises(TypeError, match='mipmap'):
        nr.UVTexture(numpy.zeros((1, 1, 3, 2)), numpy.zeros((1, 1, 1, 3)),
                     mipmap='yes')


def test_renderer_names_bad_uv_textures():
    vertices, faces, uvs = teapot_with_uvs()
    renderer = nr.Renderer(image_size=8)
    with pytest.raises(ValueError, match='textures.uvs'):
        renderer.render(vertices[None], faces[None], nr.UVTexture(
            uvs[None, :-1], numpy.ones((1, 2, 2, 3))))


CUBE = os.path.join(DATA, 'textured_cube', 'cube.obj')


def test_mesh_holds_a_uv_texture(tmp_path, xp, device):
    # Mesh(load_texture='uv'): the image's logits are the parameter, the
    # file's coordinates a persistent value; get_batch gives a UVTexture
    # that renders the file's image, and gradients reach the logits.
    _, faces, uvs, image = nr.load_obj(CUBE, load_texture='uv')
    mesh = nr.Mesh(CUBE, load_texture='uv')
    mesh.to_device(device)
    assert mesh.texture_size is None and mesh.textures.shape == image.shape
    numpy.testing.assert_array_equal(to_cpu(mesh.uvs), uvs)
    vertices, batch_faces, texture = mesh.get_batch(2)
    assert isinstance(texture, nr.UVTexture)
    assert texture.uvs.shape == (2,) + uvs.shape
    numpy.testing.assert_allclose(to_cpu(texture.image.array[0]),
                                  numpy.clip(image, 1e-3, 1 - 1e-3),
                                  rtol=1e-5, atol=1e-6)
    renderer = nr.Renderer(image_size=16)
    rgb = renderer.render(vertices, batch_faces, texture)
    F.sum(rgb).backward()
    assert float(xp.abs(mesh.textures.grad).sum()) > 0
    assert mesh.vertices.grad is not None
    # Saved and loaded with Chainer's serializers, uvs included.
    path = str(tmp_path / 'mesh.npz')
    chainer.serializers.save_npz(path, mesh)
    other = nr.Mesh.from_arrays(numpy.zeros((8, 3), 'f'), faces,
                                numpy.zeros(image.shape, 'f'),
                                uvs=numpy.zeros_like(uvs))
    chainer.serializers.load_npz(path, other)
    numpy.testing.assert_array_equal(other.uvs, uvs)
    numpy.testing.assert_array_equal(other.textures.array,
                                     to_cpu(mesh.textures.array))


def test_mesh_from_arrays_with_uvs_checks_them():
    _, faces, uvs, _ = nr.load_obj(CUBE, load_texture='uv')
    vertices = numpy.zeros((8, 3), 'f')
    with pytest.raises(ValueError, match='textures'):
        nr.Mesh.from_arrays(vertices, faces, uvs=uvs)
    with pytest.raises(ValueError, match='uvs'):
        nr.Mesh.from_arrays(vertices, faces, numpy.zeros((2, 2, 3)),
                            uvs=uvs[:-1])
    with pytest.raises(ValueError, match='textures'):
        nr.Mesh.from_arrays(vertices, faces, numpy.zeros((2, 2, 2, 3)),
                            uvs=uvs)
    with pytest.raises(ValueError, match='load_texture'):
        nr.Mesh(CUBE, load_texture='cubes')


@pytest.mark.parametrize('wrapping', ['REPEAT', 'CLAMP_TO_EDGE'])
@pytest.mark.parametrize('size', [(2, 1), (5, 1), (7, 12), (16, 16)])
def test_mip_levels_are_the_2x2_means_with_their_gradient(
        xp, wrapping, size):
    from neural_renderer.mipmap import mip_levels
    rng = numpy.random.RandomState(8)
    image = rng.uniform(0, 1, (2,) + size + (3,))
    expected = [numpy_pyramid(image[b], wrapping)[1:] for b in range(2)]
    coarse = to_cpu(mip_levels(xp.asarray(image),
                               wrapping == 'REPEAT').array)
    for b in range(2):
        flat = numpy.concatenate([level.reshape(-1, 3)
                                  for level in expected[b]])
        numpy.testing.assert_allclose(coarse[b], flat, rtol=1e-14,
                                      atol=1e-15)
    gradient_check.check_backward(
        lambda x: mip_levels(x, wrapping == 'REPEAT'), xp.asarray(image),
        xp.asarray(rng.randn(*coarse.shape)), eps=1e-6, atol=1e-8,
        rtol=1e-7)


@pytest.mark.parametrize('samples, buckets_count, chunk', [
    (1, 1, 1 << 16), (1000, 7, 64), (5000, 300, 100), (70000, 5, 1 << 16)])
def test_the_counting_sort_is_the_stable_sort(xp, monkeypatch, samples,
                                              buckets_count, chunk):
    # The image gradient's order of samples by row: numpy's stable argsort,
    # whatever the number of runs the kernels split the samples into.
    rasterize_module = sys.modules['neural_renderer.rasterize']
    monkeypatch.setattr(rasterize_module, '_SORT_CHUNK_SAMPLES', chunk)
    rng = numpy.random.RandomState(9)
    buckets = rng.randint(0, buckets_count, samples).astype(numpy.int32)
    order, starts = rasterize_module._stable_order(xp.asarray(buckets),
                                                   buckets_count)
    numpy.testing.assert_array_equal(
        to_cpu(order), numpy.argsort(buckets, kind='stable'))
    numpy.testing.assert_array_equal(
        to_cpu(starts), numpy.concatenate(
            [[0], numpy.cumsum(numpy.bincount(buckets,
                                              minlength=buckets_count))]))
