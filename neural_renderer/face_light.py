"""The flat ambient + directional light factor of each face, as one
FunctionNode (paper sec. 3.5)."""
import numpy

from chainer import backend
import chainer
from chainer import function_node
from chainer.utils import type_check

from neural_renderer import _checks
from neural_renderer.vector_math import cross as _cross
from neural_renderer.vector_math import cross_components as _cross_components
from neural_renderer.vector_math import dot as _dot
from neural_renderer.vector_math import normalize_backward as \
    _normalize_backward

# Added to the squared norm of the face normal before the square root.
# Nonzero so that a zero-area face gets the normal 0 (ambient light only)
# with finite gradients instead of 0 / 0; tiny (still a normal float32) so
# that faces with edges down to ~1e-6 (|cross| >= 1e-12) keep unit normals
# to float32 precision.
NORM_EPS = 1e-30


class FaceLight(function_node.FunctionNode):
    """light = ambient + directional max(n . direction, 0) per face.

    n = normalize((v0 - v1) x (v2 - v1)) is the world-space normal (the
    original's order: it points toward a viewer who sees the face
    counter-clockwise).

    Inputs: ``faces`` [B, F, 3, 3] world coordinates, ``ambient`` [B, 3]
    (I_a c_a), ``directional`` [B, 3] (I_d c_d) and ``direction`` [B, 3],
    one float dtype. Output [B, F, 3], or with ``fill_back`` [B, 2F, 3]:
    then faces F..2F-1 are the reversed copies [v2, v1, v0] of faces
    0..F-1, whose normal is exactly -n (the copies are never gathered). All
    inputs get gradients; a face with n . direction = 0 gets none through
    the clamp (as ``F.relu``).
    """

    def __init__(self, fill_back=False):
        self.fill_back = fill_back

    def _cosine(self, w, s, direction):
        """n . direction = (w . direction) / s per drawn face
        [B, F or 2F]."""
        cosine = (w[0] * direction[:, 0:1] + w[1] * direction[:, 1:2] +
                  w[2] * direction[:, 2:3]) / s
        if self.fill_back:
            xp = backend.get_array_module(cosine)
            cosine = xp.concatenate((cosine, -cosine), axis=1)
        return cosine

    def check_type_forward(self, in_types):
        type_check._argname(in_types, ('faces', 'ambient', 'directional',
                                       'direction'))
        faces_type = in_types[0]
        type_check.expect(
            faces_type.dtype.kind == 'f',
            faces_type.ndim == 4,
            faces_type.shape[2] == 3,
            faces_type.shape[3] == 3,
        )
        for t in in_types[1:]:
            type_check.expect(
                t.dtype == faces_type.dtype,
                t.ndim == 2,
                t.shape[0] == faces_type.shape[0],
                t.shape[1] == 3,
            )

    @staticmethod
    def _normals(faces):
        """Edges a = v0 - v1, b = v2 - v1, w = a x b and s = sqrt(|w|^2 +
        eps), each vector as its three [B, F] components (arithmetic on
        [B, F, 3] arrays would run NumPy's inner loops three elements at a
        time, several times slower at the sizes of a mesh), and [B, F] the
        factor the edges' gradients take.

        The normal does not depend on the edges' scale: on faces whose
        edges are so long that |w|^2 could overflow (a component beyond
        2^24 in float32, 2^240 in float64) a and b are divided by a power of
        two k, exactly, and the factor is 1 / k; elsewhere the arithmetic
        is the plain one, bit for bit, and the factor 1."""
        xp = backend.get_array_module(faces)
        v0, v1, v2 = faces[:, :, 0], faces[:, :, 1], faces[:, :, 2]

        def largest(a, b):
            return xp.maximum(
                xp.maximum(xp.maximum(abs(a[0]), abs(a[1])), abs(a[2])),
                xp.maximum(xp.maximum(abs(b[0]), abs(b[1])), abs(b[2])))

        with numpy.errstate(over='ignore', invalid='ignore'):
            a = [v0[:, :, c] - v1[:, :, c] for c in range(3)]
            b = [v2[:, :, c] - v1[:, :, c] for c in range(3)]
            limit = 2. ** (24 if faces.dtype == numpy.float32 else 240)
            big = ~(largest(a, b) <= limit)
        factor = None
        if bool(big.any()):
            # Halves first: v0 / 2 - v1 / 2 cannot overflow. Then a power
            # of two brings the largest component to at most 1.
            half = faces.dtype.type(0.5)
            a_half = [v0[:, :, c] * half - v1[:, :, c] * half
                      for c in range(3)]
            b_half = [v2[:, :, c] * half - v1[:, :, c] * half
                      for c in range(3)]
            exponent = xp.ceil(xp.log2(xp.maximum(largest(a_half, b_half),
                                                  1)))
            shrink = xp.exp2(-exponent).astype(faces.dtype)
            a = [xp.where(big, a_half[c] * shrink, a[c]) for c in range(3)]
            b = [xp.where(big, b_half[c] * shrink, b[c]) for c in range(3)]
            factor = xp.where(big, shrink * half, 1).astype(faces.dtype)
        w = _cross_components(a, b)
        s = xp.sqrt(w[0] * w[0] + w[1] * w[1] + w[2] * w[2] +
                    faces.dtype.type(NORM_EPS))
        return a, b, w, s, factor

    def forward(self, inputs):
        self.retain_inputs((0, 1, 2, 3))
        faces, ambient, directional, direction = inputs
        _, _, w, s, _ = self._normals(faces)
        cosine = self._cosine(w, s, direction)
        cosine *= cosine > 0
        # Channel by channel: broadcasting [B, F, 1] against [B, 1, 3] runs
        # NumPy's inner loop three elements at a time.
        xp = backend.get_array_module(cosine)
        return xp.stack([ambient[:, c:c + 1] + directional[:, c:c + 1] *
                         cosine for c in range(3)], axis=-1),

    def backward(self, indexes, grad_outputs):
        faces, ambient, directional, direction = [
            v.array for v in self.get_retained_inputs()]
        g = grad_outputs[0].array  # [B, F, 3]
        xp = backend.get_array_module(faces)
        a, b, w, s, factor = self._normals(faces)
        cosine = self._cosine(w, s, direction)[:, :, None]
        lit = cosine > 0
        cosine *= lit
        result = [None] * 4
        if 1 in indexes:
            result[1] = g.sum(axis=1)
        if 2 in indexes:
            result[2] = (g * cosine).sum(axis=1)
        if 0 in indexes or 3 in indexes:
            a, b, w = (xp.stack(v, axis=-1) for v in (a, b, w))
            s = s[:, :, None]
            n = w / s
            g_cosine = _dot(g, directional[:, None, :]) * lit
            if self.fill_back:
                num_faces = faces.shape[1]
                g_cosine = g_cosine[:, :num_faces] - g_cosine[:, num_faces:]
            if 3 in indexes:
                result[3] = (g_cosine * n).sum(axis=1)
            if 0 in indexes:
                gw = _normalize_backward(w, s, g_cosine * direction[:, None])
                ga = _cross(b, gw)
                gb = _cross(gw, a)
                if factor is not None:
                    # Edges divided by k: their gradients too (exactly).
                    ga = ga * factor[:, :, None]
                    gb = gb * factor[:, :, None]
                gf = xp.empty_like(faces)
                gf[:, :, 0] = ga
                gf[:, :, 1] = -ga - gb
                gf[:, :, 2] = gb
                result[0] = gf
        return tuple(None if r is None else chainer.Variable(r)
                     for r in result)


