"""load_obj and save_obj on small hand-written files."""
import os
import re
import struct
import zlib

import numpy
import pytest

import neural_renderer  # NOQA  (installs the NumPy 2 shim before chainer)
import chainer
import imageio.v3 as iio

from neural_renderer import load_obj as load_obj_module
from neural_renderer.load_obj import load_obj
from neural_renderer.load_obj import texel_weights
from neural_renderer.mesh import Mesh
from neural_renderer.save_obj import save_obj

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'data')
QUANTUM = 0.5 / 255 + 1e-6


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


def on_plane(t):
    i, j, k = numpy.meshgrid(*[numpy.arange(t)] * 3, indexing='ij')
    return i + j + k == t - 1


TRIANGLE = 'v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n'


# ---------------------------------------------------------------- geometry

def test_quad_and_polygon_are_fan_triangulated(tmp_path):
    obj = write(tmp_path / 'm.obj', '\n'.join(
        ['v %d 0 %d' % (i, i * i) for i in range(6)]
        + ['f 1 2 3 4', 'f 2 3 4 5 6']) + '\n')
    vertices, faces = load_obj(obj, normalization=False)
    assert vertices.dtype == numpy.float32 and faces.dtype == numpy.int32
    numpy.testing.assert_array_equal(
        faces, [[0, 1, 2], [0, 2, 3], [1, 2, 3], [1, 3, 4], [1, 4, 5]])


def test_slashes_comments_and_ignored_statements(tmp_path):
    obj = write(tmp_path / 'm.obj', '\n'.join([
        '# a comment', '', 'o thing', 'g group', 's off',
        'v 0 0 0 1', 'v 1 0 0 0.5 0.5 0.5',  # w; vertex colour
        'v 0 1 0  # trailing comment', 'v 0 0 1',
        'vn 0 0 1', 'vt 0 0', 'vt 1 0', 'vt 0 1',
        'f 1/1/1 2//1 3/3', 'f 1/1 3/2/1 4/3/1', 'l 1 2']) + '\n')
    vertices, faces = load_obj(obj, normalization=False)
    numpy.testing.assert_array_equal(
        vertices, [[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]])
    numpy.testing.assert_array_equal(faces, [[0, 1, 2], [0, 2, 3]])


def test_negative_indices_are_relative_to_the_line(tmp_path):
    obj = write(tmp_path / 'm.obj', '\n'.join([
        'v 0 0 0', 'v 1 0 0', 'v 0 1 0', 'f -3 -2 -1',
        'v 1 1 0', 'f -4/-1 -1 -2', 'vt 0 0']) + '\n')
    # 'f -4/-1 ...' refers to a texture coordinate not yet defined.
    with pytest.raises(ValueError, match=r'm\.obj:6: relative texture'):
        load_obj(obj)
    obj = write(tmp_path / 'n.obj', '\n'.join([
        'v 0 0 0', 'v 1 0 0', 'v 0 1 0', 'f -3 -2 -1',
        'v 1 1 0', 'f -4 -1 -2']) + '\n')
    _, faces = load_obj(obj, normalization=False)
    numpy.testing.assert_array_equal(faces, [[0, 1, 2], [0, 3, 2]])


def test_normalization_by_hand(tmp_path):
    obj = write(tmp_path / 'm.obj', 'v 1 1 1\nv 3 1 1\nv 1 2 1\nv 1 1 5\n'
                'f 1 2 3\nf 1 2 4\n')
    raw, _ = load_obj(obj, normalization=False)
    numpy.testing.assert_array_equal(raw[1], [3, 1, 1])
    vertices, _ = load_obj(obj)
    # minus min -> (0,0,0) (2,0,0) (0,1,0) (0,0,4); / 4 * 2 -> z spans
    # [0, 2]; minus max / 2 = (0.5, 0.25, 1).
    numpy.testing.assert_allclose(vertices, [
        [-0.5, -0.25, -1], [0.5, -0.25, -1], [-0.5, 0.25, -1],
        [-0.5, -0.25, 1]], atol=1e-7)


def test_path_objects_are_accepted(tmp_path):
    write(tmp_path / 'm.obj', TRIANGLE)
    vertices, faces = load_obj(tmp_path / 'm.obj')
    assert vertices.shape == (3, 3) and faces.shape == (1, 3)


# ---------------------------------------------------------------- errors

def test_missing_file(tmp_path):
    path = str(tmp_path / 'nope.obj')
    with pytest.raises(FileNotFoundError, match=re.escape(path)):
        load_obj(path)


