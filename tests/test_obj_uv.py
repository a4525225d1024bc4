"""load_obj(load_texture='uv') and save_obj of UV-mapped meshes (issue 28)."""
import re
import warnings

import numpy
import pytest

import neural_renderer  # NOQA  (installs the NumPy 2 shim before chainer)
import chainer
import imageio.v3 as iio
from PIL import Image

from neural_renderer.load_obj import load_obj
from neural_renderer.save_obj import save_obj
from neural_renderer.uv_texture import UVTexture

QUANTUM = 0.5 / 255 + 1e-6
TRIANGLE = 'v 0 0 0\nv 1 0 0\nv 0 1 0\n'


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


def random_png(path, height, width, seed):
    pixels = numpy.random.RandomState(seed).randint(
        0, 256, (height, width, 3)).astype(numpy.uint8)
    iio.imwrite(str(path), pixels, extension='.png')
    return pixels / 255.0


def sample(image, uv, wrapping):
    """Bilinear sampling of ``image`` [H, W, 3] (row 0 at the top) at ``uv``
    [..., 2] with the UVTexture convention, written independently of the
    package: REPEAT wraps the coordinates and the taps, CLAMP_TO_EDGE clamps
    the pixel coordinates."""
    image = numpy.asarray(image, numpy.float64)
    height, width = image.shape[:2]
    u, v = uv[..., 0], uv[..., 1]
    if wrapping == 'REPEAT':
        u, v = u - numpy.floor(u), v - numpy.floor(v)
    x = u * width - 0.5
    y = (1 - v) * height - 0.5
    if wrapping == 'CLAMP_TO_EDGE':
        x = numpy.clip(x, 0, width - 1)
        y = numpy.clip(y, 0, height - 1)
    x0, y0 = numpy.floor(x).astype(int), numpy.floor(y).astype(int)
    fx, fy = (x - x0)[..., None], (y - y0)[..., None]

    def tap(row, column):
        if wrapping == 'REPEAT':
            return image[row % height, column % width]
        return image[numpy.clip(row, 0, height - 1),
                     numpy.clip(column, 0, width - 1)]
    return ((tap(y0, x0) * (1 - fx) + tap(y0, x0 + 1) * fx) * (1 - fy)
            + (tap(y0 + 1, x0) * (1 - fx) + tap(y0 + 1, x0 + 1) * fx) * fy)


def inside_points(count, seed=0):
    """Barycentric weights [count, 3] of points strictly inside a face, the
    corners among them."""
    weights = numpy.random.RandomState(seed).dirichlet([1, 1, 1], count)
    return numpy.concatenate([numpy.eye(3), weights])


# ------------------------------------------------------- one image: as is

def test_single_image_returns_vt_and_image_as_they_are(tmp_path):
    pixels = numpy.array([[[0, 51, 255], [255, 0, 0], [10, 20, 30]],
                          [[1, 2, 3], [128, 128, 128], [250, 240, 230]]],
                         numpy.uint8)
    iio.imwrite(str(tmp_path / 't.png'), pixels, extension='.png')
    write(tmp_path / 'm.mtl', 'newmtl a\nKd 0.5 0.5 0.5\nmap_Kd t.png\n')
    obj = write(tmp_path / 'm.obj', 'mtllib m.mtl\nusemtl a\n' + TRIANGLE
                + 'v 1 1 0\nvt 0.25 0.5\nvt -1.5 0.125\nvt 2.75 3\n'
                'vt 0.1 0.9\nf 1/1 2/2 3/3\nf 2/-3 4/-1 3/-2\n')
    vertices, faces, uvs, image = load_obj(obj, load_texture='uv',
                                           normalization=False)
    assert uvs.dtype == numpy.float32 and image.dtype == numpy.float32
    assert uvs.shape == (2, 3, 2) and image.shape == (2, 3, 3)
    numpy.testing.assert_array_equal(faces, [[0, 1, 2], [1, 3, 2]])
    # The file's vt unchanged, also outside [0, 1]; negative indices
    # relative to the vt read so far.
    numpy.testing.assert_array_equal(uvs, numpy.float32(
        [[[0.25, 0.5], [-1.5, 0.125], [2.75, 3]],
         [[-1.5, 0.125], [0.1, 0.9], [2.75, 3]]]))
    numpy.testing.assert_allclose(image, pixels / 255.0, rtol=1e-6)


