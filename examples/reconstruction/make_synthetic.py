"""Makes a synthetic data set in the format of the authors' ShapeNet files.

Usage::

    python examples/reconstruction/make_synthetic.py --output-dir DIR \\
        [--train 100 --val 10 --test 20] [--classes chair,table] \\
        [--seed 0] [--image-size 64]

For each class and split it writes ``{synset}_{split}_images.npz`` (uint8
[N, 24, 4, S, S]) and ``{synset}_{split}_voxels.npz`` (bool [N, 32, 32,
32]), each one unnamed array (``arr_0``) saved with
``numpy.savez_compressed``: the names and formats that ``dataset.py`` reads
and the authors' files have (see ``dataset.py`` for the views and axes).

Objects. Each of the 13 classes (named after the paper's) is a procedure
that assembles parts (boxes, n-gon cylinders and cones, ellipsoids, tori)
with random proportions: an airplane is a fuselage, swept wings, a tail fin
and stabilisers; a chair a seat, a back and legs; a table a top and legs or
a pedestal; and so on (see the ``_make_*`` functions). World y is up, the
front of an object faces -z (the camera of view 0) and left-right is x.
The assembled object is normalised as in the reference: centred on the
bounding box of its mesh vertices and scaled so that the largest dimension
is 1, so it fits in [-0.5, 0.5]^3.

Images. The mesh (a few hundred triangles, one flat colour per part) is
rendered by ``neural_renderer.Renderer`` from the 24 views in one batched
call: 64 x 64 (``--image-size``), anti-aliasing (soft alpha at the
edges), half viewing angle 15, back faces filled, the renderer's default
lighting (ambient 0.5 + directional 0.5 from above), black background. View
k's camera is ``dataset.view_eyes(k)`` = ``get_points_from_angles(2.732,
30, -15 k)``, the camera the authors' training code uses for view k.
Channels R, G, B (over black, i.e. multiplied by alpha at the edges) and
alpha are stored as round(255 x value).

Voxels. Solid occupancy: a voxel is occupied if its centre passes one of
the parts' analytic inside tests (exact for boxes and n-gon prisms and
pyramids; the smooth surface for ellipsoids and tori, whose meshes are
inscribed in it; a centre on the surface counts as inside), or if the
surface of a part's mesh passes through it (sampled at half a voxel). The
authors' voxelizer marks such surface voxels too (and, as far as is known,
so does their ground truth); without them a part thinner than a voxel (a
wing, a barrel) could miss every centre. The layout is the authors':
stored voxel [a, b, c] is centred at mesh point

    (x, y, z) = ((b - 15.5) / 31, (a - 15.5) / 31, (15.5 - c) / 31),

i.e. the array is indexed [y, x, -z] relative to the mesh axes (an [x, y,
z] grid transposed to [y, x, z] and flipped along the last axis), and a
mesh coordinate v falls in voxel index floor(32 (v 31/32 + 0.5)) along its
axis (``dataset.points_to_voxel_indices``, ``dataset.voxel_centres``,
``dataset.xyz_grid_to_voxels``).

Each object is made from its own random generator, seeded by (seed, class,
split, object index), so the output is deterministic for a seed and an
object does not depend on the other classes or on the split sizes asked.
The split is part of the seed: a test object never repeats a training one,
whatever the counts.

A larger test split for an existing data set (same seed and stretch, the
training and validation files left alone)::

    python examples/reconstruction/make_synthetic.py -o DATA_TEST \
        --only-test --test 100 --test-start 20

writes only ``{synset}_test_*.npz`` into DATA_TEST: test objects 20 to 119
of each class (``--test-start 20``: none of them in the 20-object test
split that ``--test 20`` made; 0 would extend that split instead).
``evaluate.py --data-dir DATA --split-dir DATA_TEST`` evaluates them.
"""
import argparse
import colorsys
import functools
import os
import sys
import time

import numpy

import chainer

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import dataset  # NOQA: E402
from neural_renderer.files import atomic_output  # NOQA: E402

# A centre this close to a part's surface (in the part's unit frame) counts
# as inside: faces that land exactly on +-0.5 after normalisation must fill
# the border voxels despite rounding.
_INSIDE_TOLERANCE = 1e-4


# -- unit primitives -------------------------------------------------------
#
# Each unit primitive is a mesh (vertices [V, 3] float64, faces [F, 3])
# with faces counter-clockwise seen from outside by the right-hand rule,
# plus an inside test on points [..., 3] of the same unit frame. A part
# places it in the object by world = A @ local + t. The renderer's screen
# frame is left-handed, so Shape.mesh() reverses every face at the end (the
# same convention as data/make_sphere.py).

def _orient(vertices, faces, inner_points):
    """Reorders each face so that its right-hand normal (v1 - v0) x (v2 -
    v0) points away from ``inner_points`` [F, 3] (a point inside the solid
    near that face)."""
    v = vertices[faces]
    normals = numpy.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])
    inward = numpy.einsum('ij,ij->i', normals,
                          v.mean(axis=1) - inner_points) < 0
    faces = faces.copy()
    faces[inward] = faces[inward][:, ::-1]
    return faces


def _ring(n, radius, y):
    angles = 2 * numpy.pi * numpy.arange(n) / n
    return numpy.stack((radius * numpy.cos(angles),
                        numpy.full(n, float(y)),
                        radius * numpy.sin(angles)), axis=1)


@functools.lru_cache(maxsize=None)
def unit_box():
    """The cube [-1, 1]^3: 8 vertices, 12 faces."""
    corners = numpy.array([[x, y, z] for x in (-1, 1) for y in (-1, 1)
                           for z in (-1, 1)], dtype=numpy.float64)
    quads = []
    for axis in range(3):
        for sign in (-1, 1):
            on_face = [i for i in range(8) if corners[i, axis] == sign]
            # Order the 4 corners around the face centre.
            u, w = [a for a in range(3) if a != axis]
            c = corners[on_face]
            order = numpy.argsort(numpy.arctan2(c[:, w], c[:, u]))
            quads.append([on_face[i] for i in order])
    faces = numpy.array([[q[0], q[1], q[2]] for q in quads] +
                        [[q[0], q[2], q[3]] for q in quads])
    return corners, _orient(corners, faces, numpy.zeros((len(faces), 3)))