@pytest.mark.parametrize('line, message', [
    ('v 1 2', 'vertex needs 3 to 7 numbers'),
    ('v 1 x 2', 'vertex: not a number'),
    ('v 1 nan 2', 'non-finite'),
    ('vt a b', 'texture coordinate: not a number'),
    ('f 1 2', 'at least 3 vertices'),
    ('f 1 2 x', "bad vertex index 'x'"),
    ('f 1 2 0', 'vertex index 0'),
    ('f 1 2 4', 'vertex index 4 out of range: the file has 3 vertices'),
    ('f -1 -2 -4', 'relative vertex index -4 but only 3'),
    ('f 1/2 2/1 3/1', 'texture coordinate index 2 out of range'),
    ('f 1/1/1/1 2 3', 'bad face vertex'),
    # Numbers out of range, non-ASCII digits, NUL:
    ('f 1 2 9223372036854775809', 'vertex index 9223372036854775809 out of '
     'range'),
    ('f 1 2 2147483648', 'vertex index 2147483648 out of range'),
    ('f 1 2 ' + '9' * 5000, 'vertex index ' + "'" + '9' * 5000),
    ('f 1/99999999999999999999 2 3', 'texture coordinate index 9999'),
    ('f 1 2 3\x00', "bad vertex index '3\\x00'"),
    ('f 1 2 \u0663', 'bad vertex index'),
    ('v 1e39 0 0', "vertex: '1e39' is outside float32 range"),
    ('v 0 0 -3.5e38', 'outside float32 range'),
    ('v 1 1 1e999', 'non-finite'),
    ('v 1 2 \u0663', 'not a number'),
    ('v 1 2 1_0', "not a number: '1_0'"),
    ('v 1 2 infinity', 'non-finite'),
    ('vt 1e39 0', "texture coordinate: '1e39' is outside float32 range"),
])
def test_malformed_lines_name_file_and_line(tmp_path, line, message):
    obj = write(tmp_path / 'bad.obj',
                'v 0 0 0\nv 1 0 0\nv 0 1 0\nvt 0 0\n' + line + '\n')
    with pytest.raises(ValueError) as info:
        load_obj(obj)
    assert str(info.value).startswith(obj + ':5: ')
    assert message in str(info.value)


def test_no_faces(tmp_path):
    obj = write(tmp_path / 'm.obj', 'v 0 0 0\nv 1 0 0\nv 0 1 0\n')
    with pytest.raises(ValueError, match='no faces'):
        load_obj(obj)


def test_coincident_vertices_cannot_be_normalised(tmp_path):
    obj = write(tmp_path / 'm.obj', 'v 1 1 1\nv 1 1 1\nv 1 1 1\nf 1 2 3\n')
    with pytest.raises(ValueError, match='coincide'):
        load_obj(obj)
    vertices, _ = load_obj(obj, normalization=False)
    assert (vertices == 1).all()


@pytest.mark.parametrize('size', [0, -1, 1.5, True, '4', None])
def test_bad_texture_size(tmp_path, size):
    obj = write(tmp_path / 'm.obj', TRIANGLE)
    with pytest.raises(ValueError, match='texture_size'):
        load_obj(obj, texture_size=size)


def test_bad_wrapping(tmp_path):
    obj = write(tmp_path / 'm.obj', TRIANGLE)
    with pytest.raises(ValueError, match='texture_wrapping'):
        load_obj(obj, texture_wrapping='MIRROR')


def test_missing_mtl_only_matters_with_textures(tmp_path):
    obj = write(tmp_path / 'm.obj', 'mtllib gone.mtl\n' + TRIANGLE)
    load_obj(obj)  # geometry only: the .mtl is not read
    with pytest.raises(FileNotFoundError,
                       match=re.escape(str(tmp_path / 'gone.mtl'))):
        load_obj(obj, load_texture=True)


def test_missing_texture_image(tmp_path):
    write(tmp_path / 'm.mtl', 'newmtl a\nmap_Kd gone.png\n')
    obj = write(tmp_path / 'm.obj', 'mtllib m.mtl\nvt 0 0\nusemtl a\n'
                'v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1/1 2/1 3/1\n')
    with pytest.raises(FileNotFoundError,
                       match=re.escape(str(tmp_path / 'gone.png'))):
        load_obj(obj, load_texture=True)


def test_malformed_mtl_line(tmp_path):
    mtl = write(tmp_path / 'm.mtl', 'newmtl a\nKd 1 x 0\n')
    obj = write(tmp_path / 'm.obj', 'mtllib m.mtl\nusemtl a\n' + TRIANGLE)
    with pytest.raises(ValueError, match=re.escape(mtl + ':2: Kd')):
        load_obj(obj, load_texture=True)


# ---------------------------------------------------------------- textures

def test_kd_colours_default_white_and_unknown_material(tmp_path):
    write(tmp_path / 'm.mtl', '# materials\nnewmtl red\nKd 1 0 0\n'
          'Ka 0 0 0\nnewmtl grey\nKd 0.25\nnewmtl bare\n')
    obj = write(tmp_path / 'm.obj', '\n'.join([
        'mtllib m.mtl', 'v 0 0 0', 'v 1 0 0', 'v 0 1 0', 'v 1 1 0',
        'f 1 2 3', 'usemtl red', 'f 2 4 3 1', 'usemtl grey', 'f 1 2 4',
        'usemtl bare', 'f 1 2 3', 'usemtl unknown', 'f 1 3 4']) + '\n')
    with pytest.warns(UserWarning, match="'unknown' is not defined"):
        _, faces, textures = load_obj(obj, load_texture=True, texture_size=3)
    assert faces.shape == (6, 3)
    assert textures.shape == (6, 3, 3, 3, 3)
    assert textures.dtype == numpy.float32
    expected = [(1, 1, 1), (1, 0, 0), (1, 0, 0), (0.25,) * 3, (1, 1, 1),
                (1, 1, 1)]
    for face, colour in enumerate(expected):
        numpy.testing.assert_array_equal(
            textures[face].reshape(-1, 3), numpy.tile(colour, (27, 1)))


def test_no_mtllib_loads_white(tmp_path):
    obj = write(tmp_path / 'm.obj', TRIANGLE)
    _, _, textures = load_obj(obj, load_texture=True, texture_size=2)
    assert (textures == 1).all()


def test_texel_weights():
    w = texel_weights(3)
    assert w.shape == (3, 3, 3, 3)
    numpy.testing.assert_allclose(w[0, 0, 0], [1 / 3] * 3)  # no NaN
    numpy.testing.assert_allclose(w[2, 1, 1], [0.5, 0.25, 0.25])
    numpy.testing.assert_allclose(w[0, 2, 0], [0, 1, 0])
    numpy.testing.assert_allclose(w.sum(-1), 1)


