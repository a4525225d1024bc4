"""Read Wavefront OBJ meshes (with their MTL materials) into renderer arrays.

Supported: ``v``, ``vt``, ``f`` (any number of corners, fan-triangulated;
``a``, ``a/b``, ``a//c``, ``a/b/c`` references; positive, and negative i.e.
relative, indices), ``mtllib``, ``usemtl``; in .mtl files ``newmtl``, ``Kd``
and ``map_Kd``. Every other statement (``vn``, ``g``, ``o``, ``s``, ``l``,
``Ka``, ``Ks``, ...) is ignored.

Text: UTF-8 (other bytes are kept in names as surrogate escapes); a leading
UTF-8 byte order mark is skipped. ``#`` starts a comment at the start of a
line or after whitespace; elsewhere it is part of a token, so ``mtllib
a#b.mtl`` names the file ``a#b.mtl`` and ``usemtl x#1`` the material
``x#1`` (the OBJ format has no escaping; :func:`save_obj` never writes ``#``
in the names it makes up). Numbers are ASCII decimals (``1``, ``-2.5e3``;
no ``nan``, ``inf``, ``1_0`` or non-ASCII digits). Coordinates (``v``,
``vt``) and colours (``Kd``) must be finite and within float32's range (the
arrays returned are float32); indices within int32's.

Texture conventions (``load_texture=True``), for a face with corners
(vertex 0, 1, 2) and texture size T:

* texel (i, j, k) of the face's T x T x T cube stands for the point with
  barycentric weights (i, j, k) / (i + j + k) (axis k belongs to vertex k).
  Texel (0, 0, 0) has no direction; it is given the centroid's weights
  (1/3, 1/3, 1/3). Texels on the plane i + j + k = T - 1 are exactly the ones
  the renderer reads at weights (i, j, k) / (T - 1).
* ``Kd r g b`` only: every texel gets that colour, clipped to [0, 1].
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

UV textures (``load_texture='uv'``): per face corner the (u, v) of its
``vt`` (same convention: (0, 0) the image's bottom-left corner, pixel (row
y, column x) centred at u = (x + 0.5) / W, v = 1 - (y + 0.5) / H), and one
image [H, W, 3] (row 0 at the top; decoded and scaled as below), for the
renderer to sample at render time
(:class:`neural_renderer.uv_texture.UVTexture`). ``texture_size`` and
``use_bilinear`` do not apply.

* The OBJ's image as it is: when every face has ``vt`` and a material whose
  ``map_Kd`` names the same image file (several materials may share it).
  The uvs are the file's ``vt`` values unchanged (as float32), also those
  outside [0, 1]: the renderer wraps or clamps them (give ``UVTexture`` the
  wrapping meant; ``texture_wrapping`` plays no part here).
* Otherwise one atlas with the uvs remapped: faces with several images,
  ``Kd``-only materials, or plain colours (faces without a material, with an
  undefined one, or with a textured one but no ``vt``: white or their
  ``Kd``, with the same warnings as texture cubes). Each image becomes a
  tile: the image plus margins that continue it as ``texture_wrapping``
  says (the image repeated for ``'REPEAT'``, its edge texels for
  ``'CLAMP_TO_EDGE'``), at least one texel on each side and as many as the
  faces' coordinates reach, so that bilinear sampling of the atlas at a
  face's remapped uvs equals sampling the original image, with that
  wrapping, at its uvs (for any point of the face; mipmap levels of an atlas
  mix neighbouring tiles, those of the image itself do not). For
  ``'REPEAT'`` each face is first shifted by whole periods so that its
  smallest u (v) lies in [0, 1); a face spanning more than one period then
  needs a tile with several copies of the image. Each plain colour gets a
  cell of 4 x 4 texels, its faces' corners all at the cell's centre (their
  colour sampled exactly). Tiles (sides rounded up to multiples of 4) are
  shelf-packed, tallest first, into a roughly square atlas; remapped,
  u' = (tile's left + left margin + u * W_image) / W_atlas and v' = (tile's
  bottom + bottom margin + v * H_image) / H_atlas, both counted from the
  atlas's bottom-left corner. An atlas over ``max_image_pixels`` is refused
  with an error naming its largest tile's image and materials (and the face
  whose coordinates reach furthest, if they grew it): load texture cubes
  instead (``load_texture=True``), or use one textured material.

Images are read with Pillow, first frame only, alpha ignored, scaled to
[0, 1] as follows: 8-bit modes (grey, palette, RGB, CMYK, YCbCr, ...) are
converted to RGB by Pillow and divided by 255; 16-bit grey (``I;16``) by
65535; 32-bit integer (``I``) by the largest value of the sample format the
TIFF declares (``2**31 - 1`` for signed 32-bit), or by 65535 for other
formats (Pillow uses ``I`` for PGM files with up to 16 bits); float (``F``)
images are taken to be in [0, 1] already. Results are clipped to [0, 1];
images with NaN or infinite pixels are refused.

Limits (each a keyword of :func:`load_obj`): an image may have at most
``max_image_pixels`` pixels (8192 x 8192 by default), checked from its
header before it is decoded (Pillow's own ``PIL.Image.MAX_IMAGE_PIXELS``
check applies too: raise it as well for images over about 179 M pixels);
the texture cubes, F * T**3 * 3 float32 values, may take at most
``max_texture_bytes`` (1 GiB by default), as may the image that
``load_texture='uv'`` returns (H * W * 3 float32 values).

Paths: ``mtllib`` is relative to the .obj's directory and ``map_Kd`` to the
.mtl's directory. By default both must lie inside the .obj's directory
(after symbolic links and ``..`` are resolved): a file naming
``/etc/passwd`` or ``../../x`` is refused with an error naming the file,
line and path; ``allow_outside=True`` lifts this. Whatever the option, only
regular files are read (FIFOs, devices, directories are refused without
being opened), and a file that reports size 0 (such as those in /proc) is
taken as empty without being opened.
"""
import math
import numbers
import os
import re
import stat
import warnings

