"""Camera position from spherical angles around the origin."""
import math
import numbers

import numpy

import chainer
from chainer import backend
import chainer.functions as F

from neural_renderer._checks import unwrap


def _result_dtype(arrays):
    # Python numbers do not take part in the dtype (like NumPy 2's weak
    # scalars); with no floating array at all, float32 as everywhere else.
    floats = [a.dtype for a in arrays if a.dtype.kind == 'f']
    return numpy.result_type(*floats) if floats else numpy.dtype('float32')


def get_points_from_angles(distance, elevation, azimuth, degrees=True):
    """Position of a camera on a sphere around the origin (world y up).

    Returns ``(d cos(el) sin(az), d sin(el), -d cos(el) cos(az))``: azimuth
    0 and elevation 0 put the camera on the -z axis (looking toward +z, the
    renderer's default view), positive elevation raises it toward +y and
    azimuth turns it from -z toward +x.

    Args:
        distance, elevation, azimuth: Python numbers, NumPy/CuPy arrays or
            ``chainer.Variable`` objects; arrays broadcast against each
            other (typically all scalars, or all of shape [B]).
        degrees (bool): angles are in degrees (default) rather than radians.

    Returns:
        * all Python numbers: a tuple of 3 Python floats, as in the
          original package (it can be used as a renderer's ``eye``);
        * any Variable: a Variable of shape ``broadcast_shape + (3,)``
          (e.g. [B, 3], or [3] for 0-d inputs), differentiable w.r.t. every
          Variable input;
        * otherwise (arrays, no Variable): an array of that shape.
        The dtype is that of the floating array inputs (float32 if none).
    """
    args = (distance, elevation, azimuth)
    names = ('distance', 'elevation', 'azimuth')
    array_types = chainer.get_array_types()
    for name, a in zip(names, args):
        if not isinstance(a, (chainer.Variable, numbers.Real) + array_types):
            raise TypeError(
                '{}: expected a number, array or chainer.Variable, got {}'
                .format(name, type(a).__name__))
        if isinstance(a, chainer.Variable) and a.dtype.kind != 'f':
            raise TypeError('{}: expected a floating dtype, got {}'.format(
                name, a.dtype))

    if not any(isinstance(a, (chainer.Variable,) + array_types)
               for a in args):
        if degrees:
            elevation = math.radians(elevation)
            azimuth = math.radians(azimuth)
        return (
            float(distance * math.cos(elevation) * math.sin(azimuth)),
            float(distance * math.sin(elevation)),
            float(-distance * math.cos(elevation) * math.cos(azimuth)),
        )

    raw = [unwrap(a) for a in args]
    ref = next(a for a in raw if isinstance(a, array_types))
    device = backend.get_device_from_array(ref)
    dtype = _result_dtype([a for a in raw if isinstance(a, array_types)])
    use_variables = any(isinstance(a, chainer.Variable) for a in args)

    values = []
    for a in args:
        if isinstance(a, chainer.Variable):
            values.append(a if a.dtype == dtype else F.cast(a, dtype))
        else:
            values.append(device.send(numpy.asarray(a, dtype=dtype))
                          if not isinstance(a, array_types)
                          else device.send(a).astype(dtype, copy=False))
    shape = numpy.broadcast_shapes(*[tuple(v.shape) for v in values])

    if use_variables:
        d, el, az = [F.broadcast_to(chainer.as_variable(v), shape)
                     for v in values]
        if degrees:
            el = el * (math.pi / 180.)
            az = az * (math.pi / 180.)
        cos_el = F.cos(el)
        return F.stack(
            (d * cos_el * F.sin(az), d * F.sin(el), -d * cos_el * F.cos(az)),
            axis=-1)

    xp = device.xp
    d, el, az = [xp.broadcast_to(v, shape) for v in values]
    if degrees:
        el = el * dtype.type(math.pi / 180.)
        az = az * dtype.type(math.pi / 180.)
    cos_el = xp.cos(el)
    return xp.stack(
        (d * cos_el * xp.sin(az), d * xp.sin(el), -d * cos_el * xp.cos(az)),
        axis=-1).astype(dtype, copy=False)