@functools.lru_cache(maxsize=None)
def unit_frustum(top, n):
    """An n-gon frustum along y: bottom polygon of circumradius 1 at y = -1,
    top polygon of circumradius ``top`` (0 for a cone, 1 for a prism) at
    y = +1, both caps closed. Vertex j of a ring is at angle 2 pi j / n
    from +x toward +z."""
    bottom = _ring(n, 1., -1.)
    vertices = [bottom, [[0., -1., 0.]]]
    b_centre = n
    if top > 0:
        vertices += [_ring(n, top, 1.), [[0., 1., 0.]]]
        t0, t_centre = n + 1, 2 * n + 1
    else:
        vertices += [[[0., 1., 0.]]]
        t0 = t_centre = n + 1
    vertices = numpy.concatenate([numpy.asarray(v, numpy.float64)
                                  for v in vertices])
    faces = []
    for j in range(n):
        k = (j + 1) % n
        faces.append([j, k, b_centre])
        if top > 0:
            faces += [[j, k, t0 + k], [j, t0 + k, t0 + j],
                      [t0 + j, t0 + k, t_centre]]
        else:
            faces.append([j, k, t_centre])
    faces = numpy.array(faces)
    return vertices, _orient(vertices, faces, numpy.zeros((len(faces), 3)))


@functools.lru_cache(maxsize=None)
def unit_sphere(n_lon=12, n_lat=7):
    """A UV sphere of radius 1 (poles on y): n_lat - 1 rings of n_lon
    vertices and the two poles; 2 n_lon (n_lat - 1) faces."""
    rings = []
    for i in range(1, n_lat):
        polar = numpy.pi * i / n_lat
        rings.append(_ring(n_lon, numpy.sin(polar), -numpy.cos(polar)))
    south, north = (n_lat - 1) * n_lon, (n_lat - 1) * n_lon + 1
    vertices = numpy.concatenate(rings + [[[0., -1., 0.], [0., 1., 0.]]])
    faces = []
    for j in range(n_lon):
        k = (j + 1) % n_lon
        faces.append([j, k, south])
        top = (n_lat - 2) * n_lon
        faces.append([top + j, top + k, north])
        for i in range(n_lat - 2):
            a, b = i * n_lon, (i + 1) * n_lon
            faces += [[a + j, a + k, b + k], [a + j, b + k, b + j]]
    faces = numpy.array(faces)
    return vertices, _orient(vertices, faces, numpy.zeros((len(faces), 3)))


@functools.lru_cache(maxsize=None)
def unit_torus(minor, n_major=12, n_minor=6):
    """A torus around the y axis: the circle of radius 1 in the xz-plane
    swept by a circle of radius ``minor`` (< 1)."""
    major_angles = 2 * numpy.pi * numpy.arange(n_major) / n_major
    minor_angles = 2 * numpy.pi * numpy.arange(n_minor) / n_minor
    p, q = numpy.meshgrid(major_angles, minor_angles, indexing='ij')
    radius = 1 + minor * numpy.cos(q)
    vertices = numpy.stack((radius * numpy.cos(p), minor * numpy.sin(q),
                            radius * numpy.sin(p)), axis=-1).reshape(-1, 3)
    faces = []
    for i in range(n_major):
        for j in range(n_minor):
            a, b = i * n_minor + j, ((i + 1) % n_major) * n_minor + j
            c = ((i + 1) % n_major) * n_minor + (j + 1) % n_minor
            d = i * n_minor + (j + 1) % n_minor
            faces += [[a, b, c], [a, c, d]]
    faces = numpy.array(faces)
    # The inside of the tube near a face: the closest point of the core
    # circle to the face's centre.
    centres = vertices[faces].mean(axis=1)
    core = centres * [1, 0, 1]
    core /= numpy.linalg.norm(core, axis=1, keepdims=True)
    return vertices, _orient(vertices, faces, core)


def _inside_frustum(p, top, n):
    x, y, z = p[..., 0], p[..., 1], p[..., 2]
    scale = (1 - y) / 2 + top * (1 + y) / 2
    # Side j of the n-gon (circumradius 1) has its outward normal at angle
    # 2 pi (j + 1/2) / n and lies at distance cos(pi / n) from the axis.
    normals = 2 * numpy.pi * (numpy.arange(n) + 0.5) / n
    reach = numpy.max(x[..., None] * numpy.cos(normals) +
                      z[..., None] * numpy.sin(normals), axis=-1)
    tol = _INSIDE_TOLERANCE
    return (numpy.abs(y) <= 1 + tol) & \
        (reach <= scale * numpy.cos(numpy.pi / n) + tol)


def inside_unit(kind, params, p):
    """Inside test of a unit primitive at points p [..., 3] (unit frame):
    bool [...]. Points on the surface count as inside."""
    tol = _INSIDE_TOLERANCE
    if kind == 'box':
        return numpy.all(numpy.abs(p) <= 1 + tol, axis=-1)
    if kind == 'frustum':
        return _inside_frustum(p, *params)
    if kind == 'sphere':
        return numpy.sum(p * p, axis=-1) <= (1 + tol) ** 2
    if kind == 'torus':
        (minor,) = params
        ring = numpy.sqrt(p[..., 0] ** 2 + p[..., 2] ** 2) - 1
        return ring ** 2 + p[..., 1] ** 2 <= (minor + tol) ** 2
    raise ValueError('kind: unknown primitive {!r}'.format(kind))


def unit_mesh(kind, params):
    if kind == 'box':
        return unit_box()
    if kind == 'frustum':
        return unit_frustum(*params)
    if kind == 'sphere':
        return unit_sphere()
    if kind == 'torus':
        return unit_torus(*params)
    raise ValueError('kind: unknown primitive {!r}'.format(kind))


# -- parts and shapes ------------------------------------------------------

