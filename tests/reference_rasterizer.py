"""A brute-force rasterizer in NumPy, written from the conventions alone.

Independent of the kernels: float64, per face over all pixels, barycentric
weights from a 2x2 linear solve (not edge functions), trilinear texture
sampling by explicit corner enumeration. Slow; for tests only.
"""
import numpy


def pixel_centres(height, width):
    """NDC centres: x [W] left to right, y [H] top (row 0) to bottom."""
    x = (2 * numpy.arange(width) + 1 - width) / width
    y = (height - 1 - 2 * numpy.arange(height)) / height
    return x, y


def barycentric(face_xy, px, py):
    """Weights [3, ...] of points (px, py) in the triangle face_xy [3, 2]."""
    (x0, y0), (x1, y1), (x2, y2) = face_xy
    m = numpy.array([[x0 - x2, x1 - x2], [y0 - y2, y1 - y2]])
    inv = numpy.linalg.inv(m)
    dx, dy = px - x2, py - y2
    w0 = inv[0, 0] * dx + inv[0, 1] * dy
    w1 = inv[1, 0] * dx + inv[1, 1] * dy
    return numpy.stack([w0, w1, 1 - w0 - w1])


def sample_cube(cube, weights):
    """Trilinear sample of cube [T, T, T, 3] at texel coords w_k (T - 1)."""
    size = cube.shape[0]
    pos = numpy.clip(numpy.asarray(weights, numpy.float64) * (size - 1), 0,
                     size - 1)
    out = numpy.zeros(3)
    for c0 in range(size):
        for c1 in range(size):
            for c2 in range(size):
                # Tent weights: only the 8 neighbours are non-zero.
                w = (max(0., 1 - abs(pos[0] - c0)) *
                     max(0., 1 - abs(pos[1] - c1)) *
                     max(0., 1 - abs(pos[2] - c2)))
                if w:
                    out += w * cube[c0, c1, c2]
    return out


def sample_uv(image, u, v, wrapping='REPEAT'):
    """Bilinear sample of image [H, W, 3] (row 0 at the top) at texture
    coordinates (u, v) ((0, 0) the bottom-left corner, pixel centres at
    ((x + 0.5) / W, 1 - (y + 0.5) / H)): the tent weight of every pixel,
    with its copies one period away for REPEAT."""
    height, width = image.shape[:2]
    if wrapping == 'REPEAT':
        u, v = u - numpy.floor(u), v - numpy.floor(v)
    px = u * width - 0.5
    py = (1 - v) * height - 0.5
    if wrapping != 'REPEAT':
        px = min(max(px, 0.), width - 1.)
        py = min(max(py, 0.), height - 1.)
    periods = (-1, 0, 1) if wrapping == 'REPEAT' else (0,)
    out = numpy.zeros(3)
    for y in range(height):
        wy = sum(max(0., 1 - abs(py - (y + k * height))) for k in periods)
        if not wy:
            continue
        for x in range(width):
            wx = sum(max(0., 1 - abs(px - (x + k * width))) for k in periods)
            if wx:
                out += wx * wy * image[y, x]
    return out


def rasterize(faces, height, width, textures=None, near=0.1, far=100.,
              background=(0, 0, 0)):
    """faces [F, 3, 3] -> (face_index [H, W], depth [H, W], rgb [3, H, W]).
    ``textures``: texel cubes [F, T, T, T, 3], or a function
    (face, perspective weights [3]) -> colour [3]."""
    faces = numpy.asarray(faces, numpy.float64)
    x, y = pixel_centres(height, width)
    px, py = numpy.meshgrid(x, y)
    face_index = numpy.full((height, width), -1)
    depth = numpy.full((height, width), float(far))
    weights_map = numpy.zeros((3, height, width))
    for f, face in enumerate(faces):
        xy = face[:, :2]
        area = ((xy[1, 0] - xy[0, 0]) * (xy[2, 1] - xy[0, 1]) -
                (xy[2, 0] - xy[0, 0]) * (xy[1, 1] - xy[0, 1]))
        if area <= 0:  # back face or degenerate
            continue
        w = barycentric(xy, px, py)
        inside = (w >= 0).all(axis=0)
        wc = numpy.clip(w, 0, 1)
        wc = wc / wc.sum(axis=0)
        with numpy.errstate(divide='ignore', invalid='ignore'):
            z = 1 / (wc / face[:, 2, None, None]).sum(axis=0)
        # Strictly nearer: ties keep the lower face index.
        take = inside & (z > near) & (z < far) & (z < depth)
        face_index[take] = f
        depth[take] = z[take]
        weights_map[:, take] = wc[:, take]
    rgb = None
    if textures is not None:
        rgb = numpy.empty((3, height, width))
        rgb[:] = numpy.asarray(background, numpy.float64)[:, None, None]
        for i, j in zip(*numpy.nonzero(face_index >= 0)):
            f = face_index[i, j]
            wp = weights_map[:, i, j] * depth[i, j] / faces[f, :, 2]
            rgb[:, i, j] = textures(f, wp) if callable(textures) else \
                sample_cube(numpy.asarray(textures[f]), wp)
    return face_index, depth, rgb


def average_2x2(image):
    """Mean over 2x2 blocks of the last two axes."""
    h, w = image.shape[-2:]
    return image.reshape(image.shape[:-2] + (h // 2, 2, w // 2, 2)).mean(
        axis=(-3, -1))
