"""Vector arithmetic on raw arrays (NumPy or CuPy), along the last axis.

What the package's FunctionNodes (``cross``, ``view_transform``,
``face_light``) compute inside their forward and backward passes, written
once: cross products, dot products, normalisation and its backward.
"""
from chainer import backend


def cross_components(a, b):
    """a x b for vectors given as their three components.

    Args:
        a, b: sequences of three arrays (x, y and z components) of
            broadcastable shapes.

    Returns:
        list of the three component arrays of a x b.
    """
    return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2],
            a[0] * b[1] - a[1] * b[0]]


def cross(a, b):
    """a x b along the last axis of arrays [..., 3]."""
    xp = backend.get_array_module(a)
    return xp.stack(cross_components([a[..., k] for k in range(3)],
                                     [b[..., k] for k in range(3)]), axis=-1)


def dot(a, b):
    """a . b along the last axis, kept as an axis of size 1."""
    return (a * b).sum(axis=-1, keepdims=True)


def normalize(w, eps):
    """(n, s): n = w / s with s = sqrt(|w|^2 + eps) along the last axis."""
    xp = backend.get_array_module(w)
    s = xp.sqrt(dot(w, w) + w.dtype.type(eps))
    return w / s, s


def normalize_backward(w, s, gn):
    """Gradient w.r.t. w of n = w / s given gn: gn / s - w (w . gn) / s^3."""
    return gn / s - w * (dot(w, gn) / (s * s * s))
