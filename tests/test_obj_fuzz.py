"""Property tests (hypothesis) of load_obj and save_obj (issue 16).

* ``load_obj`` on generated OBJ/MTL/image files (valid and corrupted lines,
  random tokens, huge numbers, byte order marks, odd and outside names,
  FIFOs, broken and oversized images) either returns finite arrays of the
  right shapes, types and ranges, or raises ValueError / OSError naming a
  file of the scene: never another exception, a NumPy warning or a hang.
* ``save_obj`` -> ``load_obj`` gives back float32 and float64 vertices bit
  for bit (as float32), the faces, and the texels the renderer reads to 8-bit
  precision, whatever the file name.

Bounded to a few seconds here; the long run (same strategies, many more
examples) is ``python tools/fuzz_load_obj.py --minutes 5``.
"""
import os
import shutil
import tempfile
import warnings

import numpy
from hypothesis import given
from hypothesis import HealthCheck
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import neural_renderer  # NOQA  (installs the NumPy 2 shim before chainer)
from neural_renderer.load_obj import load_obj
from neural_renderer.save_obj import save_obj

from test_obj_io import png_header  # a PNG header of any size

QUANTUM = 0.5 / 255 + 1e-6
FLOAT32_MAX = float(numpy.finfo(numpy.float32).max)

# ------------------------------------------------------------- strategies

NUMBERS = st.one_of(
    st.integers(-3, 3).map(str),
    st.integers(-3, 3).map(str),
    st.floats(-10, 10, width=32).map(lambda x: '%.9g' % x),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from([
        '1e39', '-1e39', '3.4028235e38', '3.4028234e38', '1e-45', '1e308',
        '-1e308', '1e999', '0x10', '1_0', '\u0663', '+.5', '-0', '.', '1e',
        'nan', 'inf', '-infinity', 'x', '1.5.5', '\x00', '\ufeff1']))
SMALL_NUMBERS = st.floats(-10, 10, width=32).map(lambda x: '%.9g' % x)
INDICES = st.one_of(
    st.integers(-5, 6).map(str), st.integers(1, 4).map(str),
    st.sampled_from([str(2 ** 31 - 1), str(2 ** 31), str(2 ** 63 + 1),
                     str(-2 ** 63), '9' * 5000, '1.5', 'x', '', '+1',
                     '\u0661']))
NAMES = st.one_of(
    st.sampled_from([
        'm.mtl', 'a#b.mtl', 'a b.mtl', 'sub/x.mtl', 'sub/../m.mtl',
        '../outside.mtl', '/dev/null', '/proc/self/stat', '/etc/hostname',
        'missing.mtl', '.', 'fifo', 'link.mtl', 'm.mtl m.mtl', 'x#1', 'a',
        'b', 't.png', 'bad.png', 'empty.png', 'huge.png', 'bomb.png',
        'u.tif', 'v.jpg', '-s 1 1 1 t.png', '../outside.png', 'sub',
        'a\x00b']),
    st.text(max_size=8))
MATERIALS = st.sampled_from(['a', 'b', 'x#1', 'a b', 'missing', ''])


def _refs():
    return st.tuples(INDICES, st.sampled_from(['', '/', '//']), INDICES,
                     st.sampled_from(['', '/1', '/x'])).map(
        lambda r: r[0] + (r[1] + r[2] + r[3] if r[1] else ''))


def _statement(key, tokens):
    return tokens.map(lambda t: ' '.join([key] + list(t)))


# Lines of a valid file (given 4 vertices and 3 texture coordinates) ...
VALID_OBJ_LINES = st.one_of(
    _statement('v', st.lists(SMALL_NUMBERS, min_size=3, max_size=3)),
    _statement('vt', st.lists(SMALL_NUMBERS, min_size=2, max_size=2)),
    _statement('f', st.lists(st.integers(1, 4).map(str), min_size=3,
                             max_size=5)),
    _statement('f', st.lists(st.tuples(st.integers(1, 4), st.integers(1, 3))
                             .map(lambda p: '%d/%d' % p), min_size=3,
                             max_size=4)),
    st.sampled_from(['m.mtl', 'a#b.mtl', 'a b.mtl', 'sub/x.mtl',
                     'sub/../m.mtl', 'm.mtl a#b.mtl']).map(
        lambda n: 'mtllib ' + n),
    MATERIALS.map(lambda n: 'usemtl ' + n),
    st.sampled_from(['# comment', '', '   ', 'o x', 'g', 's off', 'vn 0 0 1',
                     'l 1 2', 'v 0 0 0 # c', 'f 1 2 3 #c', '#mtllib x']))
