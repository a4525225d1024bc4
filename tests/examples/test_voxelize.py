"""Voxelization for the reconstruction evaluation (authors' protocol) and the
Table 1 formatting: examples/reconstruction/voxelize.py, evaluate_table.py.

Grid mapping under test: mesh coordinate v -> grid g = 31 v + 16; voxel i is
i <= g < i + 1 (centre i + 0.5 <-> v = (i - 15.5) / 31).
"""
import math
import os
import sys
import time

import numpy
import pytest
import scipy.ndimage

import neural_renderer as nr

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', '..', 'examples',
                                'reconstruction'))

import evaluate_table  # NOQA
import voxelize as vx  # NOQA

S = 32
CENTRES_1D = (numpy.arange(S) + 0.5 - S / 2) / (S - 1)


def cell(v):
    """The voxel index of mesh coordinate v, by the stated formula."""
    return int(math.floor(S * (v * (S - 1) / S + 0.5)))


def box(lo, hi, skip=()):
    """Axis-aligned box [lo, hi] as 12 triangles (vertex index 4i + 2j + k
    for corner (x_i, y_j, z_k)); ``skip`` drops faces by name, e.g. '+y'."""
    lo, hi = numpy.asarray(lo, float), numpy.asarray(hi, float)
    corners = numpy.array([[(lo, hi)[i][0], (lo, hi)[j][1], (lo, hi)[k][2]]
                           for i in (0, 1) for j in (0, 1) for k in (0, 1)])
    quads = {'-x': (0, 1, 3, 2), '+x': (4, 6, 7, 5), '-y': (0, 4, 5, 1),
             '+y': (2, 3, 7, 6), '-z': (0, 2, 6, 4), '+z': (1, 5, 7, 3)}
    faces = []
    for name, (a, b, c, d) in quads.items():
        if name not in skip:
            faces += [(a, b, c), (a, c, d)]
    return corners, numpy.array(faces, dtype=numpy.int32)


def block(lo, hi):
    """Solid voxels [lo, hi] (inclusive indices) per axis, mesh-axis order."""
    out = numpy.zeros((S, S, S), bool)
    out[lo[0]:hi[0] + 1, lo[1]:hi[1] + 1, lo[2]:hi[2] + 1] = True
    return out


def sphere_mesh(radius):
    vertices, faces = nr.load_obj(os.path.join(HERE, '..', '..', 'data',
                                               'sphere_642.obj'),
                                  normalization=False)
    vertices = vertices.astype(numpy.float64)
    vertices *= radius / numpy.linalg.norm(vertices, axis=1).max()
    return vertices, faces


# -- closed shapes whose voxels are known ------------------------------------

def test_cube_gives_its_cells_but_the_edge_rows():
    # Faces at g = 31 * (+-0.3) + 16 = 6.7 and 25.3: the cube overlaps the
    # cells 6..25 on each axis (20^3 voxels). Rays through voxel centres
    # cross every face inside, so each face marks its outer layer; the 12
    # edge rows (e.g. x = 6, y = 6) lie beside every ray (centres 6.5 < 6.7)
    # and stay empty apart from the 8 corner cells, marked as vertex voxels.
    vertices, faces = box([-0.3] * 3, [0.3] * 3)
    lo, hi = cell(-0.3), cell(0.3)
    assert (lo, hi) == (6, 25)
    cells = block([lo] * 3, [hi] * 3)
    on_boundary = [numpy.isin(numpy.arange(S), (lo, hi))] * 3
    b = numpy.add.reduce(numpy.meshgrid(*on_boundary, indexing='ij'))
    expected = cells & ~(b == 2)  # edge rows (2 boundary coords) removed

    voxels = vx.voxelize(vertices.astype(numpy.float32), faces)
    assert voxels.shape == (S, S, S) and voxels.dtype == bool
    numpy.testing.assert_array_equal(voxels, expected)
    assert voxels.sum() == 20 ** 3 - 12 * 18
    assert vx.voxel_iou(voxels, cells) >= 0.95
    # The winding does not matter.
    numpy.testing.assert_array_equal(
        vx.voxelize(vertices, faces[:, ::-1].copy()), expected)


def test_cube_spanning_the_unit_box_fills_the_grid():
    # -0.5 and +0.5 map to the centres of voxels 0 and 31 (g = 0.5, 31.5):
    # the whole grid, edge rows included (rays graze the cube's edges).
    vertices, faces = box([-0.5] * 3, [0.5] * 3)
    assert vx.voxelize(vertices, faces).all()


