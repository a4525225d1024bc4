"""Small input checks shared by the public functions.

Every error names the argument and says what was expected, so that a user
passing e.g. faces of the wrong rank learns which argument is wrong without
reading a traceback through Chainer internals.

Arrays may be NumPy or CuPy arrays, or ``chainer.Variable`` objects (their
``.array`` is checked).
"""
import numbers

import numpy

import chainer
from chainer import backend
import chainer.functions as F


def unwrap(x):
    """The raw array of a chainer.Variable; anything else as it is."""
    return x.array if isinstance(x, chainer.Variable) else x


def _format_shape(ndim, shape_suffix):
    if ndim is None and shape_suffix is None:
        return 'any shape'
    suffix = [str(s) if s is not None else '*' for s in (shape_suffix or ())]
    if isinstance(ndim, int):
        lead = ['*'] * (ndim - len(suffix))
        return '[' + ', '.join(lead + suffix) + ']'
    if ndim is not None:
        return '{}-D [..., {}]'.format(
            ' or '.join(str(n) for n in ndim), ', '.join(suffix))
    return '[..., ' + ', '.join(suffix) + ']'


def check_array(name, x, ndim=None, shape_suffix=None, dtype_kind='f'):
    """Checks an array argument and returns its raw (NumPy/CuPy) array.

    Args:
        name (str): argument name used in error messages.
        x: ``numpy.ndarray``, ``cupy.ndarray`` or ``chainer.Variable``.
        ndim (int or tuple of int or None): allowed ranks.
        shape_suffix (tuple or None): required trailing dimensions; ``None``
            entries match any size (e.g. ``(3, 3)`` for faces [B, F, 3, 3]).
        dtype_kind (str or None): allowed ``dtype.kind`` characters, e.g.
            ``'f'`` for floats, ``'iu'`` for integers; None allows any.

    Raises:
        TypeError: ``x`` is not an array or has the wrong dtype kind.
        ValueError: ``x`` has the wrong rank or trailing dimensions.
    """
    array = unwrap(x)
    if not isinstance(array, chainer.get_array_types()):
        raise TypeError(
            '{}: expected a numpy/cupy array or a chainer.Variable, got {}'
            .format(name, type(x).__name__))
    expected = _format_shape(ndim, shape_suffix)
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if array.ndim not in allowed:
            raise ValueError('{}: expected shape {}, got {}'.format(
                name, expected, tuple(array.shape)))
    if shape_suffix is not None:
        n = len(shape_suffix)
        tail = tuple(array.shape[array.ndim - n:]) if n else ()
        if array.ndim < n or any(
                s is not None and s != t for s, t in zip(shape_suffix, tail)):
            raise ValueError('{}: expected shape {}, got {}'.format(
                name, expected, tuple(array.shape)))
    if dtype_kind is not None and array.dtype.kind not in dtype_kind:
        kinds = {'f': 'floating', 'i': 'signed integer',
                 'u': 'unsigned integer', 'b': 'bool'}
        raise TypeError('{}: expected a {} dtype, got {}'.format(
            name, ' or '.join(kinds.get(k, k) for k in dtype_kind),
            array.dtype))
    return array


def check_finite(name, x):
    """Raises ValueError if ``x`` (array or Variable) has a NaN or inf.

    On the GPU this synchronises (it reads one bool back).
    """
    array = unwrap(x)
    xp = backend.get_array_module(array)
    if not bool(xp.isfinite(array).all()):
        raise ValueError('{}: must be finite, got NaN or inf'.format(name))


def check_representable(name, x, dtype):
    """Raises ValueError if the finite values ``x`` overflow ``dtype``
    (e.g. 1e39 given for float32 computations)."""
    array = unwrap(x)
    dtype = numpy.dtype(dtype)
    if dtype.kind != 'f':
        return
    limit = float(numpy.finfo(dtype).max)
    xp = backend.get_array_module(array)
    if array.size and float(xp.abs(array).max()) > limit:
        raise ValueError(
            '{}: values must be at most {:.3g} in magnitude for {} '
            'computations, got {:.3g}'.format(
                name, limit, dtype.name, float(xp.abs(array).max())))


def as_batched(name, value, like, batch_size, item_shape):
    """Converts a scalar/vector argument to a Variable [B, *item_shape].

    Used for arguments such as ``eye``, light colours or intensities that
    may be given once for the whole batch or once per batch item.

    Args:
        name (str): argument name for error messages.
        value: Python number, list/tuple, NumPy/CuPy array or Variable, of
            shape ``item_shape``, ``[1, *item_shape]`` or
            ``[B, *item_shape]``.
        like: array whose device and dtype the result takes (Variables of
            another float dtype are cast, differentiably).
        batch_size (int): B.
        item_shape (tuple of int): per-item shape, e.g. ``(3,)`` or ``()``.

    Returns:
        chainer.Variable of shape ``(B,) + item_shape``. Gradients reach
        ``value`` when it is a Variable (summed over the broadcast batch).
    """
    return chainer.as_variable(
        as_batched_array(name, value, like, batch_size, item_shape))


def as_batched_array(name, value, like, batch_size, item_shape):
    """:func:`as_batched`, but a value that is not a Variable comes back as
    a plain (C-contiguous) array: no graph node is made for constants."""
    like = unwrap(like)
    device = backend.get_device_from_array(like)
    if isinstance(value, chainer.Variable):
        if value.dtype.kind != 'f':
            raise TypeError('{}: expected a floating dtype, got {}'.format(
                name, value.dtype))
        if backend.get_device_from_array(value.array) != device:
            raise ValueError('{}: is on {}, but the other inputs are on {}'
                             .format(name, value.device, device))
        var = value if value.dtype == like.dtype else F.cast(value, like.dtype)
        shape = tuple(var.shape)
    else:
        if isinstance(value, chainer.get_array_types()):
            array = device.send(value)
        elif isinstance(value, (numbers.Real, list, tuple, numpy.generic)):
            array = numpy.asarray(value)
            if array.dtype.kind not in 'biuf':
                raise TypeError('{}: expected numbers, got {!r}'.format(
                    name, value))
            array = device.send(array)
        else:
            raise TypeError(
                '{}: expected a number, list, array or chainer.Variable, '
                'got {}'.format(name, type(value).__name__))
        if array.dtype.kind not in 'biuf':
            raise TypeError('{}: expected a numeric dtype, got {}'.format(
                name, array.dtype))
        check_finite(name, array)
        if array.dtype != like.dtype:
            check_representable(name, array, like.dtype)
        var = array.astype(like.dtype, copy=False)
        shape = tuple(var.shape)
    item_shape = tuple(item_shape)
    full = (batch_size,) + item_shape
    if shape in (item_shape, (1,) + item_shape) and shape != full:
        if isinstance(var, chainer.Variable):
            return F.broadcast_to(var, full)
        xp = backend.get_array_module(var)
        return xp.ascontiguousarray(xp.broadcast_to(var, full))
    if shape != full:
        item = ', '.join(str(s) for s in item_shape)
        single = '[{}]'.format(item) if item else 'a scalar'
        raise ValueError('{}: expected {} or shape [B={}{}], got shape {}'
                         .format(name, single, batch_size,
                                 ', ' + item if item else '', shape))
    if isinstance(var, chainer.Variable):
        return var
    return backend.get_array_module(var).ascontiguousarray(var)