import numpy

WHITE = (1.0, 1.0, 1.0)
_WRAPPINGS = ('REPEAT', 'CLAMP_TO_EDGE')

#: Default of ``load_obj(max_image_pixels=...)``: 8192 x 8192, the largest
#: texture size common GPUs and asset pipelines use. Loading such an image
#: (Pillow's decode, then its pixels as arrays) raises the process's peak
#: memory by 641 MB (an 8-bit RGB PNG) to 769 MB (a 16-bit RGBA PNG), about
#: 10 to 12 bytes a pixel (measured: load_obj of a one-face OBJ with that
#: texture, peak resident memory 720 and 848 MB against 79 MB before).
MAX_IMAGE_PIXELS = 8192 * 8192
#: Default of ``load_obj(max_texture_bytes=...)``: the float32 texture cubes
#: F * T**3 * 3 * 4 bytes may take 1 GiB (e.g. T = 32 for 8,000 faces).
MAX_TEXTURE_BYTES = 2 ** 30
# Coordinates at or beyond this round to infinity in float32.
_FLOAT32_LIMIT = 2.0 ** 128 - 2.0 ** 103
_INT32_MAX = 2 ** 31 - 1
# Samples per vectorised sampling step (about 200 bytes of temporaries each).
_CHUNK = 2 ** 18
# load_texture='uv' atlases: the side of a plain colour's cell; every tile's
# sides are multiples of it (cells stay one colour in the first mip levels).
_CELL = 4

_FLOAT = re.compile(r'[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\Z')
_INT = re.compile(r'[+-]?[0-9]+\Z')
_COMMENT = re.compile(r'(?:^|\s)#')


def _error(filename, line_number, message):
    return ValueError('{}:{}: {}'.format(filename, line_number, message))


def _floats(filename, line_number, tokens, minimum, maximum, what):
    if not minimum <= len(tokens) <= maximum:
        count = (str(minimum) if minimum == maximum
                 else '{} to {}'.format(minimum, maximum))
        raise _error(filename, line_number, '{} needs {} numbers, got {!r}'
                     .format(what, count, ' '.join(tokens)))
    values = []
    for token in tokens:
        if not _FLOAT.match(token):
            try:
                value = float(token)
            except ValueError:
                value = 0.0
            if math.isfinite(value):
                raise _error(filename, line_number,
                             '{}: not a number: {!r} in {!r}'
                             .format(what, token, ' '.join(tokens)))
        value = float(token)
        if not math.isfinite(value):
            raise _error(filename, line_number, '{}: non-finite value {!r} '
                         'in {!r}'.format(what, token, ' '.join(tokens)))
        if abs(value) >= _FLOAT32_LIMIT:
            raise _error(filename, line_number,
                         '{}: {!r} is outside float32 range (magnitude '
                         'below 3.4028235e38 expected)'.format(what, token))
        values.append(value)
    return values


def _inside(path, root):
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


class _Files(object):
    """Opens the files an OBJ names, confined to its folder by default."""

    def __init__(self, filename_obj, allow_outside):
        self.root = os.path.realpath(
            os.path.dirname(os.path.abspath(filename_obj)))
        self.allow_outside = allow_outside

    def allowed(self, path):
        if '\0' in path:
            return False
        return self.allow_outside or _inside(os.path.realpath(path),
                                             self.root)

    def check(self, path, where, what):
        """``path`` (named at ``where``, 'file:line') checked: inside the
        OBJ's folder unless allowed, existing, a regular file. Returns its
        size."""
        if '\0' in path:
            raise ValueError('{}: {} name {!r} contains a NUL character'
                             .format(where, what, path))
        if not self.allowed(path):
            raise ValueError(
                '{}: {} {!r} resolves to {}, outside the folder of the OBJ '
                '({}); pass allow_outside=True to read it'
                .format(where, what, path, os.path.realpath(path),
                        self.root))
        return _regular_size(path, '{}: {}'.format(where, what))

    def candidates(self, directory, rest, last_token_only=False):
        """File names on an ``mtllib`` / ``map_Kd`` line: the whole rest if
        it names an (allowed) file, for names with spaces; else its
        whitespace-separated tokens (``map_Kd``: the last one, skipping
        options such as ``-s 1 1 1``)."""
        whole = os.path.join(directory, rest)
        if self.allowed(whole) and os.path.isfile(whole):
            return [rest]
        tokens = rest.split()
        return tokens[-1:] if last_token_only else tokens