def image_scene(tmp_path, vt_lines, options='', mtl_dir='.'):
    # A 4 x 2 image (as displayed: row 0 on top) with distinct pixels.
    image = numpy.array([[[10, 0, 0], [20, 0, 0], [30, 0, 0], [40, 0, 0]],
                         [[0, 50, 0], [0, 60, 0], [0, 70, 0], [0, 80, 0]]],
                        numpy.uint8)
    mtl_dir = tmp_path / mtl_dir
    (mtl_dir / 'tex').mkdir(parents=True, exist_ok=True)
    iio.imwrite(str(mtl_dir / 'tex' / 'image.png'), image)
    mtl_rel = os.path.relpath(str(mtl_dir / 'm.mtl'), str(tmp_path))
    write(mtl_dir / 'm.mtl',
          'newmtl tex\nKd 0.5 0.5 0.5\nmap_Kd %stex/image.png\n' % options)
    obj = write(tmp_path / 'm.obj', 'mtllib %s\n' % mtl_rel + vt_lines
                + 'usemtl tex\nv 0 0 0\nv 1 0 0\nv 0 1 0\nf 1/1 2/2 3/3\n')
    return obj, image.astype(numpy.float64) / 255


def test_map_kd_sampled_at_texels(tmp_path):
    # vt on pixel centres: vertex 0 on the bottom left pixel (row 1 of the
    # image as stored, since vt v = 0 is the bottom), vertex 1 on the bottom
    # right one, vertex 2 on the top left one. The .mtl lives in a
    # subdirectory and names the image relative to itself.
    obj, image = image_scene(
        tmp_path, 'vt 0.125 0.25\nvt 0.875 0.25\nvt 0.125 0.75\n',
        mtl_dir='materials')
    _, _, textures = load_obj(obj, load_texture=True, texture_size=2)
    numpy.testing.assert_allclose(textures[0, 1, 0, 0], image[1, 0],
                                  atol=1e-6)
    numpy.testing.assert_allclose(textures[0, 0, 1, 0], image[1, 3],
                                  atol=1e-6)
    numpy.testing.assert_allclose(textures[0, 0, 0, 1], image[0, 0],
                                  atol=1e-6)
    # (0, 1, 1): midway between pixel (col 3, bottom) and (col 0, top):
    # x = 1.5, y = 0.5, the mean of columns 1 and 2 of both rows.
    numpy.testing.assert_allclose(textures[0, 0, 1, 1],
                                  image[:, 1:3].mean((0, 1)), atol=1e-6)
    # (0, 0, 0) is the centroid: x = 1, y = 1/3 from the bottom.
    expected = image[1, 1] * 2 / 3 + image[0, 1] / 3
    numpy.testing.assert_allclose(textures[0, 0, 0, 0], expected, atol=1e-6)
    numpy.testing.assert_allclose(textures[0, 1, 1, 1], expected, atol=1e-6)
    _, _, nearest = load_obj(obj, load_texture=True, texture_size=2,
                             use_bilinear=False)
    numpy.testing.assert_allclose(nearest[0, 0, 0, 0], image[1, 1],
                                  atol=1e-6)


def test_map_kd_options_are_skipped(tmp_path):
    obj, image = image_scene(tmp_path, 'vt 0.125 0.25\nvt 0.875 0.25\n'
                             'vt 0.125 0.75\n', options='-s 1 1 1 ')
    _, _, textures = load_obj(obj, load_texture=True, texture_size=2)
    numpy.testing.assert_allclose(textures[0, 1, 0, 0], image[1, 0],
                                  atol=1e-6)


def test_wrapping(tmp_path):
    # u = 1.125 wraps to 0.125 (column 0) with REPEAT, clamps to column 3.
    obj, image = image_scene(tmp_path, 'vt 1.125 0.25\nvt 0.875 0.25\n'
                             'vt 0.125 0.75\n')
    _, _, repeat = load_obj(obj, load_texture=True, texture_size=2)
    _, _, clamp = load_obj(obj, load_texture=True, texture_size=2,
                           texture_wrapping='CLAMP_TO_EDGE')
    numpy.testing.assert_allclose(repeat[0, 1, 0, 0], image[1, 0], atol=1e-6)
    numpy.testing.assert_allclose(clamp[0, 1, 0, 0], image[1, 3], atol=1e-6)


def test_grey_and_rgba_images(tmp_path):
    grey = numpy.array([[0, 255], [128, 64]], numpy.uint8)
    iio.imwrite(str(tmp_path / 'g.png'), grey)
    rgba = numpy.zeros((2, 2, 4), numpy.uint8)
    rgba[..., 1] = 255
    iio.imwrite(str(tmp_path / 'a.png'), rgba)
    write(tmp_path / 'm.mtl', 'newmtl g\nmap_Kd g.png\nnewmtl a\n'
          'map_Kd a.png\n')
    obj = write(tmp_path / 'm.obj', 'mtllib m.mtl\nv 0 0 0\nv 1 0 0\n'
                'v 0 1 0\nvt 0.25 0.75\nvt 0.75 0.75\nvt 0.25 0.25\n'
                'usemtl g\nf 1/1 2/2 3/3\nusemtl a\nf 1/1 2/2 3/3\n')
    _, _, textures = load_obj(obj, load_texture=True, texture_size=2)
    numpy.testing.assert_allclose(textures[0, 1, 0, 0], [0, 0, 0])
    numpy.testing.assert_allclose(textures[0, 0, 1, 0], [1, 1, 1])
    numpy.testing.assert_allclose(textures[0, 0, 0, 1], [128 / 255] * 3,
                                  atol=1e-6)
    numpy.testing.assert_allclose(textures[1].reshape(-1, 3),
                                  numpy.tile([0, 1, 0], (8, 1)))


