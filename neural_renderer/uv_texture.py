"""Textures as an image sampled at render time through per-corner UVs.

A second way to colour faces beside the per-face texel cubes: a
:class:`UVTexture` holds, per face corner, a texture coordinate (u, v) and,
per mesh, an image. The rasterizer interpolates the coordinates with each
pixel's perspective-correct barycentric weights and samples the image
bilinearly there, so detail is limited by the image, not by T^2 texels a
face. Gradients reach the image (every texel a pixel sampled), the UVs and,
as with cubes, the vertices (the paper's edge gradient takes the colour
sampled where an edge crosses a pixel line).

Conventions (those of OBJ ``vt`` and of :func:`neural_renderer.load_obj`):

* ``image`` [Bi, H, W, 3], row 0 at the top; Bi is the batch size B or 1
  (one image for every mesh).
* (u, v) = (0, 0) is the image's bottom-left corner, (1, 1) its top-right;
  the centre of pixel (row y, column x) is u = (x + 0.5) / W,
  v = 1 - (y + 0.5) / H.
* Bilinear sampling at image coordinates (x, y) = (u W - 0.5, (1 - v) H -
  0.5) between the four pixels around them. ``wrapping='REPEAT'``: u and v
  are taken modulo 1 and the pixels wrap around (the column left of 0 is
  W - 1), as OpenGL's GL_REPEAT. ``'CLAMP_TO_EDGE'``: x and y are clamped to
  [0, W - 1] and [0, H - 1] (GL_CLAMP_TO_EDGE). (The texel cubes of
  ``load_obj(load_texture=True)`` clamp to the outermost pixel centres in
  both modes: there REPEAT only wraps the coordinates.)
* Minification, ``mipmap=True`` (the default): the rasterizer samples a
  level of the image's pyramid (level l + 1 the 2 x 2 means of level l, a
  side of n texels becoming ceil(n / 2), down to 1 x 1; an odd side is first
  extended by its first row or column (REPEAT) or by its last
  (CLAMP_TO_EDGE)), one level per drawn face: the level at which the face's
  texels are about as large as the pixels it covers, l = round(log2(rho)),
  rho^2 the face's area in texels over its area in pixels (of the
  rasterizer's sample grid), clamped to the pyramid. No blending between
  levels: a face that grows or shrinks switches level in one step. With
  ``mipmap=False`` every face samples the full image (aliasing where a
  face's texels are smaller than its pixels).
"""
import numbers

import numpy

import chainer
from chainer import backend

from neural_renderer._checks import unwrap

WRAPPINGS = ('REPEAT', 'CLAMP_TO_EDGE')


class UVTexture(object):
    """Per-corner texture coordinates and the image they index.

    Pass it where the renderer takes ``textures``
    (``renderer.render(vertices, faces, UVTexture(uvs, image))``) or to
    :func:`neural_renderer.rasterize_rgbad`.

    Args:
        uvs (array or Variable): [B, F, 3, 2] float32/float64 (u, v) of each
            face's corners (the dtype of the vertices). For the rasterizer
            with ``fill_back``, [B, F / 2, 3, 2], as texel cubes.
        image (array or Variable): [B, H, W, 3] or [1, H, W, 3] colours,
            same dtype.
        wrapping (str): 'REPEAT' or 'CLAMP_TO_EDGE' (see the module).
        mipmap (bool): sample per face the pyramid level that matches its
            texel-to-pixel ratio (see the module).

    Either may be a Variable (a ``chainer.Parameter`` to optimise): the
    gradients reach them.
    """

    def __init__(self, uvs, image, wrapping='REPEAT', mipmap=True):
        if wrapping not in WRAPPINGS:
            raise ValueError('wrapping: expected one of {}, got {!r}'.format(
                WRAPPINGS, wrapping))
        if not isinstance(mipmap, (bool, numpy.bool_)):
            raise TypeError('mipmap: expected a bool, got {!r}'.format(
                mipmap))
        self.uvs = uvs
        self.image = image
        self.wrapping = wrapping
        self.mipmap = bool(mipmap)

    def __repr__(self):
        return 'UVTexture(uvs {}, image {}, wrapping={!r}, mipmap={})'.format(
            _shape(self.uvs), _shape(self.image), self.wrapping, self.mipmap)

    @property
    def shape(self):
        """The uvs' shape [B, F, 3, 2] (where cubes have [B, F, T, T, T,
        3])."""
        return unwrap(self.uvs).shape

    @property
    def dtype(self):
        return unwrap(self.uvs).dtype

    def check(self, batch_size, texture_faces, dtype, what='textures'):
        """Checks shapes, dtypes and values against the faces': ``uvs``
        [batch_size, texture_faces, 3, 2] (``texture_faces`` an int, or a
        callable that says whether a count is valid and describes it) and
        ``image`` [batch_size or 1, H, W, 3], both of ``dtype`` and finite.
        Errors name ``what`` and the argument."""
        uvs, image = unwrap(self.uvs), unwrap(self.image)
        for name, array, ndim, last in (('uvs', uvs, 4, (3, 2)),
                                        ('image', image, 4, (3,))):
            if not hasattr(array, 'shape') or not hasattr(array, 'dtype'):
                raise TypeError('{}.{}: expected an array or a Variable, got '
                                '{}'.format(what, name,
                                            type(array).__name__))
            if array.ndim != ndim or array.shape[ndim - len(last):] != last:
                raise ValueError('{}.{}: expected shape {}, got {}'.format(
                    what, name, '[B, F, 3, 2]' if name == 'uvs'
                    else '[B, H, W, 3]', array.shape))
            if array.dtype != numpy.dtype(dtype):
                raise TypeError('{}.{}: expected the dtype of the vertices '
                                '({}), got {}'.format(what, name,
                                                      numpy.dtype(dtype),
                                                      array.dtype))
        if callable(texture_faces):
            faces_ok, expected_faces = texture_faces(uvs.shape[1])
        else:
            faces_ok, expected_faces = (uvs.shape[1] == texture_faces,
                                        texture_faces)
        if uvs.shape[0] != batch_size or not faces_ok:
            raise ValueError('{}.uvs: expected shape [B, F, 3, 2] = [{}, {}, '
                             '3, 2], got {}'.format(what, batch_size,
                                                    expected_faces,
                                                    uvs.shape))
        if image.shape[0] not in (1, batch_size) or image.shape[1] < 1 or \
                image.shape[2] < 1:
            raise ValueError('{}.image: expected shape [B, H, W, 3] or [1, '
                             'H, W, 3] with B = {} and H, W >= 1, got '
                             '{}'.format(what, batch_size, image.shape))
        xp = backend.get_array_module(uvs)
        if backend.get_array_module(image) is not xp:
            raise TypeError('{}: uvs and image must be on one device'.format(
                what))
        for name, array in (('uvs', uvs), ('image', image)):
            if not bool(xp.isfinite(array).all()):
                raise ValueError('{}.{} contain NaN or inf values'.format(
                    what, name))


