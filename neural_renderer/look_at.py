"""World -> camera transform for a camera at ``eye`` looking at ``at``."""
import numpy

import chainer
from chainer import backend
import chainer.functions as F

from neural_renderer import _checks
from neural_renderer import _vector

# Added to squared norms before the square root: keeps normalisation and its
# gradient finite for a zero vector while changing unit-scale vectors by
# ~1e-20 relative (far below float32 precision).
_NORM_EPS = 1e-20


def _normalize(x, eps=_NORM_EPS):
    return _vector.normalize(x, eps)


def _check_nonzero(name, vector, what):
    # Only for concrete inputs: for Variables being optimised a check would
    # synchronise the GPU every call; the eps in _normalize keeps the result
    # finite there instead.
    xp = backend.get_array_module(vector)
    if bool((xp.abs(vector).max(axis=-1) == 0).any()):
        raise ValueError('{}: {}'.format(name, what))


def _camera_axes(z, up):
    """Camera x and y axes [B, 3] for the forward axis z (unit) and ``up``.

    x = normalize(up x z), y = z x x. When ``up`` is parallel to z (or
    zero), up x z vanishes; then the fallback up vector z x e is used, where
    e is the world axis least aligned with ``up`` (world +x for the default
    up = +y). This gives x = normalize(e - (e . z) z), which for the default
    up is world +x: the limit of an azimuth-0 camera whose elevation goes to
    +-90 degrees, so looking straight down gives camera y = world +z.
    """
    xp = backend.get_array_module(z.array)
    x_raw = _vector.cross(up, z)
    x_norm2 = F.sum(x_raw * x_raw, axis=-1).array
    up_norm2 = F.sum(up * up, axis=-1).array
    # |up x z| = |up| sin(angle); below sqrt(machine eps) the direction of
    # up x z is mostly rounding error, so the fallback is also more accurate.
    tol2 = numpy.finfo(z.dtype).eps
    parallel = x_norm2 <= tol2 * up_norm2
    e = xp.eye(3, dtype=z.dtype)[xp.argmin(xp.abs(up.array), axis=-1)]
    x_fallback = _normalize(
        e - F.broadcast_to(F.sum(z * e, axis=-1, keepdims=True), z.shape) * z)
    x = F.where(xp.broadcast_to(parallel[:, None], z.shape),
                x_fallback, _normalize(x_raw))
    y = _normalize(_vector.cross(z, x))
    return x, y


def _view_transform(vertices, eye, z, up):
    """(vertices - eye) R^T with R rows (x, y, z); eye, z, up [B, 3]."""
    x, y = _camera_axes(z, up)
    vertices = chainer.as_variable(vertices)
    rotation = F.stack((x, y, z), axis=1)  # [B, 3, 3], rows x, y, z
    shifted = vertices - F.broadcast_to(eye[:, None, :], vertices.shape)
    return F.matmul(shifted, rotation, transb=True)


def look_at(vertices, eye, at=None, up=None):
    """Transforms world coordinates to the camera frame of a look-at camera.

    The camera sits at ``eye`` and looks at ``at``. Camera frame (as in the
    original package): z = normalize(at - eye) points forward, x =
    normalize(up x z) right, y = z x x up; the result is
    ``(vertices - eye) R^T`` with R's rows (x, y, z). Seen by the viewer, x
    is right and y up, with z going into the screen.

    If ``up`` is parallel to ``at - eye`` (e.g. looking straight down), a
    fallback up vector is used so that the output stays finite; see
    :func:`_camera_axes` (for the default up, camera x = world +x).

    Args:
        vertices: [B, N, 3] float array or Variable, world coordinates.
        eye: camera position: list/tuple/array of shape [3] or [B, 3], or a
            float Variable/Parameter of those shapes (gradients reach it).
        at: point looked at, same forms as ``eye``; default [0, 0, 0].
        up: up vector (need not be unit), same forms; default [0, 1, 0].

    Returns:
        chainer.Variable [B, N, 3] of the dtype of ``vertices``.

    Raises:
        ValueError: bad shapes; ``eye == at`` or ``up == 0`` when they are
            given as concrete values (not Variables). For Variables these
            degenerate inputs give a finite but meaningless frame.
        TypeError: non-float ``vertices``; unsupported argument types.
    """
    v_array = _checks.check_array('vertices', vertices, ndim=3,
                                  shape_suffix=(3,))
    batch_size = v_array.shape[0]
    if at is None:
        at = (0., 0., 0.)
    if up is None:
        up = (0., 1., 0.)
    eye_v = _checks.as_batched('eye', eye, v_array, batch_size, (3,))
    at_v = _checks.as_batched('at', at, v_array, batch_size, (3,))
    up_v = _checks.as_batched('up', up, v_array, batch_size, (3,))
    if not isinstance(eye, chainer.Variable) and \
            not isinstance(at, chainer.Variable):
        _check_nonzero('eye', at_v.array - eye_v.array,
                       'eye and at must differ (the view direction is at - '
                       'eye)')
    if not isinstance(up, chainer.Variable):
        _check_nonzero('up', up_v.array, 'must be a nonzero vector')
    z = _normalize(at_v - eye_v)
    return _view_transform(vertices, eye_v, z, up_v)