def test_sphere_matches_the_protocol_on_an_exact_sphere():
    radius = 0.4
    vertices, faces = sphere_mesh(radius)
    voxels = vx.voxelize(vertices, faces)

    # Independent reference: the protocol applied analytically to the exact
    # sphere: voxels whose centre is inside, plus, for every axis ray through
    # voxel centres (a, b), the voxels holding its two crossings.
    centres = vx.voxel_centres(S)
    reference = numpy.linalg.norm(centres, axis=-1) < radius
    a, b = numpy.meshgrid(CENTRES_1D, CENTRES_1D, indexing='ij')
    crossed = a ** 2 + b ** 2 <= radius ** 2
    ia, ib = numpy.nonzero(crossed)
    for axis in range(3):
        for sign in (-1, 1):
            depth = sign * numpy.sqrt(radius ** 2 - a[crossed] ** 2
                                      - b[crossed] ** 2)
            ic = numpy.floor(31 * depth + 16).astype(int)
            index = [None] * 3
            index[axis] = ic
            index[[d for d in range(3) if d != axis][0]] = ia
            index[[d for d in range(3) if d != axis][1]] = ib
            reference[tuple(index)] = True
    assert vx.voxel_iou(voxels, reference) >= 0.95

    # Against the plain "centre inside the ball" set the protocol scores
    # ~0.92 here, not 0.95: surface voxels whose centre is up to half a
    # voxel outside are solid too. What must hold: every centre inside the
    # icosphere's inscribed ball is solid, and no cell lying wholly outside
    # the ball is.
    normals = numpy.cross(vertices[faces[:, 1]] - vertices[faces[:, 0]],
                          vertices[faces[:, 2]] - vertices[faces[:, 0]])
    normals /= numpy.linalg.norm(normals, axis=1, keepdims=True)
    inscribed = numpy.abs((normals * vertices[faces[:, 0]]).sum(1)).min()
    assert 0.98 * radius < inscribed < radius
    assert voxels[numpy.linalg.norm(centres, axis=-1) < inscribed].all()
    gap = numpy.maximum(numpy.abs(centres) - 0.5 / (S - 1), 0)
    assert not voxels[numpy.linalg.norm(gap, axis=-1) > radius].any()
    centre_inside = numpy.linalg.norm(centres, axis=-1) < radius
    assert vx.voxel_iou(voxels, centre_inside) >= 0.9


def test_no_leak_into_rotated_or_grid_snapped_spheres():
    # A pinhole in the surface voxels would let the flood fill empty the
    # inside. Rays grazing edges and vertices are the risk: snapping the
    # vertices to voxel centres puts them exactly on rays.
    unit, faces = sphere_mesh(1.0)
    centres = vx.voxel_centres(S)
    rng = numpy.random.RandomState(3)
    for trial in range(12):
        rotation = numpy.linalg.qr(rng.randn(3, 3))[0]
        radius, offset = rng.uniform(0.05, 0.35), rng.uniform(-0.1, 0.1, 3)
        vertices = unit @ rotation.T * radius + offset
        inscribed = 0.98 * radius
        if trial % 3 == 0:
            grid = numpy.floor(31 * vertices + 16) + 0.5
            vertices = (grid - 16) / 31
            inscribed -= 1 / 31  # snapping moves vertices <= 0.87 voxel
        voxels = vx.voxelize(vertices, faces)
        inside = numpy.linalg.norm(centres - offset, axis=-1) < inscribed
        assert voxels[inside].all(), trial


def test_a_voxel_sized_shape_keeps_its_vertex_voxel():
    # A tetrahedron smaller than a voxel that no ray crosses: only the
    # voxel of its vertices marks it.
    centre = numpy.array([0.1, -0.2, 0.3])
    vertices = centre + 0.001 * numpy.array(
        [[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]])
    faces = numpy.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])
    voxels = vx.voxelize(vertices, faces)
    assert voxels.sum() == 1
    assert voxels[cell(0.1), cell(-0.2), cell(0.3)]
    assert (cell(0.1), cell(-0.2), cell(0.3)) == (19, 9, 25)


# -- the interior fill --------------------------------------------------------