def _regular_size(path, what):
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise FileNotFoundError('{} not found: {}'.format(what, path)) \
            from None
    except OSError as e:
        raise OSError(e.errno, '{}: cannot access {}: {}'.format(
            what, path, e.strerror)) from None
    except ValueError as e:  # a NUL character
        raise ValueError('{} {!r}: {}'.format(what, path, e)) from None
    if not stat.S_ISREG(info.st_mode):
        raise ValueError('{} {} is not a regular file; refusing to read it'
                         .format(what, path))
    return info.st_size


def _open_regular(path, what, files=None):
    """Binary file object of the regular file ``path``, opened without
    blocking (a FIFO swapped in after the check cannot hang us).

    With ``files`` (a :class:`_Files` that confines reads to the OBJ's
    folder), what was opened is checked, not only the name before: the
    opened file must be the file the path resolves to now, inside the
    folder (same device and inode). A symlink swapped in between the
    earlier check and the open is caught either way."""
    flags = os.O_RDONLY | getattr(os, 'O_NONBLOCK', 0) | getattr(
        os, 'O_CLOEXEC', 0) | getattr(os, 'O_BINARY', 0)
    fd = os.open(path, flags)
    try:
        opened = os.fstat(fd)
        if not stat.S_ISREG(opened.st_mode):
            raise ValueError('{} {} is not a regular file; refusing to read '
                             'it'.format(what, path))
        if files is not None and not files.allow_outside:
            real = os.path.realpath(path)
            try:
                named = os.stat(real)
            except OSError:
                named = None
            if not _inside(real, files.root) or named is None or \
                    (named.st_dev, named.st_ino) != (opened.st_dev,
                                                     opened.st_ino):
                raise ValueError(
                    '{} {}: the file opened is not the one inside the '
                    'folder of the OBJ ({}) that was checked (it changed '
                    'while being opened); refusing to read it'.format(
                        what, path, files.root))
        return os.fdopen(fd, 'rb')
    except BaseException:
        os.close(fd)
        raise


def _read_lines(filename, what='file', files=None):
    size = _regular_size(filename, what)
    data = b''
    if size:  # size 0: empty, or a /proc-like file we must not open
        with _open_regular(filename, what, files) as f:
            data = f.read()
    # surrogateescape: odd bytes in comments or names do not stop the load,
    # and file names keep their bytes. utf-8-sig: skip a byte order mark.
    text = data.decode('utf-8-sig', errors='surrogateescape')
    for number, line in enumerate(text.splitlines(), 1):
        comment = _COMMENT.search(line)
        if comment:
            line = line[:comment.start()]
        line = line.strip()
        if line:
            yield number, line


def _check_texture_size(texture_size):
    if (isinstance(texture_size, bool)
            or not isinstance(texture_size, numbers.Integral)
            or texture_size < 1):
        raise ValueError('texture_size must be an int >= 1, got {!r}'
                         .format(texture_size))
    return int(texture_size)


def _check_load_texture(value):
    """'uv', or the value's truth as the original package took it (code
    passing 0, 1 or None keeps working); any other string is an error."""
    if isinstance(value, str):
        if value == 'uv':
            return 'uv'
        raise ValueError("load_texture must be False, True or 'uv', got "
                         "{!r}".format(value))
    return bool(value)


def _check_limit(name, value):
    if value is None:
        return None
    if (isinstance(value, bool) or not isinstance(value, numbers.Integral)
            or value < 1):
        raise ValueError('{} must be an int >= 1 or None (no limit), got {!r}'
                         .format(name, value))
    return int(value)


def _check_texture_bytes(where, num_faces, texture_size, limit):
    needed = num_faces * texture_size ** 3 * 3 * 4
    if limit is not None and needed > limit:
        raise ValueError(
            '{}: textures of {} face(s) with texture_size={} take {:.3g} GB '
            '(F * T**3 * 3 float32 values), over max_texture_bytes={} ({:.3g}'
            ' GB); use a smaller texture_size or raise max_texture_bytes'
            .format(where, num_faces, texture_size, needed / 1e9, limit,
                    limit / 1e9))


def _resolve(filename, line_number, token, count, kind):
    """One-based (negative: relative) OBJ index -> zero-based index.

    Positive indices are checked against the final count later (forward
    references are accepted); relative ones against the count so far.
    """
    if not _INT.match(token):
        raise _error(filename, line_number, 'bad {} index {!r}'
                     .format(kind, token))
    try:
        index = int(token)
    except ValueError:  # over sys.get_int_max_str_digits() digits
        raise _error(filename, line_number, '{} index {!r} out of range'
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
    if index > _INT32_MAX:
        raise _error(filename, line_number,
                     '{} index {} out of range: at most 2**31 - 1 (int32) '
                     'supported'.format(kind, index))
    return index - 1


def _parse_obj(filename):
    vertices, texcoords = [], []
    faces, face_texcoords, face_materials, face_lines = [], [], [], []
    mtllibs = []
    material = None
    for number, line in _read_lines(filename, 'OBJ file'):
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
        'face_lines': face_lines, 'mtllibs': mtllibs,
    }