def rotation(axis, degrees):
    """3 x 3 rotation by ``degrees`` about world axis 'x', 'y' or 'z'
    (right-hand rule)."""
    c, s = numpy.cos(numpy.radians(degrees)), numpy.sin(numpy.radians(degrees))
    i, j = {'x': (1, 2), 'y': (2, 0), 'z': (0, 1)}[axis]
    r = numpy.eye(3)
    r[i, i], r[i, j], r[j, i], r[j, j] = c, -s, s, c
    return r


# Rotations taking the unit primitives' axis (local y) to a world axis.
_AXES = {'y': numpy.eye(3), '-y': rotation('x', 180), 'x': rotation('z', -90),
         '-x': rotation('z', 90), 'z': rotation('x', 90),
         '-z': rotation('x', -90)}


class Part(object):
    """A unit primitive placed by world = A @ local + t, with an RGB colour
    (3 floats in [0, 1]). ``A`` must have a positive determinant (a
    rotation times positive scales) so that faces stay outward."""

    def __init__(self, kind, params, A, t, colour):
        self.kind, self.params = kind, tuple(params)
        self.A = numpy.asarray(A, numpy.float64)
        self.t = numpy.asarray(t, numpy.float64)
        self.colour = numpy.asarray(colour, numpy.float64)

    def vertices(self):
        return unit_mesh(self.kind, self.params)[0] @ self.A.T + self.t

    def inside(self, points):
        local = (points - self.t) @ numpy.linalg.inv(self.A).T
        return inside_unit(self.kind, self.params, local)

    def bounds(self):
        """(low, high) [3]: bounding box of the analytic solid (for the
        ellipsoid and torus slightly larger than that of the mesh)."""
        half = numpy.ones(3)
        if self.kind == 'torus':
            half = numpy.array([1 + self.params[0], self.params[0],
                                1 + self.params[0]])
        reach = numpy.abs(self.A) @ half
        return self.t - reach, self.t + reach

    def surface_points(self, spacing):
        """Points [P, 3] on the part's mesh triangles, no two neighbours
        farther apart than about ``spacing``."""
        vertices = self.vertices()
        triangles = vertices[unit_mesh(self.kind, self.params)[1]]
        edges = numpy.linalg.norm(
            triangles - numpy.roll(triangles, 1, axis=1), axis=2).max(axis=1)
        steps = numpy.maximum(numpy.ceil(edges / spacing), 1).astype(int)
        points = []
        for n in numpy.unique(steps):
            # Barycentric grid (a, b, n - a - b) / n over each triangle.
            a, b = numpy.meshgrid(numpy.arange(n + 1), numpy.arange(n + 1),
                                  indexing='ij')
            keep = a + b <= n
            weights = numpy.stack((n - a[keep] - b[keep], a[keep], b[keep]),
                                  axis=1) / float(n)
            points.append(numpy.einsum('pk,tkc->tpc', weights,
                                       triangles[steps == n]).reshape(-1, 3))
        return numpy.concatenate(points)

    def transformed(self, scale, shift):
        """The part after world -> scale * (world + shift); ``scale`` a
        number or one positive factor per axis [3]."""
        scale = numpy.asarray(scale, numpy.float64)
        return Part(self.kind, self.params,
                    scale[..., None] * self.A if scale.ndim else
                    scale * self.A, scale * (self.t + shift), self.colour)


def box(centre, size, colour, rotate=None):
    """A box of full extents ``size`` (x, y, z) centred at ``centre``,
    optionally rotated about its centre by the 3 x 3 matrix ``rotate``."""
    r = numpy.eye(3) if rotate is None else rotate
    return Part('box', (), r @ numpy.diag(numpy.asarray(size) / 2.), centre,
                colour)


def frustum(centre, radius, length, colour, axis='y', top=1., n=12,
            radius2=None, rotate=None):
    """An n-gon prism (top=1) / frustum / cone (top=0) of circumradius
    ``radius`` (``radius2`` across, for an elliptic section) and
    ``length`` along ``axis``; the ``top`` end points toward ``axis``."""
    radius2 = radius if radius2 is None else radius2
    r = _AXES[axis] if rotate is None else rotate @ _AXES[axis]
    return Part('frustum', (float(top), n),
                r @ numpy.diag([radius, length / 2., radius2]), centre,
                colour)


def ellipsoid(centre, radii, colour, rotate=None):
    r = numpy.eye(3) if rotate is None else rotate
    return Part('sphere', (), r @ numpy.diag(radii), centre, colour)


def torus(centre, radius, minor, colour, axis='y'):
    """A torus of core radius ``radius`` and tube radius ``minor`` (absolute
    units) around ``axis``."""
    return Part('torus', (round(float(minor) / radius, 6),),
                _AXES[axis] * radius, centre, colour)


class Shape(object):
    """A list of parts; :meth:`normalised` centres it on its mesh's
    bounding box and scales its largest dimension to 1."""

    def __init__(self, parts):
        self.parts = list(parts)

    def bounds(self):
        v = numpy.concatenate([p.vertices() for p in self.parts])
        return v.min(axis=0), v.max(axis=0)

    def stretched(self, factors):
        """The shape scaled by ``factors`` [3] (positive) along x, y, z."""
        return Shape(p.transformed(factors, 0.) for p in self.parts)

    def normalised(self):
        low, high = self.bounds()
        scale = 1. / numpy.max(high - low)
        return Shape(p.transformed(scale, -(low + high) / 2.)
                     for p in self.parts)

    def mesh(self):
        """(vertices float32 [V, 3], faces int32 [F, 3], colours float32
        [F, 3]): faces counter-clockwise on the renderer's screen seen from
        outside (drawn with fill_back=False)."""
        vertices, faces, colours, offset = [], [], [], 0
        for part in self.parts:
            v = part.vertices()
            f = unit_mesh(part.kind, part.params)[1]
            vertices.append(v)
            faces.append(f[:, ::-1] + offset)  # to the renderer's winding
            colours.append(numpy.broadcast_to(part.colour, (len(f), 3)))
            offset += len(v)
        return (numpy.concatenate(vertices).astype(numpy.float32),
                numpy.concatenate(faces).astype(numpy.int32),
                numpy.concatenate(colours).astype(numpy.float32))

    def voxels(self, size=dataset.VOXEL_SIZE):
        """bool [size] * 3 in the stored layout (see the module docstring):
        a voxel is occupied if its centre is inside a part, or a part's
        surface passes through it."""
        spacing = 1. / (size - 1)
        centres = (numpy.arange(size) - (size - 1) / 2.) * spacing
        grid = numpy.zeros((size,) * 3, bool)  # [x, y, z] first
        for part in self.parts:
            # Inside tests only on the voxels of the part's bounding box.
            low, high = part.bounds()
            first = numpy.clip(numpy.ceil((low - centres[0]) / spacing - 1e-6),
                               0, size).astype(int)
            last = numpy.clip(numpy.floor((high - centres[0]) / spacing +
                                          1e-6) + 1, 0, size).astype(int)
            if numpy.any(last <= first):
                continue
            sub = numpy.stack(numpy.meshgrid(
                *[centres[a:b] for a, b in zip(first, last)], indexing='ij'),
                axis=-1)
            grid[first[0]:last[0], first[1]:last[1], first[2]:last[2]] |= \
                part.inside(sub)
        voxels = numpy.ascontiguousarray(dataset.xyz_grid_to_voxels(grid))
        # Surface voxels, as the authors' ground truth has them: without
        # them a part thinner than a voxel (a wing, a rifle barrel) could
        # miss every centre and vanish from the grid.
        points = numpy.concatenate([p.surface_points(spacing / 2)
                                    for p in self.parts])
        index = numpy.clip(dataset.points_to_voxel_indices(points, size), 0,
                           size - 1)
        voxels[index[:, 0], index[:, 1], index[:, 2]] = True
        return voxels


