"""The benchmark harness (benchmarks/) keeps working: a smoke sweep writes
its tables, and the per-pixel rasterizer of the original algorithm, which
the benchmarks compare against, draws exactly what the renderer draws.

No timing is asserted anywhere: speed targets live in the benchmarks.
"""
import csv
import os
import shutil
import subprocess
import sys

import numpy
import pytest

import chainer

import neural_renderer as nr
from neural_renderer import _launcher

BENCHMARKS = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..',
                          'benchmarks')
sys.path.insert(0, BENCHMARKS)

import deodr_bench  # noqa: E402
import meshes  # noqa: E402
import per_pixel  # noqa: E402
import sweep  # noqa: E402


pytestmark = pytest.mark.filterwarnings(
    r'ignore::DeprecationWarning:deodr\.')


def teapot_screen_faces(image_size, dtype):
    """Screen-space faces the renderer rasterizes for the teapot."""
    vertices, faces = meshes.teapot()
    renderer = nr.Renderer()
    renderer.image_size = image_size
    renderer.eye = nr.get_points_from_angles(2.732, 30, 45)
    with per_pixel.capture_screen_faces() as captured, \
            chainer.no_backprop_mode():
        renderer.render_depth(vertices[None].astype(dtype), faces[None])
    return captured[0]


@pytest.mark.parametrize('dtype', [numpy.float32, numpy.float64])
def test_per_pixel_zbuffer_equals_renderer(dtype):
    faces, near, far, shape = teapot_screen_faces(24, dtype)
    assert faces.dtype == dtype and shape == (1, 48, 48)  # anti-aliasing
    # Two batch items, the second shifted: per-item offsets are exercised.
    shifted = faces.copy()
    shifted[..., 0] += dtype(0.3)
    faces = numpy.concatenate([faces, shifted])
    ours = per_pixel.rasterize_ours(faces, 48, 40, near, far)
    original = per_pixel.rasterize(faces, 48, 40, near, far)
    covered = ours != numpy.uint64(0xFFFFFFFFFFFFFFFF)
    assert 0.1 < covered.mean() < 0.9
    # Same keys: same face (ties to the lower index) and same float depth.
    numpy.testing.assert_array_equal(original, ours)


def test_per_pixel_swapped_into_the_renderer_gives_the_same_images():
    vertices, faces = meshes.teapot()
    textures = numpy.random.RandomState(0).uniform(
        0, 1, (1, len(faces), 2, 2, 2, 3)).astype(numpy.float32)
    renderer = nr.Renderer()
    renderer.image_size = 20
    renderer.eye = nr.get_points_from_angles(2.732, 30, 45)
    with chainer.no_backprop_mode():
        ours = renderer.render_rgbad(vertices[None], faces[None], textures)
        with per_pixel.original_rasterization():
            original = renderer.render_rgbad(vertices[None], faces[None],
                                             textures)
    for key in ('rgb', 'alpha', 'depth'):
        numpy.testing.assert_array_equal(original[key].array,
                                         ours[key].array)
    assert 0 < float(ours['alpha'].array.mean()) < 1
    # The swap is undone on leaving the block.
    assert _launcher.launch.__module__ == 'neural_renderer._launcher'


def test_kernel_source_inlines_includes_for_the_gpu():
    text = per_pixel.source().gpu_source()
    assert '#include "' not in text
    assert text.count('NR_NAME(rasterize_pixels_all_faces)') == 2
    assert 'struct Face' in text  # the package's header, inlined
    assert set(per_pixel.source().signatures) == \
        {'rasterize_pixels_all_faces'}
    # Same arguments as the package kernel it replaces.
    assert per_pixel.source().signatures['rasterize_pixels_all_faces'] == \
        _launcher.SIGNATURES['rasterize_faces']
    assert '#include "' not in _launcher.gpu_source()


@pytest.mark.skipif(shutil.which('nvcc') is None, reason='needs nvcc')
def test_per_pixel_source_compiles_as_cuda(tmp_path):
    # The text CuPy hands to NVRTC, checked with nvcc where there is no GPU.
    source = os.path.join(str(tmp_path), 'per_pixel.cu')
    with open(source, 'w') as f:
        f.write(per_pixel.source().gpu_source())
    ptx = os.path.join(str(tmp_path), 'per_pixel.ptx')
    subprocess.check_call(['nvcc', '-ptx', '-arch=sm_90', '-x', 'cu',
                           source, '-o', ptx])
    with open(ptx) as f:
        text = f.read()
    for suffix in ('_f32', '_f64'):
        assert '.entry rasterize_pixels_all_faces' + suffix in text


