"""Read Wavefront OBJ meshes (with their MTL materials) into renderer arrays.

Supported: ``v``, ``vt``, ``f`` (any number of corners, fan-triangulated;
``a``, ``a/b``, ``a//c``, ``a/b/c`` references; positive, and negative i.e.
relative, indices), ``mtllib``, ``usemtl``; in .mtl files ``newmtl``, ``Kd``
and ``map_Kd``. Every other statement (``vn``, ``g``, ``o``, ``s``, ``l``,
``Ka``, ``Ks``, ...) is ignored.

Texture conventions (``load_texture=True``), for a face with corners
(vertex 0, 1, 2) and texture size T:

* texel (i, j, k) of the face's T x T x T cube stands for the point with
  barycentric weights (i, j, k) / (i + j + k) (axis k belongs to vertex k).
  Texel (0, 0, 0) has no direction; it is given the centroid's weights
  (1/3, 1/3, 1/3). Texels on the plane i + j + k = T - 1 are exactly the ones
  the renderer reads at weights (i, j, k) / (T - 1).
* ``Kd r g b`` only: every texel gets that colour.
* ``map_Kd image``: the image, with values scaled to [0, 1] (its ``Kd`` is
  ignored, as most viewers do), is sampled at the texel's point mapped through
  the face's ``vt`` coordinates: uv = sum_k w_k vt_k. OBJ's v = 0 is the
  image's bottom row; u = (x + 0.5) / width is the centre of pixel column x
  (the OpenGL convention), and samples are clamped to the outermost pixel
  centres. With ``texture_wrapping='REPEAT'`` a coordinate outside [0, 1] is
  wrapped (u - floor(u)); with ``'CLAMP_TO_EDGE'`` it is clipped. Bilinear
  interpolation, or the nearest pixel with ``use_bilinear=False``.
  ``map_Kd`` options (``-s``, ``-o``, ...) are ignored.
* faces without a material, with a material no .mtl defines (a warning), or
  with a ``map_Kd`` material but no ``vt`` (a warning) get their material's
  ``Kd`` if it has one, else white (1, 1, 1): the colour the renderer's
  examples use for untextured meshes. An OBJ without ``mtllib`` loads as all
  white.

Paths: ``mtllib`` is relative to the .obj's directory and ``map_Kd`` to the
.mtl's directory.
"""
import math
import numbers
import os
import warnings

import numpy

WHITE = (1.0, 1.0, 1.0)
_WRAPPINGS = ('REPEAT', 'CLAMP_TO_EDGE')


def _error(filename, line_number, message):
    return ValueError('{}:{}: {}'.format(filename, line_number, message))


def _floats(filename, line_number, tokens, minimum, maximum, what):
    if not minimum <= len(tokens) <= maximum:
        count = (str(minimum) if minimum == maximum
                 else '{} to {}'.format(minimum, maximum))
        raise _error(filename, line_number, '{} needs {} numbers, got {!r}'
                     .format(what, count, ' '.join(tokens)))
    try:
        values = [float(t) for t in tokens]
    except ValueError:
        raise _error(filename, line_number, '{}: not a number in {!r}'
                     .format(what, ' '.join(tokens))) from None
    if not all(math.isfinite(v) for v in values):
        raise _error(filename, line_number, '{}: non-finite value in {!r}'
                     .format(what, ' '.join(tokens)))
    return values


def _read_lines(filename):
    # surrogateescape: odd bytes in comments or names do not stop the load,
    # and file names keep their bytes.
    with open(filename, encoding='utf-8', errors='surrogateescape') as f:
        text = f.read()
    for number, line in enumerate(text.splitlines(), 1):
        line = line.split('#', 1)[0].strip()
        if line:
            yield number, line


def _check_texture_size(texture_size):
    if (isinstance(texture_size, bool)
            or not isinstance(texture_size, numbers.Integral)
            or texture_size < 1):
        raise ValueError('texture_size must be an int >= 1, got {!r}'
                         .format(texture_size))
    return int(texture_size)


def _resolve(filename, line_number, token, count, kind):
    """One-based (negative: relative) OBJ index -> zero-based index.

    Positive indices are checked against the final count later (forward
    references are accepted); relative ones against the count so far.
    """
    try:
        index = int(token)
    except ValueError:
        raise _error(filename, line_number, 'bad {} index {!r}'
                     .format(kind, token)) from None
    if index == 0:
        raise _error(filename, line_number,
                     '{} index 0 (OBJ indices start at 1)'.format(kind))
    if index < 0:
        if -index > count:
            raise _error(filename, line_number,
                         'relative {} index {} but only {} {}s so far'
                         .format(kind, index, count, kind))
        return count + index
    return index - 1


