"""A mesh whose vertices and textures are trainable parameters."""
import numbers

import numpy

import neural_renderer_compat  # NOQA  (before chainer)
import chainer
from chainer import backend
import chainer.functions as F

from neural_renderer.load_obj import load_obj


def _check_positive_int(name, value):
    if (isinstance(value, bool) or not isinstance(value, numbers.Integral)
            or value < 1):
        raise ValueError('{} must be an int >= 1, got {!r}'
                         .format(name, value))
    return int(value)


def _raw(name, x):
    if isinstance(x, chainer.Variable):
        x = x.array
    if not isinstance(x, chainer.get_array_types()):
        x = numpy.asarray(x)
    return x


class Mesh(chainer.Link):
    """A mesh as a ``chainer.Link``: optimise its shape and colours.

    Attributes:
        vertices (chainer.Parameter): [V, 3] float32.
        faces (array): [F, 3] int32, a persistent value (not trained; moved
            by ``to_gpu`` / ``to_device`` and saved by serializers).
        textures (chainer.Parameter): [F, T, T, T, 3] float32. Initialised to
            1 (white, the colour the renderer's examples use for untextured
            meshes), or from the .mtl materials with ``load_texture=True``.
        num_vertices, num_faces, texture_size (int).

    Args:
        filename_obj (str or path): OBJ file, read with :func:`load_obj`.
        texture_size (int >= 1): T.
        normalization (bool): normalise the vertices as :func:`load_obj`
            does (longest axis spans [-1, 1], centred).
        load_texture (bool): initialise the textures from the OBJ's
            materials instead of white.

    Use :meth:`from_arrays` for meshes built in code.
    """

    def __init__(self, filename_obj, texture_size=4, normalization=True,
                 load_texture=False):
        super(Mesh, self).__init__()
        texture_size = _check_positive_int('texture_size', texture_size)
        loaded = load_obj(filename_obj, normalization=normalization,
                          texture_size=texture_size,
                          load_texture=load_texture)
        self._setup(*loaded, texture_size=texture_size)

    @classmethod
    def from_arrays(cls, vertices, faces, textures=None, texture_size=4):
        """A Mesh from arrays (NumPy, CuPy or chainer.Variable).

        Args:
            vertices: [V, 3] floats.
            faces: [F, 3] integer vertex indices (zero-based).
            textures: None (white cubes of size ``texture_size``) or
                [F, T, T, T, 3] floats; T is then taken from it.
            texture_size (int >= 1): T when ``textures`` is None.
        """
        mesh = cls.__new__(cls)
        chainer.Link.__init__(mesh)
        texture_size = _check_positive_int('texture_size', texture_size)
        mesh._setup(vertices, faces, textures, texture_size=texture_size)
        return mesh

    def _setup(self, vertices, faces, textures=None, texture_size=4):
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
        if textures is None:
            textures = xp.ones((faces.shape[0],) + (texture_size,) * 3 + (3,),
                               numpy.float32)
        else:
            textures = device.send(_raw('textures', textures))
            shape = textures.shape
            if (textures.ndim != 5 or shape[0] != faces.shape[0]
                    or shape[1] < 1 or shape[1:] != (shape[1],) * 3 + (3,)):
                raise ValueError('textures must be [F, T, T, T, 3] with F = '
                                 '{}, got shape {}'
                                 .format(faces.shape[0], shape))
            texture_size = shape[1]

        with self.init_scope():
            self.vertices = chainer.Parameter(
                xp.array(vertices, numpy.float32))
            self.textures = chainer.Parameter(
                xp.array(textures, numpy.float32))
        self.add_persistent('faces', xp.array(faces, numpy.int32))
        self.num_vertices = int(vertices.shape[0])
        self.num_faces = int(faces.shape[0])
        self.texture_size = int(texture_size)

    def get_batch(self, batch_size):
        """The mesh repeated ``batch_size`` times, ready for the renderer.

        Returns:
            ``(vertices [B, V, 3] Variable, faces [B, F, 3] int32 array,
            textures [B, F, T, T, T, 3] Variable)``; gradients of the two
            Variables flow back to the parameters (summed over the batch).
        """
        batch_size = _check_positive_int('batch_size', batch_size)
        xp = self.xp
        vertices = F.broadcast_to(self.vertices[None],
                                  (batch_size,) + self.vertices.shape)
        faces = xp.ascontiguousarray(xp.broadcast_to(
            self.faces[None], (batch_size,) + self.faces.shape))
        textures = F.broadcast_to(self.textures[None],
                                  (batch_size,) + self.textures.shape)
        return vertices, faces, textures
