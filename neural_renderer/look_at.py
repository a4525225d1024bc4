"""World -> camera transform for a camera at ``eye`` looking at ``at``."""
import numpy

import chainer
from chainer import backend

from neural_renderer import _checks
from neural_renderer.view_transform import view_transform


def _check_nonzero(name, vector, what):
    # Only for concrete inputs: for Variables being optimised a check would
    # synchronise the GPU every call; the eps of the normalisations keeps
    # the result finite there instead.
    xp = backend.get_array_module(vector)
    if bool((xp.abs(vector).max(axis=-1) == 0).any()):
        raise ValueError('{}: {}'.format(name, what))


def _direction_limit(dtype):
    """The largest coordinate of a vector that the camera frame normalises
    (at - eye, direction, up): its squared length must not overflow."""
    return float(numpy.sqrt(numpy.finfo(dtype).max)) / 2


def _check_magnitude(name, vector, limit, what):
    # Concrete inputs only, like _check_nonzero.
    xp = backend.get_array_module(vector)
    largest = float(xp.abs(vector).max()) if vector.size else 0.
    if largest > limit:
        raise ValueError('{}: {} must be at most {:.3g} in each coordinate '
                         'for {} vertices, got {:.3g}'.format(
                             name, what, limit, vector.dtype.name, largest))


def check_camera_vectors(eye_v, forward_v, up_v, forward_name,
                         forward_what, zero_message):
    """The checks look_at and look make on concrete (non-Variable) inputs:
    a nonzero view direction and up vector, and sizes for which the frame's
    normalisation and ``vertices - eye`` do not overflow."""
    if not isinstance(forward_v, chainer.Variable):
        _check_nonzero(forward_name, forward_v, zero_message)
        _check_magnitude(forward_name, forward_v,
                         _direction_limit(forward_v.dtype), forward_what)
    if not isinstance(up_v, chainer.Variable):
        _check_nonzero('up', up_v, 'must be a nonzero vector')
        _check_magnitude('up', up_v, _direction_limit(up_v.dtype), 'up')
    if not isinstance(eye_v, chainer.Variable):
        _check_magnitude('eye', eye_v,
                         float(numpy.finfo(eye_v.dtype).max) / 4,
                         'the camera position')


def look_at(vertices, eye, at=None, up=None):
    """Transforms world coordinates to the camera frame of a look-at camera.

    The camera sits at ``eye`` and looks at ``at``. Camera frame (as in the
    original package): z = normalize(at - eye) points forward, x =
    normalize(up x z) right, y = z x x up; the result is
    ``(vertices - eye) R^T`` with R's rows (x, y, z). Seen by the viewer, x
    is right and y up, with z going into the screen.

    If ``up`` is parallel to ``at - eye`` (e.g. looking straight down), a
    fallback up vector is used so that the output stays finite; see
    :class:`~neural_renderer.view_transform.ViewTransform` (for the default
    up, camera x = world +x).

    Args:
        vertices: [B, N, 3] float array or Variable, world coordinates.
        eye: camera position: list/tuple/array of shape [3] or [B, 3], or a
            float Variable/Parameter of those shapes (gradients reach it).
        at: point looked at, same forms as ``eye``; default [0, 0, 0].
        up: up vector (need not be unit), same forms; default [0, 1, 0].

    Returns:
        chainer.Variable [B, N, 3] of the dtype of ``vertices``.

    Raises:
        ValueError: bad shapes; ``eye == at`` or ``up == 0``, or ``at -
            eye`` or ``up`` with a coordinate above sqrt(dtype max) / 2
            (9.2e18 for float32: their squared length would overflow), when
            given as concrete values (not Variables). For Variables these
            degenerate inputs give a finite but meaningless frame (the
            Renderer reports them when the projection is not finite).
        TypeError: non-float ``vertices``; unsupported argument types.
    """
    v_array = _checks.check_array('vertices', vertices, ndim=3,
                                  shape_suffix=(3,))
    batch_size = v_array.shape[0]
    if at is None:
        at = (0., 0., 0.)
    if up is None:
        up = (0., 1., 0.)
    eye_v = _checks.as_batched_array('eye', eye, v_array, batch_size, (3,))
    at_v = _checks.as_batched_array('at', at, v_array, batch_size, (3,))
    up_v = _checks.as_batched_array('up', up, v_array, batch_size, (3,))
    forward_v = at_v - eye_v
    check_camera_vectors(
        eye_v, forward_v, up_v, 'eye, at', 'the view direction at - eye',
        'eye and at must differ (the view direction is at - eye)')
    return view_transform(vertices, eye_v, forward_v, up_v)
