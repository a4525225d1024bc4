"""Make ``data/teapot.obj``: the Utah teapot, tessellated from Bezier patches.

Usage: ``python data/make_teapot.py [output.obj] [--resolution N]``
(default output: ``teapot.obj`` next to this script, N = 6).

Each of the 32 bicubic patches is evaluated on an (N + 1) x (N + 1) grid of
parameter values and every grid cell is split into two triangles. Vertices
that patches share are welded (tolerance ``WELD_TOLERANCE``), triangles that
collapse (two corners welded together, or zero area) are dropped, every
triangle is front-facing seen from outside, and the model is turned from the
data's z-up to y-up: (x, y, z) -> (x, z, -y), a proper rotation, so the spout
points along +x and the lid along +y. Coordinates keep the data's units
(height 3.15); ``load_obj`` normalises them. With N = 6 the result has 1,177
vertices and 2,256 triangles (the original package's teapot had 2,464; N = 7
would give 3,080).

Winding: the renderer's convention (see ``renderer_signed_volume``). Its
screen frame (x right, y up, z away from the camera) is left-handed: a face
is drawn when counter-clockwise on screen, and its normal is
(v0 - v1) x (v2 - v1). So every face here is counter-clockwise on the
renderer's screen when seen from outside and its renderer normal points out;
the right-hand-rule normal (v1 - v0) x (v2 - v0) points in. The mesh renders
whole with ``fill_back=False``. (Tools that assume right-handed winding, such
as mesh viewers, see it inside out; reverse each face for them.)

The output is a pure function of the data below: only element-wise float64
arithmetic in a fixed order, coordinates written with 6 decimals, so the file
is reproduced byte for byte.

Control-point data
------------------
``PATCHES`` (32 patches x 16 one-based point indices, row-major 4 x 4) and
``POINTS`` (306 points, z up) are Martin Newell's 1975 teapot data: rim (4
patches), body (8), handle (4), spout (4), lid (8), bottom (4). The numbers
were taken from the copy in Debian bookworm's ``blender-data`` 3.4.1+dfsg-2
(``/usr/share/blender/scripts/addons/add_mesh_extra_objects/``
``add_mesh_teapot.py``) and checked against an independent copy, the reduced
GLUT set (129 points, completed by their mirror images in x and y) compiled
into Debian's freeglut ``libglut.so.3.12.0`` (libglut3.12 3.4.0-1): each of
the 306 points equals a (reflected) freeglut point to float32 precision.
Points 205, 206, 216 and 223 are in the classic data but used by no patch.
"""
import argparse
import os

import numpy

# Newell's teapot data; provenance in the module docstring.
PATCHES = """
  1   2   3   4   5   6   7   8   9  10  11  12  13  14  15  16
  4  17  18  19   8  20  21  22  12  23  24  25  16  26  27  28
 19  29  30  31  22  32  33  34  25  35  36  37  28  38  39  40
 31  41  42   1  34  43  44   5  37  45  46   9  40  47  48  13
 13  14  15  16  49  50  51  52  53  54  55  56  57  58  59  60
 16  26  27  28  52  61  62  63  56  64  65  66  60  67  68  69
 28  38  39  40  63  70  71  72  66  73  74  75  69  76  77  78
 40  47  48  13  72  79  80  49  75  81  82  53  78  83  84  57
 57  58  59  60  85  86  87  88  89  90  91  92  93  94  95  96
 60  67  68  69  88  97  98  99  92 100 101 102  96 103 104 105
 69  76  77  78  99 106 107 108 102 109 110 111 105 112 113 114
 78  83  84  57 108 115 116  85 111 117 118  89 114 119 120  93
121 122 123 124 125 126 127 128 129 130 131 132 133 134 135 136
124 137 138 121 128 139 140 125 132 141 142 129 136 143 144 133
133 134 135 136 145 146 147 148 149 150 151 152  69 153 154 155
136 143 144 133 148 156 157 145 152 158 159 149 155 160 161  69
162 163 164 165 166 167 168 169 170 171 172 173 174 175 176 177
165 178 179 162 169 180 181 166 173 182 183 170 177 184 185 174
174 175 176 177 186 187 188 189 190 191 192 193 194 195 196 197
177 184 185 174 189 198 199 186 193 200 201 190 197 202 203 194
204 204 204 204 207 208 209 210 211 211 211 211 212 213 214 215
204 204 204 204 210 217 218 219 211 211 211 211 215 220 221 222
204 204 204 204 219 224 225 226 211 211 211 211 222 227 228 229
204 204 204 204 226 230 231 207 211 211 211 211 229 232 233 212
212 213 214 215 234 235 236 237 238 239 240 241 242 243 244 245
215 220 221 222 237 246 247 248 241 249 250 251 245 252 253 254
222 227 228 229 248 255 256 257 251 258 259 260 254 261 262 263
229 232 233 212 257 264 265 234 260 266 267 238 263 268 269 242
270 270 270 270 279 280 281 282 275 276 277 278 271 272 273 274
270 270 270 270 282 289 290 291 278 286 287 288 274 283 284 285
270 270 270 270 291 298 299 300 288 295 296 297 285 292 293 294
270 270 270 270 300 305 306 279 297 303 304 275 294 301 302 271
"""