# -- the 13 classes --------------------------------------------------------

def _colour(rng):
    """A random fairly saturated colour, never too dark to see."""
    return numpy.array(colorsys.hsv_to_rgb(
        rng.uniform(), rng.uniform(0.25, 0.85), rng.uniform(0.55, 0.95)))


def _legs(width, depth, height, y_top, colour, inset, thickness,
          round_legs):
    """Four vertical legs under a rectangle width x depth whose underside is
    at y_top; the legs end at y_top - height."""
    parts = []
    for sx in (-1, 1):
        for sz in (-1, 1):
            centre = (sx * (width / 2 - inset), y_top - height / 2,
                      sz * (depth / 2 - inset))
            if round_legs:
                parts.append(frustum(centre, thickness / 2, height, colour,
                                     n=8))
            else:
                parts.append(box(centre, (thickness, height, thickness),
                                 colour))
    return parts


def _make_airplane(rng):
    u = rng.uniform
    length, radius = u(1.6, 2.2), u(0.08, 0.14)
    body, wing_colour = _colour(rng), _colour(rng)
    parts = [frustum((0, 0, 0), radius, length, body, axis='z', n=10),
             # nose toward -z, tail cone toward +z
             frustum((0, 0, -length / 2 - radius), radius, 2 * radius, body,
                     axis='-z', top=0., n=10),
             frustum((0, radius * 0.3, length / 2 + 1.5 * radius), radius,
                     3 * radius, body, axis='z', top=0.3, n=10)]
    span, chord = u(1.2, 2.2), u(0.25, 0.45)
    sweep, dihedral = u(0, 35), u(-3, 8)
    wing_z = u(-0.2, 0.15) * length
    for side in (-1, 1):
        # Each wing: a thin box from the fuselage out, swept back (toward
        # +z) and tilted up by the dihedral.
        r = rotation('y', side * sweep) @ rotation('z', side * dihedral)
        root = numpy.array([0, -radius * 0.3, wing_z])
        centre = root + r @ [side * span / 4, 0, 0]
        parts.append(box(centre, (span / 2, 0.035, chord), wing_colour,
                         rotate=r))
        if rng.uniform() < 0.6:  # an engine under each wing
            parts.append(frustum((side * span * u(0.15, 0.25), -radius * 1.2,
                                  wing_z - chord * 0.3),
                                 radius * 0.45, chord * 1.1, body, axis='z',
                                 n=8))
    fin_height, fin_chord = u(0.25, 0.45), u(0.2, 0.35)
    tail_z = length / 2 + radius
    parts.append(box((0, radius + fin_height / 2, tail_z - fin_chord / 2),
                     (0.035, fin_height, fin_chord), wing_colour,
                     rotate=rotation('x', u(10, 30))))  # swept back
    stab = u(0.4, 0.7)
    parts.append(box((0, radius * 0.5, tail_z - fin_chord / 2),
                     (stab, 0.03, fin_chord * 0.8), wing_colour))
    return parts


def _make_bench(rng):
    u = rng.uniform
    width, depth, seat_y = u(1.2, 2.0), u(0.3, 0.5), u(0.35, 0.5)
    wood, metal = _colour(rng), _colour(rng)
    t = u(0.04, 0.08)
    parts = [box((0, seat_y, 0), (width, t, depth), wood)]
    if rng.uniform() < 0.5:
        parts += _legs(width, depth, seat_y - t / 2, seat_y - t / 2,
                       metal, u(0.04, 0.1), u(0.04, 0.07), rng.uniform() < 0.5)
    else:  # two side panels
        for sx in (-1, 1):
            parts.append(box((sx * (width / 2 - 0.05), (seat_y - t / 2) / 2,
                              0), (0.05, seat_y - t / 2, depth * 0.9), metal))
    if rng.uniform() < 0.6:  # a backrest behind (+z)
        back = u(0.25, 0.45)
        parts.append(box((0, seat_y + t / 2 + 0.05 + back / 2,
                          depth / 2 - 0.03), (width, back, 0.04), wood,
                         rotate=rotation('x', u(0, 15))))
        for sx in (-1, 1):
            parts.append(box((sx * (width / 2 - 0.08), seat_y + 0.1,
                              depth / 2 - 0.03), (0.04, 0.2, 0.04), metal))
    return parts