@pytest.mark.parametrize('n', [1, 3, 8])
def test_geodesic_sphere(n):
    vertices, faces = meshes.geodesic_sphere(n)
    assert faces.shape == (20 * n * n, 3)
    assert vertices.shape == (10 * n * n + 2, 3)  # shared vertices merged
    numpy.testing.assert_allclose(numpy.linalg.norm(vertices, axis=1), 1,
                                  rtol=1e-6)
    # Closed and manifold: every edge in exactly two faces, once each way.
    edges = numpy.concatenate([faces[:, [0, 1]], faces[:, [1, 2]],
                               faces[:, [2, 0]]])
    assert len({tuple(e) for e in edges.tolist()}) == len(edges)
    # The renderer's winding: fully drawn without fill_back.
    renderer = nr.Renderer()
    renderer.image_size = 32
    renderer.anti_aliasing = False
    renderer.eye = nr.get_points_from_angles(2.732, 30, 45)
    with chainer.no_backprop_mode():
        renderer.fill_back = False
        single = renderer.render_silhouettes(vertices[None], faces[None])
        renderer.fill_back = True
        double = renderer.render_silhouettes(vertices[None], faces[None])
    numpy.testing.assert_array_equal(single.array, double.array)


@pytest.mark.skipif(not deodr_bench.available(),
                    reason=deodr_bench.unavailable_reason() or '')
def test_deodr_sees_the_same_scene():
    vertices, faces = meshes.geodesic_sphere(4)
    renderer = nr.Renderer()
    renderer.image_size = 32
    renderer.anti_aliasing = False
    renderer.eye = nr.get_points_from_angles(2.732, 30, 45)
    with chainer.no_backprop_mode():
        alpha = renderer.render_silhouettes(vertices[None], faces[None])
        depth = renderer.render_depth(vertices[None], faces[None])
    bench = deodr_bench.Bench(vertices, faces, 'silhouettes', 32, False,
                              renderer.eye)
    # (DEODR's interpolated colour of ones is 1 up to rounding.)
    numpy.testing.assert_array_equal(bench.forward()[::-1, :, 0] > 0.5,
                                     alpha.array[0] > 0.5)
    d_depth = deodr_bench.Bench(vertices, faces, 'depth', 32, False,
                                renderer.eye).forward()[::-1, :, 0]
    inside = alpha.array[0] > 0
    # Front surface, not the back: depths agree up to DEODR's linear
    # (not perspective-correct) interpolation.
    numpy.testing.assert_allclose(d_depth[inside], depth.array[0][inside],
                                  atol=0.02)


