"""Voxelization of meshes for the reconstruction evaluation (paper 5.1.1).

The protocol of the authors' evaluation, written from its description:

1. Grid coordinates. A mesh point ``v`` (mesh coordinates, objects inside
   [-0.5, 0.5]^3) maps to the grid coordinate ``g = S * (v * (S - 1) / S +
   0.5) = (S - 1) * v + S / 2`` (S = 32: ``g = 31 v + 16``). Voxel ``i``
   along an axis is the cell ``i <= g < i + 1``; its centre ``g = i + 0.5``
   is the mesh coordinate ``(i + 0.5 - S / 2) / (S - 1)``, so the centres of
   voxels 0 and S - 1 lie exactly at -0.5 and +0.5 (pitch 1 / (S - 1)).
2. Surface voxels. For each axis, rays parallel to it are cast through the
   voxel centres of the other two axes; where a ray crosses a triangle (either
   side: the winding does not matter) the voxel containing the crossing is
   marked. The voxel of each vertex is marked too.
3. Interior. Empty space is flood filled from the empty voxels on the grid's
   border with 6-connectivity; every voxel it does not reach is solid.

Why the rays pass through voxel centres: two 6-neighbours p, q along an axis
have centres joined by a segment of one of those rays, so if the surface
crosses that segment the crossing lies in p or in q, which gets marked. Any
6-connected path from outside a closed mesh to its inside crosses the surface
on such a segment, so the marked voxels seal the inside and the flood fill
cannot leak in.

Axes: ``voxelize`` indexes its output in mesh-axis order ``[x, y, z]``
(index i along mesh x, and so on). The authors' ground-truth arrays are
indexed differently; see ``to_ground_truth_axes``.

NumPy only, vectorised over triangles x rays and over the voxels of the
flood fill (the flood fill iterates over whole runs of empty voxels along
each axis, so it needs a handful of passes, not one per voxel of distance).
"""
import numbers

import numpy

GRID_SIZE = 32

# Barycentric tolerance: a ray passing (up to rounding) through an edge or a
# vertex shared by triangles must hit at least one of them, or the surface
# would have a pinhole through which the flood fill leaks inside.
_BARY_TOL = 1e-9
# Triangles whose projection along the ray axis has a smaller doubled area
# (grid units^2) are edge-on: they are not crossed by rays of that axis, and
# their neighbours (within _BARY_TOL) or the other two axes mark them.
_MIN_AREA = 1e-12


def _check_size(size):
    if isinstance(size, bool) or not isinstance(size, numbers.Integral) \
            or size < 2:
        raise ValueError('size: expected an integer >= 2, got {!r}'.format(
            size))
    return int(size)


def _check_mesh(vertices, faces):
    """-> vertices [B, V, 3] float64, faces [F, 3] int64, batched flag."""
    if not isinstance(vertices, numpy.ndarray):
        raise TypeError('vertices: expected a numpy array, got {}'.format(
            type(vertices).__name__))
    if not isinstance(faces, numpy.ndarray):
        raise TypeError('faces: expected a numpy array, got {}'.format(
            type(faces).__name__))
    if vertices.ndim not in (2, 3) or vertices.shape[-1] != 3:
        raise ValueError('vertices: expected shape [V, 3] or [B, V, 3], got '
                         '{}'.format(vertices.shape))
    if vertices.dtype.kind != 'f':
        raise TypeError('vertices: expected a floating dtype, got {}'.format(
            vertices.dtype))
    if not numpy.isfinite(vertices).all():
        raise ValueError('vertices: contains NaN or inf')
    if faces.ndim != 2 or faces.shape[1] != 3:
        raise ValueError('faces: expected shape [F, 3], got {}'.format(
            faces.shape))
    if faces.dtype.kind not in 'iu':
        raise TypeError('faces: expected an integer dtype, got {}'.format(
            faces.dtype))
    if faces.size and (faces.min() < 0 or faces.max() >= vertices.shape[-2]):
        raise ValueError(
            'faces: vertex indices must lie in [0, {}), got [{}, {}]'.format(
                vertices.shape[-2], faces.min(), faces.max()))
    batched = vertices.ndim == 3
    vertices = vertices.astype(numpy.float64)
    if not batched:
        vertices = vertices[None]
    return vertices, faces.astype(numpy.int64), batched