def _make_dresser(rng):
    u = rng.uniform
    width, height, depth = u(0.7, 1.4), u(0.7, 1.6), u(0.4, 0.6)
    feet = u(0.04, 0.12)
    body, front, knob = _colour(rng), _colour(rng), _colour(rng)
    parts = [box((0, feet + height / 2, 0), (width, height, depth), body)]
    rows = int(rng.integers(2, 5))
    columns = int(rng.integers(1, 3))
    margin = 0.04
    cell_w = (width - margin * (columns + 1)) / columns
    cell_h = (height - margin * (rows + 1)) / rows
    for i in range(rows):
        for j in range(columns):
            cx = -width / 2 + margin + cell_w / 2 + j * (cell_w + margin)
            cy = feet + margin + cell_h / 2 + i * (cell_h + margin)
            parts.append(box((cx, cy, -depth / 2 - 0.01),
                             (cell_w, cell_h, 0.02), front))
            parts.append(box((cx, cy + cell_h * 0.2, -depth / 2 - 0.035),
                             (min(0.15, cell_w / 3), 0.03, 0.03), knob))
    for sx in (-1, 1):
        for sz in (-1, 1):
            parts.append(frustum((sx * (width / 2 - 0.06), feet / 2,
                                  sz * (depth / 2 - 0.06)), 0.035, feet,
                                 knob, n=6))
    return parts


def _make_car(rng):
    u = rng.uniform
    length, width = u(1.8, 2.4), u(0.8, 1.0)
    wheel_r, clearance = u(0.16, 0.22), u(0.1, 0.16)
    body_h = u(0.25, 0.4)
    paint, glass, tyre = _colour(rng), _colour(rng), numpy.array(
        [0.15, 0.15, 0.15]) + u(0, 0.1)
    body_y = clearance + body_h / 2
    parts = [box((0, body_y, 0), (width, body_h, length), paint)]
    # The cabin: a 4-sided frustum (a truncated pyramid) whose corners sit
    # at 45 degrees so that its sides face front, back and sideways.
    cabin_len, cabin_h = length * u(0.4, 0.6), u(0.2, 0.35)
    cabin_z = length * u(-0.05, 0.12)
    # The cabin: a 4-sided frustum (a truncated pyramid). The unit one has
    # its corners on the axes; turned by 45 degrees and then stretched, its
    # sides face front, back and sideways.
    cabin = numpy.diag([width * 0.45 * numpy.sqrt(2), cabin_h / 2,
                        cabin_len / 2 * numpy.sqrt(2)]) @ rotation('y', 45)
    parts.append(Part('frustum', (u(0.6, 0.85), 4), cabin,
                      (0, clearance + body_h + cabin_h / 2, cabin_z), glass))
    axle = length / 2 - wheel_r * u(1.2, 1.8)
    for sx in (-1, 1):
        for sz in (-1, 1):
            centre = (sx * (width / 2 - 0.04), wheel_r, sz * axle)
            parts.append(torus(centre, wheel_r * 0.7, wheel_r * 0.3, tyre,
                               axis='x'))
            parts.append(frustum(centre, wheel_r * 0.5, 0.08, glass,
                                 axis='x', n=8))
    return parts


def _make_chair(rng):
    u = rng.uniform
    width, depth, seat_y = u(0.4, 0.6), u(0.4, 0.6), u(0.4, 0.5)
    t = u(0.04, 0.08)
    seat, legs = _colour(rng), _colour(rng)
    parts = [box((0, seat_y, 0), (width, t, depth), seat)]
    parts += _legs(width, depth, seat_y - t / 2, seat_y - t / 2, legs,
                   u(0.02, 0.05), u(0.03, 0.06), rng.uniform() < 0.5)
    back_h, tilt = u(0.35, 0.6), u(0, 15)
    parts.append(box((0, seat_y + t / 2 + back_h / 2, depth / 2 - t / 2),
                     (width, back_h, t), seat, rotate=rotation('x', tilt)))
    if rng.uniform() < 0.4:  # armrests
        for sx in (-1, 1):
            parts.append(box((sx * (width / 2 + 0.03), seat_y + 0.2, 0),
                             (0.05, 0.04, depth * 0.9), legs))
            parts.append(box((sx * (width / 2 + 0.03), seat_y + 0.1,
                              -depth * 0.35), (0.04, 0.2, 0.04), legs))
    return parts


def _make_display(rng):
    u = rng.uniform
    width, height = u(0.9, 1.5), u(0.55, 0.95)
    frame, stand = _colour(rng), _colour(rng)
    neck = u(0.15, 0.35)
    screen_y = neck + height / 2
    parts = [box((0, screen_y, 0), (width, height, u(0.04, 0.08)), frame),
             box((0, screen_y, -0.045), (width * 0.92, height * 0.88, 0.01),
                 numpy.array([0.1, 0.1, 0.15]))]
    parts.append(frustum((0, neck / 2, 0.06), 0.04, neck, stand, n=8))
    if rng.uniform() < 0.5:
        parts.append(box((0, 0.015, 0.06), (width * u(0.3, 0.5), 0.03,
                                            u(0.2, 0.3)), stand))
    else:
        parts.append(frustum((0, 0.02, 0.06), u(0.15, 0.25), 0.04, stand,
                             top=0.8, n=12))
    return parts


def _make_lamp(rng):
    u = rng.uniform
    base, shade = _colour(rng), _colour(rng)
    pole = u(0.6, 1.2)
    parts = [frustum((0, 0.025, 0), u(0.15, 0.25), 0.05, base, top=0.85)]
    if rng.uniform() < 0.5:  # straight pole, shade on top
        parts.append(frustum((0, 0.05 + pole / 2, 0), 0.025, pole, base,
                             n=8))
        head = numpy.array([0, 0.05 + pole, 0])
        shade_axis = 'y'
    else:  # an arm leaning forward, shade pointing down
        parts.append(frustum((0, 0.05 + pole / 2, 0), 0.025, pole, base,
                             n=8))
        arm = u(0.3, 0.5)
        lean = u(40, 80)
        r = rotation('x', -lean)
        tip = numpy.array([0, 0.05 + pole, 0]) + r @ [0, arm, 0]
        parts.append(frustum((numpy.array([0, 0.05 + pole, 0]) + tip) / 2,
                             0.02, arm, base, n=8, rotate=r))
        head = tip
        shade_axis = '-y'
    shade_h, shade_r = u(0.2, 0.35), u(0.15, 0.3)
    # The shade's narrow end up in both cases: around the bulb on a
    # standing lamp, hanging below it on an arm.
    rise = 0.4 * shade_h if shade_axis == 'y' else -0.3 * shade_h
    parts.append(frustum(head + [0, rise, 0], shade_r, shade_h, shade,
                         top=u(0.4, 0.7), n=12))
    parts.append(ellipsoid(head, (0.05, 0.05, 0.05), numpy.array(
        [1., 0.95, 0.7])))
    return parts


