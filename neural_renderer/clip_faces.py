"""Clipping of camera-space faces against the near and far planes.

A face that crosses ``z = near`` (or ``z = far``) keeps only its part
between the planes: one triangle when one vertex is inside, two when two
are, exactly the polygon that clipping the triangle gives, fan-triangulated
from its first inside vertex, with the face's orientation. The new vertices
lie on the face's edges, at ``p = (1 - s) a + s b`` with ``s = (plane -
z_a) / (z_b - z_a)`` (their depth a few units in the last place inside the
plane, so that the rasterizer, which draws depths strictly between near
and far, draws the cut edge): linear in the vertices along the cut edge, so
gradients reach the face's own vertices (through s too), and the
rasterizer's edge gradient applies to the new edges like to any other.
"""
import numpy

import chainer
from chainer import backend
import chainer.functions as F

# Kinds of the rows of a piece: an input vertex, a point on an input edge,
# or nothing (the piece is a dummy that is never drawn).
_VERTEX, _CLIP, _DUMMY = 0, 1, 2


def _pieces(inside):
    """The pieces of each face as (kind, ref) int arrays [2, B, F, 3]: slot
    0 and slot 1, row k of a piece being input vertex ``ref``, the point on
    input edge ``ref`` (from vertex ref to ref + 1), or a dummy.

    inside: bool [B, F, 3], whether each vertex is on the kept side.
    """
    xp = backend.get_array_module(inside)
    count = inside.sum(axis=-1)
    shape = (2,) + inside.shape
    kind = xp.full(shape, _DUMMY, numpy.int8)
    ref = xp.zeros(shape, numpy.int8)
    # Wholly inside: the face itself in slot 0.
    whole = count == 3
    kind[0][whole] = _VERTEX
    ref[0][whole] = xp.arange(3, dtype=numpy.int8)
    for i in range(3):
        j, k = (i + 1) % 3, (i + 2) % 3
        # One vertex (i) inside: the triangle v_i, p(edge i), p(edge k).
        one = (count == 1) & inside[..., i]
        for slot_row, row_kind, row_ref in ((i, _VERTEX, i), (j, _CLIP, i),
                                            (k, _CLIP, k)):
            kind[0, ..., slot_row][one] = row_kind
            ref[0, ..., slot_row][one] = row_ref
        # Vertex k outside, i and j inside: the quad v_i, v_j, p(edge j),
        # p(edge k) as v_i, v_j, p(edge j) and v_i, p(edge j), p(edge k).
        two = (count == 2) & ~inside[..., k]
        for slot, rows in ((0, ((i, _VERTEX, i), (j, _VERTEX, j),
                                (k, _CLIP, j))),
                           (1, ((i, _VERTEX, i), (j, _CLIP, j),
                                (k, _CLIP, k)))):
            for slot_row, row_kind, row_ref in rows:
                kind[slot, ..., slot_row][two] = row_kind
                ref[slot, ..., slot_row][two] = row_ref
    return kind, ref


