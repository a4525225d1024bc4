"""A mesh whose vertices and textures are trainable parameters."""
import numbers

import numpy

import neural_renderer_compat  # NOQA  (before chainer)
import chainer
from chainer import backend
import chainer.functions as F

from neural_renderer._checks import unwrap
from neural_renderer.load_obj import load_obj
from neural_renderer.load_obj import MAX_TEXTURE_BYTES
from neural_renderer.uv_texture import UVTexture

# Loaded colours are clipped to [COLOUR_CLIP, 1 - COLOUR_CLIP] before their
# logits are taken: 0 and 1 would give infinite logits.
COLOUR_CLIP = 1e-3


def _check_positive_int(name, value):
    if (isinstance(value, bool) or not isinstance(value, numbers.Integral)
            or value < 1):
        raise ValueError('{} must be an int >= 1, got {!r}'
                         .format(name, value))
    return int(value)


def _raw(name, x):
    x = unwrap(x)
    if not isinstance(x, chainer.get_array_types()):
        x = numpy.asarray(x)
    return x


def _logit(colours):
    """float32 logits of ``colours`` clipped to [COLOUR_CLIP,
    1 - COLOUR_CLIP]."""
    xp = backend.get_array_module(colours)
    c = xp.clip(xp.asarray(colours, numpy.float64), COLOUR_CLIP,
                1 - COLOUR_CLIP)
    return (xp.log(c) - xp.log1p(-c)).astype(numpy.float32)


def _check_texture_bytes(num_faces, texture_size, max_texture_bytes,
                         filename=None):
    """Refuses texel logits of more than ``max_texture_bytes`` before they
    are allocated (Python integers: no overflow for any texture_size)."""
    needed = int(num_faces) * int(texture_size) ** 3 * 3 * 4
    if needed > max_texture_bytes:
        raise ValueError(
            'texture_size: {} faces with texture_size {} need {:.3g} GiB of '
            'float32 texel logits{} (and as much again for their gradient '
            'and each of Adam\'s moments), more than max_texture_bytes = '
            '{:.3g} GiB; use a smaller texture_size or raise '
            'max_texture_bytes'.format(
                num_faces, texture_size, needed / 2 ** 30,
                '' if filename is None else ' for {}'.format(filename),
                max_texture_bytes / 2 ** 30))