def _parse_mtl(filename, files):
    """{material name: {'Kd': (r, g, b) or None, 'map_Kd': path or None,
    'where': 'file:line' of map_Kd}}."""
    directory = os.path.dirname(filename)
    materials = {}
    current = None
    for number, line in _read_lines(filename, 'material library', files):
        tokens = line.split()
        key = tokens[0]
        if key == 'newmtl':
            name = line[len(key):].strip()
            if not name:
                raise _error(filename, number, 'newmtl without a name')
            current = materials.setdefault(
                name, {'Kd': None, 'map_Kd': None, 'where': None})
        elif key in ('Kd', 'map_Kd'):
            if current is None:
                raise _error(filename, number,
                             '{} before any newmtl'.format(key))
            if key == 'Kd':
                values = _floats(filename, number, tokens[1:], 1, 3, 'Kd')
                if len(values) == 2:
                    raise _error(filename, number,
                                 'Kd needs 1 or 3 numbers, got 2')
                values = [min(max(v, 0.0), 1.0) for v in values]
                current['Kd'] = tuple(values * 3 if len(values) == 1
                                      else values)
            else:
                rest = line[len(key):].strip()
                if not rest:
                    raise _error(filename, number,
                                 'map_Kd without a file name')
                name = files.candidates(directory, rest, True)[0]
                current['map_Kd'] = os.path.join(directory, name)
                current['where'] = '{}:{}'.format(filename, number)
    return materials


class _Image(object):
    """Pixels [H, W, C] (C = 1 or 3) in their stored type, and how to map
    them to [0, 1]: float64(pixels) * scale, clipped."""

    def __init__(self, pixels, scale=1.0):
        self.pixels = pixels
        self.scale = scale

    def colours(self, y, x):
        values = self.pixels[y, x].astype(numpy.float64)
        if self.scale != 1.0:
            values *= self.scale
        return numpy.clip(values, 0.0, 1.0)


def _tiff_integer_scale(image):
    tags = getattr(image, 'tag_v2', None)
    if image.format != 'TIFF' or tags is None:
        return 1.0 / 65535
    bits = tags.get(258, (32,))
    bits = bits[0] if isinstance(bits, tuple) else bits
    sample_format = tags.get(339, (1,))
    sample_format = (sample_format[0] if isinstance(sample_format, tuple)
                     else sample_format)
    bits = min(max(int(bits), 1), 32)
    signed = sample_format == 2
    return 1.0 / (2 ** (bits - 1 if signed else bits) - 1 or 1)


def _decode(image, where, filename):
    """A decoded Pillow image -> _Image (see the module docstring)."""
    mode = image.mode
    if mode in ('F', 'I') or mode.startswith('I;16'):
        pixels = numpy.asarray(image)
        if pixels.ndim != 2:
            raise ValueError('{}: texture image {}: unexpected {} image of '
                             'shape {}'.format(where, filename, mode,
                                               pixels.shape))
        if mode == 'F':
            if not numpy.isfinite(pixels).all():
                raise ValueError('{}: texture image {} has NaN or infinite '
                                 'pixels'.format(where, filename))
            scale = 1.0
        elif mode == 'I':
            scale = _tiff_integer_scale(image)
        else:  # I;16, I;16B, I;16S, ...: numpy knows the type
            scale = 1.0 / numpy.iinfo(pixels.dtype).max
        return _Image(pixels[:, :, None], scale)
    if mode == 'L':
        return _Image(numpy.asarray(image)[:, :, None], 1.0 / 255)
    if mode not in ('RGB', 'RGBA', 'RGBX'):
        try:
            image = image.convert('RGBA' if mode == 'La' else 'RGB')
        except (ValueError, OSError) as e:
            raise ValueError('{}: texture image {}: cannot convert its mode '
                             '{} to RGB: {}'.format(where, filename, mode, e)
                             ) from e
    pixels = numpy.asarray(image)
    if pixels.ndim != 3 or pixels.shape[2] < 3 or pixels.dtype != numpy.uint8:
        raise ValueError('{}: texture image {}: unexpected pixels {} {}'
                         .format(where, filename, pixels.dtype, pixels.shape))
    return _Image(numpy.ascontiguousarray(pixels[:, :, :3]), 1.0 / 255)


def _read_image(filename, where, files, max_pixels):
    """The texture image ``filename`` named at ``where`` ('file:line')."""
    from PIL import Image
    size = files.check(filename, where, 'texture image')
    what = '{}: texture image'.format(where)
    if size == 0:
        raise ValueError('{} {} is empty (or reports size 0)'
                         .format(what, filename))
    with _open_regular(filename, what, files) as f:
        try:
            image = Image.open(f)  # lazy: reads the header only
        except Image.DecompressionBombError as e:
            raise ValueError(
                '{} {}: {} (Pillow\'s limit PIL.Image.MAX_IMAGE_PIXELS = {} '
                'applies too: raise it as well to load this image)'
                .format(what, filename, e, Image.MAX_IMAGE_PIXELS)) from e
        except Exception as e:
            raise ValueError('{} {}: cannot read it: {}'
                             .format(what, filename, e)) from e
        with image:
            width, height = image.size
            if width < 1 or height < 1:
                raise ValueError('{} {}: bad size {} x {}'
                                 .format(what, filename, width, height))
            if max_pixels is not None and width * height > max_pixels:
                raise ValueError(
                    '{} {} is {} x {} = {} pixels, over max_image_pixels={} '
                    '(8192 x 8192 by default); pass a larger '
                    'max_image_pixels to load_obj to read it'
                    .format(what, filename, width, height, width * height,
                            max_pixels))
            try:
                image.load()
                return _decode(image, where, filename)
            except ValueError as e:
                if str(e).startswith(where):
                    raise
                raise ValueError('{} {}: cannot decode it: {}'
                                 .format(what, filename, e)) from e
            except (MemoryError, RecursionError):
                raise
            except Exception as e:
                raise ValueError('{} {}: cannot decode it: {}: {}'.format(
                    what, filename, type(e).__name__, e)) from e