def test_quads_are_fan_triangulated_with_their_vt(tmp_path):
    random_png(tmp_path / 't.png', 3, 3, 0)
    write(tmp_path / 'm.mtl', 'newmtl a\nmap_Kd t.png\nnewmtl b\n'
          'map_Kd ./t.png\n')  # another material, the same file
    obj = write(tmp_path / 'm.obj', 'mtllib m.mtl\n' + TRIANGLE
                + 'v 1 1 0\nv 2 2 0\nvt 0 0\nvt 0.5 0\nvt 1 0.5\n'
                'vt 0.5 1\nvt 0 1\nusemtl a\nf 1/1 2/2 4/3 3/4\n'
                'usemtl b\nf 1/-5 2/-4 5/-3 4/-2 3/-1\n')
    _, faces, uvs, image = load_obj(obj, load_texture='uv',
                                    normalization=False)
    assert image.shape == (3, 3, 3)  # one image: no atlas
    numpy.testing.assert_array_equal(
        faces, [[0, 1, 3], [0, 3, 2], [0, 1, 4], [0, 4, 3], [0, 3, 2]])
    vt = numpy.float32([[0, 0], [0.5, 0], [1, 0.5], [0.5, 1], [0, 1]])
    numpy.testing.assert_array_equal(
        uvs, vt[[[0, 1, 2], [0, 2, 3], [0, 1, 2], [0, 2, 3], [0, 3, 4]]])


def test_grey_16_bit_image_is_scaled_and_made_rgb(tmp_path):
    grey = numpy.array([[0, 65535], [32768, 1000]], numpy.uint16)
    Image.fromarray(grey).save(str(tmp_path / 't.png'))
    write(tmp_path / 'm.mtl', 'newmtl a\nmap_Kd t.png\n')
    obj = write(tmp_path / 'm.obj', 'mtllib m.mtl\nusemtl a\n' + TRIANGLE
                + 'vt 0 0\nf 1/1 2/1 3/1\n')
    image = load_obj(obj, load_texture='uv')[3]
    numpy.testing.assert_allclose(
        image, numpy.repeat(grey[:, :, None] / 65535.0, 3, axis=2),
        rtol=1e-6)


# ------------------------------------------------------------------ atlas