def _parse_obj(filename):
    vertices, texcoords = [], []
    faces, face_texcoords, face_materials, face_lines = [], [], [], []
    mtllibs = []
    material = None
    for number, line in _read_lines(filename):
        tokens = line.split()
        key = tokens[0]
        if key == 'v':
            # x y z [w] or x y z r g b (vertex colours): keep x y z.
            vertices.append(_floats(filename, number, tokens[1:], 3, 7,
                                    'vertex')[:3])
        elif key == 'vt':
            uvw = _floats(filename, number, tokens[1:], 1, 3,
                          'texture coordinate')
            texcoords.append((uvw + [0.0])[:2])
        elif key == 'f':
            if len(tokens) < 4:
                raise _error(filename, number,
                             'a face needs at least 3 vertices, got {!r}'
                             .format(line))
            corners, corner_texcoords = [], []
            for ref in tokens[1:]:
                parts = ref.split('/')
                if len(parts) > 3:
                    raise _error(filename, number,
                                 'bad face vertex {!r}'.format(ref))
                corners.append(_resolve(filename, number, parts[0],
                                        len(vertices), 'vertex'))
                if len(parts) > 1 and parts[1]:
                    corner_texcoords.append(_resolve(
                        filename, number, parts[1], len(texcoords),
                        'texture coordinate'))
                else:
                    corner_texcoords.append(None)
            if None in corner_texcoords:
                corner_texcoords = None
            for k in range(1, len(corners) - 1):  # fan triangulation
                faces.append((corners[0], corners[k], corners[k + 1]))
                face_texcoords.append(
                    None if corner_texcoords is None else
                    (corner_texcoords[0], corner_texcoords[k],
                     corner_texcoords[k + 1]))
                face_materials.append(material)
                face_lines.append(number)
        elif key == 'usemtl':
            material = line[len(key):].strip() or None
        elif key == 'mtllib':
            rest = line[len(key):].strip()
            if not rest:
                raise _error(filename, number, 'mtllib without a file name')
            mtllibs.append((number, rest))
    if not faces:
        raise ValueError('{}: no faces'.format(filename))
    vertices = numpy.array(vertices, numpy.float64).reshape(-1, 3)
    faces = numpy.array(faces, numpy.int64)
    bad = numpy.flatnonzero((faces >= len(vertices)).any(axis=1))
    if len(bad):
        i = bad[0]
        raise _error(filename, face_lines[i],
                     'vertex index {} out of range: the file has {} vertices'
                     .format(int(faces[i].max()) + 1, len(vertices)))
    for i, refs in enumerate(face_texcoords):
        if refs is not None and max(refs) >= len(texcoords):
            raise _error(filename, face_lines[i],
                         'texture coordinate index {} out of range: the file '
                         'has {} texture coordinates'
                         .format(max(refs) + 1, len(texcoords)))
    return {
        'vertices': vertices, 'faces': faces,
        'texcoords': numpy.array(texcoords, numpy.float64).reshape(-1, 2),
        'face_texcoords': face_texcoords, 'face_materials': face_materials,
        'mtllibs': mtllibs,
    }


def _existing_or_split(directory, rest):
    """Names on an mtllib line: the whole rest if it names a file (names
    with spaces), else its whitespace-separated tokens."""
    if os.path.isfile(os.path.join(directory, rest)):
        return [rest]
    return rest.split()


def _parse_mtl(filename):
    """{material name: {'Kd': (r, g, b) or None, 'map_Kd': path or None}}."""
    directory = os.path.dirname(filename)
    materials = {}
    current = None
    for number, line in _read_lines(filename):
        tokens = line.split()
        key = tokens[0]
        if key == 'newmtl':
            name = line[len(key):].strip()
            if not name:
                raise _error(filename, number, 'newmtl without a name')
            current = materials.setdefault(
                name, {'Kd': None, 'map_Kd': None, 'line': number})
        elif key in ('Kd', 'map_Kd'):
            if current is None:
                raise _error(filename, number,
                             '{} before any newmtl'.format(key))
            if key == 'Kd':
                values = _floats(filename, number, tokens[1:], 1, 3, 'Kd')
                if len(values) == 2:
                    raise _error(filename, number,
                                 'Kd needs 1 or 3 numbers, got 2')
                current['Kd'] = tuple(values * 3 if len(values) == 1
                                      else values)
            else:
                rest = line[len(key):].strip()
                if not rest:
                    raise _error(filename, number,
                                 'map_Kd without a file name')
                if not os.path.isfile(os.path.join(directory, rest)):
                    rest = tokens[-1]  # skip options such as -s 1 1 1
                current['map_Kd'] = os.path.join(directory, rest)
    return materials