def test_textured_face_without_vt_gets_kd(tmp_path):
    obj, _ = image_scene(tmp_path, 'vt 0 0\nvt 1 0\nvt 0 1\n')
    with open(obj, 'a') as f:
        f.write('f 1 2 3\n')
    with pytest.warns(UserWarning, match='no texture coordinates'):
        _, _, textures = load_obj(obj, load_texture=True, texture_size=2)
    assert (textures[1] == 0.5).all()


def test_shipped_textured_cube():
    obj = os.path.join(DATA, 'textured_cube', 'cube.obj')
    vertices, faces, textures = load_obj(obj, load_texture=True,
                                         texture_size=4)
    assert vertices.shape == (8, 3) and faces.shape == (12, 3)
    assert textures.shape == (12, 4, 4, 4, 3)
    # Faces 0-7: the sides (pattern); vertex 0 of each side's first triangle
    # has vt (0, 0) (bottom left: blue), vertex 2 vt (1, 1) (top right:
    # green). Faces 8-11: the caps, plain Kd.
    for face in (0, 2, 4, 6):
        numpy.testing.assert_allclose(textures[face, 3, 0, 0], [0, 0, 1])
        numpy.testing.assert_allclose(textures[face, 0, 0, 3], [0, 1, 0])
    numpy.testing.assert_allclose(
        textures[8:].reshape(-1, 3),
        numpy.tile([0.2, 0.6, 0.9], (4 * 64, 1)), atol=1e-7)


# ---------------------------------------------------------------- save_obj

def test_save_load_round_trip_without_textures(tmp_path):
    rng = numpy.random.RandomState(0)
    vertices = rng.randn(10, 3).astype('f')
    faces = rng.randint(0, 10, (7, 3)).astype('i')
    path = str(tmp_path / 'plain.obj')
    save_obj(path, vertices, faces)
    assert not os.path.exists(str(tmp_path / 'plain.mtl'))
    v, f = load_obj(path, normalization=False)
    numpy.testing.assert_array_equal(v, vertices)
    numpy.testing.assert_array_equal(f, faces)


@pytest.mark.parametrize('size', [1, 2, 3, 4, 6])
def test_textured_round_trip(tmp_path, size):
    rng = numpy.random.RandomState(size)
    vertices = rng.randn(30, 3).astype('f')
    faces = numpy.stack([rng.permutation(30)[:3] for _ in range(37)])
    faces = faces.astype('i')
    # Random cubes: the texels the renderer reads on the plane
    # i + j + k = T - 1 come back to 8-bit precision.
    textures = rng.uniform(0, 1, (37,) + (size,) * 3 + (3,)).astype('f')
    path = str(tmp_path / 'mesh.obj')
    save_obj(path, chainer.Variable(vertices), faces, textures)
    assert os.path.exists(str(tmp_path / 'mesh.mtl'))
    assert os.path.exists(str(tmp_path / 'mesh.png'))
    v, f, t = load_obj(path, load_texture=True, texture_size=size,
                       normalization=False)
    numpy.testing.assert_array_equal(v, vertices)
    numpy.testing.assert_array_equal(f, faces)
    plane = on_plane(size)
    assert numpy.abs(t - textures)[:, plane].max() <= QUANTUM
    # Colours linear over the face (barycentric): every texel comes back.
    corners = numpy.empty((37, 3, 3))
    corners[:, 0] = 0.5
    corners[:, 1:] = rng.uniform(0.25, 0.75, (37, 2, 3))
    linear = numpy.einsum('ijkw,fwc->fijkc', texel_weights(size), corners)
    save_obj(path, vertices, faces, linear.astype('f'))
    _, _, t = load_obj(path, load_texture=True, texture_size=size,
                       normalization=False)
    assert numpy.abs(t - linear).max() <= QUANTUM


def test_loaded_textures_survive_save_and_load(tmp_path):
    obj = os.path.join(DATA, 'textured_cube', 'cube.obj')
    vertices, faces, textures = load_obj(obj, load_texture=True,
                                         texture_size=4, normalization=False)
    path = str(tmp_path / 'cube.obj')
    save_obj(path, vertices, faces, textures)
    v, f, t = load_obj(path, load_texture=True, texture_size=4,
                       normalization=False)
    numpy.testing.assert_array_equal(v, vertices)
    numpy.testing.assert_array_equal(f, faces)
    assert numpy.abs(t - textures)[:, on_plane(4)].max() <= QUANTUM


@pytest.mark.parametrize('vertices, faces, textures, error, message', [
    (numpy.zeros((3, 2), 'f'), numpy.zeros((1, 3), 'i'), None, ValueError,
     r'vertices must be \[V, 3\]'),
    (numpy.zeros((1, 3, 3), 'f'), numpy.zeros((1, 3), 'i'), None,
     ValueError, r'vertices must be \[V, 3\]'),
    (numpy.zeros((3, 3), 'f'), numpy.zeros((3,), 'i'), None, ValueError,
     r'faces must be \[F, 3\]'),
    (numpy.zeros((3, 3), 'f'), numpy.zeros((1, 3), 'f'), None, TypeError,
     'faces must be integers'),
    (numpy.zeros((3, 3), 'f'), numpy.array([[0, 1, 3]], 'i'), None,
     ValueError, 'faces index vertices 0..2'),
    (numpy.zeros((3, 3), 'f'), numpy.zeros((1, 3), 'i'),
     numpy.zeros((2, 2, 2, 2, 3), 'f'), ValueError,
     r'textures must be \[F, T, T, T, 3\] with F = 1'),
    (numpy.zeros((3, 3), 'f'), numpy.zeros((1, 3), 'i'),
     numpy.zeros((1, 2, 3, 2, 3), 'f'), ValueError, 'textures must be'),
    ([[0, 0, 0]], numpy.zeros((1, 3), 'i'), None, TypeError,
     'vertices: expected a numpy/cupy array'),
])
def test_save_obj_errors(tmp_path, vertices, faces, textures, error,
                         message):
    with pytest.raises(error, match=message):
        save_obj(str(tmp_path / 'x.obj'), vertices, faces, textures)