def mesh_to_grid(vertices, size=GRID_SIZE):
    """Mesh coordinates -> grid coordinates ``S * (v * (S - 1) / S + 0.5)``.

    Args:
        vertices: float array [..., 3] (any shape), mesh coordinates.
        size (int): grid size S.

    Returns:
        float64 array of the same shape; voxel ``i`` is ``i <= g < i + 1``.
    """
    size = _check_size(size)
    vertices = numpy.asarray(vertices, dtype=numpy.float64)
    return size * (vertices * (size - 1) / size + 0.5)


def voxel_centres(size=GRID_SIZE):
    """Mesh coordinates of the voxel centres, in mesh-axis order.

    Returns:
        float64 array [S, S, S, 3]: ``centres[i, j, k] = (x_i, y_j, z_k)``
        with ``x_i = (i + 0.5 - S / 2) / (S - 1)`` (likewise y, z); it is
        indexed like the output of ``voxelize``.
    """
    size = _check_size(size)
    c = (numpy.arange(size) + 0.5 - size / 2.) / (size - 1)
    return numpy.stack(numpy.meshgrid(c, c, c, indexing='ij'), axis=-1)


def _mark_ray_hits(surface, tri, batch_index, axis):
    """Marks, in ``surface`` [B, S, S, S], the voxels where rays parallel to
    ``axis`` through the voxel centres cross the triangles ``tri`` [T, 3, 3]
    (grid coordinates; triangle t belongs to mesh ``batch_index[t]``)."""
    size = surface.shape[1]
    a, b = [d for d in range(3) if d != axis]
    pa, pb, depth = tri[:, :, a], tri[:, :, b], tri[:, :, axis]  # [T, 3]

    # Doubled signed area of the projection; its sign (the winding seen along
    # the ray) is divided out below, so either orientation is hit.
    area = ((pa[:, 1] - pa[:, 0]) * (pb[:, 2] - pb[:, 0])
            - (pb[:, 1] - pb[:, 0]) * (pa[:, 2] - pa[:, 0]))

    # Rays through centres i + 0.5 within each triangle's bounding box.
    def ray_range(p):
        lo = numpy.ceil(p.min(axis=1) - 0.5 - 1e-9).astype(numpy.int64)
        hi = numpy.floor(p.max(axis=1) - 0.5 + 1e-9).astype(numpy.int64)
        lo = numpy.maximum(lo, 0)
        hi = numpy.minimum(hi, size - 1)
        return lo, numpy.maximum(hi - lo + 1, 0)

    a0, na = ray_range(pa)
    b0, nb = ray_range(pb)
    counts = na * nb
    counts[numpy.abs(area) < _MIN_AREA] = 0
    total = int(counts.sum())
    if total == 0:
        return

    # One entry per (triangle, candidate ray): exact expansion, no padding
    # to the largest bounding box.
    t = numpy.repeat(numpy.arange(len(tri)), counts)
    start = numpy.cumsum(counts) - counts
    local = numpy.arange(total) - start[t]
    ia = a0[t] + local // nb[t]
    ib = b0[t] + local % nb[t]
    qa = ia + 0.5
    qb = ib + 0.5

    pa_t, pb_t = pa[t], pb[t]
    # Barycentric coordinates of the ray's foot (qa, qb): lambda_k is the
    # area of the sub-triangle opposite vertex k over the whole area.
    lam = numpy.empty((total, 3))
    for k in range(3):
        k1, k2 = (k + 1) % 3, (k + 2) % 3
        lam[:, k] = ((pa_t[:, k2] - pa_t[:, k1]) * (qb - pb_t[:, k1])
                     - (pb_t[:, k2] - pb_t[:, k1]) * (qa - pa_t[:, k1]))
    lam /= area[t][:, None]
    inside = (lam >= -_BARY_TOL).all(axis=1)
    hit_depth = (lam * depth[t]).sum(axis=1)
    ic = numpy.floor(hit_depth).astype(numpy.int64)
    inside &= (ic >= 0) & (ic < size)

    index = [None, None, None]
    index[a], index[b], index[axis] = ia[inside], ib[inside], ic[inside]
    surface[(batch_index[t[inside]],) + tuple(index)] = True