def _read_image(filename):
    """Image as float64 [H, W, 3] in [0, 1] (uint8 / 255, uint16 / 65535)."""
    import imageio.v3 as iio
    if not os.path.isfile(filename):
        raise FileNotFoundError(
            'texture image not found: {}'.format(filename))
    try:
        image = numpy.asarray(iio.imread(filename))
    except Exception as e:
        raise ValueError('cannot read texture image {}: {}'
                         .format(filename, e)) from e
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError('texture image {}: unexpected shape {}'
                         .format(filename, image.shape))
    if image.shape[2] in (1, 2):  # grey (+ alpha)
        image = numpy.repeat(image[:, :, :1], 3, axis=2)
    image = image[:, :, :3]
    if image.dtype.kind in 'ui':
        image = image.astype(numpy.float64) / numpy.iinfo(image.dtype).max
    else:
        image = image.astype(numpy.float64)
    return image


def texel_weights(texture_size):
    """Barycentric weights of the texels of a T x T x T cube: [T, T, T, 3].

    Texel (i, j, k) -> (i, j, k) / (i + j + k); texel (0, 0, 0) -> the
    centroid (1/3, 1/3, 1/3).
    """
    t = numpy.arange(texture_size, dtype=numpy.float64)
    w = numpy.stack(numpy.meshgrid(t, t, t, indexing='ij'), axis=-1)
    total = w.sum(axis=-1, keepdims=True)
    w = numpy.where(total > 0, w / numpy.maximum(total, 1), 1.0 / 3.0)
    return w


def sample_image(image, uv, wrapping='REPEAT', bilinear=True):
    """Colours of ``image`` [H, W, 3] (row 0 at the top) at OBJ coordinates
    ``uv`` [..., 2] (v = 0 at the bottom): [..., 3] float64."""
    if wrapping == 'REPEAT':
        outside = (uv < 0) | (uv > 1)
        uv = numpy.where(outside, uv - numpy.floor(uv), uv)
    else:
        uv = numpy.clip(uv, 0.0, 1.0)
    height, width = image.shape[:2]
    x = numpy.clip(uv[..., 0] * width - 0.5, 0.0, width - 1.0)
    y = numpy.clip((1.0 - uv[..., 1]) * height - 0.5, 0.0, height - 1.0)
    if not bilinear:
        xi = numpy.clip(numpy.floor(x + 0.5).astype(numpy.int64), 0,
                        width - 1)
        yi = numpy.clip(numpy.floor(y + 0.5).astype(numpy.int64), 0,
                        height - 1)
        return image[yi, xi]
    x0 = numpy.floor(x).astype(numpy.int64)
    y0 = numpy.floor(y).astype(numpy.int64)
    fx = (x - x0)[..., None]
    fy = (y - y0)[..., None]
    x1 = numpy.minimum(x0 + 1, width - 1)
    y1 = numpy.minimum(y0 + 1, height - 1)
    top = image[y0, x0] * (1 - fx) + image[y0, x1] * fx
    bottom = image[y1, x0] * (1 - fx) + image[y1, x1] * fx
    return top * (1 - fy) + bottom * fy