def test_save_obj_from_the_device(tmp_path, xp):
    vertices = numpy.eye(3, dtype='f')
    faces = numpy.array([[0, 1, 2]], 'i')
    textures = numpy.full((1, 2, 2, 2, 3), 0.5, 'f')
    path = str(tmp_path / 'gpu.obj')
    save_obj(path, chainer.Variable(xp.asarray(vertices)),
             xp.asarray(faces), xp.asarray(textures))
    v, f, t = load_obj(path, load_texture=True, texture_size=2,
                       normalization=False)
    numpy.testing.assert_array_equal(v, vertices)
    assert numpy.abs(t - 0.5).max() <= QUANTUM


# ------------------------------------------------- issue 16: limits (5)

def png_header(width, height):
    """A PNG that declares width x height RGB pixels but holds almost no
    data: decoding it would allocate the full image, then fail."""
    def chunk(kind, data):
        return (struct.pack('>I', len(data)) + kind + data
                + struct.pack('>I', zlib.crc32(kind + data) & 0xffffffff))
    return (b'\x89PNG\r\n\x1a\n'
            + chunk(b'IHDR', struct.pack('>IIBBBBB', width, height, 8, 2, 0,
                                         0, 0))
            + chunk(b'IDAT', zlib.compress(b'\0' * 16)) + chunk(b'IEND', b''))


def textured_triangle(tmp_path, image_name='t.png', mtl_name='m.mtl',
                      obj_name='m.obj'):
    write(tmp_path / mtl_name, 'newmtl a\nmap_Kd %s\n' % image_name)
    return write(tmp_path / obj_name, 'mtllib %s\nusemtl a\nvt 0.25 0.25\n'
                 'vt 0.75 0.25\nvt 0.25 0.75\nv 0 0 0\nv 1 0 0\nv 0 1 0\n'
                 'f 1/1 2/2 3/3\n' % mtl_name)


@pytest.mark.filterwarnings('ignore::PIL.Image.DecompressionBombWarning')
def test_image_size_is_checked_before_decoding(tmp_path):
    (tmp_path / 't.png').write_bytes(png_header(13000, 13000))
    obj = textured_triangle(tmp_path)
    with pytest.raises(ValueError) as info:
        load_obj(obj, load_texture=True)
    message = str(info.value)
    assert message.startswith(str(tmp_path / 'm.mtl') + ':2: ')
    assert '13000 x 13000' in message and 'max_image_pixels' in message


def test_max_image_pixels_keyword(tmp_path):
    iio.imwrite(str(tmp_path / 't.png'), numpy.zeros((2, 4, 3), numpy.uint8))
    obj = textured_triangle(tmp_path)
    with pytest.raises(ValueError, match='8 pixels, over max_image_pixels=7'):
        load_obj(obj, load_texture=True, max_image_pixels=7)
    load_obj(obj, load_texture=True, max_image_pixels=8)
    for bad in (0, 1.5, '8', True):
        with pytest.raises(ValueError, match='max_image_pixels'):
            load_obj(obj, max_image_pixels=bad)


def test_pillow_decompression_bomb_limit_is_named(tmp_path):
    (tmp_path / 't.png').write_bytes(png_header(20000, 20000))
    obj = textured_triangle(tmp_path)
    with pytest.raises(ValueError, match=r't\.png.*MAX_IMAGE_PIXELS'):
        load_obj(obj, load_texture=True, max_image_pixels=None)


def test_texture_size_memory_limit(tmp_path):
    obj = write(tmp_path / 'm.obj', TRIANGLE + 'f 1 3 2\nf 2 3 1\n')
    # 1 face at T = 2048: 103 GB; refused before the file is even read.
    with pytest.raises(ValueError, match=r'texture_size=2048 take 103 GB.*'
                       r'max_texture_bytes=1073741824'):
        load_obj(str(tmp_path / 'absent.obj'), load_texture=True,
                 texture_size=2048)
    # 3 faces at T = 4: 3 * 64 * 12 = 2304 bytes.
    with pytest.raises(ValueError, match=re.escape(obj) + r': textures of 3 '
                       r'face\(s\) with texture_size=4.*max_texture_bytes='
                       r'2303'):
        load_obj(obj, load_texture=True, max_texture_bytes=2303)
    _, _, textures = load_obj(obj, load_texture=True,
                              max_texture_bytes=2304)
    assert textures.nbytes == 2304
    load_obj(obj, texture_size=2048)  # no textures: no limit
    with pytest.raises(ValueError, match='max_texture_bytes'):
        load_obj(obj, max_texture_bytes=-1)


# ------------------------------------------------- issue 16: paths (6)