def test_an_open_box_is_not_filled():
    # A box without its +y face: its inside connects to the outside, so
    # only the walls are solid; the closed box is solid through.
    lo, hi = [-0.3] * 3, [0.3] * 3
    closed = vx.voxelize(*box(lo, hi))
    open_ = vx.voxelize(*box(lo, hi, skip=('+y',)))
    inner = block([cell(-0.3) + 1] * 3, [cell(0.3) - 1] * 3)
    assert closed[inner].all()
    assert not open_[inner].any()
    # The walls that remain are there (the -y floor and the four sides).
    assert open_[10:20, cell(-0.3), 10:20].all()
    assert open_[cell(-0.3), 10:20, 10:20].all()
    assert not open_[10:20, cell(0.3), 10:20].any()


def test_a_sealed_cavity_is_filled():
    # Protocol: the fill starts from the border only, so a closed cavity
    # inside a closed shape (two nested boxes) ends up solid.
    outer_v, outer_f = box([-0.4] * 3, [0.4] * 3)
    inner_v, inner_f = box([-0.2] * 3, [0.2] * 3)
    vertices = numpy.concatenate([outer_v, inner_v])
    faces = numpy.concatenate([outer_f, inner_f + len(outer_v)])
    voxels = vx.voxelize(vertices, faces)
    assert voxels[block([cell(-0.4) + 1] * 3, [cell(0.4) - 1] * 3)].all()


def test_fill_interior_equals_scipy_binary_fill_holes():
    # scipy's default structure is the 6-neighbourhood: its filled holes are
    # the empty voxels not connected to the border, i.e. the same rule.
    rng = numpy.random.RandomState(0)
    surfaces = rng.rand(6, 20, 20, 20) < numpy.array(
        [0.2, 0.3, 0.35, 0.4, 0.5, 0.7])[:, None, None, None]
    # A closed spherical shell with a wall one voxel thick, and one with a
    # pinhole: filled inside, and not filled.
    radius = numpy.linalg.norm(numpy.indices((20, 20, 20)) - 9.5, axis=0)
    shell = (radius >= 6) & (radius < 7.5)
    leaky = shell.copy()
    leaky[9:11, 9:11, :] &= radius[9:11, 9:11, :] < 6.5
    leaky[9, 9, :4] = False
    surfaces = numpy.concatenate([surfaces, shell[None], leaky[None]])
    solid = vx.fill_interior(surfaces)
    for surface, result in zip(surfaces, solid):
        numpy.testing.assert_array_equal(
            result, scipy.ndimage.binary_fill_holes(surface))
        numpy.testing.assert_array_equal(vx.fill_interior(surface), result)
    assert solid[-2][radius < 6].all()


# -- axes ---------------------------------------------------------------------

# A box long along mesh x, in the +y half and the -z half of the unit box.
LO, HI = (-0.45, 0.05, -0.4), (0.25, 0.35, -0.1)


def occupied_range(voxels, axis):
    others = tuple(d for d in range(3) if d != axis)
    index = numpy.nonzero(voxels.any(axis=others))[0]
    return index[0], index[-1]


def test_ground_truth_axes_are_y_x_minus_z():
    mesh_axes = vx.voxelize(*box(LO, HI))
    x_range = (cell(LO[0]), cell(HI[0]))
    y_range = (cell(LO[1]), cell(HI[1]))
    z_range = (cell(LO[2]), cell(HI[2]))
    assert (x_range, y_range, z_range) == ((2, 23), (17, 26), (3, 12))
    assert [occupied_range(mesh_axes, d) for d in range(3)] == \
        [x_range, y_range, z_range]

    gt = vx.to_ground_truth_axes(mesh_axes)
    # Axis 0: mesh y (occupied at the high end, as the box is at +y);
    # axis 1: mesh x (the long one); axis 2: mesh z reversed (the box is at
    # -z, so it sits at the high end).
    assert occupied_range(gt, 0) == y_range
    assert occupied_range(gt, 1) == x_range
    assert occupied_range(gt, 2) == (S - 1 - z_range[1], S - 1 - z_range[0])
    assert occupied_range(gt, 2) == (19, 28)
    extents = [numpy.subtract(*occupied_range(gt, d)[::-1]) for d in range(3)]
    assert numpy.argmax(extents) == 1
    # Element by element: g[j, i, S - 1 - k] = m[i, j, k].
    i, j, k = 5, 20, 7
    assert gt[j, i, S - 1 - k] == mesh_axes[i, j, k]
    # Mesh point (x, y, z) = (0, 0.2, -0.25) is inside the box; (0.2, 0,
    # -0.25) and (0, 0.2, 0.25) are not.
    assert gt[cell(0.2), cell(0.0), S - 1 - cell(-0.25)]
    assert not gt[cell(0.0), cell(0.2), S - 1 - cell(-0.25)]
    assert not gt[cell(0.2), cell(0.0), S - 1 - cell(0.25)]

    numpy.testing.assert_array_equal(vx.from_ground_truth_axes(gt),
                                     mesh_axes)
    batch = numpy.stack([mesh_axes, ~mesh_axes])
    numpy.testing.assert_array_equal(vx.to_ground_truth_axes(batch)[1], ~gt)


