"""The GPU kernels compile with NVRTC, the compiler CuPy uses, without a GPU.

nvcc accepting the source (checked in .ci/run) is not enough: NVRTC compiles
in JIT mode, where for instance NVRTC 12 takes a generic lambda inside a
kernel for a host function, an error (nvcc and NVRTC 13 accept it). NVRTC
needs no GPU, only its library: the wheels ``nvidia-cuda-nvrtc-cu12`` and
``nvidia-cuda-nvrtc`` (CUDA 13), which CI installs, a CUDA toolkit, or
``NR_NVRTC_LIBRARY`` naming libnvrtc files (os.pathsep-separated). Without
one the tests skip.
"""
import ctypes
import ctypes.util
import glob
import importlib.util
import os
import sys

import pytest

from neural_renderer import _launcher

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'benchmarks'))
import per_pixel  # noqa: E402


def _package_libraries():
    """libnvrtc of each installed NVRTC wheel (CUDA 13's, CUDA 12's)."""
    for package in ('nvidia.cu13', 'nvidia.cuda_nvrtc'):
        try:
            spec = importlib.util.find_spec(package)
        except ImportError:  # no 'nvidia' namespace at all
            continue
        locations = (spec.submodule_search_locations or []) if spec else []
        for location in locations:
            paths = [p for p in sorted(glob.glob(os.path.join(
                location, 'lib', 'libnvrtc.so*')))
                if 'builtins' not in p and '.alt.' not in p]
            if paths:
                yield paths[0]
                break


def _toolkit_libraries():
    for root in (os.environ.get('CUDA_PATH'), '/usr/local/cuda'):
        if root:
            yield from sorted(glob.glob(os.path.join(root, 'lib64',
                                                     'libnvrtc.so*')))
    found = ctypes.util.find_library('nvrtc')
    if found:
        yield found


def _load(path):
    try:
        return ctypes.CDLL(path)
    except OSError:
        return None


def _libraries():
    """NR_NVRTC_LIBRARY's libraries (os.pathsep-separated), else those of
    the NVRTC wheels, else the first of a CUDA toolkit."""
    if os.environ.get('NR_NVRTC_LIBRARY'):
        return [ctypes.CDLL(path) for path in
                os.environ['NR_NVRTC_LIBRARY'].split(os.pathsep)]
    found = [lib for lib in map(_load, _package_libraries()) if lib]
    if not found:
        found = [lib for lib in map(_load, _toolkit_libraries()) if lib][:1]
    return found


def _version(library):
    major, minor = ctypes.c_int(), ctypes.c_int()
    library.nvrtcVersion(ctypes.byref(major), ctypes.byref(minor))
    return '{}.{}'.format(major.value, minor.value)


LIBRARIES = _libraries()
pytestmark = pytest.mark.skipif(
    not LIBRARIES, reason='needs libnvrtc (pip install nvidia-cuda-nvrtc, '
    'or NR_NVRTC_LIBRARY)')
nvrtc_library = pytest.mark.parametrize(
    'nvrtc', LIBRARIES, ids=['nvrtc' + _version(lib) for lib in LIBRARIES])


def nvrtc_compile(nvrtc, source, name, options):
    """(status, log, ptx) of compiling source with NVRTC."""
    program = ctypes.c_void_p()
    status = nvrtc.nvrtcCreateProgram(ctypes.byref(program), source.encode(),
                                      name.encode(), 0, None, None)
    assert status == 0, 'nvrtcCreateProgram failed ({})'.format(status)
    try:
        encoded = [o.encode() for o in options]
        status = nvrtc.nvrtcCompileProgram(
            program, len(encoded), (ctypes.c_char_p * len(encoded))(*encoded))
        size = ctypes.c_size_t()
        nvrtc.nvrtcGetProgramLogSize(program, ctypes.byref(size))
        log = ctypes.create_string_buffer(size.value)
        nvrtc.nvrtcGetProgramLog(program, log)
        ptx = b''
        if status == 0:
            nvrtc.nvrtcGetPTXSize(program, ctypes.byref(size))
            buffer = ctypes.create_string_buffer(size.value)
            nvrtc.nvrtcGetPTX(program, buffer)
            ptx = buffer.value
        return status, log.value.decode(errors='replace'), ptx.decode()
    finally:
        nvrtc.nvrtcDestroyProgram(ctypes.byref(program))


# CuPy adds the architecture of the device; H100/H200 is compute_90.
OPTIONS = _launcher.NVRTC_OPTIONS + ('--gpu-architecture=compute_90',)


@pytest.mark.parametrize('source, names', [
    (_launcher.gpu_source(), sorted(_launcher.SIGNATURES)),
    (per_pixel.source().gpu_source(), ['rasterize_pixels_all_faces']),
], ids=['package', 'per-pixel benchmark'])
@nvrtc_library
def test_gpu_source_compiles_with_nvrtc(nvrtc, source, names):
    status, log, ptx = nvrtc_compile(nvrtc, source, 'kernels.cu', OPTIONS)
    assert status == 0, log
    for name in names:
        for suffix in ('_f32', '_f64'):
            assert '.entry {}{}('.format(name, suffix) in ptx


@nvrtc_library
def test_nvrtc_check_catches_host_code_in_kernels(nvrtc):
    # The checker sees errors: a kernel calling a function without
    # __device__ must fail. (NVRTC 12 fails the same way on a generic
    # lambda in a kernel, which nvcc and NVRTC 13 accept.)
    source = ('float twice(float v) { return 2 * v; }\n'
              'extern "C" __global__ void k(float* x) { x[0] = twice(x[0]); }'
              '\n')
    status, log, _ = nvrtc_compile(nvrtc, source, 'bad.cu', OPTIONS)
    assert status != 0 and 'host function' in log