def texel_weights(texture_size):
    """Barycentric weights of the texels of a T x T x T cube: [T, T, T, 3].

    Texel (i, j, k) -> (i, j, k) / (i + j + k); texel (0, 0, 0) -> the
    centroid (1/3, 1/3, 1/3).
    """
    t = texture_size
    return _texel_weights_range(t, 0, t ** 3).reshape(t, t, t, 3)


def _texel_weights_range(t, start, stop):
    """texel_weights(t) flattened to [T**3, 3], rows start..stop - 1."""
    index = numpy.arange(start, stop, dtype=numpy.int64)
    w = numpy.stack([index // (t * t), index // t % t, index % t],
                    axis=-1).astype(numpy.float64)
    total = w.sum(axis=-1, keepdims=True)
    return numpy.where(total > 0, w / numpy.maximum(total, 1), 1.0 / 3.0)


def sample_image(image, uv, wrapping='REPEAT', bilinear=True):
    """Colours of ``image`` [H, W, 3] (row 0 at the top) at OBJ coordinates
    ``uv`` [..., 2] (v = 0 at the bottom): [..., 3] float64."""
    image = numpy.asarray(image, numpy.float64)
    return _sample(_Image(image), uv, wrapping, bilinear, clip=False)


def _sample(image, uv, wrapping, bilinear, clip=True):
    colours = image.colours if clip else (
        lambda y, x: image.pixels[y, x])
    if wrapping == 'REPEAT':
        outside = (uv < 0) | (uv > 1)
        uv = numpy.where(outside, uv - numpy.floor(uv), uv)
    else:
        uv = numpy.clip(uv, 0.0, 1.0)
    height, width = image.pixels.shape[:2]
    x = numpy.clip(uv[..., 0] * width - 0.5, 0.0, width - 1.0)
    y = numpy.clip((1.0 - uv[..., 1]) * height - 0.5, 0.0, height - 1.0)
    if not bilinear:
        xi = numpy.clip(numpy.floor(x + 0.5).astype(numpy.int64), 0,
                        width - 1)
        yi = numpy.clip(numpy.floor(y + 0.5).astype(numpy.int64), 0,
                        height - 1)
        return colours(yi, xi)
    x0 = numpy.floor(x).astype(numpy.int64)
    y0 = numpy.floor(y).astype(numpy.int64)
    fx = (x - x0)[..., None]
    fy = (y - y0)[..., None]
    x1 = numpy.minimum(x0 + 1, width - 1)
    y1 = numpy.minimum(y0 + 1, height - 1)
    top = colours(y0, x0) * (1 - fx) + colours(y0, x1) * fx
    bottom = colours(y1, x0) * (1 - fx) + colours(y1, x1) * fx
    return top * (1 - fy) + bottom * fy


def _load_materials(filename_obj, parsed, files):
    """{name: material} of every .mtl the OBJ names (first definition
    wins)."""
    directory = os.path.dirname(filename_obj)
    materials = {}
    for number, rest in parsed['mtllibs']:
        where = '{}:{}'.format(filename_obj, number)
        for name in files.candidates(directory, rest):
            path = os.path.join(directory, name)
            files.check(path, where, 'material library')
            for key, value in _parse_mtl(path, files).items():
                materials.setdefault(key, value)  # first definition wins
    return materials


def _warn_undefined(filename_obj, name):
    warnings.warn('{}: material {!r} is not defined in any .mtl; its faces '
                  'are white'.format(filename_obj, name))


def _warn_without_vt(filename_obj, count, name):
    warnings.warn('{}: {} faces use the textured material {!r} but have no '
                  'texture coordinates; they get its plain colour'
                  .format(filename_obj, count, name))


def _load_textures(filename_obj, parsed, texture_size, texture_wrapping,
                   use_bilinear, files, max_image_pixels):
    materials = _load_materials(filename_obj, parsed, files)
    num_faces = len(parsed['faces'])
    t = texture_size
    texels = t ** 3
    textures = numpy.empty((num_faces, texels, 3), numpy.float32)
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
            _warn_undefined(filename_obj, name)
        colour = WHITE
        if material is not None and material['Kd'] is not None:
            colour = material['Kd']
        textures[indices] = colour
        if material is None or material['map_Kd'] is None:
            continue
        with_uv = numpy.array([face_texcoords[i] is not None
                               for i in indices], bool)
        if not with_uv.all():
            _warn_without_vt(filename_obj, int((~with_uv).sum()), name)
        if not with_uv.any():
            continue
        path = material['map_Kd']
        if path not in images:
            images[path] = _read_image(path, material['where'], files,
                                       max_image_pixels)
        image = images[path]
        sel = indices[with_uv]
        refs = numpy.array([face_texcoords[i] for i in sel], numpy.int64)
        # Chunks of faces x texels keep the temporaries small.
        texel_step = max(1, min(texels, _CHUNK))
        face_step = max(1, _CHUNK // texel_step)
        for t0 in range(0, texels, texel_step):
            t1 = min(texels, t0 + texel_step)
            weights = _texel_weights_range(t, t0, t1)
            for f0 in range(0, len(sel), face_step):
                corner_uv = parsed['texcoords'][refs[f0:f0 + face_step]]
                uv = numpy.einsum('tk,nkc->ntc', weights, corner_uv)
                textures[sel[f0:f0 + face_step], t0:t1] = _sample(
                    image, uv, texture_wrapping, use_bilinear)
    return textures.reshape(num_faces, t, t, t, 3)


def _uv_faces(filename_obj, parsed, materials):
    """Sorts the faces for ``load_texture='uv'``: ({image path: {'faces':
    [face indices], 'materials': [names], 'where': 'file:line' of its
    map_Kd}}, {colour: [face indices]}), with the cube loader's warnings."""
    face_texcoords = parsed['face_texcoords']
    groups = {}
    for i, name in enumerate(parsed['face_materials']):
        groups.setdefault(name, []).append(i)
    textured, colours = {}, {}
    for name, indices in groups.items():
        material = materials.get(name)
        if name is not None and material is None:
            _warn_undefined(filename_obj, name)
        colour = WHITE
        if material is not None and material['Kd'] is not None:
            colour = tuple(material['Kd'])
        if material is not None and material['map_Kd'] is not None:
            plain = [i for i in indices if face_texcoords[i] is None]
            if plain:
                _warn_without_vt(filename_obj, len(plain), name)
            with_uv = [i for i in indices if face_texcoords[i] is not None]
            if with_uv:
                entry = textured.setdefault(material['map_Kd'], {
                    'faces': [], 'materials': [],
                    'where': material['where']})
                entry['faces'] += with_uv
                entry['materials'].append(name)
            indices = plain
        if indices:
            colours.setdefault(colour, []).extend(indices)
    return textured, colours


def _uv_images(textured, files, max_image_pixels):
    """The images of ``textured`` (see _uv_faces), each file read once
    (names that resolve to one file share it): a list of entries with
    'path' and 'image' (an _Image) added."""
    merged = {}
    for path, entry in textured.items():
        files.check(path, entry['where'], 'texture image')
        key = os.path.realpath(path)
        if key in merged:
            merged[key]['faces'] += entry['faces']
            merged[key]['materials'] += entry['materials']
        else:
            merged[key] = dict(entry, path=path)
    entries = list(merged.values())
    for entry in entries:
        entry['image'] = _read_image(entry['path'], entry['where'], files,
                                     max_image_pixels)
    return entries


def _image_rows(image, rows, columns, out):
    """``out`` [len(rows), len(columns), 3] = the colours of ``image`` (an
    _Image) at rows x columns, in chunks (no float64 copy of it all)."""
    step = max(1, _CHUNK // max(1, len(columns)))
    for r0 in range(0, len(rows), step):
        out[r0:r0 + step] = image.colours(rows[r0:r0 + step, None],
                                          columns[None, :])


def _check_uv_image_bytes(filename_obj, height, width, limit, what):
    needed = height * width * 3 * 4
    if limit is not None and needed > limit:
        raise ValueError(
            "{}: load_texture='uv': the {} of {} x {} pixels takes {:.3g} GB "
            "as float32, over max_texture_bytes={} ({:.3g} GB); raise "
            "max_texture_bytes, or load texture cubes (load_texture=True)"
            .format(filename_obj, what, width, height, needed / 1e9, limit,
                    limit / 1e9))


def _tile_margins(lo, hi, size):
    """Texels an image side of ``size`` texels needs before and after it
    so that bilinear taps at coordinates lo..hi (in image sizes, 0 and 1
    its edges) stay inside the tile: (before, after), at least 1 each."""
    before = max(1, -math.floor(lo * size - 0.5))
    after = max(1, math.floor(hi * size - 0.5) + 2 - size)
    after += -(before + size + after) % _CELL  # sides multiples of _CELL
    return before, after


def _pack(sizes):
    """Shelf packing of tiles (height, width), tallest first: (atlas
    height, atlas width, [(top, left) of each tile])."""
    order = sorted(range(len(sizes)), key=lambda i: -sizes[i][0])
    area = sum(h * w for h, w in sizes)
    side = math.isqrt(area - 1) + 1
    width = max(max(w for _, w in sizes), side + -side % _CELL)
    places = [None] * len(sizes)
    x = top = shelf = used = 0
    for i in order:
        h, w = sizes[i]
        if x + w > width:
            top, x, shelf = top + shelf, 0, 0
        places[i] = (top, x)
        x += w
        used = max(used, x)
        shelf = max(shelf, h)
    return top + shelf, used, places


def _atlas_too_large(filename_obj, height, width, limit, tiles, parsed):
    """The ValueError for an atlas over max_image_pixels, naming its
    largest image tile and, if that was grown by far-reaching texture
    coordinates, the face that reaches furthest."""
    images = [t for t in tiles if t['entry'] is not None]
    message = ("{}: load_texture='uv': the faces' {} image(s) and {} plain "
               "colour(s) need a texture atlas of {} x {} = {} pixels, over "
               "max_image_pixels={}".format(
                   filename_obj, len(images), len(tiles) - len(images),
                   width, height, width * height, limit))
    if images:
        tile = max(images, key=lambda t: t['size'][0] * t['size'][1])
        entry = tile['entry']
        h, w = entry['image'].pixels.shape[:2]
        message += ('. Its largest tile, {} x {} texels, holds {} ({} x {}, '
                    'material(s) {})'.format(
                        tile['size'][1], tile['size'][0], entry['path'], w,
                        h, ', '.join(repr(m) for m in entry['materials'])))
        if tile['size'][0] * tile['size'][1] > 2 * (w + 8) * (h + 8):
            i = int(numpy.argmax(tile['reach']))
            face = entry['faces'][i]
            uv = parsed['texcoords'][list(parsed['face_texcoords'][face])]
            message += (
                ', grown to hold whole faces whose texture coordinates reach '
                'far outside [0, 1]: e.g. the face of {}:{} spans u {:.6g} '
                'to {:.6g}, v {:.6g} to {:.6g}'.format(
                    filename_obj, parsed['face_lines'][face],
                    uv[:, 0].min(), uv[:, 0].max(), uv[:, 1].min(),
                    uv[:, 1].max()))
    return ValueError(
        message + '. Load texture cubes instead (load_texture=True), give '
        'the mesh one textured material whose faces all have vt (its image '
        'is then returned as it is), or raise max_image_pixels')


def _load_uv(filename_obj, parsed, wrapping, files, max_image_pixels,
             max_texture_bytes):
    """(uvs [F, 3, 2] float32, image [H, W, 3] float32) for
    ``load_texture='uv'`` (see the module docstring)."""
    materials = _load_materials(filename_obj, parsed, files)
    textured, colours = _uv_faces(filename_obj, parsed, materials)
    entries = _uv_images(textured, files, max_image_pixels)
    texcoords = parsed['texcoords']
    face_texcoords = parsed['face_texcoords']
    num_faces = len(parsed['faces'])
    uvs = numpy.empty((num_faces, 3, 2), numpy.float32)

    if len(entries) == 1 and not colours:  # the image as it is
        entry = entries[0]
        image = entry['image']
        height, width = image.pixels.shape[:2]
        _check_uv_image_bytes(filename_obj, height, width, max_texture_bytes,
                              'image ' + entry['path'])
        refs = numpy.array([face_texcoords[i] for i in entry['faces']],
                           numpy.int64)
        uvs[entry['faces']] = texcoords[refs]
        out = numpy.empty((height, width, 3), numpy.float32)
        _image_rows(image, numpy.arange(height), numpy.arange(width), out)
        return uvs, out

    tiles = []
    for entry in entries:
        refs = numpy.array([face_texcoords[i] for i in entry['faces']],
                           numpy.int64)
        uv = texcoords[refs]                                    # [n, 3, 2]
        if wrapping == 'REPEAT':  # each face into one period if it can be
            uv = uv - numpy.floor(uv.min(axis=1, keepdims=True))
        height, width = entry['image'].pixels.shape[:2]
        lo, hi = uv.min(axis=(0, 1)), uv.max(axis=(0, 1))
        left, right = _tile_margins(float(lo[0]), float(hi[0]), width)
        bottom, top = _tile_margins(float(lo[1]), float(hi[1]), height)
        tiles.append({
            'entry': entry, 'uv': uv,
            'margins': (left, right, bottom, top),
            'size': (top + height + bottom, left + width + right),
            'reach': numpy.maximum(uv.max(axis=1) - 1,
                                   -uv.min(axis=1)).max(axis=1)})
    for colour, faces in colours.items():
        tiles.append({'entry': None, 'colour': colour, 'faces': faces,
                      'size': (_CELL, _CELL)})
    atlas_height, atlas_width, places = _pack([t['size'] for t in tiles])
    if max_image_pixels is not None and \
            atlas_height * atlas_width > max_image_pixels:
        raise _atlas_too_large(filename_obj, atlas_height, atlas_width,
                               max_image_pixels, tiles, parsed)
    _check_uv_image_bytes(filename_obj, atlas_height, atlas_width,
                          max_texture_bytes, 'texture atlas')

    atlas = numpy.zeros((atlas_height, atlas_width, 3), numpy.float32)
    for tile, (top_row, x0) in zip(tiles, places):
        h, w = tile['size']
        y0 = atlas_height - top_row - h  # the tile's bottom, counted up
        region = atlas[top_row:top_row + h, x0:x0 + w]
        if tile['entry'] is None:
            region[...] = tile['colour']
            uvs[tile['faces']] = ((x0 + _CELL / 2) / atlas_width,
                                  (y0 + _CELL / 2) / atlas_height)
            continue
        entry = tile['entry']
        left, right, bottom, top = tile['margins']
        height, width = entry['image'].pixels.shape[:2]
        rows = numpy.arange(-top, height + bottom)      # image rows, top down
        columns = numpy.arange(-left, width + right)
        if wrapping == 'REPEAT':
            rows, columns = rows % height, columns % width
        else:
            rows = numpy.clip(rows, 0, height - 1)
            columns = numpy.clip(columns, 0, width - 1)
        _image_rows(entry['image'], rows, columns, region)
        uv = tile['uv']
        uvs[entry['faces'], :, 0] = (x0 + left + uv[..., 0] * width) \
            / atlas_width
        uvs[entry['faces'], :, 1] = (y0 + bottom + uv[..., 1] * height) \
            / atlas_height
    return uvs, atlas


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
             use_bilinear=True, allow_outside=False,
             max_image_pixels=MAX_IMAGE_PIXELS,
             max_texture_bytes=MAX_TEXTURE_BYTES):
    """Load an OBJ mesh (and, optionally, its textures).

    Args:
        filename_obj (str or path): the .obj file.
        normalization (bool): scale and shift so that the longest axis spans
            [-1, 1] and every axis is centred on 0.
        texture_size (int >= 1): T, the size of each face's texture cube
            (``load_texture=True`` only).
        load_texture (False, True or 'uv'): False: geometry only. True: also
            per-face texture cubes from the .mtl materials. ``'uv'``: also
            per-corner texture coordinates and one image, for
            :class:`neural_renderer.uv_texture.UVTexture` (see the module
            docstring for the conventions of both).
        texture_wrapping ('REPEAT' or 'CLAMP_TO_EDGE'): for ``vt`` values
            outside [0, 1]. With ``'uv'`` it matters only when an atlas is
            built (its tiles then sample as the original image with this
            wrapping); pass the same to ``UVTexture(wrapping=...)``.
        use_bilinear (bool): bilinear image sampling (else nearest pixel);
            texture cubes only (the renderer samples UV images bilinearly).
        allow_outside (bool): read .mtl files and images outside the .obj's
            folder (after resolving symbolic links and ``..``); refused by
            default, so that a mesh file cannot make us read e.g.
            ``/etc/passwd``.
        max_image_pixels (int or None): refuse texture images with more
            pixels (checked before decoding), and with ``'uv'`` atlases
            with more; default 8192 x 8192.
        max_texture_bytes (int or None): refuse to build texture cubes
            larger than this (F * T**3 * 3 * 4 bytes), or with ``'uv'`` an
            image (H * W * 3 * 4 bytes); default 1 GiB.

    Returns:
        ``(vertices [V, 3] float32, faces [F, 3] int32)``; with
        ``load_texture=True`` ``(vertices, faces, textures [F, T, T, T, 3]
        float32)`` (colours in [0, 1]); with ``load_texture='uv'``
        ``(vertices, faces, uvs [F, 3, 2] float32, image [H, W, 3]
        float32)``: (u, v) of each face's corners, (0, 0) the image's
        bottom-left corner, and the image (row 0 at the top, colours in
        [0, 1]): the OBJ's own ``vt`` and image, or an atlas. Polygons are
        fan-triangulated.

    Raises:
        FileNotFoundError: the .obj, or (with ``load_texture``) a .mtl or
            texture image it names, does not exist.
        ValueError: a malformed line (``file:line: ...``), an index out of
            range, no faces, a path outside the .obj's folder or not a
            regular file, an unreadable image, a limit exceeded, or a bad
            argument.
    """
    filename_obj = os.fspath(filename_obj)
    texture_size = _check_texture_size(texture_size)
    load_texture = _check_load_texture(load_texture)
    if texture_wrapping not in _WRAPPINGS:
        raise ValueError('texture_wrapping must be one of {}, got {!r}'
                         .format(_WRAPPINGS, texture_wrapping))
    max_image_pixels = _check_limit('max_image_pixels', max_image_pixels)
    max_texture_bytes = _check_limit('max_texture_bytes', max_texture_bytes)
    if load_texture is True:  # before reading anything: one face at least
        _check_texture_bytes(filename_obj, 1, texture_size,
                             max_texture_bytes)
    parsed = _parse_obj(filename_obj)
    vertices = parsed['vertices']
    if normalization:
        try:
            vertices = normalize_vertices(vertices)
        except ValueError as error:
            raise ValueError('{}: {} (all {} vertices at {}); load it with '
                             'normalization=False'.format(
                                 filename_obj, error, len(vertices),
                                 vertices[0].tolist() if len(vertices)
                                 else None)) from None
    vertices = vertices.astype(numpy.float32)
    faces = parsed['faces'].astype(numpy.int32)
    if not load_texture:
        return vertices, faces
    files = _Files(filename_obj, bool(allow_outside))
    if load_texture == 'uv':
        uvs, image = _load_uv(filename_obj, parsed, texture_wrapping, files,
                              max_image_pixels, max_texture_bytes)
        return vertices, faces, uvs, image
    _check_texture_bytes(filename_obj, len(faces), texture_size,
                         max_texture_bytes)
    textures = _load_textures(filename_obj, parsed, texture_size,
                              texture_wrapping, use_bilinear, files,
                              max_image_pixels)
    return vertices, faces, textures