def voxel_mesh(gt):
    """Cubes at the occupied ground-truth voxels [a, b, c], placed at mesh
    (x, y, z) = (centre[b], centre[a], centre[S - 1 - c]): the reading of
    "indexed [y, x, -z]"."""
    a, b, c = numpy.nonzero(gt)
    points = numpy.stack([CENTRES_1D[b], CENTRES_1D[a],
                          CENTRES_1D[S - 1 - c]], axis=1)
    unit, unit_faces = box([-1] * 3, [1] * 3)
    vertices = points[:, None] + 0.5 / (S - 1) * unit[None]
    faces = unit_faces[None] + 8 * numpy.arange(len(points))[:, None, None]
    return (vertices.reshape(-1, 3).astype(numpy.float32),
            faces.reshape(-1, 3).astype(numpy.int32))


def test_ground_truth_voxels_line_up_with_the_images():
    # The data's cameras: view k at azimuth -15k, elevation 30, distance
    # 2.732, half viewing angle 15, 64 x 64. The shape's silhouette and the
    # silhouette of its ground-truth voxels (drawn as cubes where the
    # [y, x, -z] reading puts them) agree; mirrored or transposed readings
    # do not.
    vertices, faces = box(LO, HI)
    gt = vx.to_ground_truth_axes(vx.voxelize(vertices, faces))
    renderer = nr.Renderer()
    renderer.image_size = 64
    renderer.viewing_angle = 15

    def silhouettes(v, f):
        out = []
        for view in (0, 6, 12, 18):
            renderer.eye = nr.get_points_from_angles(2.732, 30, -15 * view)
            alpha = renderer.render_silhouettes(
                v[None].astype(numpy.float32), f[None].astype(numpy.int32))
            out.append(alpha.array[0] > 0.5)
        return numpy.array(out)

    def iou(p, q):
        return (p & q).sum(axis=(1, 2)) / (p | q).sum(axis=(1, 2))

    images = silhouettes(vertices, faces)
    assert images.any(axis=(1, 2)).all()
    # The voxels reach up to half a voxel beyond the box (~0.6 pixel here).
    assert (iou(images, silhouettes(*voxel_mesh(gt))) >= 0.85).all()
    assert iou(images, silhouettes(*voxel_mesh(gt[:, :, ::-1]))).max() < 0.5
    assert iou(images, silhouettes(
        *voxel_mesh(gt.transpose(1, 0, 2)))).max() < 0.7


# -- batches, speed, errors ---------------------------------------------------

def test_batched_voxelize_equals_one_by_one():
    vertices, faces = sphere_mesh(0.35)
    batch = numpy.stack([vertices, vertices * [1.3, 0.6, 1.0] + [0, 0.1, 0],
                         vertices * 0.3 - 0.2])
    voxels = vx.voxelize(batch, faces)
    assert voxels.shape == (3, S, S, S)
    for v, out in zip(batch, voxels):
        numpy.testing.assert_array_equal(vx.voxelize(v, faces), out)
    assert vx.voxelize(vertices, faces, size=16).shape == (16, 16, 16)


def test_a_1280_face_mesh_takes_well_under_a_second():
    vertices, faces = sphere_mesh(0.45)
    vx.voxelize(vertices, faces)
    start = time.perf_counter()
    for _ in range(5):
        vx.voxelize(vertices, faces)
    assert (time.perf_counter() - start) / 5 < 0.25


