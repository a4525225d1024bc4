"""Perspective projection of camera-frame points to NDC."""
import math
import numbers

import chainer
import chainer.functions as F

from neural_renderer import _checks


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
            gets gradients).
        aspect_ratio (float): image width / height ``r``; x is divided by
            it too so that pixels stay square. The default 1 is the
            original package's square projection.

    Returns:
        chainer.Variable [B, N, 3] of the dtype of ``vertices``.

    Points with z = 0 divide by zero (inf/NaN), as in the original: the
    rasterizer is expected not to draw faces at or behind the camera.
    """
    v_array = _checks.check_array('vertices', vertices, ndim=3,
                                  shape_suffix=(3,))
    if not isinstance(aspect_ratio, numbers.Real) or \
            not 0 < aspect_ratio < float('inf'):
        raise ValueError('aspect_ratio: expected a positive number, got '
                         '{!r}'.format(aspect_ratio))
    x, y, z = F.separate(chainer.as_variable(vertices), axis=2)
    if isinstance(angle, numbers.Real):
        if not 0 < angle < 90:
            raise ValueError('angle: expected degrees in (0, 90), got '
                             '{!r}'.format(angle))
        width = math.tan(math.radians(angle))
        height_scale = z * width
        width_scale = z * (width * aspect_ratio)
    else:
        angle_v = _checks.as_batched('angle', angle, v_array,
                                     v_array.shape[0], ())
        width = F.tan(angle_v * (math.pi / 180.))
        height_scale = z * F.broadcast_to(width[:, None], z.shape)
        width_scale = height_scale * aspect_ratio
    return F.stack((x / width_scale, y / height_scale, z), axis=2)