# ... and of a corrupted one.
OBJ_LINES = st.one_of(
    VALID_OBJ_LINES,
    _statement('v', st.lists(NUMBERS, min_size=2, max_size=8)),
    _statement('vt', st.lists(NUMBERS, min_size=0, max_size=4)),
    _statement('f', st.lists(_refs(), min_size=0, max_size=5)),
    NAMES.map(lambda n: 'mtllib ' + n),
    st.sampled_from(['f 1 2 3#c', 'mtllib', '\ufeff', '\x0c', 'usemtl']),
    st.text(max_size=20))
VALID_MTL_LINES = st.one_of(
    MATERIALS.map(lambda n: 'newmtl ' + n),
    _statement('Kd', st.lists(SMALL_NUMBERS.map(lambda x: x.lstrip('-')),
                              min_size=3, max_size=3)),
    st.sampled_from(['map_Kd t.png', 'map_Kd u.tif', 'map_Kd v.jpg',
                     'map_Kd -s 1 1 1 t.png', 'map_Kd ../m.png', 'Ka 0 0 0',
                     '# c', 'illum 2']))
MTL_LINES = st.one_of(
    VALID_MTL_LINES,
    _statement('Kd', st.lists(NUMBERS, min_size=0, max_size=4)),
    NAMES.map(lambda n: 'map_Kd ' + n),
    st.sampled_from(['map_Kd', 'newmtl', 'Kd 1 1']),
    st.text(max_size=20))


@st.composite
def text_files(draw, valid, corrupt, head=()):
    """Bytes of a text file: the lines ``head``, then lines of ``valid``,
    with (half the time) a few lines of ``corrupt`` inserted."""
    body = list(head) + draw(st.lists(valid, max_size=12))
    if draw(st.booleans()):
        for line in draw(st.lists(corrupt, min_size=1, max_size=3)):
            body.insert(draw(st.integers(0, len(body))), line)
    newline = draw(st.sampled_from(['\n', '\r\n', '\r']))
    data = newline.join(body).encode('utf-8', 'surrogateescape')
    if draw(st.integers(0, 4)) == 0:
        data = b'\xef\xbb\xbf' + data
    if draw(st.integers(0, 8)) == 0:
        data += draw(st.binary(max_size=12))
    return data


IMAGE_MODES = ['L', 'RGB', 'RGBA', 'P', 'CMYK', 'I;16', 'I', 'F', '1', 'LA',
               'YCbCr']


@st.composite
def images(draw):
    """(mode, width, height, seed, format) of a small image."""
    mode = draw(st.sampled_from(IMAGE_MODES))
    formats = {'CMYK': ['JPEG', 'TIFF'], 'YCbCr': ['JPEG'],
               'I': ['TIFF', 'PPM'], 'F': ['TIFF'], 'I;16': ['PNG', 'TIFF'],
               'LA': ['PNG'], 'RGBA': ['PNG', 'TIFF'],
               'P': ['PNG', 'GIF', 'BMP']}.get(mode, ['PNG', 'BMP', 'TIFF'])
    return (mode, draw(st.integers(1, 5)), draw(st.integers(1, 5)),
            draw(st.integers(0, 2 ** 32 - 1)), draw(st.sampled_from(formats)))


