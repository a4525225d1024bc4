"""The shipped meshes in data/ and the scripts that make them.

Winding convention (the renderer's): faces are counter-clockwise on the
renderer's left-handed screen (x right, y up, z away from the camera) when
seen from outside, so the renderer's normal (v0 - v1) x (v2 - v1) points out
and the right-hand-rule normal points in.
"""
import importlib.util
import math
import os

import numpy
import pytest

import neural_renderer  # NOQA  (installs the NumPy 2 shim before chainer)
import imageio.v3 as iio

from neural_renderer.load_obj import load_obj

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'data')


def load_script(name):
    spec = importlib.util.spec_from_file_location(
        name, os.path.join(DATA, name + '.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def raw(name):
    return load_obj(os.path.join(DATA, name), normalization=False)


def renderer_normals(vertices, faces):
    v = vertices[faces].astype(numpy.float64)
    return numpy.cross(v[:, 0] - v[:, 1], v[:, 2] - v[:, 1])


def renderer_signed_volume(vertices, faces):
    v = vertices[faces].astype(numpy.float64) - vertices.mean(0)
    return numpy.einsum('ij,ij->i', v[:, 0],
                        numpy.cross(v[:, 2], v[:, 1])).sum() / 6


def edge_counts(faces):
    """(directed edges all distinct?, {undirected edge: number of faces})."""
    directed = numpy.concatenate([faces[:, [0, 1]], faces[:, [1, 2]],
                                  faces[:, [2, 0]]])
    distinct = len(set(map(tuple, directed.tolist()))) == len(directed)
    undirected = numpy.sort(directed, axis=1)
    keys, counts = numpy.unique(undirected, axis=0, return_counts=True)
    return distinct, dict(zip(map(tuple, keys.tolist()), counts.tolist()))


# ---------------------------------------------------------------- teapot

def test_teapot_counts_and_extent():
    vertices, faces = raw('teapot.obj')
    assert vertices.shape == (1177, 3)
    assert faces.shape == (2256, 3)
    # Newell's data, y up: spout tip x ~ 3.43, handle x = -3, lid top 3.15.
    numpy.testing.assert_allclose(vertices.min(0), [-3, 0, -2], atol=1e-6)
    numpy.testing.assert_allclose(vertices.max(0), [3.429630, 3.15, 2],
                                  atol=1e-6)
    # Mirror symmetric in z (the data's y).
    mirrored = vertices * [1, 1, -1]
    distance = numpy.abs(mirrored[:, None] - vertices[None]).max(-1).min(1)
    assert distance.max() < 2e-6


def test_teapot_is_welded_and_has_no_degenerate_faces():
    vertices, faces = raw('teapot.obj')
    assert (faces[:, 0] != faces[:, 1]).all()
    assert (faces[:, 1] != faces[:, 2]).all()
    assert (faces[:, 2] != faces[:, 0]).all()
    assert (numpy.linalg.norm(renderer_normals(vertices, faces), axis=1)
            > 1e-6).all()
    gaps = numpy.abs(vertices[:, None] - vertices[None]).max(-1)
    gaps[numpy.arange(len(vertices)), numpy.arange(len(vertices))] = 1
    assert gaps.min() > 1e-4
    assert numpy.unique(faces).size == len(vertices)  # no stray vertices


def test_teapot_is_consistently_oriented_outward():
    vertices, faces = raw('teapot.obj')
    distinct, counts = edge_counts(faces)
    assert distinct  # neighbours traverse their shared edge oppositely
    assert max(counts.values()) == 2
    # Open only at the lid gap, the spout's ends and the handle's ends.
    open_edges = sum(1 for c in counts.values() if c == 1)
    assert open_edges == 96
    assert open_edges < 0.03 * len(counts)
    volume = renderer_signed_volume(vertices, faces)
    assert volume > 0
    # The lid's top faces point up, the bottom's faces down.
    n = renderer_normals(vertices, faces)
    centre = vertices[faces].mean(1)
    radius = numpy.hypot(centre[:, 0], centre[:, 2])
    knob_top = (radius < 0.3) & (centre[:, 1] > 3)
    bottom = (radius < 1) & (centre[:, 1] < 0.05)
    assert knob_top.sum() == 24 and bottom.sum() > 50
    assert (n[knob_top][:, 1] > 0).all()
    assert (n[bottom][:, 1] < 0).all()


# ---------------------------------------------------------------- sphere

def test_sphere():
    vertices, faces = raw('sphere_642.obj')
    assert vertices.shape == (642, 3) and faces.shape == (1280, 3)
    numpy.testing.assert_allclose(numpy.linalg.norm(vertices, axis=1), 1,
                                  atol=2e-6)
    distinct, counts = edge_counts(faces)
    assert distinct and set(counts.values()) == {2}  # closed, consistent
    assert len(vertices) - len(counts) + len(faces) == 2  # Euler
    n = renderer_normals(vertices, faces)
    assert (numpy.einsum('ij,ij->i', n, vertices[faces].mean(1)) > 0).all()
    assert renderer_signed_volume(vertices, faces) > 0
    # Normalisation leaves a unit sphere (almost) unchanged.
    normalized, _ = load_obj(os.path.join(DATA, 'sphere_642.obj'))
    numpy.testing.assert_allclose(normalized, vertices, atol=1e-5)


def front_depth_agreement(vertices, faces, elevation, azimuth):
    """Fraction of covered pixels whose depth with fill_back=False equals
    the depth with fill_back=True (the nearest surface)."""
    from neural_renderer.renderer import Renderer
    el, az = math.radians(elevation), math.radians(azimuth)
    renderer = Renderer()
    renderer.image_size = 48
    renderer.anti_aliasing = False
    renderer.eye = [2.732 * math.cos(el) * math.sin(az),
                    2.732 * math.sin(el),
                    -2.732 * math.cos(el) * math.cos(az)]
    nearest = renderer.render_depth(vertices[None], faces[None]).array
    renderer.fill_back = False
    front = renderer.render_depth(vertices[None], faces[None]).array
    covered = nearest < renderer.far
    assert covered.sum() > 100
    return (numpy.abs(front - nearest) < 1e-4)[covered].mean()


@pytest.mark.parametrize('name', ['sphere_642.obj', 'teapot.obj'])
def test_renderer_sees_front_faces_from_outside(name):
    # With fill_back=False the renderer draws front faces only: a mesh wound
    # its way shows its outer surface (the teapot: all but the few pixels
    # seen through the lid gap); reversed, it shows its inside.
    vertices, faces = load_obj(os.path.join(DATA, name))
    reversed_faces = numpy.ascontiguousarray(faces[:, ::-1])
    for elevation, azimuth in [(30, 0), (-50, 130)]:
        assert front_depth_agreement(vertices, faces, elevation,
                                     azimuth) > 0.98
        assert front_depth_agreement(vertices, reversed_faces, elevation,
                                     azimuth) < 0.5


# ---------------------------------------------------------------- cube

def test_textured_cube_files():
    directory = os.path.join(DATA, 'textured_cube')
    assert sorted(os.listdir(directory)) == ['cube.mtl', 'cube.obj',
                                             'cube.png']
    image = iio.imread(os.path.join(directory, 'cube.png'))
    assert image.shape == (32, 32, 3) and image.dtype == numpy.uint8
    assert (image[:16, :16] == [255, 0, 0]).all()
    assert (image[:16, 16:] == [0, 255, 0]).all()
    assert (image[16:, :16] == [0, 0, 255]).all()
    assert (image[16:, 16:] == [255, 255, 0]).all()
    vertices, faces = raw(os.path.join('textured_cube', 'cube.obj'))
    assert vertices.shape == (8, 3) and faces.shape == (12, 3)
    distinct, counts = edge_counts(faces)
    assert distinct and set(counts.values()) == {2}
    assert renderer_signed_volume(vertices, faces) == pytest.approx(8)


# ---------------------------------------------------------------- scripts

@pytest.mark.parametrize('script, name', [
    ('make_teapot', 'teapot.obj'),
    ('make_sphere', 'sphere_642.obj'),
])
def test_scripts_reproduce_committed_meshes(tmp_path, script, name, capsys):
    output = str(tmp_path / name)
    load_script(script).main([output])
    with open(output, 'rb') as made, open(os.path.join(DATA, name),
                                          'rb') as shipped:
        assert made.read() == shipped.read()


def test_script_reproduces_textured_cube(tmp_path, capsys):
    load_script('make_textured_mesh').main([str(tmp_path)])
    shipped = os.path.join(DATA, 'textured_cube')
    for name in ('cube.obj', 'cube.mtl'):
        with open(str(tmp_path / name), 'rb') as made, \
                open(os.path.join(shipped, name), 'rb') as committed:
            assert made.read() == committed.read()
    numpy.testing.assert_array_equal(
        iio.imread(str(tmp_path / 'cube.png')),
        iio.imread(os.path.join(shipped, 'cube.png')))