class Mesh(chainer.Link):
    """A mesh as a ``chainer.Link``: optimise its shape and colours.

    As in the original package, the ``textures`` parameter holds texel
    *logits*, not colours: :meth:`get_batch` returns
    ``sigmoid(textures)``, so the colours stay in (0, 1) whatever the
    optimiser does to the parameter. The logits start as
    ``chainer.initializers.Normal()`` (mean 0, standard deviation 0.05),
    i.e. colours near 0.5 (mid grey).

    With ``load_texture='uv'`` (or :meth:`from_arrays` with ``uvs``) the
    colours are a UV texture instead (:class:`neural_renderer.UVTexture`):
    ``textures`` holds the logits of its image [H, W, 3] and the persistent
    ``uvs`` [F, 3, 2] its per-corner coordinates (not trained).

    Attributes:
        vertices (chainer.Parameter): [V, 3] float32.
        faces (array): [F, 3] int32, a persistent value (not trained; moved
            by ``to_gpu`` / ``to_device`` and saved by serializers).
        textures (chainer.Parameter): [F, T, T, T, 3] float32 texel logits
            (colours = sigmoid(textures)), or with a UV texture the image's
            logits [H, W, 3].
        uvs (array or None): [F, 3, 2] float32 texture coordinates of a UV
            texture (persistent, like ``faces``), else None.
        num_vertices, num_faces, texture_size (int; texture_size None with
        a UV texture).

    Args:
        filename_obj (str or path): OBJ file, read with :func:`load_obj`.
        texture_size (int >= 1): T.
        normalization (bool): normalise the vertices as :func:`load_obj`
            does (longest axis spans [-1, 1], centred).
        load_texture (bool or 'uv'): start from the colours of the OBJ's
            materials instead of the random logits: ``textures`` then holds
            ``logit(clip(colours, 1e-3, 1 - 1e-3))`` (the clip keeps the
            logits finite), so :meth:`get_batch` gives back the file's
            colours (those outside [1e-3, 1 - 1e-3] clipped to it). ``'uv'``:
            the same for the image of ``load_obj(load_texture='uv')``, a UV
            texture with the file's coordinates.
        allow_outside (bool): let the OBJ name .mtl files and images
            outside its folder (see :func:`load_obj`).
        max_texture_bytes (int): the most bytes the float32 texel logits
            F T^3 3 4 may take (default 1 GiB, ``load_obj``'s limit); more
            is refused, naming ``texture_size``, before allocating.

    Use :meth:`from_arrays` for meshes built in code and :meth:`set_lr` for
    per-parameter step sizes with :class:`neural_renderer.Adam`.
    """

    def __init__(self, filename_obj, texture_size=4, normalization=True,
                 load_texture=False, allow_outside=False,
                 max_texture_bytes=MAX_TEXTURE_BYTES):
        super(Mesh, self).__init__()
        texture_size = _check_positive_int('texture_size', texture_size)
        loaded = load_obj(filename_obj, normalization=normalization,
                          texture_size=texture_size,
                          load_texture=load_texture,
                          allow_outside=allow_outside,
                          max_texture_bytes=max_texture_bytes)
        vertices, faces = loaded[:2]
        if isinstance(load_texture, str):  # 'uv' (load_obj checked it)
            self._setup(vertices, faces, _logit(loaded[3]), uvs=loaded[2])
            return
        _check_texture_bytes(len(faces), texture_size, max_texture_bytes,
                             filename_obj)
        logits = _logit(loaded[2]) if load_texture else None
        self._setup(vertices, faces, logits, texture_size=texture_size)

    @classmethod
    def from_arrays(cls, vertices, faces, textures=None, texture_size=4,
                    max_texture_bytes=MAX_TEXTURE_BYTES, uvs=None):
        """A Mesh from arrays (NumPy, CuPy or chainer.Variable).

        Args:
            vertices: [V, 3] floats.
            faces: [F, 3] integer vertex indices (zero-based).
            textures: None (logits drawn from
                ``chainer.initializers.Normal()``, cubes of size
                ``texture_size``) or the initial texel *logits*
                [F, T, T, T, 3] floats, stored as the parameter's values
                (colours = their sigmoid); T is then taken from them. With
                ``uvs``: the logits of the UV texture's image [H, W, 3].
            texture_size (int >= 1): T when ``textures`` is None.
            max_texture_bytes (int): as for the constructor.
            uvs: None (texel cubes), or [F, 3, 2] floats, the per-corner
                coordinates of a UV texture whose image logits
                ``textures`` holds.
        """
        mesh = cls.__new__(cls)
        chainer.Link.__init__(mesh)
        texture_size = _check_positive_int('texture_size', texture_size)
        if uvs is not None and textures is None:
            raise ValueError('textures: with uvs, expected the logits of '
                             'the UV texture\'s image [H, W, 3], got None')
        if textures is None:
            _check_texture_bytes(len(faces), texture_size, max_texture_bytes)
        mesh._setup(vertices, faces, textures, texture_size=texture_size,
                    uvs=uvs)
        return mesh

    def _setup(self, vertices, faces, textures=None, texture_size=4,
               uvs=None):
        vertices = _raw('vertices', vertices)
        faces = _raw('faces', faces)
        if vertices.ndim != 2 or vertices.shape[1] != 3:
            raise ValueError('vertices must be [V, 3], got shape {}'
                             .format(vertices.shape))
        if faces.ndim != 2 or faces.shape[1] != 3:
            raise ValueError('faces must be [F, 3], got shape {}'
                             .format(faces.shape))
        if faces.dtype.kind not in 'iu':
            raise TypeError('faces must be integers, got {}'
                            .format(faces.dtype))
        device = backend.get_device_from_array(vertices)
        xp = device.xp
        faces = device.send(faces)
        if faces.size and (int(faces.min()) < 0
                           or int(faces.max()) >= vertices.shape[0]):
            raise ValueError('faces index vertices 0..{}, got indices {}..{}'
                             .format(vertices.shape[0] - 1,
                                     int(faces.min()), int(faces.max())))
        if uvs is not None:
            uvs = device.send(_raw('uvs', uvs))
            textures = device.send(_raw('textures', textures))
            if uvs.shape != (faces.shape[0], 3, 2):
                raise ValueError('uvs must be [F, 3, 2] with F = {}, got '
                                 'shape {}'.format(faces.shape[0],
                                                   uvs.shape))
            if (textures.ndim != 3 or textures.shape[2] != 3 or
                    textures.shape[0] < 1 or textures.shape[1] < 1):
                raise ValueError('textures must be the image logits [H, W, '
                                 '3] of the UV texture, got shape {}'
                                 .format(textures.shape))
            texture_size = None
        elif textures is None:
            # Drawn with NumPy's global generator whatever the device, so
            # that numpy.random.seed fixes the start on CPU and GPU alike.
            textures = chainer.initializers.generate_array(
                chainer.initializers.Normal(dtype=numpy.float32),
                (faces.shape[0],) + (texture_size,) * 3 + (3,), numpy)
            textures = device.send(textures)
        else:
            textures = device.send(_raw('textures', textures))
            shape = textures.shape
            if (textures.ndim != 5 or shape[0] != faces.shape[0]
                    or shape[1] < 1 or shape[1:] != (shape[1],) * 3 + (3,)):
                raise ValueError('textures must be [F, T, T, T, 3] with F = '
                                 '{}, got shape {}'
                                 .format(faces.shape[0], shape))
            texture_size = shape[1]

        for name, array in (('vertices', vertices), ('textures', textures),
                            ('uvs', uvs)):
            if array is not None and not bool(xp.isfinite(array).all()):
                raise ValueError('{}: expected finite values, got NaN or '
                                 'inf'.format(name))
        with self.init_scope():
            self.vertices = chainer.Parameter(
                xp.array(vertices, numpy.float32))
            self.textures = chainer.Parameter(
                xp.array(textures, numpy.float32))
        self.add_persistent('faces', xp.array(faces, numpy.int32))
        if uvs is None:
            self.uvs = None
        else:
            self.add_persistent('uvs', xp.array(uvs, numpy.float32))
        self.num_vertices = int(vertices.shape[0])
        self.num_faces = int(faces.shape[0])
        self.texture_size = None if texture_size is None \
            else int(texture_size)

    def get_batch(self, batch_size):
        """The mesh repeated ``batch_size`` times, ready for the renderer.

        Returns:
            ``(vertices [B, V, 3] Variable, faces [B, F, 3] int32 array,
            textures [B, F, T, T, T, 3] Variable)``, where ``textures`` are
            the colours ``sigmoid(self.textures)``; gradients of the two
            Variables flow back to the parameters (summed over the batch).
            With a UV texture, ``textures`` is a
            :class:`neural_renderer.UVTexture`: ``self.uvs`` for every
            batch item, one image ``sigmoid(self.textures)`` [1, H, W, 3]
            for all.
        """
        batch_size = _check_positive_int('batch_size', batch_size)
        xp = self.xp
        vertices = F.broadcast_to(self.vertices[None],
                                  (batch_size,) + self.vertices.shape)
        faces = xp.ascontiguousarray(xp.broadcast_to(
            self.faces[None], (batch_size,) + self.faces.shape))
        colours = F.sigmoid(self.textures)
        if self.uvs is not None:
            uvs = xp.ascontiguousarray(xp.broadcast_to(
                self.uvs[None], (batch_size,) + self.uvs.shape))
            return vertices, faces, UVTexture(uvs, colours[None])
        textures = F.broadcast_to(colours[None],
                                  (batch_size,) + colours.shape)
        return vertices, faces, textures

    def set_lr(self, lr_vertices, lr_textures):
        """Per-parameter step multipliers, as the original package.

        Sets ``self.vertices.lr`` and ``self.textures.lr``, which
        :class:`neural_renderer.Adam` multiplies each step of that
        parameter by (other optimisers ignore them).

        Args:
            lr_vertices (float): multiplier of the vertices' steps.
            lr_textures (float): multiplier of the texture logits' steps.
        """
        for name, value in (('lr_vertices', lr_vertices),
                            ('lr_textures', lr_textures)):
            if isinstance(value, bool) or \
                    not isinstance(value, numbers.Real) or \
                    not 0 <= value < float('inf'):
                raise ValueError('{}: expected a finite number >= 0, got '
                                 '{!r}'.format(name, value))
        self.vertices.lr = float(lr_vertices)
        self.textures.lr = float(lr_textures)