POINTS = """
1.4 0 2.4
1.4 -0.784 2.4
0.784 -1.4 2.4
0 -1.4 2.4
1.3375 0 2.53125
1.3375 -0.749 2.53125
0.749 -1.3375 2.53125
0 -1.3375 2.53125
1.4375 0 2.53125
1.4375 -0.805 2.53125
0.805 -1.4375 2.53125
0 -1.4375 2.53125
1.5 0 2.4
1.5 -0.84 2.4
0.84 -1.5 2.4
0 -1.5 2.4
-0.784 -1.4 2.4
-1.4 -0.784 2.4
-1.4 0 2.4
-0.749 -1.3375 2.53125
-1.3375 -0.749 2.53125
-1.3375 0 2.53125
-0.805 -1.4375 2.53125
-1.4375 -0.805 2.53125
-1.4375 0 2.53125
-0.84 -1.5 2.4
-1.5 -0.84 2.4
-1.5 0 2.4
-1.4 0.784 2.4
-0.784 1.4 2.4
0 1.4 2.4
-1.3375 0.749 2.53125
-0.749 1.3375 2.53125
0 1.3375 2.53125
-1.4375 0.805 2.53125
-0.805 1.4375 2.53125
0 1.4375 2.53125
-1.5 0.84 2.4
-0.84 1.5 2.4
0 1.5 2.4
0.784 1.4 2.4
1.4 0.784 2.4
0.749 1.3375 2.53125
1.3375 0.749 2.53125
0.805 1.4375 2.53125
1.4375 0.805 2.53125
0.84 1.5 2.4
1.5 0.84 2.4
1.75 0 1.875
1.75 -0.98 1.875
0.98 -1.75 1.875
0 -1.75 1.875
2 0 1.35
2 -1.12 1.35
1.12 -2 1.35
0 -2 1.35
2 0 0.9
2 -1.12 0.9
1.12 -2 0.9
0 -2 0.9
-0.98 -1.75 1.875
-1.75 -0.98 1.875
-1.75 0 1.875
-1.12 -2 1.35
-2 -1.12 1.35
-2 0 1.35
-1.12 -2 0.9
-2 -1.12 0.9
-2 0 0.9
-1.75 0.98 1.875
-0.98 1.75 1.875
0 1.75 1.875
-2 1.12 1.35
-1.12 2 1.35
0 2 1.35
-2 1.12 0.9
-1.12 2 0.9
0 2 0.9
0.98 1.75 1.875
1.75 0.98 1.875
1.12 2 1.35
2 1.12 1.35
1.12 2 0.9
2 1.12 0.9
2 0 0.45
2 -1.12 0.45
1.12 -2 0.45
0 -2 0.45
1.5 0 0.225
1.5 -0.84 0.225
0.84 -1.5 0.225
0 -1.5 0.225
1.5 0 0.15
1.5 -0.84 0.15
0.84 -1.5 0.15
0 -1.5 0.15
-1.12 -2 0.45
-2 -1.12 0.45
-2 0 0.45
-0.84 -1.5 0.225
-1.5 -0.84 0.225
-1.5 0 0.225
-0.84 -1.5 0.15
-1.5 -0.84 0.15
-1.5 0 0.15
-2 1.12 0.45
-1.12 2 0.45
0 2 0.45
-1.5 0.84 0.225
-0.84 1.5 0.225
0 1.5 0.225
-1.5 0.84 0.15
-0.84 1.5 0.15
0 1.5 0.15
1.12 2 0.45
2 1.12 0.45
0.84 1.5 0.225
1.5 0.84 0.225
0.84 1.5 0.15
1.5 0.84 0.15
-1.6 0 2.025
-1.6 -0.3 2.025
-1.5 -0.3 2.25
-1.5 0 2.25
-2.3 0 2.025
-2.3 -0.3 2.025
-2.5 -0.3 2.25
-2.5 0 2.25
-2.7 0 2.025
-2.7 -0.3 2.025
-3 -0.3 2.25
-3 0 2.25
-2.7 0 1.8
-2.7 -0.3 1.8
-3 -0.3 1.8
-3 0 1.8
-1.5 0.3 2.25
-1.6 0.3 2.025
-2.5 0.3 2.25
-2.3 0.3 2.025
-3 0.3 2.25
-2.7 0.3 2.025
-3 0.3 1.8
-2.7 0.3 1.8
-2.7 0 1.575
-2.7 -0.3 1.575
-3 -0.3 1.35
-3 0 1.35
-2.5 0 1.125
-2.5 -0.3 1.125
-2.65 -0.3 0.9375
-2.65 0 0.9375
-2 -0.3 0.9
-1.9 -0.3 0.6
-1.9 0 0.6
-3 0.3 1.35
-2.7 0.3 1.575
-2.65 0.3 0.9375
-2.5 0.3 1.125
-1.9 0.3 0.6
-2 0.3 0.9
1.7 0 1.425
1.7 -0.66 1.425
1.7 -0.66 0.6
1.7 0 0.6
2.6 0 1.425
2.6 -0.66 1.425
3.1 -0.66 0.825
3.1 0 0.825
2.3 0 2.1
2.3 -0.25 2.1
2.4 -0.25 2.025
2.4 0 2.025
2.7 0 2.4
2.7 -0.25 2.4
3.3 -0.25 2.4
3.3 0 2.4
1.7 0.66 0.6
1.7 0.66 1.425
3.1 0.66 0.825
2.6 0.66 1.425
2.4 0.25 2.025
2.3 0.25 2.1
3.3 0.25 2.4
2.7 0.25 2.4
2.8 0 2.475
2.8 -0.25 2.475
3.525 -0.25 2.49375
3.525 0 2.49375
2.9 0 2.475
2.9 -0.15 2.475
3.45 -0.15 2.5125
3.45 0 2.5125
2.8 0 2.4
2.8 -0.15 2.4
3.2 -0.15 2.4
3.2 0 2.4
3.525 0.25 2.49375
2.8 0.25 2.475
3.45 0.15 2.5125
2.9 0.15 2.475
3.2 0.15 2.4
2.8 0.15 2.4
0 0 3.15
0 -0.002 3.15
0.002 0 3.15
0.8 0 3.15
0.8 -0.45 3.15
0.45 -0.8 3.15
0 -0.8 3.15
0 0 2.85
0.2 0 2.7
0.2 -0.112 2.7
0.112 -0.2 2.7
0 -0.2 2.7
-0.002 0 3.15
-0.45 -0.8 3.15
-0.8 -0.45 3.15
-0.8 0 3.15
-0.112 -0.2 2.7
-0.2 -0.112 2.7
-0.2 0 2.7
0 0.002 3.15
-0.8 0.45 3.15
-0.45 0.8 3.15
0 0.8 3.15
-0.2 0.112 2.7
-0.112 0.2 2.7
0 0.2 2.7
0.45 0.8 3.15
0.8 0.45 3.15
0.112 0.2 2.7
0.2 0.112 2.7
0.4 0 2.55
0.4 -0.224 2.55
0.224 -0.4 2.55
0 -0.4 2.55
1.3 0 2.55
1.3 -0.728 2.55
0.728 -1.3 2.55
0 -1.3 2.55
1.3 0 2.4
1.3 -0.728 2.4
0.728 -1.3 2.4
0 -1.3 2.4
-0.224 -0.4 2.55
-0.4 -0.224 2.55
-0.4 0 2.55
-0.728 -1.3 2.55
-1.3 -0.728 2.55
-1.3 0 2.55
-0.728 -1.3 2.4
-1.3 -0.728 2.4
-1.3 0 2.4
-0.4 0.224 2.55
-0.224 0.4 2.55
0 0.4 2.55
-1.3 0.728 2.55
-0.728 1.3 2.55
0 1.3 2.55
-1.3 0.728 2.4
-0.728 1.3 2.4
0 1.3 2.4
0.224 0.4 2.55
0.4 0.224 2.55
0.728 1.3 2.55
1.3 0.728 2.55
0.728 1.3 2.4
1.3 0.728 2.4
0 0 0
1.5 0 0.15
1.5 0.84 0.15
0.84 1.5 0.15
0 1.5 0.15
1.5 0 0.075
1.5 0.84 0.075
0.84 1.5 0.075
0 1.5 0.075
1.425 0 0
1.425 0.798 0
0.798 1.425 0
0 1.425 0
-0.84 1.5 0.15
-1.5 0.84 0.15
-1.5 0 0.15
-0.84 1.5 0.075
-1.5 0.84 0.075
-1.5 0 0.075
-0.798 1.425 0
-1.425 0.798 0
-1.425 0 0
-1.5 -0.84 0.15
-0.84 -1.5 0.15
0 -1.5 0.15
-1.5 -0.84 0.075
-0.84 -1.5 0.075
0 -1.5 0.075
-1.425 -0.798 0
-0.798 -1.425 0
0 -1.425 0
0.84 -1.5 0.15
1.5 -0.84 0.15
0.84 -1.5 0.075
1.5 -0.84 0.075
0.798 -1.425 0
1.425 -0.798 0
"""

