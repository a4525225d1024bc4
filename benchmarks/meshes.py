"""Meshes of the benchmarks: the teapot of data/ and geodesic spheres.

Spheres are made in memory: each face of a regular icosahedron is cut into
n x n triangles (a class I geodesic sphere of frequency n, 20 n^2 faces;
n = 2^k is the icosphere subdivided k times) and the points are pushed out
to the unit sphere. The frequency is free, so face counts can be picked
exactly: n = 8 gives 1,280 faces, n = 80 gives 128,000 (100x more),
n = 224 gives 1,003,520 (about 1M).

Winding is the renderer's (see data/make_sphere.py): counter-clockwise on
its left-handed screen seen from outside, i.e. the right-hand normal
(v1 - v0) x (v2 - v0) points in.
"""
import functools
import os
import sys

import numpy

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'data')
TEAPOT = os.path.join(DATA, 'teapot.obj')

sys.path.insert(0, DATA)
from make_sphere import icosahedron  # noqa: E402  (the sphere data's base)


def _grid(n):
    """Points (i, j), i + j <= n, of one subdivided face and its triangles
    (indices into the points), wound like the face (A, B, C) ~ (0,0), (1,0),
    (0,1)."""
    ij = [(i, j) for i in range(n + 1) for j in range(n + 1 - i)]
    index = {p: k for k, p in enumerate(ij)}
    triangles = []
    for i in range(n):
        for j in range(n - i):
            triangles.append((index[i, j], index[i + 1, j], index[i, j + 1]))
            if i + j <= n - 2:
                triangles.append((index[i + 1, j], index[i + 1, j + 1],
                                  index[i, j + 1]))
    return numpy.array(ij, numpy.float64), numpy.array(triangles, numpy.int64)


@functools.lru_cache(maxsize=8)
def geodesic_sphere(n):
    """Unit sphere with 20 n^2 faces: (vertices [V, 3] float32, faces [F, 3]
    int32), shared vertices merged (the mesh is closed and manifold)."""
    base_vertices, base_faces = icosahedron()
    # Right-hand normals inward (the renderer's front-face winding).
    a, b, c = (base_vertices[base_faces[:, k]] for k in range(3))
    outward = numpy.einsum('ij,ij->i', numpy.cross(b - a, c - a), a + b + c)
    base_faces = numpy.where((outward > 0)[:, None], base_faces[:, ::-1],
                             base_faces)
    a, b, c = (base_vertices[base_faces[:, k]] for k in range(3))
    ij, triangles = _grid(n)
    u, v = ij[:, 0] / n, ij[:, 1] / n
    # [20, P, 3]: A + (B - A) u + (C - A) v.
    points = (a[:, None] + (b - a)[:, None] * u[None, :, None] +
              (c - a)[:, None] * v[None, :, None])
    points /= numpy.linalg.norm(points, axis=2, keepdims=True)
    faces = (triangles[None] +
             (numpy.arange(20) * len(ij))[:, None, None]).reshape(-1, 3)
    points = points.reshape(-1, 3)
    # Merge the points shared by neighbouring icosahedron faces (equal up to
    # rounding): quantise to 2^-20 and key on the three 21-bit integers.
    q = numpy.round((points + 1) * 2 ** 20).astype(numpy.int64)
    keys = (q[:, 0] << 42) | (q[:, 1] << 21) | q[:, 2]
    _, first, inverse = numpy.unique(keys, return_index=True,
                                     return_inverse=True)
    vertices = points[first].astype(numpy.float32)
    faces = inverse.reshape(-1)[faces].astype(numpy.int32)
    return vertices, faces


@functools.lru_cache(maxsize=1)
def teapot():
    """(vertices [V, 3] float32, faces [F, 3] int32) of data/teapot.obj,
    normalised by load_obj (longest axis spans [-1, 1])."""
    import neural_renderer as nr
    return nr.load_obj(TEAPOT)


def template():
    """The reconstruction's template, data/sphere_642.obj (642 vertices,
    1,280 faces), as load_obj reads it without normalisation."""
    import neural_renderer as nr
    return nr.load_obj(os.path.join(DATA, 'sphere_642.obj'),
                       normalization=False)


def mesh(name):
    """'teapot', 'template' (the reconstruction's) or 'sphere<n>'
    (geodesic sphere of frequency n)."""
    if name == 'teapot':
        return teapot()
    if name == 'template':
        return template()
    if name.startswith('sphere'):
        return geodesic_sphere(int(name[len('sphere'):]))
    raise ValueError('unknown mesh {!r}'.format(name))


def num_faces(name):
    if name == 'teapot':
        return len(teapot()[1])
    if name == 'template':
        return len(template()[1])
    return 20 * int(name[len('sphere'):]) ** 2