def _make_speaker(rng):
    u = rng.uniform
    width, height, depth = u(0.35, 0.6), u(0.6, 1.2), u(0.3, 0.5)
    cabinet, cone = _colour(rng), _colour(rng)
    parts = [box((0, height / 2, 0), (width, height, depth), cabinet)]
    woofer = min(width * 0.4, height * 0.2)
    y = height * u(0.25, 0.4)
    parts.append(frustum((0, y, -depth / 2 - 0.01), woofer, 0.02, cone,
                         axis='-z', top=0.6, n=12))
    parts.append(torus((0, y, -depth / 2 - 0.01), woofer, 0.02, cabinet,
                       axis='z'))
    tweeter_y = height * u(0.7, 0.85)
    parts.append(frustum((0, tweeter_y, -depth / 2 - 0.01), woofer * 0.4,
                         0.02, cone, axis='-z', top=0.5, n=10))
    return parts


def _make_rifle(rng):
    u = rng.uniform
    metal, wood = _colour(rng) * 0.7, _colour(rng)
    barrel = u(0.8, 1.2)
    receiver = u(0.35, 0.5)
    parts = [box((0, 0, 0), (0.07, 0.12, receiver), metal),
             frustum((0, 0.02, -receiver / 2 - barrel / 2), 0.025, barrel,
                     metal, axis='z', n=8)]
    stock = u(0.35, 0.5)
    drop = u(5, 15)
    parts.append(box((0, -0.04, receiver / 2 + stock / 2 - 0.02),
                     (0.05, u(0.1, 0.16), stock), wood,
                     rotate=rotation('x', drop)))  # butt end lower
    parts.append(box((0, -0.1, receiver * 0.25), (0.04, 0.12, 0.05), wood,
                     rotate=rotation('x', -20)))  # grip, bottom to the back
    if rng.uniform() < 0.7:
        parts.append(box((0, -0.12, -receiver * 0.2), (0.04, u(0.1, 0.2),
                                                       0.06), metal))
    if rng.uniform() < 0.5:  # a scope
        parts.append(frustum((0, 0.1, 0), 0.025, receiver * 0.9, metal,
                             axis='z', n=8))
    if rng.uniform() < 0.6:  # a fore-end under the barrel
        parts.append(box((0, -0.01, -receiver / 2 - barrel * 0.2),
                         (0.05, 0.06, barrel * 0.4), wood))
    return parts


def _make_sofa(rng):
    u = rng.uniform
    width, depth = u(1.3, 2.2), u(0.6, 0.9)
    base_h, back_h, arm_w = u(0.3, 0.45), u(0.3, 0.5), u(0.1, 0.2)
    fabric, cushion = _colour(rng), _colour(rng)
    parts = [box((0, base_h / 2 + 0.05, 0), (width, base_h, depth), fabric),
             box((0, base_h + 0.05 + back_h / 2, depth / 2 - 0.1),
                 (width, back_h, 0.2), fabric,
                 rotate=rotation('x', u(0, 12)))]
    if rng.uniform() < 0.8:
        arm_h = u(0.15, 0.3)
        for sx in (-1, 1):
            parts.append(box((sx * (width / 2 - arm_w / 2),
                              base_h + 0.05 + arm_h / 2, 0),
                             (arm_w, arm_h, depth), fabric))
    seats = int(rng.integers(1, 4))
    inner = width - 2 * arm_w
    for i in range(seats):
        cx = -inner / 2 + inner * (i + 0.5) / seats
        parts.append(box((cx, base_h + 0.05 + 0.04, -0.05),
                         (inner / seats * 0.96, 0.08, depth - 0.25),
                         cushion))
    for sx in (-1, 1):
        for sz in (-1, 1):
            parts.append(frustum((sx * (width / 2 - 0.08), 0.025,
                                  sz * (depth / 2 - 0.08)), 0.03, 0.05,
                                 cushion, n=6))
    return parts


def _make_table(rng):
    u = rng.uniform
    height, t = u(0.5, 0.8), u(0.03, 0.07)
    top, legs = _colour(rng), _colour(rng)
    if rng.uniform() < 0.35:  # round top on a pedestal
        radius = u(0.4, 0.7)
        parts = [frustum((0, height - t / 2, 0), radius, t, top, n=16),
                 frustum((0, (height - t) / 2, 0), 0.05, height - t, legs,
                         n=8),
                 frustum((0, 0.02, 0), radius * u(0.4, 0.6), 0.04, legs,
                         top=0.7, n=12)]
    else:
        width, depth = u(0.9, 1.8), u(0.5, 1.0)
        parts = [box((0, height - t / 2, 0), (width, t, depth), top)]
        parts += _legs(width, depth, height - t, height - t, legs,
                       u(0.04, 0.12), u(0.04, 0.08), rng.uniform() < 0.4)
        if rng.uniform() < 0.4:  # a shelf
            parts.append(box((0, height * 0.25, 0),
                             (width * 0.8, 0.03, depth * 0.8), top))
    return parts


def _make_phone(rng):
    u = rng.uniform
    width, height, depth = u(0.45, 0.6), u(0.9, 1.1), u(0.06, 0.1)
    shell, screen = _colour(rng), numpy.array([0.08, 0.08, 0.12]) + u(0, 0.1)
    parts = [box((0, 0, 0), (width, height, depth), shell),
             box((0, height * 0.03, -depth / 2 - 0.005),
                 (width * 0.88, height * 0.8, 0.01), screen),
             frustum((0, -height * 0.44, -depth / 2 - 0.005), 0.04, 0.01,
                     shell * 0.7, axis='-z', n=8)]
    if rng.uniform() < 0.7:  # a camera bump on the back
        parts.append(frustum((width * u(-0.3, 0.3), height * 0.38,
                              depth / 2 + 0.01), 0.05, 0.02, screen,
                             axis='z', n=8))
    return parts