def test_bad_input_names_the_argument():
    vertices, faces = box(LO, HI)
    with pytest.raises(ValueError, match='vertices'):
        vx.voxelize(vertices[:, :2], faces)
    with pytest.raises(TypeError, match='vertices'):
        vx.voxelize(vertices.astype(int), faces)
    with pytest.raises(TypeError, match='vertices'):
        vx.voxelize(vertices.tolist(), faces)
    bad = vertices.copy()
    bad[0, 0] = numpy.nan
    with pytest.raises(ValueError, match='vertices'):
        vx.voxelize(bad, faces)
    with pytest.raises(ValueError, match='faces'):
        vx.voxelize(vertices, faces + 1)
    with pytest.raises(TypeError, match='faces'):
        vx.voxelize(vertices, faces.astype(float))
    with pytest.raises(ValueError, match='size'):
        vx.voxelize(vertices, faces, size=1)
    with pytest.raises(TypeError, match='surface'):
        vx.fill_interior(numpy.zeros((4, 4, 4), int))
    with pytest.raises(ValueError, match='voxels'):
        vx.to_ground_truth_axes(numpy.zeros((4, 4)))


# -- IoU ----------------------------------------------------------------------

def test_voxel_iou_hand_values():
    a = numpy.zeros((4, 4, 4), bool)
    b = numpy.zeros((4, 4, 4), bool)
    a[0, 0, :2] = True          # 2 voxels
    b[0, 0, 1:4] = True         # 3 voxels, 1 shared
    assert vx.voxel_iou(a, b) == pytest.approx(1 / 4)
    assert vx.voxel_iou(a, a) == 1.0
    assert vx.voxel_iou(a, ~a) == 0.0
    empty = numpy.zeros_like(a)
    assert vx.voxel_iou(empty, empty) == 1.0
    batched = vx.voxel_iou(numpy.stack([a, a, empty]),
                           numpy.stack([b, ~a, empty]))
    numpy.testing.assert_allclose(batched, [0.25, 0.0, 1.0])
    with pytest.raises(ValueError, match='a, b'):
        vx.voxel_iou(a, b[:3])
    with pytest.raises(TypeError, match='b'):
        vx.voxel_iou(a, b.astype(int))


# -- Table 1 ------------------------------------------------------------------

def test_class_means_weigh_classes_equally():
    ious = {'02958343': numpy.full((2, 24), 0.8),       # car: 48 values
            '02691156': [[0.2, 0.4]]}                   # airplane: 2 values
    means = evaluate_table.class_mean_iou(ious)
    assert list(means) == ['02691156', '02958343', 'mean']
    assert means['02691156'] == pytest.approx(0.3)
    assert means['02958343'] == pytest.approx(0.8)
    assert means['mean'] == pytest.approx(0.55)  # not the pooled 0.78
    with pytest.raises(ValueError, match='ious_by_class.*99999999'):
        evaluate_table.class_mean_iou({'99999999': [0.5]})
    with pytest.raises(ValueError, match='02691156'):
        evaluate_table.class_mean_iou({'02691156': [1.5]})


def test_table_has_the_papers_columns_and_rows():
    header_names = ('airplane bench dresser car chair display lamp speaker '
                    'rifle sofa table phone vessel').split()
    assert [name for _, name in evaluate_table.CLASSES] == header_names
    values = numpy.linspace(0.1, 0.7, 13)
    row = dict(zip(evaluate_table.CLASS_IDS, values))
    text = evaluate_table.format_table({'ours': row}, include_paper=False)
    lines = text.strip().split('\n')
    assert lines[0] == '| method | ' + ' | '.join(header_names) + ' | mean |'
    assert lines[1] == '|---' * 15 + '|'
    cells = [c.strip() for c in lines[2].strip('|').split('|')]
    assert cells[0] == 'ours'
    assert cells[1:] == ['{:.4f}'.format(v)[1:] for v in values] + ['.4000']
    assert len(lines) == 3

    # With the paper's rows first; their means match their classes (a check
    # of the transcription).
    text = evaluate_table.format_table({'ours': row})
    lines = text.strip().split('\n')
    assert lines[2].startswith('| Retrieval (paper) | .5564 |')
    assert lines[4] == (
        '| Mesh-based (NMR) (paper) | .6172 | .4998 | .7143 | .7095 | .4990 '
        '| .5831 | .4126 | .6536 | .6322 | .6735 | .4829 | .7777 | .5645 '
        '| .6016 |')
    assert lines[5].startswith('| ours |')
    for paper_row in evaluate_table.PAPER_ROWS.values():
        assert numpy.mean([paper_row[c] for c in evaluate_table.CLASS_IDS]) \
            == pytest.approx(paper_row['mean'], abs=1e-4)


