"""The CPU kernels' two builds (setup.py): the baseline and the AVX2 one,
which the launcher picks on CPUs with AVX2. Same source, same IEEE
operations in the same order: their outputs must be bitwise equal."""
import os
import subprocess
import sys

import chainer
import chainer.functions as F
import numpy
import pytest

import neural_renderer as nr
from neural_renderer import _launcher

HERE = os.path.dirname(os.path.abspath(__file__))
BUILDS = _launcher.cpu_kernel_builds()
needs_avx2 = pytest.mark.skipif(
    BUILDS['avx2'] is None,
    reason='the AVX2 build is not installed or this CPU lacks AVX2')


def _capture_launches(mode, dtype, anti_aliasing):
    """Every kernel launch of one forward + backward of the teapot, with
    copies of its arguments as they were at the launch."""
    vertices, faces = nr.load_obj(os.path.join(HERE, '..', 'data',
                                               'teapot.obj'))
    rng = numpy.random.RandomState(0)
    textures = rng.uniform(0, 1, (1, faces.shape[0], 3, 3, 3, 3)).astype(
        dtype)
    renderer = nr.Renderer()
    renderer.image_size = 48
    renderer.anti_aliasing = anti_aliasing
    renderer.eye = nr.get_points_from_angles(2.732, 30, 45)
    launches = []
    package_launch = _launcher.launch
    rasterize_module = sys.modules['neural_renderer.rasterize']

    def record(name, n, dtype, *args, **named):
        arguments = _launcher.bind(name, args, named)
        launches.append((name, n, dtype, [
            a.copy() if isinstance(a, numpy.ndarray) else a
            for a in arguments]))
        package_launch(name, n, dtype, *args, **named)

    rasterize_module._launcher.launch = record
    try:
        v = chainer.Variable(vertices[None].astype(dtype))
        t = chainer.Variable(textures)
        if mode == 'uv':
            t = nr.UVTexture(
                chainer.Variable(rng.uniform(-0.5, 1.5, (
                    1, faces.shape[0], 3, 2)).astype(dtype)),
                chainer.Variable(rng.uniform(0, 1, (1, 32, 24, 3)).astype(
                    dtype)))
        if mode in ('rgb', 'uv'):
            outputs = renderer.render_rgbad(v, faces[None], t)
            outputs = [outputs['rgb'], outputs['alpha'], outputs['depth']]
        else:
            outputs = [renderer.render_silhouettes(v, faces[None])]
        loss = sum(F.sum(o * rng.randn(*o.shape).astype(dtype))
                   for o in outputs)
        loss.backward()
    finally:
        rasterize_module._launcher.launch = package_launch
    return launches


@needs_avx2
@pytest.mark.parametrize('mode', ['rgb', 'silhouettes', 'uv'])
@pytest.mark.parametrize('dtype', [numpy.float32, numpy.float64])
def test_the_avx2_build_equals_the_baseline_bitwise(mode, dtype):
    sources = {name: _launcher.KernelSource(_launcher._HEADER,
                                            _launcher._UNIT, path)
               for name, path in BUILDS.items()}
    launches = _capture_launches(mode, dtype, anti_aliasing=True)
    names = {name for name, _, _, _ in launches}
    assert {'rasterize_faces', 'resolve_pixels', 'backward_face_pixels',
            'pack_edge_planes', 'backward_edges'} <= names
    if mode == 'uv':
        assert {'uv_image_rows', 'uv_image_gradient'} <= names
    for name, n, dtype_, arguments in launches:
        results = {}
        for build, source in sources.items():
            copies = [a.copy() if isinstance(a, numpy.ndarray) else a
                      for a in arguments]
            source.launch(name, n, dtype_, *copies)
            results[build] = copies
        for a, b in zip(results['baseline'], results['avx2']):
            if isinstance(a, numpy.ndarray):
                assert a.tobytes() == b.tobytes(), name


def test_the_build_choice_follows_the_variable():
    script = ('from neural_renderer import _launcher; '
              'print(_launcher.cpu_kernel_build())')

    def build(value):
        env = dict(os.environ)
        env.pop(_launcher.CPU_KERNELS_VARIABLE, None)
        if value is not None:
            env[_launcher.CPU_KERNELS_VARIABLE] = value
        result = subprocess.run([sys.executable, '-c', script], env=env,
                                capture_output=True, text=True)
        return result.returncode, result.stdout.strip(), result.stderr

    expected = 'baseline' if BUILDS['avx2'] is None else 'avx2'
    assert build(None)[:2] == (0, expected)
    assert build('auto')[:2] == (0, expected)
    assert build('baseline')[:2] == (0, 'baseline')
    status, _, error = build('sse9')
    assert status != 0 and 'NR_CPU_KERNELS: expected auto, baseline or ' \
        'avx2' in error
    if BUILDS['avx2'] is not None:
        assert build('avx2')[:2] == (0, 'avx2')