def outside_scene(tmp_path):
    """tmp/outside/{x.mtl, x.png} and tmp/mesh/m.obj."""
    outside = tmp_path / 'outside'
    outside.mkdir()
    iio.imwrite(str(outside / 'x.png'), numpy.full((1, 1, 3), 255,
                                                   numpy.uint8))
    write(outside / 'x.mtl', 'newmtl a\nKd 1 0 0\n')
    (tmp_path / 'mesh').mkdir()
    return outside, tmp_path / 'mesh'


@pytest.mark.parametrize('name', ['../outside/x.mtl', 'ABSOLUTE',
                                  'link.mtl', 'linkdir/x.mtl',
                                  'sub/../../outside/x.mtl'])
def test_mtllib_outside_the_folder_is_refused(tmp_path, name):
    outside, mesh = outside_scene(tmp_path)
    os.symlink(str(outside / 'x.mtl'), str(mesh / 'link.mtl'))
    os.symlink(str(outside), str(mesh / 'linkdir'))
    (mesh / 'sub').mkdir()
    if name == 'ABSOLUTE':
        name = str(outside / 'x.mtl')
    obj = write(mesh / 'm.obj', '# hi\nmtllib %s\nusemtl a\n' % name
                + TRIANGLE)
    load_obj(obj)  # geometry only: the .mtl is not read
    with pytest.raises(ValueError) as info:
        load_obj(obj, load_texture=True)
    message = str(info.value)
    assert message.startswith(obj + ':2: material library ')
    assert repr(os.path.join(str(mesh), name)) in message
    assert 'allow_outside=True' in message
    _, _, textures = load_obj(obj, load_texture=True, allow_outside=True,
                              texture_size=1)
    numpy.testing.assert_array_equal(textures[0, 0, 0, 0], [1, 0, 0])


def test_map_kd_outside_the_folder_is_refused(tmp_path):
    _, mesh = outside_scene(tmp_path)
    obj = textured_triangle(mesh, image_name='../outside/x.png')
    with pytest.raises(ValueError, match=re.escape(
            str(mesh / 'm.mtl') + ':2: texture image ')
            + '.*outside the folder'):
        load_obj(obj, load_texture=True)
    _, _, textures = load_obj(obj, load_texture=True, allow_outside=True)
    assert (textures == 1).all()
    # An .mtl in a subfolder may name images anywhere in the OBJ's folder.
    (mesh / 'materials').mkdir()
    iio.imwrite(str(mesh / 'top.png'), numpy.zeros((1, 1, 3), numpy.uint8))
    obj = textured_triangle(mesh, image_name='../top.png',
                            mtl_name='materials/m.mtl')
    _, _, textures = load_obj(obj, load_texture=True)
    assert (textures == 0).all()


def test_non_regular_files_are_refused(tmp_path):
    os.mkfifo(str(tmp_path / 'fifo.mtl'))
    obj = write(tmp_path / 'm.obj', 'mtllib fifo.mtl\n' + TRIANGLE)
    with pytest.raises(ValueError, match=re.escape(obj) + ':1: material '
                       'library .*fifo.mtl is not a regular file'):
        load_obj(obj, load_texture=True)
    obj = write(tmp_path / 'n.obj', 'mtllib /dev/zero\n' + TRIANGLE)
    with pytest.raises(ValueError, match='/dev/zero is not a regular file'):
        load_obj(obj, load_texture=True, allow_outside=True)
    os.mkfifo(str(tmp_path / 'fifo.png'))
    obj = textured_triangle(tmp_path, image_name='fifo.png')
    with pytest.raises(ValueError, match='fifo.png is not a regular file'):
        load_obj(obj, load_texture=True)
    # The OBJ itself.
    with pytest.raises(ValueError, match='fifo.mtl is not a regular file'):
        load_obj(str(tmp_path / 'fifo.mtl'))
    with pytest.raises(ValueError, match='is not a regular file'):
        load_obj(str(tmp_path))


def test_files_reporting_size_zero_are_not_opened(tmp_path, monkeypatch):
    # /proc files report size 0 and may block (/proc/kmsg) when read: a
    # file of size 0 is taken as empty without being opened.
    write(tmp_path / 'empty.mtl', '')
    obj = write(tmp_path / 'm.obj', 'mtllib empty.mtl\nmtllib '
                '/proc/self/status\nusemtl a\n' + TRIANGLE)
    opened = []
    real_open = os.open

    def spy(path, *args, **kwargs):
        opened.append(os.fspath(path))
        return real_open(path, *args, **kwargs)
    monkeypatch.setattr(os, 'open', spy)
    monkeypatch.setattr(load_obj_module, 'open', lambda path, *a, **k:
                        spy(path) and None, raising=False)
    with pytest.warns(UserWarning, match="'a' is not defined"):
        load_obj(obj, load_texture=True, allow_outside=True)
    assert opened == [obj]


def test_mesh_passes_allow_outside(tmp_path):
    outside, mesh = outside_scene(tmp_path)
    obj = write(mesh / 'm.obj', 'mtllib ../outside/x.mtl\nusemtl a\n'
                + TRIANGLE)
    with pytest.raises(ValueError, match='allow_outside'):
        Mesh(obj, load_texture=True)
    loaded = Mesh(obj, load_texture=True, texture_size=1, allow_outside=True)
    colours = chainer.functions.sigmoid(loaded.textures).array
    assert colours[0, 0, 0, 0, 0] > 0.99 and colours[0, 0, 0, 0, 1] < 0.01


# ------------------------------------------------- issue 16: reader (7)

