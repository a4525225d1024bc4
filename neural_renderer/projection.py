"""The calibrated camera of the PyTorch port: intrinsics K, extrinsics R, t
and OpenCV (Brown-Conrady) lens distortion.

``projection(vertices, K, R, t, dist_coeffs, orig_size)`` is the port's
``neural_renderer.projection``: world points to the renderer's screen
coordinates. It is two steps, which the renderer's ``camera_mode=
'projection'`` uses apart (near and far clipping happen between them, in
camera space, as in the other modes):

* ``calibrated_camera(vertices, R, t)``: camera coordinates ``X R^T + t``
  (x right, y down, z forward: OpenCV's frame);
* ``calibrated_screen(camera, K, dist_coeffs, orig_size, eps)``: x' = x / (z
  + eps), y' = y / (z + eps); distortion (k1, k2, p1, p2, k3); pixel
  coordinates u, v = K (x'', y'', 1); v flipped (v -> H - v: OpenCV's rows
  run down, the renderer's y up); u, v mapped from [0, W] and [0, H] to
  [-1, 1]; z kept as the depth.

``orig_size`` is the size in pixels of the image K was calibrated for: S
for S x S (the port's one number), or a (height, width) pair for a
rectangular image, u then mapped by the width and v by the height. The
centre of pixel (row i, column j) of that image is u = j + 0.5,
v = i + 0.5, which is where the renderer samples pixel (i, j) when it
draws at that size (its pixel centres are at NDC x = (2j + 1 - W) / W).

Everything is composed of Chainer functions: gradients reach the vertices,
K, R, t and the distortion coefficients.
"""
import numbers

import numpy

import chainer
from chainer import backend
import chainer.functions as F

from neural_renderer import _checks


def _batch(name, x, batch_size, shape, dtype):
    """``x`` ([B or 1] + shape, or shape alone) of ``dtype`` as a Variable
    or array broadcast to [batch_size] + shape; errors name ``name``."""
    array = _checks.unwrap(x)
    if not isinstance(array, chainer.get_array_types()):
        raise TypeError('{}: expected a numpy/cupy array or a '
                        'chainer.Variable, got {}'.format(
                            name, type(x).__name__))
    if array.dtype.kind != 'f':
        raise TypeError('{}: expected a float array, got {}'.format(
            name, array.dtype))
    shape = tuple(shape)
    if array.shape == shape:
        x = F.expand_dims(x, 0) if isinstance(x, chainer.Variable) \
            else array[None]
        array = _checks.unwrap(x)
    if array.shape[1:] != shape or array.shape[0] not in (1, batch_size):
        raise ValueError('{}: expected shape [{}, {}] (or [1, ...] for one '
                         'camera), got {}'.format(
                             name, batch_size, ', '.join(map(str, shape)),
                             list(array.shape)))
    if not bool(backend.get_array_module(array).isfinite(array).all()):
        raise ValueError('{}: expected finite values'.format(name))
    if array.dtype != dtype:
        raise TypeError('{}: expected the dtype of vertices ({}), got '
                        '{}'.format(name, dtype, array.dtype))
    if array.shape[0] != batch_size:
        x = F.broadcast_to(x, (batch_size,) + shape)
    return x


def image_size_of(orig_size):
    """``orig_size`` as (height, width) floats; an error names it."""
    if isinstance(orig_size, (tuple, list)):
        if len(orig_size) != 2:
            raise ValueError('orig_size: expected a number or a (height, '
                             'width) pair, got {!r}'.format(orig_size))
        height, width = orig_size
    else:
        height = width = orig_size
    for value in (height, width):
        if isinstance(value, bool) or not isinstance(
                value, numbers.Real) or not numpy.isfinite(value) or \
                value <= 0:
            raise ValueError('orig_size: expected positive numbers (the '
                             'calibrated image size in pixels), got '
                             '{!r}'.format(orig_size))
    return float(height), float(width)


def calibrated_camera(vertices, R, t):
    """Camera coordinates ``X R^T + t`` of world points.

    Args:
        vertices: [B, N, 3] float (Variable or array).
        R: rotation [B, 3, 3] (or [1, 3, 3] / [3, 3]: one for the batch).
        t: translation [B, 1, 3] or [B, 3] (or one for the batch).

    Returns:
        chainer.Variable [B, N, 3]: x right, y down, z forward.

    ``vertices`` are checked by the caller (:func:`projection`, or the
    Renderer before its camera).
    """
    array = _checks.unwrap(vertices)
    batch_size = array.shape[0]
    R = _batch('R', R, batch_size, (3, 3), array.dtype)
    t_array = _checks.unwrap(t)
    if getattr(t_array, 'ndim', None) == 3 and t_array.shape[1:] == (1, 3):
        t = F.reshape(t, (t_array.shape[0], 3))
    t = _batch('t', t, batch_size, (3,), array.dtype)
    return F.matmul(vertices, R, transb=True) + F.broadcast_to(
        F.expand_dims(t, 1), array.shape)