def atlas_scene(tmp_path):
    """Faces with two images (u, v inside [0, 1], beyond it, across the
    seam, spanning more than a period), a Kd-only material, an undefined
    one, none, and a textured one without vt."""
    images = {'a.png': random_png(tmp_path / 'a.png', 5, 7, 1),
              'sub/b.png': random_png(tmp_path / 'b.png', 3, 4, 2)}
    (tmp_path / 'sub').mkdir()
    (tmp_path / 'b.png').rename(tmp_path / 'sub' / 'b.png')
    write(tmp_path / 'm.mtl', 'newmtl a\nKd 0 0 0\nmap_Kd a.png\n'
          'newmtl b\nmap_Kd -s 1 1 1 sub/b.png\nnewmtl red\nKd 1 0 0.25\n')
    vt = [(0.1, 0.2), (0.9, 0.3), (0.4, 0.95),       # inside
          (1.2, -0.7), (1.9, -0.1), (1.5, -0.5),     # one period off
          (0.7, 0.6), (1.3, 0.8), (0.9, 1.4),        # across the seams
          (-0.2, -1.3), (1.1, 0.3), (2.3, 0.9),      # more than a period
          (0.0, 0.0), (1.0, 0.0), (1.0, 1.0)]        # the edges
    lines = ['mtllib m.mtl'] + ['v %d %d 0' % (i % 4, i // 4)
                                for i in range(8)]
    lines += ['vt %r %r' % uv for uv in vt]
    faces = []
    for material in ('a', 'b'):
        lines.append('usemtl ' + material)
        for f in range(5):
            lines.append('f %d/%d %d/%d %d/%d' % (
                f % 8 + 1, 3 * f + 1, (f + 1) % 8 + 1, 3 * f + 2,
                (f + 3) % 8 + 1, 3 * f + 3))
            faces.append((material, vt[3 * f:3 * f + 3]))
    lines += ['usemtl red', 'f 1 2 3', 'usemtl nowhere', 'f 2 3 4',
              'usemtl a', 'f 3 4 5']
    obj = tmp_path / 'm.obj'
    obj.write_text('\n'.join(lines) + '\n')
    # The face without a material comes first in the file.
    obj.write_text('f 4 5 6\n' + obj.read_text())
    return str(obj), images, faces


@pytest.mark.parametrize('wrapping', ['REPEAT', 'CLAMP_TO_EDGE'])
def test_atlas_samples_as_the_original_images(tmp_path, wrapping):
    obj, images, textured = atlas_scene(tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        _, faces, uvs, atlas = load_obj(obj, load_texture='uv',
                                        texture_wrapping=wrapping,
                                        normalization=False)
    messages = ' '.join(str(w.message) for w in caught)
    assert "'nowhere' is not defined" in messages
    assert "1 faces use the textured material 'a'" in messages
    assert len(faces) == len(uvs) == 14
    assert atlas.dtype == numpy.float32 and atlas.ndim == 3
    assert atlas.min() >= 0 and atlas.max() <= 1
    # Not absurdly large: the tiles, grown by the faces' reach, and cells.
    assert atlas.shape[0] * atlas.shape[1] <= 4 * (20 * 40 + 12 * 20)
    weights = inside_points(50)
    for f, (material, vt) in enumerate(textured, start=1):  # after 'f 4 5 6'
        original = images['a.png' if material == 'a' else 'sub/b.png']
        expected = sample(original, weights @ numpy.array(vt), wrapping)
        got = sample(atlas, weights @ uvs[f].astype(numpy.float64),
                     'CLAMP_TO_EDGE')
        numpy.testing.assert_allclose(got, expected, atol=1e-5,
                                      err_msg='face %d' % f)
        # The atlas's own wrapping plays no part: no tap leaves the tile.
        numpy.testing.assert_allclose(
            sample(atlas, weights @ uvs[f].astype(numpy.float64), 'REPEAT'),
            expected, atol=1e-5)
    # Plain colours: no material (white), Kd only, undefined (white), a
    # textured material's face without vt (its Kd, black).
    for f, colour in [(0, (1, 1, 1)), (11, (1, 0, 0.25)), (12, (1, 1, 1)),
                      (13, (0, 0, 0))]:
        assert (uvs[f] == uvs[f][0]).all()  # all corners on one point
        numpy.testing.assert_allclose(
            sample(atlas, weights @ uvs[f].astype(numpy.float64), wrapping),
            numpy.tile(colour, (len(weights), 1)), atol=1e-7)
        x = int(uvs[f][0][0] * atlas.shape[1] - 0.5)
        y = int((1 - uvs[f][0][1]) * atlas.shape[0] - 0.5)
        numpy.testing.assert_array_equal(  # the taps themselves
            atlas[y:y + 2, x:x + 2], numpy.float32(
                numpy.broadcast_to(colour, (2, 2, 3))))
    assert not (uvs[0] == uvs[11]).all()  # two colours, two cells
    assert (uvs[0] == uvs[12]).all()      # white is one cell


def test_kd_only_mesh_is_an_atlas_of_cells(tmp_path):
    write(tmp_path / 'm.mtl', 'newmtl g\nKd 0 1 0\nnewmtl grey\nKd 0.3\n')
    obj = write(tmp_path / 'm.obj', 'mtllib m.mtl\n' + TRIANGLE
                + 'usemtl g\nf 1 2 3\nusemtl grey\nf 3 2 1\n')
    _, _, uvs, image = load_obj(obj, load_texture='uv')
    assert image.shape[0] * image.shape[1] <= 64
    for f, colour in [(0, (0, 1, 0)), (1, (0.3, 0.3, 0.3))]:
        numpy.testing.assert_allclose(
            sample(image, uvs[f].astype(numpy.float64), 'REPEAT'),
            numpy.tile(colour, (3, 1)), atol=1e-7)
    # No mtllib at all: one white cell.
    obj = write(tmp_path / 'n.obj', TRIANGLE + 'f 1 2 3\n')
    _, _, uvs, image = load_obj(obj, load_texture='uv')
    assert (image == 1).all() and image.shape == (4, 4, 3)
    assert (uvs == 0.5).all()


def test_a_face_too_wide_for_the_atlas_is_refused(tmp_path):
    random_png(tmp_path / 'a.png', 4, 4, 0)
    write(tmp_path / 'm.mtl', 'newmtl wide\nmap_Kd a.png\nnewmtl red\n'
          'Kd 1 0 0\n')
    obj = write(tmp_path / 'm.obj', 'mtllib m.mtl\n' + TRIANGLE
                + 'vt 0 0\nvt 1000 0\nvt 0 1\nusemtl red\nf 1 2 3\n'
                'usemtl wide\nf 1/1 2/2 3/3\n')
    with pytest.raises(ValueError) as info:
        load_obj(obj, load_texture='uv', max_image_pixels=4096)
    message = str(info.value)
    for part in [obj, 'max_image_pixels=4096', "'wide'", 'a.png',
                 'm.obj:11', 'u 0 to 1000', 'load_texture=True']:
        assert part in message, part
    # It fits in a larger atlas (1000 copies of the image side by side)...
    uvs, atlas = load_obj(obj, load_texture='uv', max_image_pixels=10 ** 5)[2:]
    assert atlas.shape[1] >= 4000
    # ...and alone it needs none: the image as it is.
    write(tmp_path / 'm.mtl', 'newmtl wide\nmap_Kd a.png\n')
    obj = write(tmp_path / 'n.obj', 'mtllib m.mtl\n' + TRIANGLE
                + 'vt 0 0\nvt 1000 0\nvt 0 1\nusemtl wide\nf 1/1 2/2 3/3\n')
    uvs, image = load_obj(obj, load_texture='uv', max_image_pixels=16)[2:]
    assert image.shape == (4, 4, 3) and uvs.max() == 1000


# ----------------------------------------------------------- limits, errors

def textured(tmp_path, image='t.png', size=(4, 4)):
    tmp_path.mkdir(exist_ok=True)
    random_png(tmp_path / 't.png', size[0], size[1], 0)
    write(tmp_path / 'm.mtl', 'newmtl a\nmap_Kd %s\n' % image)
    return write(tmp_path / 'm.obj', 'mtllib m.mtl\nusemtl a\n' + TRIANGLE
                 + 'vt 0 0\nvt 1 0\nvt 0 1\nf 1/1 2/2 3/3\n')


def test_map_kd_outside_the_folder_is_refused(tmp_path):
    random_png(tmp_path / 'x.png', 2, 2, 0)
    obj = textured(tmp_path / 'mesh', '../x.png')
    with pytest.raises(ValueError, match=re.escape(
            str(tmp_path / 'mesh' / 'm.mtl') + ':2: texture image')) as info:
        load_obj(obj, load_texture='uv')
    assert 'allow_outside=True' in str(info.value)
    image = load_obj(obj, load_texture='uv', allow_outside=True)[3]
    assert image.shape == (2, 2, 3)


def test_missing_image(tmp_path):
    obj = textured(tmp_path, 'gone.png')
    with pytest.raises(FileNotFoundError, match='gone.png'):
        load_obj(obj, load_texture='uv')


def test_image_limits(tmp_path):
    obj = textured(tmp_path, size=(10, 10))
    with pytest.raises(ValueError, match=r'100 pixels, over '
                       r'max_image_pixels=50'):
        load_obj(obj, load_texture='uv', max_image_pixels=50)
    with pytest.raises(ValueError, match=r'max_texture_bytes=1000'):
        load_obj(obj, load_texture='uv', max_texture_bytes=1000)
    load_obj(obj, load_texture='uv', max_texture_bytes=1200)


@pytest.mark.parametrize('value', ['UV', 'cubes', '', 'True'])
def test_bad_load_texture(tmp_path, value):
    obj = write(tmp_path / 'm.obj', TRIANGLE + 'f 1 2 3\n')
    with pytest.raises(ValueError, match='load_texture'):
        load_obj(obj, load_texture=value)


def test_bools_and_truth_values_still_work(tmp_path):
    # As in the original package, which tested `if load_texture:`.
    obj = write(tmp_path / 'm.obj', TRIANGLE + 'f 1 2 3\n')
    assert len(load_obj(obj, load_texture=False)) == 2
    assert len(load_obj(obj, load_texture=numpy.bool_(True))) == 3
    assert len(load_obj(obj, load_texture=0)) == 2
    assert len(load_obj(obj, load_texture=None)) == 2
    assert len(load_obj(obj, load_texture=1)) == 3


# ---------------------------------------------------------------- save_obj

def uv_mesh(dtype=numpy.float32, seed=0):
    random = numpy.random.RandomState(seed)
    vertices = random.uniform(-2, 2, (6, 3)).astype(dtype)
    faces = numpy.array([[0, 1, 2], [2, 1, 3], [3, 4, 5], [5, 0, 3]],
                        numpy.int32)
    uvs = random.uniform(-1.5, 2.5, (4, 3, 2)).astype(dtype)
    uvs[1, 0] = uvs[0, 2]  # shared corners
    uvs[1, 1] = uvs[0, 1]
    image = random.uniform(-0.1, 1.1, (5, 7, 3)).astype(dtype)
    image[0, 0] = [0.999, 0.29, 1 / 510 + 1e-4]  # rounded, not truncated
    return vertices, faces, uvs, image


def check_round_trip(path, vertices, faces, uvs, image):
    v, f, u, i = load_obj(path, load_texture='uv', normalization=False)
    numpy.testing.assert_array_equal(v, vertices.astype(numpy.float32))
    numpy.testing.assert_array_equal(f, faces)
    assert u.dtype == numpy.float32
    numpy.testing.assert_array_equal(u, uvs.astype(numpy.float32))
    assert numpy.abs(i - numpy.clip(image, 0, 1)).max() <= QUANTUM
    return i


@pytest.mark.parametrize('dtype', [numpy.float32, numpy.float64])
def test_save_uvs_and_image_round_trip(tmp_path, dtype):
    vertices, faces, uvs, image = uv_mesh(dtype)
    path = str(tmp_path / 'mesh.obj')
    save_obj(path, vertices, faces, uvs=uvs, texture_image=image)
    loaded = check_round_trip(path, vertices, faces, uvs, image)
    numpy.testing.assert_array_equal(loaded[0, 0] * 255, [255, 74, 1])
    png = Image.open(str(tmp_path / 'mesh.png'))
    assert png.format == 'PNG' and png.mode == 'RGB'
    assert png.size == (7, 5)
    numpy.testing.assert_array_equal(
        numpy.asarray(png), numpy.round(numpy.clip(image, 0, 1) * 255))
    text = (tmp_path / 'mesh.obj').read_text().splitlines()
    assert text[0] == 'mtllib mesh.mtl'
    assert 'usemtl material_1' in text
    vt = [line for line in text if line.startswith('vt ')]
    assert len(vt) == 12 - 2  # two shared corners share their vt
    f = [line for line in text if line.startswith('f ')]
    assert len(f) == 4
    assert all(re.match(r'f \d+/\d+ \d+/\d+ \d+/\d+\Z', line) for line in f)
    assert f[0] == 'f 1/1 2/2 3/3' and f[1] == 'f 3/3 2/2 4/4'
    mtl = (tmp_path / 'mesh.mtl').read_text().splitlines()
    assert mtl == ['newmtl material_1', 'Kd 1 1 1', 'map_Kd mesh.png']


def test_save_uv_texture_of_variables(tmp_path):
    vertices, faces, uvs, image = uv_mesh(seed=1)
    texture = UVTexture(chainer.Variable(uvs[None]),
                        chainer.Variable(image[None]),
                        wrapping='CLAMP_TO_EDGE')
    path = str(tmp_path / 'my mesh#1.obj')
    save_obj(path, chainer.Variable(vertices), faces, texture)
    check_round_trip(path, vertices, faces, uvs, image)
    assert (tmp_path / 'my_mesh_1.mtl').read_text().splitlines()[-1] == \
        'map_Kd -clamp on my_mesh_1.png'


def test_loaded_atlas_survives_save_and_load(tmp_path):
    obj, _, _ = atlas_scene(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        vertices, faces, uvs, image = load_obj(obj, load_texture='uv')
    out = str(tmp_path / 'out' / 'copy.obj')
    (tmp_path / 'out').mkdir()
    save_obj(out, vertices, faces, uvs=uvs, texture_image=image)
    check_round_trip(out, vertices, faces, uvs, image)


V3 = numpy.zeros((3, 3), 'f')
F1 = numpy.zeros((1, 3), 'i')
UV = numpy.zeros((1, 3, 2), 'f')
IMAGE = numpy.zeros((2, 2, 3), 'f')


@pytest.mark.parametrize('kwargs,error,message', [
    (dict(uvs=numpy.zeros((1, 3, 3), 'f'), texture_image=IMAGE), ValueError,
     r'uvs must be \[F, 3, 2\] with F = 1'),
    (dict(uvs=numpy.zeros((2, 3, 2), 'f'), texture_image=IMAGE), ValueError,
     r'uvs must be \[F, 3, 2\]'),
    (dict(uvs=UV, texture_image=numpy.zeros((2, 2), 'f')), ValueError,
     r'texture_image must be \[H, W, 3\]'),
    (dict(uvs=UV, texture_image=numpy.zeros((0, 2, 3), 'f')), ValueError,
     r'texture_image must be \[H, W, 3\] with H, W >= 1'),
    (dict(uvs=UV, texture_image=numpy.zeros((2, 2, 3), numpy.uint8)),
     TypeError, 'texture_image must be floats'),
    (dict(uvs=UV), ValueError, 'texture_image'),
    (dict(texture_image=IMAGE), ValueError, 'uvs'),
    (dict(textures=numpy.zeros((1, 2, 2, 2, 3), 'f'), uvs=UV,
          texture_image=IMAGE), ValueError, 'not both'),
    (dict(textures=UVTexture(UV[None].repeat(2, 0), IMAGE[None])),
     ValueError, r'textures\.uvs must be \[1, F, 3, 2\]'),
    (dict(textures=UVTexture(UV[None], IMAGE)), ValueError,
     r'textures\.image must be \[1, H, W, 3\]'),
    (dict(uvs=UV + numpy.nan, texture_image=IMAGE), ValueError,
     'uvs must be finite'),
    (dict(uvs=UV, texture_image=IMAGE + numpy.inf), ValueError,
     'texture_image must be finite'),
    (dict(uvs=numpy.full((1, 3, 2), 1e39), texture_image=IMAGE), ValueError,
     'uvs: values up to'),
    (dict(uvs=[[[0, 0]] * 3], texture_image=IMAGE), TypeError,
     'uvs: expected a numpy/cupy array'),
])
def test_save_obj_uv_errors(tmp_path, kwargs, error, message):
    with pytest.raises(error, match=message):
        save_obj(str(tmp_path / 'x.obj'), V3, F1, **kwargs)
    assert not list(tmp_path.iterdir())  # nothing written
