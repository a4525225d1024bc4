"""Rays through the pixel centres of an OpenCV camera, and their hits on a
triangle mesh (Moller-Trumbore), in NumPy: an independent reference for
the renderer's calibrated camera, written from the conventions alone."""
import math

import numpy


def tilted_camera(height, width):
    """(K, R, t) of an OpenCV camera 3 units from the origin, looking at it
    from an angle, with unequal focal lengths and an off-centre principal
    point, for images of height x width pixels."""
    K = numpy.array([[1.15 * width, 0, 0.45 * width],
                     [0, 1.3 * height, 0.56 * height],
                     [0, 0, 1]])
    angle = math.radians(25)
    # Camera axes (rows): x right, y down, z forward, in world coordinates.
    forward = numpy.array([math.sin(angle), -0.3, math.cos(angle)])
    forward /= numpy.linalg.norm(forward)
    right = numpy.cross([0, -1, 0], forward)
    right /= numpy.linalg.norm(right)
    down = numpy.cross(forward, right)
    R = numpy.stack([right, down, forward])
    eye = -3 * forward
    return K, R, -R @ eye


def pixel_ray(K, R, t, i, j):
    """(origin [3], direction [3]) in world coordinates of the ray through
    the centre of pixel (row i, column j), at (j + 0.5, i + 0.5) in
    OpenCV's pixel coordinates; the direction has camera depth 1."""
    return -R.T @ t, R.T @ (numpy.linalg.inv(K) @ [j + 0.5, i + 0.5, 1.])


def hits(triangles, origin, direction):
    """Per triangle [F, 3, 3] (world), where the ray meets its plane:
    (hit [F] bool: inside the triangle, either side, in front of the
    origin; along [F]: the ray parameter, the camera depth for pixel_ray's
    direction; weights [F, 3]: the hit's barycentric weights)."""
    v0 = triangles[:, 0]
    e1, e2 = triangles[:, 1] - v0, triangles[:, 2] - v0
    p = numpy.cross(direction, e2)
    det = (e1 * p).sum(1)
    with numpy.errstate(divide='ignore', invalid='ignore'):
        inv = 1 / det
        s = origin - v0
        b1 = (s * p).sum(1) * inv
        q = numpy.cross(s, e1)
        b2 = (q * direction).sum(1) * inv
        along = (e2 * q).sum(1) * inv
    hit = (det != 0) & (b1 >= 0) & (b2 >= 0) & (b1 + b2 <= 1) & (along > 0)
    return hit, along, numpy.stack([1 - b1 - b2, b1, b2], axis=1)
