"""Perspective projection of camera-frame points to NDC."""
import math
import numbers

import numpy

import chainer
from chainer import backend
from chainer import function_node
import chainer.functions as F
from chainer.utils import type_check

from neural_renderer import _checks


class Perspective(function_node.FunctionNode):
    """x' = x / (z k r), y' = y / (z k), z' = z, with k = tan(angle).

    Inputs: ``vertices`` [B, N, 3] camera coordinates, ``tangent`` [B]
    (k per batch item), one float dtype; ``aspect_ratio`` r is a constant.
    Output [B, N, 3]. Both inputs get gradients.
    """

    def __init__(self, aspect_ratio):
        self.aspect_ratio = aspect_ratio

    def check_type_forward(self, in_types):
        type_check._argname(in_types, ('vertices', 'tangent'))
        v_type, k_type = in_types
        type_check.expect(
            v_type.dtype.kind == 'f',
            v_type.ndim == 3,
            v_type.shape[2] == 3,
            k_type.dtype == v_type.dtype,
            k_type.ndim == 1,
            k_type.shape[0] == v_type.shape[0],
        )

    def forward(self, inputs):
        self.retain_inputs((0, 1))
        vertices, tangent = inputs
        xp = backend.get_array_module(vertices)
        z = vertices[:, :, 2]
        k = tangent[:, None]
        out = xp.empty_like(vertices)
        # z = 0 gives inf / NaN on purpose (see perspective()); NumPy's
        # warnings about it would only repeat that.
        with numpy.errstate(divide='ignore', invalid='ignore'):
            out[:, :, 0] = vertices[:, :, 0] / (
                z * (k * vertices.dtype.type(self.aspect_ratio)))
            out[:, :, 1] = vertices[:, :, 1] / (z * k)
        out[:, :, 2] = z
        return out,

    def backward(self, indexes, grad_outputs):
        vertices, tangent = [v.array for v in self.get_retained_inputs()]
        g = grad_outputs[0].array
        xp = backend.get_array_module(vertices)
        x, y, z = vertices[:, :, 0], vertices[:, :, 1], vertices[:, :, 2]
        r = vertices.dtype.type(self.aspect_ratio)
        # Points that receive no gradient (not drawn, or used by no face)
        # pass on none, even at z = 0 where 0 / z would be NaN.
        dead = (g == 0).all(axis=2)
        z = xp.where(dead, 1, z)
        inv_height = 1 / (z * tangent[:, None])
        gx_r = g[:, :, 0] * inv_height / r
        gy_r = g[:, :, 1] * inv_height
        # d(x / (z k r)) = dx / (z k r) - x' (dz / z + dk / k).
        projected = xp.where(dead, 0, gx_r * x + gy_r * y)
        result = [None, None]
        if 0 in indexes:
            gv = xp.empty_like(vertices)
            gv[:, :, 0] = gx_r
            gv[:, :, 1] = gy_r
            gv[:, :, 2] = g[:, :, 2] - projected / z
            result[0] = chainer.Variable(gv)
        if 1 in indexes:
            result[1] = chainer.Variable(
                -projected.sum(axis=1) / tangent)
        return tuple(result)


def _check_tangent(angle, tangent):
    # An angle so small that tan(angle) rounds to 0 (or a subnormal) in the
    # vertices' dtype would divide by zero.
    tiny = numpy.finfo(tangent.dtype).tiny
    if not bool((tangent >= tiny).all()):
        raise ValueError(
            'angle: expected degrees in (0, 90) whose tangent is a normal {} '
            'number (at least {:.3g} degrees), got {!r}'.format(
                tangent.dtype.name, math.degrees(float(tiny)), angle))


def perspective(vertices, angle=30., aspect_ratio=1.):
    """Projects camera-frame points to NDC x, y and depth z.

    x' = x / (z tan(a) r), y' = y / (z tan(a)), z' = z.

    Camera frame as produced by ``look_at``/``look``: x right, y up, z the
    depth in front of the camera. Points inside the view frustum land in
    x', y' in [-1, 1] (NDC); z is kept for the depth test.

    Args:
        vertices: [B, N, 3] float array or Variable.
        angle: half field of view ``a`` in degrees (vertical half angle when
            ``aspect_ratio`` != 1). A Python number in (0, 90), or a float
            array/Variable of shape [] or [B] (per batch item; a Variable
            gets gradients) with every element in (0, 90). The tangent must
            not underflow the dtype (angle >= 6.7e-37 degrees in float32).
        aspect_ratio (float): image width / height ``r``; x is divided by
            it too so that pixels stay square. The default 1 is the
            original package's square projection.

    Returns:
        chainer.Variable [B, N, 3] of the dtype of ``vertices``.

    Raises:
        ValueError: ``angle`` (any element of it) outside (0, 90) degrees,
            a bad ``aspect_ratio`` or bad ``vertices``.

    Points with z = 0 divide by zero (inf/NaN), as in the original: the
    rasterizer is expected not to draw faces at or behind the camera (the
    Renderer reports vertices of drawn faces at depth 0 before
    rasterizing). A point whose incoming gradient is zero gets a zero
    gradient whatever its z.
    """
    v_array = _checks.check_array('vertices', vertices, ndim=3,
                                  shape_suffix=(3,))
    if not isinstance(aspect_ratio, numbers.Real) or \
            not 0 < aspect_ratio < float('inf'):
        raise ValueError('aspect_ratio: expected a positive number, got '
                         '{!r}'.format(aspect_ratio))
    xp = backend.get_array_module(v_array)
    if isinstance(angle, numbers.Real):
        if not 0 < angle < 90:
            raise ValueError('angle: expected degrees in (0, 90), got '
                             '{!r}'.format(angle))
        tangent = xp.full((v_array.shape[0],), math.tan(math.radians(angle)),
                          v_array.dtype)
        _check_tangent(angle, tangent)
    else:
        angle_v = _checks.as_batched_array('angle', angle, v_array,
                                           v_array.shape[0], ())
        # Elementwise, also for a Variable (one read-back on the GPU): an
        # angle of 0 divides by zero and one of 90 or more mirrors the image
        # silently.
        angle_array = _checks.unwrap(angle_v)
        inside = (angle_array > 0) & (angle_array < 90)
        if not bool(inside.all()):
            bad = angle_array[~inside]
            raise ValueError(
                'angle: expected degrees in (0, 90) for every batch item, '
                'got {} at batch item(s) {}'.format(
                    backend.CpuDevice().send(bad[:5]).tolist(),
                    backend.CpuDevice().send(
                        xp.flatnonzero(~inside)[:5]).tolist()))
        if isinstance(angle_v, chainer.Variable):
            tangent = F.tan(angle_v * (math.pi / 180.))
        else:
            tangent = xp.tan(angle_v * (math.pi / 180.))
        _check_tangent(angle, _checks.unwrap(tangent))
    y, = Perspective(float(aspect_ratio)).apply((vertices, tangent))
    return y
