"""Make ``data/sphere_642.obj``: an icosphere with 642 vertices and 1280 faces.

Usage: ``python data/make_sphere.py [output.obj] [--subdivisions N]``
(default output: ``sphere_642.obj`` next to this script, N = 3).

A regular icosahedron (12 vertices, 20 faces) is subdivided N times; each
subdivision splits every triangle into four at its edge midpoints, and the new
points are pushed out to the unit sphere. After N steps: 10 * 4^N + 2 vertices
and 20 * 4^N faces (642 and 1280 for N = 3). Vertices are written with 6
decimals; the output is reproduced byte for byte.

Winding: the renderer's convention. Its screen frame (x right, y up, z away
from the camera) is left-handed; a face is drawn when counter-clockwise on
screen and its normal is (v0 - v1) x (v2 - v1). Every face here is
counter-clockwise on the renderer's screen seen from outside, so it is drawn
with ``fill_back=False`` and its renderer normal points out; the right-hand
normal (v1 - v0) x (v2 - v0) points in.
"""
import argparse
import os

import numpy

DEFAULT_SUBDIVISIONS = 3
HERE = os.path.dirname(os.path.abspath(__file__))


def icosahedron():
    """(vertices [12, 3] on the unit sphere, faces [20, 3]): the faces are
    counter-clockwise seen from outside by the right-hand rule."""
    g = (1.0 + 5.0 ** 0.5) / 2.0
    vertices = numpy.array([
        [-1, g, 0], [1, g, 0], [-1, -g, 0], [1, -g, 0],
        [0, -1, g], [0, 1, g], [0, -1, -g], [0, 1, -g],
        [g, 0, -1], [g, 0, 1], [-g, 0, -1], [-g, 0, 1]], dtype=numpy.float64)
    vertices /= numpy.linalg.norm(vertices, axis=1, keepdims=True)
    faces = numpy.array([
        [0, 11, 5], [0, 5, 1], [0, 1, 7], [0, 7, 10], [0, 10, 11],
        [1, 5, 9], [5, 11, 4], [11, 10, 2], [10, 7, 6], [7, 1, 8],
        [3, 9, 4], [3, 4, 2], [3, 2, 6], [3, 6, 8], [3, 8, 9],
        [4, 9, 5], [2, 4, 11], [6, 2, 10], [8, 6, 7], [9, 8, 1]])
    return vertices, faces


def subdivide(vertices, faces):
    """Split each face into four; midpoints projected onto the unit sphere.

    New vertices are numbered in the order their edges are first met.
    Face [a, b, c] with midpoints ab, bc, ca gives [a, ab, ca], [ab, b, bc],
    [ca, bc, c], [ab, bc, ca]: the winding is kept.
    """
    points = [tuple(v) for v in vertices.tolist()]
    midpoint_index = {}

    def midpoint(i, j):
        key = (min(i, j), max(i, j))
        if key not in midpoint_index:
            m = (vertices[i] + vertices[j]) / 2.0
            m /= numpy.sqrt(numpy.sum(m * m))
            midpoint_index[key] = len(points)
            points.append(tuple(m.tolist()))
        return midpoint_index[key]

    new_faces = []
    for a, b, c in faces.tolist():
        ab, bc, ca = midpoint(a, b), midpoint(b, c), midpoint(c, a)
        new_faces += [[a, ab, ca], [ab, b, bc], [ca, bc, c], [ab, bc, ca]]
    return numpy.array(points), numpy.array(new_faces)


def make_sphere(subdivisions=DEFAULT_SUBDIVISIONS):
    """(vertices [V, 3] float64 on the unit sphere, faces [F, 3], 0-based)."""
    vertices, faces = icosahedron()
    for _ in range(subdivisions):
        vertices, faces = subdivide(vertices, faces)
    faces = faces[:, ::-1]  # to the renderer's (left-handed) winding
    v = vertices[faces]
    normals = numpy.cross(v[:, 0] - v[:, 1], v[:, 2] - v[:, 1])
    if not numpy.all(numpy.einsum('ij,ij->i', normals, v.sum(1)) > 0):
        raise AssertionError('a face of the sphere is not oriented outward')
    return vertices, faces


def format_obj(vertices, faces, comment):
    lines = ['# %s' % line for line in comment.splitlines()]
    rounded = numpy.round(vertices, 6) + 0.0  # + 0.0 turns -0.0 into 0.0
    lines += ['v %.6f %.6f %.6f' % tuple(v) for v in rounded.tolist()]
    lines += ['f %d %d %d' % tuple(f) for f in (faces + 1).tolist()]
    return '\n'.join(lines) + '\n'


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('output', nargs='?',
                        default=os.path.join(HERE, 'sphere_642.obj'))
    parser.add_argument('--subdivisions', type=int,
                        default=DEFAULT_SUBDIVISIONS)
    args = parser.parse_args(argv)
    vertices, faces = make_sphere(args.subdivisions)
    comment = ('Unit icosphere: icosahedron subdivided %d times, faces '
               'front-facing from outside.\nMade by data/make_sphere.py; '
               '%d vertices, %d triangles.'
               % (args.subdivisions, len(vertices), len(faces)))
    with open(args.output, 'w', newline='\n') as f:
        f.write(format_obj(vertices, faces, comment))
    print('%s: %d vertices, %d faces' % (args.output, len(vertices),
                                         len(faces)))


if __name__ == '__main__':
    main()