def test_smoke_sweep_writes_tables(tmp_path):
    rows = sweep.main(['--smoke', '--out', str(tmp_path)])
    with open(os.path.join(str(tmp_path), 'results.csv')) as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == sweep.COLUMNS
        table = list(reader)
    assert len(table) == len(rows) > 0
    errors = [r for r in table if r['status'].startswith('error')]
    assert not errors, errors
    cpu = [r for r in table if r['device'] == 'cpu']
    ok = [r for r in cpu if r['status'] == 'ok']
    for row in ok:
        assert float(row['median_ms']) > 0 and int(row['runs']) >= 1
    # Every implementation, mode and pass of the baseline was run.
    seen = {(r['implementation'], r['mode'], r['pass'], r['anti_aliasing'])
            for r in ok if 'baseline' in r['groups']}
    for mode in ('rgbad', 'rgb', 'silhouettes', 'depth'):
        for pass_ in ('forward', 'forward+backward'):
            for aa in ('on', 'off'):
                assert ('ours', mode, pass_, aa) in seen
    for aa in ('on', 'off'):
        assert ('ours', 'raster', 'forward', aa) in seen
        for mode in ('rgbad', 'raster'):
            assert ('per-pixel (original)', mode, 'forward', aa) in seen
    deodr_rows = [r for r in cpu if r['implementation'] == 'deodr']
    assert len(deodr_rows) >= 12
    if deodr_bench.available():
        assert all(r['status'] == 'ok' for r in deodr_rows)
    else:
        assert all(r['status'].startswith('skipped (deodr')
                   for r in deodr_rows)
    # The losses people train with: example 2's two losses, the
    # reconstruction's step and its renderer part, with the share line.
    losses = {r['mode'] for r in ok if 'losses' in r['groups']}
    assert losses == {'example2-sqerr', 'example2-iou', 'recon-step',
                      'recon-renderer'}
    # UV textures (issue 28): UV and cube rows side by side; forward +
    # backward rows check that the gradient reached the image and uvs.
    uv_rows = {(r['texture_size'], r['pass']) for r in ok
               if 'uv' in r['groups'].split(';')}
    for texture in ('UV 64^2', '4', '1'):
        for pass_ in ('forward', 'forward+backward'):
            assert (texture, pass_) in uv_rows
    assert ('UV 64^2, no mipmap', 'forward') in uv_rows
    # Memory of ours was measured.
    assert all(float(r['peak_host_mib']) >= 0 for r in ok
               if r['implementation'] == 'ours')
    # Every group is there; GPU rows are measured or marked skipped.
    groups = {g for r in table for g in r['groups'].split(';')}
    assert groups == set(sweep.GROUP_TITLES)
    for row in table:
        if row['device'] == 'gpu':
            assert row['status'] == 'ok' or row['status'].startswith(
                'skipped')
    with open(os.path.join(str(tmp_path), 'results.md')) as f:
        markdown = f.read()
    assert markdown.startswith('# Benchmark results')
    assert '| per-pixel (original) |' in markdown
    assert '## Targets' in markdown
    for title in sweep.GROUP_TITLES.values():
        assert '## ' + title in markdown
    assert '| device | implementation | mode | pass |' in markdown
    assert 'CPU: the renderer (forward + backward of the silhouettes' in \
        markdown
    assert '| time / cubes 4^3 | memory / cubes 4^3 |' in markdown


def test_sweep_plan_covers_the_issue_axes():
    """The full sweep's configurations, without running them."""
    args = sweep.parse_args(['--out', 'unused'])
    entries = sweep.plan(args, 'cpu')
    configs = {c for _, c in entries}
    assert {c.size for c in configs} >= {64, 256, 1024}
    assert {c.batch for c in configs} >= {1, 8, 64}
    assert {c.aa for c in configs} == {True, False}
    assert {c.implementation for c in configs} == set(sweep.IMPLEMENTATIONS)
    assert {c.pass_ for c in configs} == {sweep.FORWARD, sweep.BACKWARD}
    assert {c.mode for c in configs} >= {'rgb', 'silhouettes', 'depth'}
    face_counts = {meshes.num_faces(c.mesh) for c in configs}
    assert min(face_counts) <= 2256 and max(face_counts) >= 10 ** 6
    # The scaling pair: 100x more faces.
    assert {1280, 128000} <= face_counts
    # Unknown names are refused.
    with pytest.raises(SystemExit):
        sweep.parse_args(['--groups', 'nonsense'])


def test_profile_stages_runs_and_times_every_kernel():
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..',
                          'benchmarks', 'profile_stages.py')
    output = subprocess.check_output(
        [sys.executable, script, '--image-size', '16', '--repeat', '1'],
        universal_newlines=True)
    for name in ('lighting', 'rasterize_faces', 'resolve_pixels',
                 'backward_face_pixels', 'pack_edge_planes',
                 'backward_edges'):
        assert name in output


def test_profile_uv_times_the_uv_kernels():
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..',
                          'benchmarks', 'profile_uv.py')
    output = subprocess.check_output(
        [sys.executable, script, '16', '32', '--calls', '1'],
        universal_newlines=True)
    for name in ('resolve_pixels', 'uv_image_rows', 'bucket_order',
                 'uv_image_gradient', 'mip_downsample',
                 'mip_downsample_backward'):
        assert name in output


def test_before_after_compares_two_checkouts():
    # Both sides this checkout: the harness runs and tabulates every case.
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')
    script = os.path.join(root, 'benchmarks', 'before_after.py')
    output = subprocess.check_output(
        [sys.executable, script, root, root, '--rounds', '1', '--smoke'],
        universal_newlines=True)
    rows = [line for line in output.splitlines()
            if line.startswith('| teapot') or line.startswith('| example 2')]
    assert len(rows) == 8
    for row in rows:
        before, after, ratio = [cell.strip() for cell in
                                row.strip('|').split('|')[1:]]
        assert float(before) > 0 and float(after) > 0
        assert ratio.endswith('x') and float(ratio[:-1]) > 0