def test_utf8_bom_is_skipped(tmp_path):
    obj = tmp_path / 'm.obj'
    obj.write_bytes(b'\xef\xbb\xbfv 5 0 0\nv 1 0 0\nv 0 1 0\n'
                    b'mtllib m.mtl\nusemtl a\nf 1 2 3\n')
    (tmp_path / 'm.mtl').write_bytes(b'\xef\xbb\xbfnewmtl a\nKd 0 1 0\n')
    vertices, faces, textures = load_obj(str(obj), normalization=False,
                                         load_texture=True, texture_size=1)
    numpy.testing.assert_array_equal(vertices[0], [5, 0, 0])
    assert len(vertices) == 3
    numpy.testing.assert_array_equal(textures[0, 0, 0, 0], [0, 1, 0])


def test_hash_inside_names_is_not_a_comment(tmp_path):
    write(tmp_path / 'a#b.mtl', 'newmtl x#1  # red\nKd 1 0 0\n'
          'newmtl x#2\nKd 0 0 1 #blue\n')
    obj = write(tmp_path / 'm.obj', 'mtllib a#b.mtl\nv 0 0 0 # c\n'
                'v 1 0 0\t#c\nv 0 1 0\n#f 1 2 3\nusemtl x#1\nf 1 2 3\n'
                'usemtl x#2\nf 1 2 3\n')
    _, faces, textures = load_obj(obj, load_texture=True, texture_size=1)
    assert len(faces) == 2
    numpy.testing.assert_array_equal(textures[:, 0, 0, 0],
                                     [[1, 0, 0], [0, 0, 1]])
    # '#' glued to a number is not a comment either: a clear error.
    obj = write(tmp_path / 'n.obj', 'v 0 0 0#c\n')
    with pytest.raises(ValueError, match=r"n\.obj:1: vertex: not a number: "
                       r"'0#c'"):
        load_obj(obj)


@pytest.mark.parametrize('stem', ['a#b', 'a b', ' lead', 'tab\there',
                                  'new\nline', 'x#', '#'])
def test_save_obj_odd_names_load_back(tmp_path, stem):
    textures = numpy.full((1, 2, 2, 2, 3), 0.5, 'f')
    path = str(tmp_path / (stem + '.obj'))
    save_obj(path, numpy.eye(3, dtype='f'), numpy.array([[0, 1, 2]]),
             textures)
    safe = re.sub(r'[#\s]', '_', stem)
    assert sorted(os.listdir(str(tmp_path))) == sorted(
        [stem + '.obj', safe + '.mtl', safe + '.png'])
    _, _, t = load_obj(path, load_texture=True, texture_size=2,
                       normalization=False)
    assert numpy.abs(t - 0.5).max() <= QUANTUM


def test_huge_coordinates_normalise_to_finite_values(tmp_path):
    obj = write(tmp_path / 'm.obj', 'v -3.4e38 0 0\nv 3.4e38 0 0\n'
                'v 0 3.4028234e38 1\nf 1 2 3\n')
    vertices, _ = load_obj(obj)
    assert numpy.isfinite(vertices).all()
    numpy.testing.assert_allclose(vertices[:, 0], [-1, 1, 0], atol=1e-6)
    raw, _ = load_obj(obj, normalization=False)
    assert numpy.isfinite(raw).all() and raw[2, 1] == numpy.float32(
        3.4028234e38)


def test_kd_range(tmp_path):
    write(tmp_path / 'm.mtl', 'newmtl a\nKd 2 -1 0.5\nnewmtl b\nKd 1e39\n')
    obj = write(tmp_path / 'm.obj', 'mtllib m.mtl\nusemtl a\n' + TRIANGLE)
    with pytest.raises(ValueError, match=re.escape(str(tmp_path / 'm.mtl'))
                       + ":4: Kd: '1e39' is outside float32 range"):
        load_obj(obj, load_texture=True)
    write(tmp_path / 'm.mtl', 'newmtl a\nKd 2 -1 0.5\n')
    _, _, textures = load_obj(obj, load_texture=True, texture_size=1)
    numpy.testing.assert_array_equal(textures[0, 0, 0, 0], [1, 0, 0.5])


def image_triangle(tmp_path, save):
    """A triangle whose three on-plane texels (T = 2) sample the pixels
    (0, 0), (0, 1) and (1, 0) (row, column) of a 2 x 2 image."""
    save(str(tmp_path / 't.tif'))
    write(tmp_path / 'm.mtl', 'newmtl a\nmap_Kd t.tif\n')
    obj = write(tmp_path / 'm.obj', 'mtllib m.mtl\nusemtl a\nvt 0.25 0.75\n'
                'vt 0.75 0.75\nvt 0.25 0.25\nv 0 0 0\nv 1 0 0\nv 0 1 0\n'
                'f 1/1 2/2 3/3\n')
    _, _, textures = load_obj(obj, load_texture=True, texture_size=2)
    return textures[0, 1, 0, 0], textures[0, 0, 1, 0], textures[0, 0, 0, 1]


def pillow_saver(mode, pixels, **kwargs):
    from PIL import Image

    def save(path):
        Image.fromarray(numpy.asarray(pixels), mode=mode).save(path, **kwargs)
    return save


def test_cmyk_jpeg_is_converted(tmp_path):
    from PIL import Image
    Image.new('CMYK', (8, 8), (0, 255, 255, 0)).save(str(tmp_path / 't.jpg'))
    obj = textured_triangle(tmp_path, image_name='t.jpg')
    _, _, textures = load_obj(obj, load_texture=True, texture_size=2)
    numpy.testing.assert_allclose(textures.reshape(-1, 3),
                                  numpy.tile([1, 0, 0], (8, 1)), atol=0.02)