DEFAULT_RESOLUTION = 6
WELD_TOLERANCE = 1e-6
HERE = os.path.dirname(os.path.abspath(__file__))


def control_data():
    """(patches [32, 4, 4] int, zero-based; points [306, 3] float64, z up)."""
    patches = numpy.array([[int(t) for t in line.split()]
                           for line in PATCHES.splitlines() if line.strip()])
    points = numpy.array([[float(t) for t in line.split()]
                          for line in POINTS.splitlines() if line.strip()])
    assert patches.shape == (32, 16) and points.shape == (306, 3)
    return patches.reshape(32, 4, 4) - 1, points


def bernstein(n):
    """Cubic Bernstein weights at t = 0, 1/n, ..., 1: [n + 1, 4]."""
    t = numpy.arange(n + 1, dtype=numpy.float64) / n
    s = 1.0 - t
    return numpy.stack([s * s * s, 3.0 * t * s * s, 3.0 * t * t * s,
                        t * t * t], axis=1)


def evaluate_patch(control, n):
    """One bicubic patch on an (n + 1) x (n + 1) grid: [n + 1, n + 1, 3].

    ``control`` is [4, 4, 3]; grid index (i, j) is at (u, v) = (i / n, j / n),
    u running along the first control index. Sums run in a fixed order.
    """
    b = bernstein(n)
    grid = numpy.zeros((n + 1, n + 1, 3))
    for a in range(4):
        for c in range(4):
            weight = b[:, a][:, None] * b[:, c][None, :]
            grid = grid + weight[:, :, None] * control[a, c][None, None, :]
    return grid


