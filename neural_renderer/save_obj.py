"""Write meshes, optionally with their textures, as Wavefront OBJ.

UV textures (a :class:`neural_renderer.uv_texture.UVTexture` of batch size
1, or ``uvs`` [F, 3, 2] with ``texture_image`` [H, W, 3]) are written as
they are, in the form other tools read: ``dir/name.mtl`` with one material
(``Kd 1 1 1``, ``map_Kd name.png``), ``dir/name.png`` the image (8-bit RGB,
colours clipped to [0, 1] and rounded), and in the .obj one ``vt`` line per
distinct (u, v) pair, in order of first use, and faces ``f v/vt v/vt v/vt``.
``load_obj(..., load_texture='uv', normalization=False)`` reads back the
vertices, faces and uvs exactly (as float32; float64 uvs are written with
``repr``, others with 9 significant digits) and the image to 8-bit precision
(0.5 / 255).

With texture cubes, ``save_obj('dir/name.obj', ...)`` also writes
``dir/name.mtl`` (one material, ``map_Kd name.png``) and ``dir/name.png``,
an atlas with one T x T pixel tile per face, laid out so that
``load_obj(..., load_texture=True, texture_size=T, normalization=False)``
reads the cubes back:

* the face's ``vt`` put vertex 0 on the centre of the tile's lower left
  pixel, vertex 1 T - 1 pixels to its right, vertex 2 T - 1 pixels above it;
* so the texel (i, j, k) with i + j + k = T - 1 (the texels the renderer reads
  at barycentric weights (i, j, k) / (T - 1)) lies exactly on the centre of
  tile pixel (column j, row k from the bottom), which holds its colour. These
  texels come back exactly, up to 8-bit quantisation (0.5 / 255);
* the tile's other pixels (j + k > T - 1, outside the face) are filled by
  linear extrapolation, v(j, k) = v(j - 1, k) + v(j, k - 1) - v(j - 1, k - 1),
  so that bilinear sampling inside the face is linear near its long edge.
  Texels off that plane (i + j + k != T - 1) share their barycentric point
  with other texels and come back as the bilinear interpolation of the
  on-plane colours at that point: exact (up to quantisation) when the colours
  vary linearly over the face and the extrapolated pixels stay in [0, 1]
  (they are clipped like all colours).

Colours are clipped to [0, 1] and stored as 8-bit RGB (rounded).

Names: the OBJ format has no escaping, and ``#`` starts a comment, so the
.mtl and .png take the .obj's stem with every ``#``, whitespace or control
character (and any character UTF-8 cannot encode) replaced by ``_``:
``save_obj('my mesh#2.obj', ...)`` writes ``my_mesh_2.mtl`` and
``my_mesh_2.png`` (beware: ``my_mesh_2.obj`` saved in the same folder would
share them).

Numbers: float64 vertices are written with the shortest decimal that reads
back as the same float64 (``repr``), other types with 9 significant digits,
enough for float32 to read back exactly; ``load_obj`` (which returns
float32) thus gives ``vertices.astype(float32)`` bit for bit (and the same
for UV coordinates). Non-finite vertices, texels, uvs or image values are
refused.
"""
import os
import re

import numpy

import neural_renderer_compat  # NOQA  (before chainer)
import chainer
from chainer import backend

from neural_renderer.files import atomic_output
from neural_renderer.load_obj import _FLOAT32_LIMIT


def _to_numpy(name, x):
    if isinstance(x, chainer.Variable):
        x = x.array
    if not isinstance(x, chainer.get_array_types()):
        raise TypeError('{}: expected a numpy/cupy array or a '
                        'chainer.Variable, got {}'
                        .format(name, type(x).__name__))
    return numpy.asarray(backend.CpuDevice().send(x))


_UNSAFE = re.compile(r'[#\s\x00-\x1f\x7f-\x9f]')


def _safe_stem(stem):
    """``stem`` with the characters an OBJ/MTL file name cannot hold
    (``#``, whitespace, controls, unencodable ones) replaced by ``_``."""
    stem = _UNSAFE.sub('_', stem)
    return ''.join(c if _encodable(c) else '_' for c in stem)


def _encodable(c):
    try:
        c.encode('utf-8')
    except UnicodeEncodeError:
        return False
    return True


