"""Differentiable 3-vector helpers on Variables [..., 3]."""
import chainer.functions as F


def cross(a, b):
    """Cross product along the last axis."""
    a0, a1, a2 = F.separate(a, axis=-1)
    b0, b1, b2 = F.separate(b, axis=-1)
    return F.stack((a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0),
                   axis=-1)


def normalize(x, eps):
    """x / |x| along the last axis; ``eps`` is added to |x|^2 so that a zero
    vector gives 0 with a finite gradient."""
    norm = F.sqrt(F.sum(x * x, axis=-1, keepdims=True) + eps)
    return x / F.broadcast_to(norm, x.shape)
