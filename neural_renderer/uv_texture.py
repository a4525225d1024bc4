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
  (CLAMP_TO_EDGE)), chosen per pixel as OpenGL's GL_LINEAR_MIPMAP_NEAREST
  does: l = round(log2(rho)) clamped to the pyramid, rho the larger of
  |d(uv)/dx| and |d(uv)/dy| in texels per pixel of the rasterizer's sample
  grid (the exact derivatives of the perspective-correct interpolation).
  No blending between levels: where rho crosses 2^(l + 1/2) the level
  switches in one step, and the level is held constant in the gradients.
  With ``mipmap=False`` every pixel samples the full image, which aliases
  where a face's texels are smaller than its pixels.
"""
import numpy

from chainer import backend

from neural_renderer._checks import check_array
from neural_renderer._checks import unwrap
from neural_renderer.mipmap import level_shapes

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
        mipmap (bool): sample at each pixel the level of the image's
            pyramid that matches its texel-to-pixel ratio (see the
            module).

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

    def check(self, batch_size, texture_faces, dtype, xp=None,
              what='textures', values=True):
        """Checks shapes and dtypes against the faces': ``uvs``
        [batch_size, texture_faces, 3, 2] (``texture_faces`` an int, or a
        callable that says whether a count is valid and describes it) and
        ``image`` [batch_size or 1, H, W, 3], both of ``dtype`` and (given
        ``xp``, numpy or cupy) on the faces' device; with ``values``, that
        they are finite too (a pass over the image). Errors name ``what``
        and the argument."""
        uvs = check_array(what + '.uvs', self.uvs, ndim=4,
                          shape_suffix=(3, 2), dtype_kind=None)
        image = check_array(what + '.image', self.image, ndim=4,
                            shape_suffix=(3,), dtype_kind=None)
        for name, array in (('uvs', uvs), ('image', image)):
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
        if xp is None:
            xp = backend.get_array_module(uvs)
        for name, array in (('uvs', uvs), ('image', image)):
            if backend.get_array_module(array) is not xp:
                raise TypeError('{}.{}: expected an array on the device of '
                                'the vertices ({}), got {}'.format(
                                    what, name, xp.__name__,
                                    type(array).__module__))
            if values and not bool(xp.isfinite(array).all()):
                raise ValueError('{}.{} contain NaN or inf values'.format(
                    what, name))


def _shape(x):
    array = unwrap(x)
    return getattr(array, 'shape', type(x).__name__)


def is_uv(textures):
    return isinstance(textures, UVTexture)


def memory_estimate(textures, batch_size, image_size, anti_aliasing=True):
    """Bytes a render call with a UV texture needs on top of the geometry's
    and the maps' (``Renderer.call_memory_estimate``): the image and its
    mip levels, their gradients, and per sample of the grid the image
    gradient's bucket, order and sort buffer (20 bytes)."""
    from neural_renderer.rasterize import image_shape
    image = unwrap(textures.image)
    bi, h, w = image.shape[:3]
    itemsize = image.dtype.itemsize
    shapes = level_shapes(h, w) if textures.mipmap else [(h, w)]
    texels = sum(a * b for a, b in shapes)
    height, width = image_shape(image_size)
    scale = 2 if anti_aliasing else 1
    samples = batch_size * height * width * scale * scale
    return 3 * bi * texels * 3 * itemsize + 20 * samples
