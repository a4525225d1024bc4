"""World -> camera transform as one FunctionNode: the camera frame from a
forward direction and an up vector, then ``(vertices - eye) R^T``.

``look_at`` and ``look`` are thin wrappers. One node instead of the
two dozen small Chainer calls of the frame's cross products and
normalisations: the frame is a handful of [B, 3] vectors, so the calls'
overhead, not their arithmetic, was the cost (benchmarks/README.md,
"Measurements behind the code").
"""
import numpy

import chainer
from chainer import backend
from chainer import function_node
from chainer.utils import type_check

from neural_renderer.vector_math import cross as _cross
from neural_renderer.vector_math import dot as _dot
from neural_renderer.vector_math import normalize as _normalize
from neural_renderer.vector_math import normalize_backward as \
    _normalize_backward

# Added to squared norms before the square root: keeps normalisation and its
# gradient finite for a zero vector while changing unit-scale vectors by
# ~1e-20 relative (far below float32 precision).
NORM_EPS = 1e-20


class ViewTransform(function_node.FunctionNode):
    """``(vertices - eye) R^T`` with R's rows (x, y, z) the camera frame.

    Frame (the original package's): z = normalize(forward), x =
    normalize(up x z), y = normalize(z x x). Where ``up`` is parallel to z
    (|up x z|^2 <= eps_machine |up|^2, or up = 0) the fallback x =
    normalize(e - (e . z) z) is used, e being the world axis least aligned
    with ``up`` (world +x for up = +y): the limit of an azimuth-0 camera
    whose elevation goes to +-90 degrees.

    Inputs: ``vertices`` [B, N, 3], ``eye`` [B, 3], ``forward`` [B, 3]
    (need not be unit), ``up`` [B, 3], one float dtype. Output [B, N, 3]
    camera coordinates: x right, y up, z depth along the view. All four
    inputs get gradients (the fallback's e is a constant).
    """

    def check_type_forward(self, in_types):
        type_check._argname(in_types, ('vertices', 'eye', 'forward', 'up'))
        v_type, eye_type, forward_type, up_type = in_types
        type_check.expect(
            v_type.dtype.kind == 'f',
            v_type.ndim == 3,
            v_type.shape[2] == 3,
        )
        for t in (eye_type, forward_type, up_type):
            type_check.expect(
                t.dtype == v_type.dtype,
                t.ndim == 2,
                t.shape[0] == v_type.shape[0],
                t.shape[1] == 3,
            )

    def _frame(self, forward, up):
        """The frame and what its backward needs."""
        xp = backend.get_array_module(forward)
        z, s_z = _normalize(forward, NORM_EPS)
        x_raw = _cross(up, z)
        x_norm2 = _dot(x_raw, x_raw)
        # |up x z| = |up| sin(angle); below sqrt(machine eps) its direction is
        # mostly rounding error, so the fallback is also more accurate.
        parallel = x_norm2 <= numpy.finfo(z.dtype).eps * _dot(up, up)
        e = xp.eye(3, dtype=z.dtype)[xp.argmin(xp.abs(up), axis=-1)]
        q = e - _dot(e, z) * z
        x_pre = xp.where(parallel, q, x_raw)
        x, s_x = _normalize(x_pre, NORM_EPS)
        w = _cross(z, x)
        y, s_y = _normalize(w, NORM_EPS)
        return dict(z=z, s_z=s_z, parallel=parallel, e=e, x_pre=x_pre, x=x,
                    s_x=s_x, w=w, y=y, s_y=s_y)

    def forward(self, inputs):
        self.retain_inputs((0, 1, 2, 3))
        vertices, eye, forward, up = inputs
        xp = backend.get_array_module(vertices)
        frame = self._frame(forward, up)
        rotation = xp.stack((frame['x'], frame['y'], frame['z']), axis=1)
        shifted = vertices - eye[:, None, :]
        out = xp.matmul(shifted, rotation.transpose(0, 2, 1))
        return xp.ascontiguousarray(out),

    def backward(self, indexes, grad_outputs):
        vertices, eye, forward, up = [v.array for v in
                                      self.get_retained_inputs()]
        gy = grad_outputs[0].array
        xp = backend.get_array_module(vertices)
        frame = self._frame(forward, up)
        rotation = xp.stack((frame['x'], frame['y'], frame['z']), axis=1)
        result = [None] * 4
        # out = shifted R^T: d shifted = gy R, dR = gy^T shifted.
        g_shifted = xp.matmul(gy, rotation)
        if 0 in indexes:
            result[0] = g_shifted
        if 1 in indexes:
            result[1] = -g_shifted.sum(axis=1)
        if 2 in indexes or 3 in indexes:
            shifted = vertices - eye[:, None, :]
            g_rotation = xp.matmul(gy.transpose(0, 2, 1), shifted)
            gx, gy_axis, gz = (g_rotation[:, 0], g_rotation[:, 1],
                               g_rotation[:, 2])
            z, x = frame['z'], frame['x']
            # y = normalize(w), w = z x x.
            gw = _normalize_backward(frame['w'], frame['s_y'], gy_axis)
            gz = gz + _cross(x, gw)
            gx = gx + _cross(gw, z)
            # x = normalize(x_pre); x_pre = up x z, or q = e - (e . z) z.
            g_pre = _normalize_backward(frame['x_pre'], frame['s_x'], gx)
            parallel = frame['parallel']
            g_cross = xp.where(parallel, 0, g_pre).astype(z.dtype)
            g_q = xp.where(parallel, g_pre, 0).astype(z.dtype)
            e = frame['e']
            gz = gz + _cross(g_cross, up)
            gz = gz - _dot(g_q, z) * e - _dot(e, z) * g_q
            if 3 in indexes:
                result[3] = _cross(z, g_cross)
            if 2 in indexes:
                result[2] = _normalize_backward(forward, frame['s_z'], gz)
        return tuple(None if g is None else chainer.Variable(g)
                     for g in result)


def view_transform(vertices, eye, forward, up):
    """World -> camera coordinates; see :class:`ViewTransform`.

    Args:
        vertices: [B, N, 3] float array or Variable.
        eye, forward, up: [B, 3] arrays or Variables of the same dtype.

    Returns:
        chainer.Variable [B, N, 3].
    """
    y, = ViewTransform().apply((vertices, eye, forward, up))
    return y