@st.composite
def scenes(draw):
    """Files of a mesh folder (and its parent) and load_obj's options."""
    return {
        'obj': draw(text_files(
            VALID_OBJ_LINES, OBJ_LINES,
            head=['v 0 0 0', 'v 1 0 0', 'v 0 1 0', 'v 0 0 1', 'vt 0 0',
                  'vt 1 0', 'vt 0 1', 'mtllib m.mtl', 'usemtl a',
                  'f 1/1 2/2 3/3'])),
        'mtls': draw(st.dictionaries(
            st.sampled_from(['m.mtl', 'a#b.mtl', 'a b.mtl', 'sub/x.mtl',
                             '../outside.mtl']),
            text_files(VALID_MTL_LINES, MTL_LINES,
                       head=['newmtl a', 'map_Kd t.png']), max_size=3)),
        'images': draw(st.dictionaries(
            st.sampled_from(['t.png', 'u.tif', 'v.jpg', '../outside.png',
                             'm.png']),
            images(), max_size=3)),
        'extras': draw(st.sets(st.sampled_from(
            ['fifo', 'link.mtl', 'bad.png', 'empty.png', 'huge.png',
             'bomb.png']), max_size=3)),
        'options': {
            'load_texture': draw(st.booleans()),
            'normalization': draw(st.booleans()),
            'texture_size': draw(st.integers(1, 3)),
            'texture_wrapping': draw(st.sampled_from(['REPEAT',
                                                      'CLAMP_TO_EDGE'])),
            'use_bilinear': draw(st.booleans()),
            'allow_outside': draw(st.booleans()),
        },
    }


def _save_image(path, spec):
    from PIL import Image
    mode, width, height, seed, image_format = spec
    rng = numpy.random.RandomState(seed % 2 ** 32)
    if mode == 'F':
        pixels = rng.uniform(-0.5, 1.5, (height, width)).astype(numpy.float32)
        image = Image.fromarray(pixels)
    elif mode == 'I':
        image = Image.fromarray(rng.randint(-2 ** 31, 2 ** 31 - 1,
                                            (height, width), numpy.int32))
        if image_format == 'PPM':
            image = Image.fromarray(rng.randint(0, 65536, (height, width))
                                    .astype(numpy.uint16))
    elif mode == 'I;16':
        image = Image.fromarray(rng.randint(0, 65536, (height, width))
                                .astype(numpy.uint16))
    else:
        base = Image.fromarray(rng.randint(0, 256, (height, width, 3))
                               .astype(numpy.uint8))
        image = base.convert(mode)
    image.save(path, format=image_format)


def build_scene(root, scene):
    """Writes the scene under ``root``: ``root/mesh/m.obj`` and the rest;
    returns the .obj's path."""
    mesh = os.path.join(root, 'mesh')
    os.makedirs(os.path.join(mesh, 'sub'))
    obj = os.path.join(mesh, 'm.obj')
    with open(obj, 'wb') as f:
        f.write(scene['obj'])
    for name, data in scene['mtls'].items():
        with open(os.path.join(mesh, name), 'wb') as f:
            f.write(data)
    for name, spec in scene['images'].items():
        _save_image(os.path.join(mesh, name), spec)
    extras = scene['extras']
    if 'fifo' in extras and hasattr(os, 'mkfifo'):
        os.mkfifo(os.path.join(mesh, 'fifo'))
    if 'link.mtl' in extras:
        os.symlink(os.path.join(root, 'outside.mtl'),
                   os.path.join(mesh, 'link.mtl'))
    blobs = {'bad.png': b'\x89PNG\r\n\x1a\nnot really',
             'empty.png': b'', 'huge.png': png_header(13000, 13000),
             'bomb.png': png_header(20000, 20000)}
    for name in extras & set(blobs):
        with open(os.path.join(mesh, name), 'wb') as f:
            f.write(blobs[name])
    return obj