def tessellate(patches, points, n):
    """Raw triangle soup: (vertices [P*(n+1)^2, 3], faces [P*2n^2, 3]).

    Cell (i, j) gives triangles (i,j)-(i+1,j)-(i+1,j+1) and
    (i,j)-(i+1,j+1)-(i,j+1): counter-clockwise around d/du x d/dv by the
    right-hand rule.
    """
    m = n + 1
    vertices, faces = [], []
    idx = numpy.arange(m * m).reshape(m, m)
    a, b = idx[:-1, :-1].ravel(), idx[1:, :-1].ravel()
    c, d = idx[1:, 1:].ravel(), idx[:-1, 1:].ravel()
    cell_faces = numpy.concatenate([numpy.stack([a, b, c], 1),
                                    numpy.stack([a, c, d], 1)])
    for k, patch in enumerate(patches):
        vertices.append(evaluate_patch(points[patch], n).reshape(-1, 3))
        faces.append(cell_faces + k * m * m)
    return numpy.concatenate(vertices), numpy.concatenate(faces)


def weld(vertices, faces, tolerance=WELD_TOLERANCE):
    """Merge vertices closer than ``tolerance`` (max norm) into the first."""
    close = numpy.abs(vertices[:, None, :] - vertices[None, :, :]).max(-1)
    first = numpy.argmax(close <= tolerance, axis=1)  # first close vertex
    # Clusters are far apart compared with the tolerance, so "first" is
    # the same for every member of a cluster.
    assert numpy.all(first[first] == first)
    keep = numpy.flatnonzero(first == numpy.arange(len(vertices)))
    new_index = numpy.full(len(vertices), -1)
    new_index[keep] = numpy.arange(len(keep))
    return vertices[keep], new_index[first][faces]