def _clip_plane(faces, plane, keep_below, dummy_z):
    """One plane: faces [B, F, 3, 3] Variable -> (pieces [B, 2F, 3, 3]
    Variable, weights [B, 2F, 3, 3] array: row k of piece q is its vertex
    k's barycentric weights on input face q % F), or None when every face
    lies wholly inside."""
    array = faces.array
    xp = backend.get_array_module(array)
    dtype = array.dtype
    z_array = array[..., 2]
    inside = z_array <= plane if keep_below else z_array >= plane
    count = inside.sum(axis=-1)
    # Nothing to do only when every face is wholly inside: a face wholly
    # outside must become a dummy too (it may lie at or behind the camera,
    # where the projection divides by zero), also when no face crosses.
    if not bool((count < 3).any()):
        return None
    kind, ref = _pieces(inside)
    kind = kind.transpose(1, 0, 2, 3).reshape(
        (array.shape[0], -1, 3))  # [B, 2F, 3]: slot 0 pieces, then slot 1
    ref = ref.transpose(1, 0, 2, 3).reshape(kind.shape)
    ref = ref.astype(numpy.intp)

    # Row weights: constant part c (the vertex, or the start of the edge)
    # and, per edge e, d_e (end minus start) times s_e.
    eye = xp.eye(3, dtype=dtype)
    is_vertex = (kind == _VERTEX)[..., None]
    is_clip = (kind == _CLIP)[..., None]
    c = xp.where(is_vertex | is_clip, eye[ref], 0).astype(dtype)
    weights = c
    z = faces[..., 2]
    for e in range(3):
        crosses = inside[..., e] != inside[..., (e + 1) % 3]
        start, end = z[..., e], z[..., (e + 1) % 3]
        # s = (plane - z_a) / (z_b - z_a), in [0, 1] on crossing edges (the
        # only ones it is used for; elsewhere the divisor is 1).
        step = F.where(crosses, start - end, xp.ones_like(z_array[..., 0]))
        s = (start - plane) / step
        s = F.concat((s, s), axis=1)[..., None, None]
        on_edge = is_clip & (ref == e)[..., None]
        d = xp.where(on_edge, eye[(e + 1) % 3] - eye[e], 0).astype(dtype)
        weights = weights + d * F.broadcast_to(s, d.shape)
    doubled = F.concat((faces, faces), axis=1)
    batch, pieces = kind.shape[:2]
    out = F.matmul(F.reshape(weights, (-1, 3, 3)),
                   F.reshape(doubled, (-1, 3, 3)))
    out = F.reshape(out, (batch, pieces, 3, 3))
    # Points on the plane get its depth moved 4 units in the last place
    # into the slab: the rasterizer draws depths strictly inside (near,
    # far), and a crossing of a cut edge, interpolated from two such
    # depths, must count as drawn for the edge to get its gradient. Dummies
    # get a point that is never drawn (z = dummy_z, outside (near, far)).
    inner = numpy.asarray(plane, dtype)
    towards = dtype.type(-numpy.inf if keep_below else numpy.inf)
    for _ in range(4):
        inner = numpy.nextafter(inner, towards)
    fixed = xp.zeros(out.shape, dtype)
    fixed[..., 2] = xp.where(kind == _CLIP, float(inner), dummy_z)
    replace = xp.zeros(out.shape, bool)
    replace[..., 2] = kind != _VERTEX
    replace |= (kind == _DUMMY)[..., None]
    out = F.where(replace, fixed, out)
    return out, weights.array


def clip_faces(faces, near, far):
    """Clips camera-space faces to the slab ``near <= z <= far``.

    Args:
        faces (Variable or array): [B, F, 3, 3] float, camera space (x, y,
            z the depth along the view), before the projection.
        near, far (float): the planes (near < far).

    Returns:
        tuple: ``(faces, source_weights)``. When every face lies wholly
        between the planes, the input faces and None. Otherwise the pieces
        [B, kF, 3, 3] (Variable; k = 2 per plane crossed or with a face
        wholly beyond it), piece q coming from face
        q % F (faces wholly inside are their own piece; slots a face does
        not need, and faces wholly outside, hold a dummy face at z = far
        that is never drawn), and ``source_weights`` [B, kF, 3, 3] (array,
        no gradient): row j of piece q is its vertex j's barycentric
        weights on face q % F, for the texture lookup
        (:func:`rasterize_rgbad`'s ``source_weights``).
    """
    if not isinstance(faces, chainer.Variable):
        faces = chainer.Variable(faces, requires_grad=False)
    num_faces = faces.shape[1]
    weights = None
    for plane, keep_below in ((near, False), (far, True)):
        clipped = _clip_plane(faces, float(plane), keep_below, float(far))
        if clipped is None:
            continue
        faces, plane_weights = clipped
        if weights is None:
            weights = plane_weights
        else:
            # Compose with the earlier plane's weights: piece q of this
            # pass comes from earlier piece q % (its count).
            xp = backend.get_array_module(weights)
            earlier = xp.concatenate((weights, weights), axis=1)
            weights = xp.matmul(plane_weights, earlier)
    assert weights is None or weights.shape[1] % num_faces == 0
    return faces, weights
