"""The approximate gradient of paper sec. 3.2-3.3, written plainly in Python.

A slow, loop-by-loop statement of the rule the backward_edges kernel
implements, for comparing the two on small random scenes:

for every drawn face, edge (a, b) and screen axis u, and every pixel line
across u whose centre the edge spans (crossing at u = c, parameter t from a
to b), each pixel k on the line with centre u_k contributes

    dL_k / (u_k - c +- eps) * (1 - t) to a and * t to b

where dL_k = <g_rgb, dI_rgb> and g_alpha dI_alpha, each counted only when
negative; outside the face dI = (face colour at the crossing) - I_k, inside
(pixels the face draws, up to where the line leaves the face)
dI = I(pixel just outside the crossing) - I_k. A vertex gets nothing from a
line whose on-screen pixel just inside the crossing shows nothing, or a face
other than this one that does not contain the vertex. As in the original
package, eps is added to the distance away from the edge (a centre on the
edge counts as inside).
"""
import numpy

import reference_rasterizer as ref


def _inside(face, px, py):
    x, y = face[:, 0], face[:, 1]
    for k in range(3):
        k1, k2 = (k + 1) % 3, (k + 2) % 3
        e = (x[k1] - px) * (y[k2] - py) - (x[k2] - px) * (y[k1] - py)
        if e < 0:
            return False
    return True


def edge_gradient(faces, textures, rgb, alpha, face_index, depth, grad_rgb,
                  grad_alpha, near=0.1, far=100., eps=1e-4):
    """faces [F, 3, 3]; textures [F, T, T, T, 3], a function (face,
    perspective weights [3]) -> colour [3], or None; rgb [3, H, W];
    alpha, face_index, depth [H, W]; grad_rgb [3, H, W] or None; grad_alpha
    [H, W] or None. Returns the x, y gradient [F, 3, 3] (z column 0)."""
    faces = numpy.asarray(faces, numpy.float64)
    height, width = alpha.shape
    xs, ys = ref.pixel_centres(height, width)
    grad = numpy.zeros(faces.shape)
    if grad_rgb is None:
        grad_rgb = numpy.zeros((3, height, width))
        textures = None
    if grad_alpha is None:
        grad_alpha = numpy.zeros((height, width))
    for f, face in enumerate(faces):
        x, y, z = face[:, 0], face[:, 1], face[:, 2]
        area = (x[1] - x[0]) * (y[2] - y[0]) - (x[2] - x[0]) * (y[1] - y[0])
        if area <= 0 or z.max() <= near or z.min() >= far or (
                near >= 0 and z.min() <= 0):
            continue
        for axis in range(2):
            u, s = (x, y) if axis == 0 else (y, x)
            line_centres = ys if axis == 0 else xs
            pixel_centres = xs if axis == 0 else ys
            for a in range(3):
                b = (a + 1) % 3
                if s[a] == s[b]:
                    continue
                inward = (-(y[b] - y[a]) if axis == 0 else x[b] - x[a]) > 0
                sign = 1. if inward else -1.
                for line, sl in enumerate(line_centres):
                    if not min(s[a], s[b]) <= sl <= max(s[a], s[b]):
                        continue
                    t = (sl - s[a]) / (s[b] - s[a])
                    c = u[a] + t * (u[b] - u[a])
                    zc = 1 / ((1 - t) / z[a] + t / z[b])
                    if not near < zc < far:
                        continue

                    def at(k, image):
                        return image[..., line, k] if axis == 0 \
                            else image[..., k, line]

                    offsets = (pixel_centres - c) * sign
                    inner = numpy.nonzero(offsets >= 0)[0]
                    k_in = inner[numpy.argmin(offsets[inner])] \
                        if len(inner) else None
                    outer = numpy.nonzero(offsets < 0)[0]
                    k_out = outer[numpy.argmax(offsets[outer])] \
                        if len(outer) else None
                    shares = [1 - t, t]
                    if k_in is not None:
                        g = at(k_in, face_index)
                        if g < 0:
                            shares = [0., 0.]
                        elif g != f:
                            other = faces[g]
                            for i, vertex in enumerate((a, b)):
                                if not any((other[j] == face[vertex]).all()
                                           for j in range(3)):
                                    shares[i] = 0.
                    if textures is not None:
                        weights = numpy.zeros(3)
                        weights[a] = (1 - t) / z[a] * zc
                        weights[b] = t / z[b] * zc
                        colour_c = textures(f, weights) \
                            if callable(textures) else \
                            ref.sample_cube(textures[f], weights)
                    else:
                        colour_c = numpy.zeros(3)
                    total = 0.
                    for k in outer:
                        d_rgb = at(k, grad_rgb) @ (colour_c - at(k, rgb))
                        d_alpha = at(k, grad_alpha) * (1 - at(k, alpha))
                        dl = min(d_rgb, 0) + min(d_alpha, 0)
                        dist = pixel_centres[k] - c
                        total += dl / (dist + eps if dist > 0
                                       else dist - eps)
                    if k_out is not None and k_in is not None:
                        step = k_in - k_out
                        k = k_in
                        while 0 <= k < len(pixel_centres):
                            px, py = ((pixel_centres[k], sl) if axis == 0
                                      else (sl, pixel_centres[k]))
                            if not _inside(face, px, py):
                                break
                            if at(k, face_index) == f:
                                d_rgb = at(k, grad_rgb) @ (at(k_out, rgb) -
                                                           at(k, rgb))
                                d_alpha = at(k, grad_alpha) * (
                                    at(k_out, alpha) - at(k, alpha))
                                dl = min(d_rgb, 0) + min(d_alpha, 0)
                                dist = pixel_centres[k] - c
                                total += dl / (dist + sign * eps)
                            k += step
                    grad[f, a, axis] += total * shares[0]
                    grad[f, b, axis] += total * shares[1]
    return grad