def face_light(faces, intensity_ambient=0.5, intensity_directional=0.5,
               color_ambient=(1, 1, 1), color_directional=(1, 1, 1),
               direction=(0, 1, 0), dtype_like=None, fill_back=False):
    """The light factor of each face, I_a c_a + I_d c_d max(n . direction,
    0), as :func:`neural_renderer.lighting` applies it (same arguments and
    conventions).

    Args:
        faces: [B, F, 3, 3] float array or Variable, world coordinates.
        intensity_ambient, intensity_directional: I_a, I_d: Python number,
            or float array/Variable of shape [] or [B].
        color_ambient, color_directional: c_a, c_d: list/tuple/array [3] or
            [B, 3], or a Variable of those shapes.
        direction: list/tuple/array [3] or [B, 3], or a Variable; points
            from the surface toward the light, used as given (not
            normalised), as in the original.
        dtype_like: array whose dtype the result takes (default: faces').
        fill_back (bool): also the light of the reversed copies [v2, v1,
            v0] of the faces (normal -n), after them: [B, 2F, 3].

    Returns:
        chainer.Variable [B, F, 3] ([B, 2F, 3] with ``fill_back``). The
        renderer hands it to the rasterizer, which multiplies it into the
        sampled texel colour: the texel cubes themselves are never lit,
        copied or multiplied.
    """
    f_array = _checks.check_array('faces', faces, ndim=4, shape_suffix=(3, 3))
    like = f_array if dtype_like is None else dtype_like
    batch_size = f_array.shape[0]

    def param(name, value, item_shape):
        return _checks.as_batched_array(name, value, like, batch_size,
                                        item_shape)

    i_ambient = param('intensity_ambient', intensity_ambient, ())
    i_directional = param('intensity_directional', intensity_directional, ())
    c_ambient = param('color_ambient', color_ambient, (3,))
    c_directional = param('color_directional', color_directional, (3,))
    direction = param('direction', direction, (3,))
    if f_array.dtype != like.dtype:
        faces = chainer.functions.cast(faces, like.dtype)
    # Plain arrays multiply without graph nodes; Variables through Chainer.
    ambient = i_ambient[:, None] * c_ambient
    directional = i_directional[:, None] * c_directional
    light, = FaceLight(fill_back).apply((faces, ambient, directional,
                                         direction))
    return light