def _shape(x):
    array = unwrap(x)
    return getattr(array, 'shape', type(x).__name__)


def is_uv(textures):
    return isinstance(textures, UVTexture)


def mip_levels(height, width):
    """Number of levels of the pyramid of an H x W image (down to 1 x 1)."""
    levels = 1
    while height > 1 or width > 1:
        height, width = (height + 1) // 2, (width + 1) // 2
        levels += 1
    return levels


def _check_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) \
            or value < 1:
        raise ValueError('{}: expected a positive int, got {!r}'.format(
            name, value))
    return int(value)


def mipmap_pyramid(image, wrapping='REPEAT', levels=None):
    """The image and its 2 x 2 means, level after level, flattened into one
    array: [Bi, P, 3] with P the texels of all levels (level 0 first, each
    level row-major), as a Variable when ``image`` is one (differentiable).

    Level l + 1 has size (ceil(h / 2), ceil(w / 2)) for level l of size
    (h, w): an odd side is first extended by its first row (column) for
    REPEAT or by its last for CLAMP_TO_EDGE, so that every texel of level l
    weighs in. Each level spans the whole image: with sides that are not
    powers of two, its texels are slightly larger than twice the previous
    level's.
    """
    F = chainer.functions
    array = unwrap(image)
    batch, height, width = array.shape[:3]
    if levels is None:
        levels = mip_levels(height, width)
    levels = _check_positive_int('levels', levels)
    current = image
    flat = [F.reshape(current, (batch, height * width, 3))]
    h, w = height, width
    for _ in range(levels - 1):
        current = _halve(current, h, w, wrapping)
        h, w = (h + 1) // 2, (w + 1) // 2
        flat.append(F.reshape(current, (batch, h * w, 3)))
    return F.concat(flat, axis=1) if len(flat) > 1 else flat[0]


def _halve(level, h, w, wrapping):
    """One pyramid step: [B, h, w, 3] -> [B, h2, w2, 3] (see
    mipmap_pyramid)."""
    F = chainer.functions
    if h > 1:
        if h % 2:
            extra = level[:, :1] if wrapping == 'REPEAT' else level[:, -1:]
            level = F.concat((level, extra), axis=1)
        rows = level.shape[1]
        level = F.reshape(level, (level.shape[0], rows // 2, 2, w, 3))
        level = F.mean(level, axis=2)
    if w > 1:
        if w % 2:
            extra = level[:, :, :1] if wrapping == 'REPEAT' \
                else level[:, :, -1:]
            level = F.concat((level, extra), axis=2)
        columns = level.shape[2]
        level = F.reshape(level, (level.shape[0], level.shape[1],
                                  columns // 2, 2, 3))
        level = F.mean(level, axis=3)
    return level


def memory_estimate(textures, batch_size, image_size, anti_aliasing=True):
    """Bytes a render call with a UV texture needs on top of the geometry's
    and the maps' (``Renderer.call_memory_estimate``): the pyramid, its
    gradient and the image's, and per sample of the grid the image
    gradient's bucket, order and sort buffer (20 bytes)."""
    from neural_renderer.rasterize import image_shape
    image = unwrap(textures.image)
    bi, h, w = image.shape[:3]
    itemsize = image.dtype.itemsize
    texels = 0
    levels = mip_levels(h, w) if textures.mipmap else 1
    for _ in range(levels):
        texels += h * w
        h, w = (h + 1) // 2, (w + 1) // 2
    height, width = image_shape(image_size)
    scale = 2 if anti_aliasing else 1
    samples = batch_size * height * width * scale * scale
    return 3 * bi * texels * 3 * itemsize + \
        bi * image.shape[1] * image.shape[2] * 3 * itemsize + 20 * samples