def _make_vessel(rng):
    u = rng.uniform
    length, beam, hull_h = u(1.6, 2.4), u(0.4, 0.6), u(0.2, 0.35)
    hull, deck, cabin = _colour(rng), _colour(rng), _colour(rng)
    parts = [ellipsoid((0, 0, 0), (beam / 2, hull_h, length / 2), hull),
             box((0, hull_h * 0.1, 0.05 * length),
                 (beam * 0.8, hull_h * 0.2, length * 0.75), deck)]
    cabin_len = length * u(0.15, 0.35)
    cabin_h = u(0.15, 0.3)
    cabin_z = length * u(-0.05, 0.2)
    parts.append(box((0, hull_h * 0.2 + cabin_h / 2, cabin_z),
                     (beam * 0.6, cabin_h, cabin_len), cabin))
    if rng.uniform() < 0.6:  # a mast
        mast = u(0.3, 0.7)
        parts.append(frustum((0, hull_h * 0.2 + mast / 2,
                              cabin_z - cabin_len / 2 - 0.1), 0.02, mast,
                             deck, n=6))
    else:  # a funnel
        parts.append(frustum((0, hull_h * 0.2 + cabin_h + 0.1,
                              cabin_z + cabin_len * 0.2), 0.07, 0.2, deck,
                             top=0.8, n=10))
    if rng.uniform() < 0.5:  # a lifebuoy on the cabin's side
        parts.append(torus((beam * 0.3 + 0.015, hull_h * 0.2 + cabin_h / 2,
                            cabin_z), 0.05, 0.015,
                           numpy.array([0.95, 0.4, 0.2]), axis='x'))
    return parts


MAKERS = {
    '02691156': _make_airplane, '02828884': _make_bench,
    '02933112': _make_dresser, '02958343': _make_car,
    '03001627': _make_chair, '03211117': _make_display,
    '03636649': _make_lamp, '03691459': _make_speaker,
    '04090263': _make_rifle, '04256520': _make_sofa,
    '04379243': _make_table, '04401088': _make_phone,
    '04530566': _make_vessel,
}


def object_rng(seed, class_id, split, index):
    """The random generator of one object: a function of (seed, class,
    split, index) only."""
    key = [int(seed), dataset.CLASS_IDS.index(class_id),
           dataset.SPLITS.index(split), int(index)]
    return numpy.random.default_rng(numpy.random.SeedSequence(key))


# Default of ``stretch``: factors exp(U(-1, 1)), 0.37 to 2.72 per axis.
DEFAULT_STRETCH = 1.0


def make_shape(class_id, rng, stretch=DEFAULT_STRETCH):
    """A random normalised object of class ``class_id`` (a synset id):
    a :class:`Shape` in [-0.5, 0.5]^3 with largest dimension 1.

    After its class's procedure the object is stretched along x, y and z by
    independent factors exp(U(-stretch, stretch)) (drawn after the
    procedure's own numbers), then normalised. Without it (stretch 0) the
    objects of a class differ so little that any two of them overlap
    closely: retrieving a training object by pixel distance scored a voxel
    IoU of 0.79, where it scores 0.48 on ShapeNet (paper Table 1).
    """
    shape = Shape(MAKERS[class_id](rng))
    if stretch:
        shape = shape.stretched(numpy.exp(rng.uniform(-stretch, stretch, 3)))
    return shape.normalised()


# -- rendering and writing -------------------------------------------------

def render_views(vertices, faces, colours, renderer):
    """The 24 views of one mesh in the stored format.

    Args:
        vertices: float32 [V, 3] (normalised object, world y up).
        faces: int32 [F, 3], renderer winding.
        colours: float32 [F, 3] in [0, 1], one per face.
        renderer: from ``dataset.make_renderer(image_size)``; its ``eye``
            is set here to ``dataset.view_eyes(arange(24))``.

    Returns:
        uint8 [24, 4, S, S]: R, G, B (over black) and alpha, each
        round(255 x value); view k seen from ``dataset.view_eyes(k)``.
    """
    n = dataset.NUM_VIEWS
    renderer.eye = dataset.view_eyes(numpy.arange(n))
    batch_vertices = numpy.ascontiguousarray(
        numpy.broadcast_to(vertices, (n,) + vertices.shape))
    batch_faces = numpy.ascontiguousarray(
        numpy.broadcast_to(faces, (n,) + faces.shape))
    # One texel per face (texture size 1): the part's flat colour.
    textures = numpy.ascontiguousarray(numpy.broadcast_to(
        colours[:, None, None, None, :], (n, len(faces), 1, 1, 1, 3)))
    with chainer.no_backprop_mode(), \
            chainer.using_config('enable_backprop', False):
        out = renderer.render_rgbad(batch_vertices, batch_faces, textures)
    rgba = numpy.concatenate((out['rgb'].array, out['alpha'].array[:, None]),
                             axis=1)
    return (numpy.clip(rgba, 0, 1) * 255 + 0.5).astype(numpy.uint8)


def generate_object(class_id, split, index, seed=0, renderer=None,
                    stretch=DEFAULT_STRETCH):
    """(images uint8 [24, 4, S, S], voxels bool [32, 32, 32], shape) of
    object ``index`` of a class and split (``stretch``: see
    :func:`make_shape`)."""
    if renderer is None:
        renderer = dataset.make_renderer()
    shape = make_shape(class_id, object_rng(seed, class_id, split, index),
                       stretch)
    images = render_views(*shape.mesh(), renderer=renderer)
    return images, shape.voxels(), shape


def _save(path, array):
    # Written under a temporary name and renamed, so that an interrupted
    # run leaves no truncated file that looks complete.
    with atomic_output(path) as temporary, open(temporary, 'wb') as f:
        numpy.savez_compressed(f, array)


