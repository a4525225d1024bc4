"""The original package's forward rasterization, for comparison.

``per_pixel_original.cuh`` holds the kernel (one thread per pixel looping
over all faces, written with the package's kernel macros and per-face
arithmetic). This module builds it for the CPU with the host C++ compiler
(cached under ``benchmarks/.build``, or a temporary directory when that is
not writable), launches it through the package's launcher
(``neural_renderer._launcher.KernelSource``: ctypes on numpy arrays, CuPy
RawModule on cupy arrays) and can swap it in for the package's own
rasterization pass, so that the whole renderer runs with the original's
algorithm while everything else (projection, lighting, resolve, texture
sampling, anti-aliasing) stays the same.
"""
import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile

import numpy

import neural_renderer
from neural_renderer import _launcher

HERE = os.path.dirname(os.path.abspath(__file__))
HEADER = os.path.join(HERE, 'per_pixel_original.cuh')
UNIT = os.path.join(HERE, 'per_pixel_original.cpp')
KERNEL_DIR = os.path.join(os.path.dirname(os.path.abspath(
    neural_renderer.__file__)), 'kernels')
KERNEL = 'rasterize_pixels_all_faces'
FLAGS = ['-O3', '-std=c++14', '-ffp-contract=off', '-shared', '-fPIC']
OPENMP = ['-fopenmp']


def _compiler():
    for candidate in (os.environ.get('CXX'), 'c++', 'g++', 'clang++'):
        if candidate and shutil.which(candidate):
            return candidate
    raise RuntimeError('no C++ compiler found (set CXX) to build the '
                       'per-pixel rasterizer of the benchmarks')


def _build_dirs():
    yield os.path.join(HERE, '.build')
    yield os.path.join(tempfile.gettempdir(), 'neural_renderer_bench')


def build_cpu_library():
    """Compile per_pixel_original.cpp into a shared library; returns its
    path. Rebuilt when the sources or flags change (hash in the name)."""
    source = _SOURCE.gpu_source()  # the unit with its includes inlined
    compiler = _compiler()
    digest = hashlib.sha1('\n'.join(
        [source, compiler] + FLAGS + OPENMP).encode()).hexdigest()[:12]
    name = 'per_pixel_original-{}.so'.format(digest)
    errors = []
    for directory in _build_dirs():
        path = os.path.join(directory, name)
        if os.path.exists(path):
            return path
        try:
            os.makedirs(directory, exist_ok=True)
        except OSError as error:
            errors.append(str(error))
            continue
        partial = '{}.{}.tmp'.format(path, os.getpid())
        for extra in (OPENMP, []):  # without OpenMP if the compiler lacks it
            command = ([compiler] + FLAGS + extra + ['-I', KERNEL_DIR, UNIT,
                                                     '-o', partial])
            result = subprocess.run(command, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT,
                                    universal_newlines=True)
            if result.returncode == 0:
                os.replace(partial, path)
                return path
            errors.append(' '.join(command) + '\n' + result.stdout)
    raise RuntimeError('building the per-pixel rasterizer failed:\n' +
                       '\n'.join(errors))


_SOURCE = _launcher.KernelSource(HEADER, UNIT, build_cpu_library,
                                 include_dirs=[KERNEL_DIR])


def source():
    """The KernelSource of the per-pixel rasterizer."""
    return _SOURCE


def rasterize(faces, height, width, near=0.1, far=100.):
    """Z-buffer keys [B, H, W] (uint64, as the package's rasterize_faces
    writes them) of screen-space faces [B, F, 3, 3] (numpy or cupy)."""
    xp = sys.modules['cupy'] if not isinstance(faces, numpy.ndarray) \
        else numpy
    faces = xp.ascontiguousarray(faces)
    batch_size, num_faces = faces.shape[:2]
    zbuffer = xp.empty((batch_size, height, width), numpy.uint64)
    _SOURCE.launch(KERNEL, zbuffer.size, faces.dtype, faces, num_faces,
                   height, width, near, far, zbuffer)
    return zbuffer


def rasterize_ours(faces, height, width, near=0.1, far=100.):
    """The same z-buffer from the package's per-face kernel."""
    xp = sys.modules['cupy'] if not isinstance(faces, numpy.ndarray) \
        else numpy
    faces = xp.ascontiguousarray(faces)
    batch_size, num_faces = faces.shape[:2]
    zbuffer = xp.full((batch_size, height, width),
                      numpy.uint64(0xFFFFFFFFFFFFFFFF), numpy.uint64)
    _launcher.launch('rasterize_faces', batch_size * num_faces, faces.dtype,
                     faces, num_faces, height, width, near, far, zbuffer)
    return zbuffer


@contextlib.contextmanager
def original_rasterization():
    """Within the block, the renderer's rasterization pass (the package's
    rasterize_faces kernel) runs the original's per-pixel algorithm
    instead; the z-buffer it leaves is the same, so the rest of the
    pipeline is untouched."""
    package_launch = _launcher.launch

    def launch(name, n, dtype, *args, **named):
        if name != 'rasterize_faces':
            return package_launch(name, n, dtype, *args, **named)
        args = _launcher.bind(name, args, named)
        zbuffer = args[-1]
        _SOURCE.launch(KERNEL, zbuffer.size, dtype, *args)

    _launcher.launch = launch
    try:
        yield
    finally:
        _launcher.launch = package_launch


@contextlib.contextmanager
def capture_screen_faces():
    """Records the screen-space faces [B, F, 3, 3] and z-buffer shape that
    the renderer passes to its rasterization pass (list of (faces, near,
    far, (B, H, W)))."""
    package_launch = _launcher.launch
    captured = []

    def launch(name, n, dtype, *args, **named):
        if name == 'rasterize_faces':
            args = _launcher.bind(name, args, named)
            named = {}
            faces, _, height, width, near, far, zbuffer = args
            captured.append((faces.copy(), near, far, zbuffer.shape))
        return package_launch(name, n, dtype, *args, **named)

    _launcher.launch = launch
    try:
        yield captured
    finally:
        _launcher.launch = package_launch