def check_load(scene):
    """The load_obj property on one scene (see the module docstring)."""
    from PIL import Image
    root = tempfile.mkdtemp(prefix='fuzz_obj_')
    try:
        obj = build_scene(root, scene)
        options = scene['options']
        with warnings.catch_warnings():
            warnings.simplefilter('error', RuntimeWarning)  # NumPy overflow
            warnings.simplefilter('ignore', Image.DecompressionBombWarning)
            warnings.simplefilter('ignore', UserWarning)
            try:
                result = load_obj(obj, **options)
            except (ValueError, OSError) as e:
                assert root in str(e), 'error names no file: {!r}'.format(e)
                return 'error'
        vertices, faces = result[:2]
        assert vertices.dtype == numpy.float32 and vertices.ndim == 2
        assert vertices.shape[1] == 3 and len(vertices) >= 1
        assert numpy.isfinite(vertices).all()
        if options['normalization']:
            assert numpy.abs(vertices).max() <= 1 + 1e-6
        assert faces.dtype == numpy.int32 and faces.ndim == 2
        assert faces.shape[1] == 3 and len(faces) >= 1
        assert faces.min() >= 0 and faces.max() < len(vertices)
        if options['load_texture']:
            textures = result[2]
            t = options['texture_size']
            assert textures.dtype == numpy.float32
            assert textures.shape == (len(faces), t, t, t, 3)
            assert numpy.isfinite(textures).all()
            assert textures.min() >= 0 and textures.max() <= 1
        else:
            assert len(result) == 2
        return 'loaded'
    finally:
        shutil.rmtree(root)


FILE_STEMS = st.text(
    alphabet=st.characters(blacklist_characters='/\x00',
                           blacklist_categories=('Cs',)),
    min_size=1, max_size=10).filter(lambda s: s not in ('.', '..'))


@st.composite
def meshes(draw):
    dtype = draw(st.sampled_from([numpy.float32, numpy.float64]))
    num_vertices = draw(st.integers(3, 12))
    num_faces = draw(st.integers(1, 6))
    if dtype == numpy.float32:
        elements = st.floats(width=32, allow_nan=False, allow_infinity=False)
    else:
        elements = st.floats(-FLOAT32_MAX, FLOAT32_MAX, allow_nan=False)
    vertices = draw(hnp.arrays(dtype, (num_vertices, 3), elements=elements))
    faces = draw(hnp.arrays(numpy.int64, (num_faces, 3),
                            elements=st.integers(0, num_vertices - 1)))
    textures = None
    if draw(st.booleans()):
        t = draw(st.integers(1, 3))
        textures = draw(hnp.arrays(numpy.float32, (num_faces, t, t, t, 3),
                                   elements=st.floats(0, 1, width=32)))
    return vertices, faces, textures, draw(FILE_STEMS)


def check_round_trip(mesh):
    """The save_obj -> load_obj property on one mesh."""
    vertices, faces, textures, stem = mesh
    root = tempfile.mkdtemp(prefix='fuzz_obj_')
    try:
        path = os.path.join(root, stem + '.obj')
        save_obj(path, vertices, faces, textures)
        if textures is None:
            v, f = load_obj(path, normalization=False)
        else:
            t = textures.shape[1]
            v, f, loaded = load_obj(path, normalization=False,
                                    load_texture=True, texture_size=t)
            i, j, k = numpy.meshgrid(*[numpy.arange(t)] * 3, indexing='ij')
            plane = i + j + k == t - 1
            assert numpy.abs(loaded - textures)[:, plane].max() <= QUANTUM
        expected = vertices.astype(numpy.float32)
        assert v.dtype == numpy.float32
        numpy.testing.assert_array_equal(v.view(numpy.uint32),
                                         expected.view(numpy.uint32))
        numpy.testing.assert_array_equal(f, faces)
        if vertices.dtype == numpy.float64:  # the text is exact
            with open(path, encoding='utf-8') as text:
                written = [[float(x) for x in line.split()[1:]]
                           for line in text if line.startswith('v ')]
            numpy.testing.assert_array_equal(
                numpy.array(written).view(numpy.uint64),
                vertices.view(numpy.uint64))
    finally:
        shutil.rmtree(root)


# ------------------------------------------------------------- tests

FAST = settings(deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow,
                                       HealthCheck.data_too_large])


@settings(FAST, max_examples=600)
@given(scenes())
def test_load_obj_fuzz(scene):
    check_load(scene)


@settings(FAST, max_examples=400)
@given(meshes())
def test_save_load_round_trip(mesh):
    check_round_trip(mesh)
