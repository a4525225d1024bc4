"""World -> camera transform for a camera looking along a direction."""
from neural_renderer import _checks
from neural_renderer.look_at import check_camera_vectors
from neural_renderer.view_transform import view_transform


def look(vertices, eye, direction=None, up=None):
    """Transforms world coordinates to the frame of a camera looking along
    ``direction``.

    Same camera frame as :func:`neural_renderer.look_at.look_at`, with the
    forward axis given directly: z = normalize(direction), x =
    normalize(up x z), y = z x x, result ``(vertices - eye) R^T`` with R's
    rows (x, y, z). ``direction`` need not be unit. When ``up`` is parallel
    to ``direction`` the same fallback up vector as ``look_at`` is used
    (camera x = world +x for the default up).

    Args:
        vertices: [B, N, 3] float array or Variable, world coordinates.
        eye: camera position: list/tuple/array [3] or [B, 3], or a float
            Variable/Parameter of those shapes (gradients reach it).
        direction: viewing direction, same forms; default [0, 0, 1].
        up: up vector, same forms; default [0, 1, 0].

    Returns:
        chainer.Variable [B, N, 3] of the dtype of ``vertices``.

    Raises:
        ValueError: bad shapes; a zero ``direction`` or ``up``, or one with
            a coordinate above sqrt(dtype max) / 2 (9.2e18 for float32),
            given as a concrete value (for Variables the result stays
            finite, or the Renderer reports it).
        TypeError: non-float ``vertices``; unsupported argument types.
    """
    v_array = _checks.check_array('vertices', vertices, ndim=3,
                                  shape_suffix=(3,))
    batch_size = v_array.shape[0]
    if direction is None:
        direction = (0., 0., 1.)
    if up is None:
        up = (0., 1., 0.)
    eye_v = _checks.as_batched_array('eye', eye, v_array, batch_size, (3,))
    direction_v = _checks.as_batched_array('direction', direction, v_array,
                                           batch_size, (3,))
    up_v = _checks.as_batched_array('up', up, v_array, batch_size, (3,))
    check_camera_vectors(eye_v, direction_v, up_v, 'direction',
                         'direction', 'must be a nonzero vector')
    return view_transform(vertices, eye_v, direction_v, up_v)