def _check_finite(name, x):
    if x.dtype.kind == 'f' and not numpy.isfinite(x).all():
        bad = numpy.argwhere(~numpy.isfinite(x))[0]
        raise ValueError('{} must be finite, got {} at index {}'.format(
            name, x[tuple(bad)], tuple(int(i) for i in bad)))


def _tile_values(cube):
    """[T, T, T, 3] cube -> [T, T, 3] tile indexed (j, k) (column, row up)."""
    t = cube.shape[0]
    tile = numpy.zeros((t, t, 3), numpy.float64)
    for j in range(t):
        for k in range(t):
            if j + k <= t - 1:
                tile[j, k] = cube[t - 1 - j - k, j, k]
    for s in range(t, 2 * t - 1):  # extrapolate, anti-diagonal by diagonal
        for j in range(s - t + 1, t):
            k = s - j
            tile[j, k] = tile[j - 1, k] + tile[j, k - 1] - tile[j - 1, k - 1]
    return tile


def _atlas(textures):
    """Texture atlas [H, W, 3] uint8 (row 0 at the top) and per-face vt
    [F, 3, 2]."""
    num_faces, t = textures.shape[0], textures.shape[1]
    columns = int(numpy.ceil(numpy.sqrt(num_faces)))
    rows = int(numpy.ceil(num_faces / columns))
    width, height = columns * t, rows * t
    image = numpy.zeros((height, width, 3), numpy.float64)  # row 0 = bottom
    texcoords = numpy.zeros((num_faces, 3, 2), numpy.float64)
    corner_offsets = numpy.array([[0, 0], [t - 1, 0], [0, t - 1]],
                                 numpy.float64)
    for f in range(num_faces):
        x0, y0 = (f % columns) * t, (f // columns) * t
        tile = _tile_values(textures[f])              # [j, k, 3]
        image[y0:y0 + t, x0:x0 + t] = tile.transpose(1, 0, 2)
        pixel = corner_offsets + [x0, y0]
        texcoords[f, :, 0] = (pixel[:, 0] + 0.5) / width
        texcoords[f, :, 1] = (pixel[:, 1] + 0.5) / height
    image = numpy.round(numpy.clip(image, 0, 1) * 255).astype(numpy.uint8)
    return image[::-1], texcoords


def _uv_arguments(textures, uvs, texture_image):
    """(uvs, image, wrapping, names of the two) from save_obj's arguments,
    or None when no UV texture is given."""
    if hasattr(textures, 'uvs') and hasattr(textures, 'image'):
        if uvs is not None or texture_image is not None:
            raise ValueError('pass a UVTexture as textures, or uvs and '
                             'texture_image, not both')
        return (textures.uvs, textures.image,
                getattr(textures, 'wrapping', 'REPEAT'),
                ('textures.uvs', 'textures.image'), 1)
    if uvs is None and texture_image is None:
        return None
    if textures is not None:
        raise ValueError('pass textures (cubes or a UVTexture), or uvs and '
                         'texture_image, not both')
    if uvs is None or texture_image is None:
        raise ValueError('uvs and texture_image go together: got {} without '
                         '{}'.format(*(('uvs', 'texture_image')
                                       if texture_image is None else
                                       ('texture_image', 'uvs'))))
    return uvs, texture_image, 'REPEAT', ('uvs', 'texture_image'), 0


def _check_uv_texture(arguments, num_faces):
    """Checked numpy (uvs [F, 3, 2], image [H, W, 3] float64, wrapping)."""
    uvs, image, wrapping, (uvs_name, image_name), batch = arguments
    uvs = _to_numpy(uvs_name, uvs)
    image = _to_numpy(image_name, image)
    prefix = '[1, ' if batch else '['
    if (uvs.ndim != 3 + batch or uvs.shape[batch:] != (num_faces, 3, 2)
            or (batch and uvs.shape[0] != 1)):
        raise ValueError('{} must be {}F, 3, 2] with F = {} (the number of '
                         'faces), got shape {}'.format(uvs_name, prefix,
                                                       num_faces, uvs.shape))
    if (image.ndim != 3 + batch or image.shape[-1] != 3
            or min(image.shape[batch:batch + 2]) < 1
            or (batch and image.shape[0] != 1)):
        raise ValueError('{} must be {}H, W, 3] with H, W >= 1, got shape {}'
                         .format(image_name, prefix, image.shape))
    if uvs.dtype.kind not in 'fiu':
        raise TypeError('{} must be numeric, got {}'.format(uvs_name,
                                                            uvs.dtype))
    if image.dtype.kind != 'f':
        raise TypeError('{} must be floats, colours in [0, 1], got {} (divide '
                        '8-bit images by 255)'.format(image_name,
                                                      image.dtype))
    _check_finite(uvs_name, uvs)
    _check_finite(image_name, image)
    if uvs.size and float(numpy.abs(uvs).max()) >= _FLOAT32_LIMIT:
        raise ValueError(
            '{}: values up to {:.4g} are beyond float32 ({:.4g} at most), '
            'which load_obj reads them as'.format(
                uvs_name, float(numpy.abs(uvs).max()),
                float(numpy.finfo(numpy.float32).max)))
    if batch:
        uvs, image = uvs[0], image[0]
    return uvs, image, wrapping


def _unique_texcoords(uvs):
    """Distinct (u, v) pairs of ``uvs`` [F, 3, 2] in order of first use,
    and each corner's index into them [F, 3]."""
    flat = uvs.reshape(-1, 2)
    _, first, inverse = numpy.unique(flat, axis=0, return_index=True,
                                     return_inverse=True)
    order = numpy.argsort(first)
    rank = numpy.empty_like(order)
    rank[order] = numpy.arange(len(order))
    return flat[first[order]], rank[inverse.reshape(-1)].reshape(-1, 3)


def save_obj(filename, vertices, faces, textures=None, uvs=None,
             texture_image=None):
    """Save a mesh as OBJ; with textures also a .mtl and a .png.

    Args:
        filename (str or path): the .obj to write (its directory must exist).
            With textures, ``<stem>.mtl`` and ``<stem>.png`` are written next
            to it.
        vertices: [V, 3] floats (numpy, cupy or chainer.Variable).
        faces: [F, 3] integer vertex indices, zero-based.
        textures: None; or texture cubes [F, T, T, T, 3], colours in [0, 1]
            (others are clipped), written as an atlas (see the module
            docstring); or a :class:`neural_renderer.uv_texture.UVTexture`
            of batch size 1 (``uvs`` [1, F, 3, 2], ``image`` [1, H, W, 3]),
            written as the ``uvs`` and ``texture_image`` below are.
        uvs: with ``texture_image``, instead of ``textures``: [F, 3, 2]
            (u, v) of each face's corners ((0, 0) the image's bottom-left
            corner), written as ``vt`` lines (corners with equal (u, v)
            share one) and ``f v/vt`` references.
        texture_image: [H, W, 3] floats, row 0 at the top, colours in
            [0, 1] (others are clipped), written as an 8-bit RGB PNG
            (rounded to the nearest level), the material's ``map_Kd``.
            ``load_obj(..., load_texture='uv', normalization=False)`` reads
            back the vertices, faces and uvs exactly (as float32) and the
            image to 0.5 / 255. A UVTexture with ``wrapping=
            'CLAMP_TO_EDGE'`` gets ``map_Kd -clamp on`` (which load_obj
            ignores, like all map_Kd options).

    Each file is written to a temporary name next to it and renamed when
    complete (:func:`neural_renderer.files.atomic_output`): an interrupt or
    a full disk leaves an earlier file as it was; an existing file keeps
    its permissions; a symbolic link is written through.

    Raises:
        ValueError: bad shapes, indices out of range, no faces, non-finite
            vertices, textures, uvs or images, vertices or uvs beyond
            float32 (which load_obj reads them as), or ``uvs`` without
            ``texture_image`` (or the reverse, or with ``textures``).
        TypeError: non-numeric arrays (or an integer image).
    """
    filename = os.fspath(filename)
    vertices = _to_numpy('vertices', vertices)
    faces = _to_numpy('faces', faces)
    if vertices.ndim != 2 or vertices.shape[1] != 3:
        raise ValueError('vertices must be [V, 3], got shape {}'
                         .format(vertices.shape))
    if vertices.dtype.kind not in 'fiu':
        raise TypeError('vertices must be numeric, got {}'
                        .format(vertices.dtype))
    if faces.ndim != 2 or faces.shape[1] != 3:
        raise ValueError('faces must be [F, 3], got shape {}'
                         .format(faces.shape))
    if faces.dtype.kind not in 'iu':
        raise TypeError('faces must be integers, got {}'.format(faces.dtype))
    _check_finite('vertices', vertices)
    if len(faces) == 0:
        raise ValueError('faces: the mesh has no faces (shape {}); load_obj '
                         'would refuse the file'.format(faces.shape))
    if vertices.size and float(numpy.abs(vertices).max()) >= _FLOAT32_LIMIT:
        raise ValueError(
            'vertices: values up to {:.4g} are beyond float32 ({:.4g} at '
            'most), which load_obj reads them as'.format(
                float(numpy.abs(vertices).max()),
                float(numpy.finfo(numpy.float32).max)))
    faces = faces.astype(numpy.int64)
    if faces.size and (faces.min() < 0 or faces.max() >= len(vertices)):
        raise ValueError('faces index vertices 0..{}, got indices {}..{}'
                         .format(len(vertices) - 1, faces.min(), faces.max()))
    uv_texture = _uv_arguments(textures, uvs, texture_image)
    if uv_texture is not None:
        uvs, texture_image, wrapping = _check_uv_texture(uv_texture,
                                                         len(faces))
        textures = None
    elif textures is not None:
        textures = _to_numpy('textures', textures)
        shape = textures.shape
        if (textures.ndim != 5 or shape[0] != len(faces) or shape[1] < 1
                or shape[1:] != (shape[1],) * 3 + (3,)):
            raise ValueError('textures must be [F, T, T, T, 3] with F = {} '
                             '(the number of faces), got shape {}'
                             .format(len(faces), shape))
        if textures.dtype.kind not in 'fiu':
            raise TypeError('textures must be numeric, got {}'
                            .format(textures.dtype))
        _check_finite('textures', textures)
        textures = textures.astype(numpy.float64)

    lines = []
    texcoord_line = 'vt {:.9g} {:.9g}'.format
    if textures is not None or uv_texture is not None:
        directory = os.path.dirname(filename)
        stem = _safe_stem(os.path.splitext(os.path.basename(filename))[0])
        mtl_name, png_name = stem + '.mtl', stem + '.png'
        options = ''
        if textures is not None:
            image, texcoords = _atlas(textures)
            vt = numpy.arange(1, 3 * len(faces) + 1).reshape(-1, 3)
        else:
            image = numpy.round(numpy.clip(
                texture_image.astype(numpy.float64), 0, 1) * 255
            ).astype(numpy.uint8)
            texcoords, vt = _unique_texcoords(uvs)
            vt += 1
            if uvs.dtype == numpy.float64:
                texcoord_line = 'vt {!r} {!r}'.format
            if wrapping == 'CLAMP_TO_EDGE':
                options = '-clamp on '
        import imageio.v3 as iio
        with atomic_output(os.path.join(directory, png_name)) as temporary:
            iio.imwrite(temporary, numpy.ascontiguousarray(image),
                        extension='.png')
        with atomic_output(os.path.join(directory, mtl_name)) as temporary:
            with open(temporary, 'w', encoding='utf-8', newline='\n') as f:
                f.write('newmtl material_1\nKd 1 1 1\nmap_Kd {}{}\n'
                        .format(options, png_name))
        lines.append('mtllib {}'.format(mtl_name))
    # repr: the shortest string float() reads back as the same float64.
    number = '{!r}' if vertices.dtype == numpy.float64 else '{:.9g}'
    vertex_line = 'v {0} {0} {0}'.format(number).format
    lines += [vertex_line(*v)
              for v in vertices.astype(numpy.float64).tolist()]
    if textures is None and uv_texture is None:
        lines += ['f {} {} {}'.format(*f) for f in (faces + 1).tolist()]
    else:
        lines += [texcoord_line(*uv) for uv in
                  texcoords.reshape(-1, 2).astype(numpy.float64).tolist()]
        lines.append('usemtl material_1')
        lines += ['f {}/{} {}/{} {}/{}'.format(a, ta, b, tb, c, tc)
                  for (a, b, c), (ta, tb, tc)
                  in zip((faces + 1).tolist(), vt.tolist())]
    with atomic_output(filename) as temporary:
        with open(temporary, 'w', encoding='utf-8', newline='\n') as f:
            f.write('\n'.join(lines) + '\n')