def _run_ids(empty, axis):
    """Labels the maximal runs of empty voxels along ``axis`` (1, 2 or 3 of
    a [B, S, S, S] array): one id > 0 per run, unique over the whole array;
    0 for filled voxels. Returns (ids with the shape of ``empty``, number of
    runs)."""
    moved = numpy.moveaxis(empty, axis, -1)
    lines = moved.reshape(-1, moved.shape[-1])
    previous = numpy.zeros_like(lines)
    previous[:, 1:] = lines[:, :-1]
    starts = lines & ~previous  # the first voxel of every run
    ids = numpy.cumsum(starts.ravel()).reshape(lines.shape)
    ids[~lines] = 0
    n_runs = int(ids.max()) if ids.size else 0
    return numpy.moveaxis(ids.reshape(moved.shape), -1, axis), n_runs


def fill_interior(surface):
    """Solid voxels enclosed by ``surface``: the complement of the empty
    space reachable from the grid's border.

    Args:
        surface: bool array [S, S, S] or [B, S, S, S] (any S >= 1, axes
            need not be equal).

    Returns:
        bool array of the same shape: True where the flood fill of empty
        (False) voxels, started from the empty voxels on the border of the
        grid and moving between 6-neighbours, does not arrive. Surface
        voxels are always solid.
    """
    if not isinstance(surface, numpy.ndarray) or surface.dtype != bool:
        raise TypeError('surface: expected a numpy bool array')
    if surface.ndim not in (3, 4):
        raise ValueError('surface: expected shape [S, S, S] or [B, S, S, S],'
                         ' got {}'.format(surface.shape))
    batched = surface.ndim == 4
    if not batched:
        surface = surface[None]
    empty = ~surface

    reached = numpy.zeros_like(empty)
    for axis in (1, 2, 3):
        border = [slice(None)] * 4
        for end in (0, -1):
            border[axis] = end
            reached[tuple(border)] = empty[tuple(border)]

    # A run of empty voxels along an axis is reached as soon as one of its
    # voxels is: each pass spreads along whole runs, so the number of passes
    # is the number of turns the fill has to take, not the path length.
    runs = [_run_ids(empty, axis) for axis in (1, 2, 3)]
    count = int(reached.sum())
    while True:
        for ids, n_runs in runs:
            hit = numpy.zeros(n_runs + 1, dtype=bool)
            hit[ids[reached]] = True
            hit[0] = False
            reached = hit[ids]
        new_count = int(reached.sum())
        if new_count == count:
            break
        count = new_count
    solid = ~reached
    return solid if batched else solid[0]


def voxelize(vertices, faces, size=GRID_SIZE):
    """Solid voxels of a closed mesh, with the authors' protocol.

    Args:
        vertices: float numpy array [V, 3] (or [B, V, 3]: B meshes sharing
            ``faces``), mesh coordinates with objects inside [-0.5, 0.5]^3
            (parts outside the grid are dropped).
        faces: int numpy array [F, 3], vertex indices. The winding does not
            matter; the mesh should be closed (an open mesh is filled only
            where its surface seals a cavity).
        size (int): grid size S (32 in the paper).

    Returns:
        bool array [S, S, S] (or [B, S, S, S]) indexed in mesh-axis order
        ``[x, y, z]``: ``out[i, j, k]`` is the voxel whose centre is
        ``voxel_centres(S)[i, j, k]``, i.e. index i grows with mesh x, j with
        y, k with z. Use ``to_ground_truth_axes`` to compare with the
        authors' ground truth.

    Raises:
        TypeError / ValueError naming the argument on bad input.
    """
    size = _check_size(size)
    vertices, faces, batched = _check_mesh(vertices, faces)
    n_batch = vertices.shape[0]
    grid = mesh_to_grid(vertices, size)  # [B, V, 3]

    surface = numpy.zeros((n_batch, size, size, size), dtype=bool)
    tri = grid[:, faces].reshape(-1, 3, 3)  # [B * F, 3, 3]
    batch_index = numpy.repeat(numpy.arange(n_batch), len(faces))
    for axis in range(3):
        _mark_ray_hits(surface, tri, batch_index, axis)

    # The voxel of each vertex (thin parts no ray crosses keep their tips).
    cell = numpy.floor(grid).astype(numpy.int64)
    ok = ((cell >= 0) & (cell < size)).all(axis=-1)
    b = numpy.broadcast_to(numpy.arange(n_batch)[:, None], ok.shape)
    surface[b[ok], cell[ok][:, 0], cell[ok][:, 1], cell[ok][:, 2]] = True

    solid = fill_interior(surface)
    return solid if batched else solid[0]