def test_table_marks_a_partial_mean(tmp_path):
    rows = {'ours': evaluate_table.class_mean_iou(
        {'02691156': [0.5], '04530566': [0.25]})}
    path = tmp_path / 'table.md'
    text = evaluate_table.write_table(str(path), rows, include_paper=False)
    assert path.read_text() == text
    cells = [c.strip() for c in text.split('\n')[2].strip('|').split('|')]
    assert cells[1] == '.5000' and cells[13] == '.2500'
    assert cells[2:13] == ['-'] * 11
    assert cells[14] == '.3750*'
    assert '(*)' in text
    with pytest.raises(ValueError, match="rows\\['ours'\\]"):
        evaluate_table.format_table({'ours': {'airplane': 0.5}})
    with pytest.raises(TypeError, match='rows'):
        evaluate_table.format_table([0.5])
    with pytest.raises(TypeError, match="rows\\['ours'\\]"):
        evaluate_table.format_table({'ours': 0.5})


def test_table_command_line(tmp_path, capsys):
    numpy.savez(str(tmp_path / 'ious.npz'),
                **{'02691156': numpy.full((3, 24), 0.5)})
    rows = evaluate_table.main([str(tmp_path / 'ious.npz'), '-o',
                                str(tmp_path / 'table.md'), '--method', 'x'])
    assert rows == {'x': {'02691156': 0.5, 'mean': 0.5}}
    out = capsys.readouterr().out
    assert '| x | .5000 |' in out and 'Mesh-based (NMR) (paper)' in out
    assert (tmp_path / 'table.md').read_text() == out


def test_table_of_named_runs_over_a_class_group(tmp_path, capsys):
    chair, lamp, plane = '03001627', '03636649', '02691156'
    numpy.savez(str(tmp_path / 'base.npz'), **{
        'model/' + chair: numpy.full((4, 24), 0.5),
        'model/' + lamp: numpy.full((3, 24), 0.2),
        'model/' + plane: numpy.full((2, 24), 0.9),
        'ptn/' + chair: numpy.full((4, 24), 0.25),
        'ptn/' + lamp: numpy.full((3, 24), 0.25),
        'ptn/' + plane: numpy.full((2, 24), 0.25)})
    numpy.savez(str(tmp_path / 'try.npz'), **{
        'model/' + chair: numpy.full((4, 24), 0.6),
        'model/' + lamp: numpy.full((3, 24), 0.3),
        'model/' + plane: numpy.full((2, 24), 0.1)})
    rows = evaluate_table.main([
        'base=' + str(tmp_path / 'base.npz'),
        'try=' + str(tmp_path / 'try.npz'), '--classes', 'chair,lamp',
        '--compare', 'try,base model'])
    # A file of several methods gives "NAME method" rows, one of a single
    # method the row NAME; the means are over chair and lamp alone.
    assert list(rows) == ['base model', 'base ptn', 'try']
    assert rows['try'] == pytest.approx({chair: 0.6, lamp: 0.3,
                                         'mean': 0.45})
    assert rows['base model']['mean'] == pytest.approx(0.35)
    assert plane not in rows['base ptn']
    out = capsys.readouterr().out
    # Every object gains exactly 0.1: the bootstrap has nothing to vary.
    assert 'try - base model: +0.1000 (paired bootstrap over the ' \
           'objects: standard error 0.0000' in out
    assert '(*) mean over the classes evaluated' in out

    numpy.savez(str(tmp_path / 'chair.npz'),
                **{chair: numpy.full((4, 24), 0.5)})
    with pytest.raises(ValueError, match="classes: method 'c' lacks lamp"):
        evaluate_table.read_ious(['try=' + str(tmp_path / 'try.npz'),
                                  str(tmp_path / 'chair.npz')], method='c',
                                 classes=['chair', 'lamp'])
    with pytest.raises(ValueError, match='non-empty NAME'):
        evaluate_table.read_ious(['=' + str(tmp_path / 'try.npz')])
    with pytest.raises(ValueError, match='given twice'):
        evaluate_table.read_ious(['a=' + str(tmp_path / 'try.npz'),
                                  'a=' + str(tmp_path / 'try.npz')])