def test_float_tiff_is_clipped_and_non_finite_refused(tmp_path):
    from PIL import Image
    pixels = numpy.array([[-0.5, 0.25], [2.0, 0]], numpy.float32)
    colours = image_triangle(tmp_path, lambda path: Image.fromarray(
        pixels).save(path))
    numpy.testing.assert_allclose(colours, [[0] * 3, [0.25] * 3, [1] * 3])
    pixels[1, 1] = numpy.nan
    with pytest.raises(ValueError, match=r"m\.mtl:2: texture image .*t\.tif "
                       "has NaN or infinite pixels"):
        image_triangle(tmp_path, lambda path: Image.fromarray(
            pixels).save(path))


def test_int32_tiff_and_16_bit_images_are_scaled_by_their_range(tmp_path):
    from PIL import Image
    pixels = numpy.array([[-7, 2 ** 30], [2 ** 31 - 1, 0]], numpy.int32)
    colours = image_triangle(tmp_path, lambda path: Image.fromarray(
        pixels).save(path))
    numpy.testing.assert_allclose(colours, [[0] * 3, [0.5] * 3, [1] * 3],
                                  atol=1e-6)
    # 16-bit PGM: Pillow reads it as 32-bit 'I'; scaled by 65535.
    grey = numpy.array([[0, 32768], [65535, 0]], numpy.uint16)
    colours = image_triangle(tmp_path, lambda path: Image.fromarray(
        grey).save(path, format='PPM'))
    numpy.testing.assert_allclose(colours, [[0] * 3, [0.5] * 3, [1] * 3],
                                  atol=1e-4)
    colours = image_triangle(tmp_path, lambda path: Image.fromarray(
        grey).save(path, format='PNG'))
    numpy.testing.assert_allclose(colours, [[0] * 3, [0.5] * 3, [1] * 3],
                                  atol=1e-4)


def test_undecodable_image_names_mtl_line_and_image(tmp_path):
    (tmp_path / 't.png').write_bytes(b'not an image')
    obj = textured_triangle(tmp_path)
    with pytest.raises(ValueError, match=re.escape(str(tmp_path / 'm.mtl'))
                       + r':2: texture image .*t\.png: cannot read it'):
        load_obj(obj, load_texture=True)
    (tmp_path / 't.png').write_bytes(b'')
    with pytest.raises(ValueError, match=r't\.png is empty'):
        load_obj(obj, load_texture=True)


# ------------------------------------------------- issue 16: save_obj (8)

@pytest.mark.parametrize('bad', [numpy.nan, numpy.inf, -numpy.inf])
def test_save_obj_refuses_non_finite_input(tmp_path, bad):
    vertices = numpy.eye(3, dtype='f')
    faces = numpy.array([[0, 1, 2]])
    textures = numpy.full((1, 2, 2, 2, 3), 0.5, 'f')
    path = str(tmp_path / 'x.obj')
    broken = vertices.copy()
    broken[1, 2] = bad
    with pytest.raises(ValueError, match=r'vertices must be finite, got '
                       r'-?(nan|inf) at index \(1, 2\)'):
        save_obj(path, broken, faces)
    broken = textures.copy()
    broken[0, 1, 0, 1, 2] = bad
    with pytest.raises(ValueError, match=r'textures must be finite.*'
                       r'\(0, 1, 0, 1, 2\)'):
        save_obj(path, vertices, faces, broken)
    assert os.listdir(str(tmp_path)) == []


def test_save_obj_float64_round_trips_exactly(tmp_path):
    rng = numpy.random.RandomState(0)
    vertices = rng.randn(20, 3) * 10.0 ** rng.randint(-40, 38, (20, 3))
    vertices[0] = [1 / 3, 0.1, 5e-324]
    path = str(tmp_path / 'x.obj')
    save_obj(path, vertices, numpy.array([[0, 1, 2]]))
    with open(path) as f:
        written = [[float(x) for x in line.split()[1:]] for line in f
                   if line.startswith('v ')]
    numpy.testing.assert_array_equal(numpy.array(written), vertices)
    loaded, _ = load_obj(path, normalization=False)
    numpy.testing.assert_array_equal(loaded, vertices.astype(numpy.float32))


@pytest.mark.parametrize('when', ['before the open', 'during the open'])
def test_a_symlink_swapped_after_the_check_is_caught(tmp_path, monkeypatch,
                                                     when):
    # Audit issue 25, item 8: load_obj checked the path, then opened it
    # again by name: a symlink swapped in between read a file outside the
    # folder. Now what was opened is checked.
    outside, mesh = outside_scene(tmp_path)
    iio.imwrite(str(mesh / 'inside.png'), numpy.zeros((1, 1, 3),
                                                      numpy.uint8))
    link = mesh / 't.png'
    os.symlink(str(mesh / 'inside.png'), str(link))
    obj = textured_triangle(mesh)
    _, _, textures = load_obj(obj, load_texture=True)
    assert (textures == 0).all()  # the inside image, through the link

    def point_link_at(target):
        link.unlink()
        os.symlink(str(target), str(link))

    real_open = os.open

    def racing_open(path, *args, **kwargs):
        if str(path) == str(link):
            if when == 'before the open':
                point_link_at(outside / 'x.png')
                return real_open(path, *args, **kwargs)
            # Opened through the swapped link, swapped back at once.
            point_link_at(outside / 'x.png')
            fd = real_open(path, *args, **kwargs)
            point_link_at(mesh / 'inside.png')
            return fd
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, 'open', racing_open)
    with pytest.raises(ValueError, match='not the one inside the folder'):
        load_obj(obj, load_texture=True)