def to_ground_truth_axes(voxels):
    """Reorders voxels from mesh-axis order to the ground truth's indexing.

    The authors' ground-truth arrays are indexed ``[y, x, -z]`` relative to
    the mesh axes: with ``m = voxelize(...)`` (``m[i, j, k]``: i along mesh
    x, j along y, k along z), the result ``g`` satisfies

        g[j, i, S - 1 - k] = m[i, j, k],

    i.e. ground-truth axis 0 grows with mesh +y, axis 1 with mesh +x, and
    axis 2 with mesh -z (index 0 at the +z end). This is a transpose of the
    first two axes followed by a flip of the last.

    Args:
        voxels: numpy array [..., S, S, S] (any dtype; leading batch axes
            are kept).

    Returns:
        a view of ``voxels`` [..., S, S, S] in ground-truth indexing.
    """
    voxels = _check_voxels('voxels', voxels)
    return numpy.swapaxes(voxels, -3, -2)[..., ::-1]


def from_ground_truth_axes(voxels):
    """Inverse of ``to_ground_truth_axes``: ground-truth indexing ``[y, x,
    -z]`` -> mesh-axis order ``[x, y, z]`` (a view; [..., S, S, S])."""
    voxels = _check_voxels('voxels', voxels)
    return numpy.swapaxes(voxels[..., ::-1], -3, -2)


def _check_voxels(name, voxels):
    if not isinstance(voxels, numpy.ndarray):
        raise TypeError('{}: expected a numpy array, got {}'.format(
            name, type(voxels).__name__))
    if voxels.ndim < 3:
        raise ValueError('{}: expected shape [..., S, S, S], got {}'.format(
            name, voxels.shape))
    if voxels.shape[-3] != voxels.shape[-2]:
        raise ValueError('{}: the last three axes must be a cube, got {}'
                         .format(name, voxels.shape))
    return voxels


def voxel_iou(a, b):
    """Intersection over union of two voxel sets.

    Args:
        a, b: bool numpy arrays of the same shape [..., S, S, S] (leading
            axes, if any, are a batch).

    Returns:
        float64: a Python-like numpy scalar for [S, S, S] inputs, else an
        array of the leading shape. ``|a & b| / |a | b|`` over the last three
        axes; two empty sets are identical and get 1.0.
    """
    for name, x in (('a', a), ('b', b)):
        if not isinstance(x, numpy.ndarray) or x.dtype != bool:
            raise TypeError('{}: expected a numpy bool array'.format(name))
        if x.ndim < 3:
            raise ValueError('{}: expected shape [..., S, S, S], got {}'
                             .format(name, x.shape))
    if a.shape != b.shape:
        raise ValueError('a, b: shapes differ: {} and {}'.format(
            a.shape, b.shape))
    inter = (a & b).sum(axis=(-3, -2, -1))
    union = (a | b).sum(axis=(-3, -2, -1))
    with numpy.errstate(invalid='ignore', divide='ignore'):
        iou = numpy.where(union > 0, inter / numpy.maximum(union, 1), 1.0)
    return iou[()] if iou.ndim == 0 else iou