def _load_textures(filename_obj, parsed, texture_size, texture_wrapping,
                   use_bilinear):
    directory = os.path.dirname(filename_obj)
    materials = {}
    for number, rest in parsed['mtllibs']:
        for name in _existing_or_split(directory, rest):
            path = os.path.join(directory, name)
            if not os.path.isfile(path):
                raise FileNotFoundError(
                    '{}:{}: material library not found: {}'
                    .format(filename_obj, number, path))
            for key, value in _parse_mtl(path).items():
                materials.setdefault(key, value)  # first definition wins

    num_faces = len(parsed['faces'])
    t = texture_size
    textures = numpy.empty((num_faces, t, t, t, 3), numpy.float64)
    weights = texel_weights(t).reshape(-1, 3)
    images = {}
    face_materials = parsed['face_materials']
    face_texcoords = parsed['face_texcoords']
    warned = set()
    # Group faces by material so each image is sampled once, vectorised.
    groups = {}
    for i, name in enumerate(face_materials):
        groups.setdefault(name, []).append(i)
    for name, indices in groups.items():
        indices = numpy.array(indices)
        material = materials.get(name)
        if name is not None and material is None and name not in warned:
            warned.add(name)
            warnings.warn('{}: material {!r} is not defined in any .mtl; '
                          'its faces are white'.format(filename_obj, name))
        colour = WHITE
        if material is not None and material['Kd'] is not None:
            colour = material['Kd']
        textures[indices] = colour
        if material is None or material['map_Kd'] is None:
            continue
        with_uv = numpy.array([face_texcoords[i] is not None
                               for i in indices], bool)
        if not with_uv.all():
            warnings.warn('{}: {} faces use the textured material {!r} but '
                          'have no texture coordinates; they get its plain '
                          'colour'.format(filename_obj,
                                          int((~with_uv).sum()), name))
        if not with_uv.any():
            continue
        path = material['map_Kd']
        if path not in images:
            images[path] = _read_image(path)
        sel = indices[with_uv]
        refs = numpy.array([face_texcoords[i] for i in sel], numpy.int64)
        corner_uv = parsed['texcoords'][refs]                 # [n, 3, 2]
        uv = numpy.einsum('tk,nkc->ntc', weights, corner_uv)  # [n, T^3, 2]
        colours = sample_image(images[path], uv, texture_wrapping,
                               use_bilinear)
        textures[sel] = colours.reshape(len(sel), t, t, t, 3)
    return textures.astype(numpy.float32)


def normalize_vertices(vertices):
    """The original's normalisation: longest axis spans [-1, 1], every axis
    centred on 0 (float64 in, float64 out)."""
    vertices = vertices - vertices.min(axis=0)
    scale = numpy.abs(vertices).max()
    if not scale > 0:
        raise ValueError('cannot normalise a mesh whose vertices all '
                         'coincide')
    vertices = vertices / scale * 2
    return vertices - vertices.max(axis=0) / 2


def load_obj(filename_obj, normalization=True, texture_size=4,
             load_texture=False, texture_wrapping='REPEAT',
             use_bilinear=True):
    """Load an OBJ mesh (and, optionally, its textures).

    Args:
        filename_obj (str or path): the .obj file.
        normalization (bool): scale and shift so that the longest axis spans
            [-1, 1] and every axis is centred on 0.
        texture_size (int >= 1): T, the size of each face's texture cube.
        load_texture (bool): also return per-face texture cubes from the
            .mtl materials (see the module docstring for the conventions).
        texture_wrapping ('REPEAT' or 'CLAMP_TO_EDGE'): for ``vt`` values
            outside [0, 1].
        use_bilinear (bool): bilinear image sampling (else nearest pixel).

    Returns:
        ``(vertices [V, 3] float32, faces [F, 3] int32)``, or with
        ``load_texture=True`` ``(vertices, faces, textures [F, T, T, T, 3]
        float32)``. Polygons are fan-triangulated.

    Raises:
        FileNotFoundError: the .obj, or (with ``load_texture``) a .mtl or
            texture image it names, does not exist.
        ValueError: a malformed line (``file:line: ...``), an index out of
            range, no faces, or a bad argument.
    """
    filename_obj = os.fspath(filename_obj)
    texture_size = _check_texture_size(texture_size)
    if texture_wrapping not in _WRAPPINGS:
        raise ValueError('texture_wrapping must be one of {}, got {!r}'
                         .format(_WRAPPINGS, texture_wrapping))
    if not os.path.isfile(filename_obj):
        raise FileNotFoundError('OBJ file not found: {}'.format(filename_obj))
    parsed = _parse_obj(filename_obj)
    vertices = parsed['vertices']
    if normalization:
        vertices = normalize_vertices(vertices)
    vertices = vertices.astype(numpy.float32)
    faces = parsed['faces'].astype(numpy.int32)
    if not load_texture:
        return vertices, faces
    textures = _load_textures(filename_obj, parsed, texture_size,
                              texture_wrapping, use_bilinear)
    return vertices, faces, textures