def generate(output_dir, counts, class_ids=None, seed=0,
             image_size=dataset.IMAGE_SIZE, progress=True,
             stretch=DEFAULT_STRETCH, starts=None):
    """Writes the data set; returns the list of files written.

    Args:
        output_dir (str): created if missing.
        counts (dict): objects per class for each split, e.g. {'train':
            100, 'val': 10, 'test': 20}; a split with 0 objects is still
            written (N = 0), one missing from the dict is not.
        class_ids: as for ``dataset.parse_class_ids`` (None: all 13).
        seed (int): seeds every object (see :func:`object_rng`).
        image_size (int): pixels per side (64 for the authors' format).
        progress (bool): show a tqdm progress bar over objects.
        stretch (float): largest log stretch factor per axis (see
            :func:`make_shape`; 0 for none).
        starts (dict): the index of each split's first object, e.g.
            {'test': 20} for test objects 20, 21, ... (default 0); object i
            of a split is the same whatever the start and count.
    """
    starts = dict(starts or {})
    for split, start in starts.items():
        if split not in dataset.SPLITS:
            raise ValueError('starts: unknown split {!r}'.format(split))
        if isinstance(start, bool) or not isinstance(
                start, (int, numpy.integer)) or start < 0:
            raise ValueError('starts: expected a first index >= 0 for {}, '
                             'got {!r}'.format(split, start))
    class_ids = dataset.parse_class_ids(class_ids, name='classes')
    for split, n in counts.items():
        if split not in dataset.SPLITS:
            raise ValueError('counts: unknown split {!r}'.format(split))
        if not isinstance(n, (int, numpy.integer)) or n < 0:
            raise ValueError('counts: expected a number of objects >= 0 for '
                             '{}, got {!r}'.format(split, n))
    if not isinstance(image_size, (int, numpy.integer)) or image_size < 1:
        raise ValueError('image_size: expected a positive integer, got '
                         '{!r}'.format(image_size))
    if not 0 <= stretch < 3:
        raise ValueError('stretch: expected a number in [0, 3), got '
                         '{!r}'.format(stretch))
    os.makedirs(output_dir, exist_ok=True)
    renderer = dataset.make_renderer(image_size)
    total = len(class_ids) * sum(counts.values())
    from tqdm import tqdm
    bar = tqdm(total=total, unit='object', disable=not progress,
               desc='synthetic data')
    written = []
    try:
        for class_id in class_ids:
            for split in dataset.SPLITS:
                if split not in counts:
                    continue
                n = counts[split]
                bar.set_postfix_str('%s %s' % (
                    dataset.CLASS_NAMES[class_id], split))
                images = numpy.zeros((n, dataset.NUM_VIEWS, 4, image_size,
                                      image_size), numpy.uint8)
                voxels = numpy.zeros((n,) + (dataset.VOXEL_SIZE,) * 3, bool)
                start = int(starts.get(split, 0))
                for i in range(n):
                    images[i], voxels[i], _ = generate_object(
                        class_id, split, start + i, seed, renderer, stretch)
                    bar.update()
                for path, array in (
                        (dataset.image_path(output_dir, class_id, split),
                         images),
                        (dataset.voxel_path(output_dir, class_id, split),
                         voxels)):
                    _save(path, array)
                    written.append(path)
    finally:
        bar.close()
    return written


def _count(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError('expected an integer, got '
                                         '{!r}'.format(text))
    if value < 0:
        raise argparse.ArgumentTypeError('expected an integer >= 0, got '
                                         '{}'.format(value))
    return value


def main(argv=None):
    parser = argparse.ArgumentParser(
        description='Write a synthetic single-image reconstruction data set '
                    'in the format of the authors\' ShapeNet files.')
    parser.add_argument('-o', '--output-dir', required=True,
                        help='directory for the .npz files')
    parser.add_argument('--train', type=_count, default=100,
                        help='objects per class in the train split '
                             '(default: %(default)s)')
    parser.add_argument('--val', type=_count, default=10,
                        help='objects per class in the val split (default: '
                             '%(default)s)')
    parser.add_argument('--test', type=_count, default=20,
                        help='objects per class in the test split (default: '
                             '%(default)s)')
    parser.add_argument('--classes', default=None,
                        help='comma-separated synset ids or names (default: '
                             'all 13: %s)' % ','.join(
                                 n for _, n in dataset.CLASSES))
    parser.add_argument('--seed', type=int, default=0,
                        help='random seed (default: %(default)s)')
    parser.add_argument('--image-size', type=_count, default=64,
                        help='image size in pixels; the authors\' files use '
                             '64 (default: %(default)s)')
    parser.add_argument('--stretch', type=float, default=DEFAULT_STRETCH,
                        help='stretch each object along x, y, z by factors '
                             'exp(U(-S, S)) before normalising (default: '
                             '%(default)s; 0: the classes\' procedures '
                             'alone)')
    parser.add_argument('--only-test', action='store_true',
                        help='write the test split only (--train and --val '
                             'ignored): e.g. a larger test split for a data '
                             'set made with the same seed and stretch')
    parser.add_argument('--test-start', type=_count, default=0,
                        help='index of the first test object (default '
                             '%(default)s; 20 skips the objects of a '
                             '20-object test split)')
    parser.add_argument('--quiet', action='store_true',
                        help='no progress bar')
    args = parser.parse_args(argv)
    try:
        class_ids = dataset.parse_class_ids(args.classes, name='--classes')
    except ValueError as e:
        parser.error(str(e))
    if args.image_size < 1:
        parser.error('--image-size: expected a positive integer')
    if not 0 <= args.stretch < 3:
        parser.error('--stretch: expected a number in [0, 3)')
    start = time.time()
    counts = {'train': args.train, 'val': args.val, 'test': args.test}
    if args.only_test:
        counts = {'test': args.test}
    written = generate(args.output_dir, counts, class_ids, args.seed,
                       args.image_size, progress=not args.quiet,
                       stretch=args.stretch,
                       starts={'test': args.test_start})
    objects = len(class_ids) * sum(counts.values())
    elapsed = time.time() - start
    print('%d files, %d objects in %s (%.1f s, %.3f s per object)' % (
        len(written), objects, args.output_dir, elapsed,
        elapsed / max(objects, 1)))
    return written


if __name__ == '__main__':
    main()