def calibrated_screen(camera, K, dist_coeffs=None, orig_size=1024,
                      eps=1e-9):
    """Screen coordinates of camera points through intrinsics ``K`` and
    lens distortion (see the module docstring).

    Args:
        camera: [B, N, 3] camera coordinates (``calibrated_camera``).
        K: [B, 3, 3] intrinsics (or one for the batch); the first two rows
            are used, as in the port.
        dist_coeffs: [B, 5] (k1, k2, p1, p2, k3), one for the batch, or None
            (no distortion).
        orig_size: S or (height, width) of the calibrated image in pixels.
        eps (float): added to z before the division.

    Returns:
        chainer.Variable [B, N, 3]: x, y in NDC (y up), z the depth.
    """
    array = _checks.check_array('vertices', camera, ndim=3,
                                shape_suffix=(3,))
    batch_size = array.shape[0]
    height, width = image_size_of(orig_size)
    K = _batch('K', K, batch_size, (3, 3), array.dtype)
    k_array = _checks.unwrap(K)
    # The 2 x 2 block maps (x'', y'') to (u, v): singular, the image of every
    # point collapses onto a line. (In float64: a float32 product of long
    # focal lengths may overflow.)
    k64 = k_array.astype(numpy.float64)
    det = k64[:, 0, 0] * k64[:, 1, 1] - k64[:, 0, 1] * k64[:, 1, 0]
    if not bool((det != 0).all()):
        raise ValueError('K: expected intrinsics with K[0, 0] K[1, 1] - '
                         'K[0, 1] K[1, 0] != 0 (focal lengths), got a '
                         'singular one')
    dtype = array.dtype
    if dist_coeffs is not None:
        dist_coeffs = _batch('dist_coeffs', dist_coeffs, batch_size, (5,),
                             dtype)
    # Overflow gives inf, which the renderer reports naming the camera;
    # NumPy's warnings about it would only repeat that.
    with numpy.errstate(over='ignore', invalid='ignore'):
        return _distort_and_map(camera, K, dist_coeffs, dtype, height,
                                width, eps)


def _distort_and_map(camera, K, dist_coeffs, dtype, height, width, eps):
    x, y, z = (camera[:, :, i] for i in range(3))
    x_ = x / (z + dtype.type(eps))
    y_ = y / (z + dtype.type(eps))
    if dist_coeffs is not None:
        k1, k2, p1, p2, k3 = (
            F.broadcast_to(dist_coeffs[:, i:i + 1], x.shape)
            for i in range(5))
        r2 = x_ * x_ + y_ * y_
        radial = 1 + k1 * r2 + k2 * r2 * r2 + k3 * r2 * r2 * r2
        xy = x_ * y_
        x_, y_ = (x_ * radial + 2 * p1 * xy + p2 * (r2 + 2 * x_ * x_),
                  y_ * radial + p1 * (r2 + 2 * y_ * y_) + 2 * p2 * xy)

    def k(i, j):
        return F.broadcast_to(K[:, i, j:j + 1], x.shape)

    u = k(0, 0) * x_ + k(0, 1) * y_ + k(0, 2)
    v = k(1, 0) * x_ + k(1, 1) * y_ + k(1, 2)
    v = dtype.type(height) - v
    u = u * dtype.type(2 / width) - 1
    v = v * dtype.type(2 / height) - 1
    return F.stack((u, v, z), axis=2)


def projection(vertices, K, R, t, dist_coeffs, orig_size, eps=1e-9):
    """The port's calibrated projection: world points [B, N, 3] to the
    renderer's screen coordinates [B, N, 3] (x, y in NDC, y up; z the camera
    depth). ``calibrated_camera`` then ``calibrated_screen``; see those and
    the module docstring for K, R, t, dist_coeffs (None: no distortion)
    and orig_size."""
    _checks.check_array('vertices', vertices, ndim=3, shape_suffix=(3,))
    _checks.check_finite('vertices', vertices)
    return calibrated_screen(calibrated_camera(vertices, R, t), K,
                             dist_coeffs, orig_size, eps)