def drop_degenerate(vertices, faces, min_area=1e-12):
    f0, f1, f2 = faces.T
    distinct = (f0 != f1) & (f1 != f2) & (f2 != f0)
    v = vertices[faces]
    area = 0.5 * numpy.linalg.norm(
        numpy.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0]), axis=1)
    return faces[distinct & (area > min_area)]


def renderer_signed_volume(vertices, faces):
    """Signed volume with the renderer's winding: sum over faces of
    v0 . (v2 x v1) / 6, relative to the centroid. Positive when every face is
    front-facing from outside (renderer normals pointing out); it is minus the
    usual right-handed signed volume."""
    v = vertices[faces] - vertices.mean(0)
    return numpy.einsum('ij,ij->i', v[:, 0],
                        numpy.cross(v[:, 2], v[:, 1])).sum() / 6.0


def check_consistent(faces):
    """Every edge shared by two faces is traversed in opposite directions."""
    directed = numpy.concatenate([faces[:, [0, 1]], faces[:, [1, 2]],
                                  faces[:, [2, 0]]])
    pairs = set(map(tuple, directed.tolist()))
    if len(pairs) != len(directed):
        raise AssertionError('an edge is used twice in the same direction')


def make_teapot(n=DEFAULT_RESOLUTION):
    """(vertices [V, 3] float64 y-up, faces [F, 3] int zero-based)."""
    patches, points = control_data()
    vertices, faces = tessellate(patches, points, n)
    vertices, faces = weld(vertices, faces)
    faces = drop_degenerate(vertices, faces)
    # In Newell's data d/du x d/dv points into the teapot on every patch
    # (checked by ray-parity votes over all faces), which is outward for the
    # renderer's left-handed winding: no face is reversed.
    check_consistent(faces)
    # z up -> y up by a rotation about x: (x, y, z) -> (x, z, -y).
    vertices = numpy.stack([vertices[:, 0], vertices[:, 2], -vertices[:, 1]],
                           axis=1)
    if renderer_signed_volume(vertices, faces) <= 0:
        raise AssertionError('teapot is not oriented outward')
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
                        default=os.path.join(HERE, 'teapot.obj'))
    parser.add_argument('--resolution', type=int, default=DEFAULT_RESOLUTION)
    args = parser.parse_args(argv)
    vertices, faces = make_teapot(args.resolution)
    comment = ('Utah teapot (Newell 1975 Bezier patches), %d x %d grid per '
               'patch, y up.\nMade by data/make_teapot.py; %d vertices, %d '
               'triangles.' % (args.resolution, args.resolution,
                               len(vertices), len(faces)))
    with open(args.output, 'w', newline='\n') as f:
        f.write(format_obj(vertices, faces, comment))
    print('%s: %d vertices, %d faces' % (args.output, len(vertices),
                                         len(faces)))


if __name__ == '__main__':
    main()
