"""Launches the rasterization kernels on numpy (CPU) or cupy (GPU) arrays.

There is one kernel source, ``kernels/rasterize.cuh`` (instantiated for float
and double by ``kernels/kernels.cpp``). On the CPU it is the C++ extension
``neural_renderer._kernels_cpu`` that ``setup.py`` builds (OpenMP), called
through ctypes; on the GPU CuPy compiles the same text with NVRTC. The kernel
signatures are read from the source itself, so the two targets cannot
disagree on arguments.

``launch(name, n, dtype, *args)`` runs kernel ``name`` for indices
``0 <= i < n`` with scalar type ``dtype`` (float32 or float64). Array
arguments must be C-contiguous and of the kernel's type; ``None`` passes a
null pointer.
"""
import ctypes
import importlib.util
import os
import re

import numpy

_KERNEL_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                           'kernels')
_HEADER = os.path.join(_KERNEL_DIR, 'rasterize.cuh')
_UNIT = os.path.join(_KERNEL_DIR, 'kernels.cpp')

_SUFFIX = {numpy.dtype(numpy.float32): '_f32',
           numpy.dtype(numpy.float64): '_f64'}

# C parameter type -> (kind, numpy dtype of the pointee or value).
# 'S' stands for scalar_t, resolved per launch.
_PARAM_TYPES = {
    'const scalar_t*': ('ptr', 'S'),
    'scalar_t*': ('ptr', 'S'),
    'const nr_key_t*': ('ptr', numpy.uint64),
    'nr_key_t*': ('ptr', numpy.uint64),
    'const int*': ('ptr', numpy.int32),
    'int*': ('ptr', numpy.int32),
    'long long': ('value', numpy.int64),
    'scalar_t': ('value', 'S'),
}


def _read(path):
    with open(path) as f:
        return f.read()


def _parse_signatures(source):
    signatures = {}
    pattern = re.compile(r'NR_KERNEL\s+void\s+NR_NAME\((\w+)\)\((.*?)\)\s*\{',
                         re.S)
    for name, params in pattern.findall(source):
        parsed = []
        for param in params.split(','):
            param = ' '.join(param.split())
            ctype, pname = param.rsplit(' ', 1)
            while pname.startswith('*'):
                ctype, pname = ctype + '*', pname[1:]
            ctype = ctype.replace(' *', '*')
            if ctype not in _PARAM_TYPES:
                raise RuntimeError('unsupported kernel parameter type {!r} in '
                                   '{}'.format(ctype, name))
            parsed.append((pname,) + _PARAM_TYPES[ctype])
        if parsed[-1][0] != 'n':
            raise RuntimeError('kernel {} must take n last'.format(name))
        signatures[name] = parsed
    return signatures


SIGNATURES = _parse_signatures(_read(_HEADER))
# Values per pixel record of the pack_edge_records kernel (NR_RECORD).
EDGE_RECORD_SIZE = int(re.search(r'#define NR_RECORD (\d+)',
                                 _read(_HEADER)).group(1))


def _resolve(dtype, scalar):
    return numpy.dtype(scalar if scalar != 'S' else dtype)


def _check_args(name, dtype, args):
    params = SIGNATURES[name][:-1]
    if len(args) != len(params):
        raise TypeError('kernel {} takes {} arguments, got {}'.format(
            name, len(params), len(args)))
    for (pname, kind, scalar), arg in zip(params, args):
        if kind != 'ptr' or arg is None:
            continue
        expected = _resolve(dtype, scalar)
        if arg.dtype != expected or not arg.flags.c_contiguous:
            # An internal error: callers prepare their arrays.
            raise TypeError('kernel {}: argument {} must be a C-contiguous {} '
                            'array, got {} (contiguous={})'.format(
                                name, pname, expected, arg.dtype,
                                arg.flags.c_contiguous))


# ----------------------------------------------------------------------------
# CPU: the C++ extension through ctypes.

_cpu_library = None


def _load_cpu_library():
    global _cpu_library
    if _cpu_library is None:
        spec = importlib.util.find_spec('neural_renderer._kernels_cpu')
        if spec is None or spec.origin is None:
            raise ImportError(
                'the CPU kernels of neural_renderer are not built: install '
                'the package with `pip install -e .` (needs a C++ compiler)')
        library = ctypes.CDLL(spec.origin)
        for name, params in SIGNATURES.items():
            for dtype, suffix in _SUFFIX.items():
                function = getattr(library, name + suffix)
                function.restype = None
                function.argtypes = [
                    ctypes.c_void_p if kind == 'ptr' else
                    numpy.ctypeslib.as_ctypes_type(_resolve(dtype, scalar))
                    for _, kind, scalar in params]
        _cpu_library = library
    return _cpu_library


def _launch_cpu(name, n, dtype, args):
    function = getattr(_load_cpu_library(), name + _SUFFIX[dtype])
    params = SIGNATURES[name]
    c_args = []
    for (_, kind, scalar), arg in zip(params, list(args) + [n]):
        if kind == 'ptr':
            c_args.append(None if arg is None else arg.ctypes.data)
        else:
            c_args.append(_resolve(dtype, scalar).type(arg).item())
    function(*c_args)


# ----------------------------------------------------------------------------
# GPU: the same source through CuPy / NVRTC.

_gpu_modules = {}
_THREADS = 256


def gpu_source():
    """The text CuPy compiles: kernels.cpp with the header inlined."""
    unit = _read(_UNIT)
    return unit.replace('#include "rasterize.cuh"', _read(_HEADER))


def _gpu_module():
    import cupy
    device = cupy.cuda.Device().id
    module = _gpu_modules.get(device)
    if module is None:
        # --fmad=false: no fused multiply-add contraction, so GPU arithmetic
        # rounds like the CPU build (-ffp-contract=off).
        module = cupy.RawModule(code=gpu_source(),
                                options=('--std=c++14', '--fmad=false'))
        _gpu_modules[device] = module
    return module


def _launch_gpu(name, n, dtype, args):
    function = _gpu_module().get_function(name + _SUFFIX[dtype])
    params = SIGNATURES[name]
    gpu_args = []
    for (_, kind, scalar), arg in zip(params, list(args) + [n]):
        if kind == 'ptr':
            gpu_args.append(numpy.uint64(0) if arg is None else arg)
        else:
            gpu_args.append(_resolve(dtype, scalar).type(arg))
    blocks = (n + _THREADS - 1) // _THREADS
    function((blocks,), (_THREADS,), tuple(gpu_args))


def launch(name, n, dtype, *args):
    """Run kernel ``name`` over ``n`` indices on the arrays' device."""
    dtype = numpy.dtype(dtype)
    if dtype not in _SUFFIX:
        raise TypeError('kernels run in float32 or float64, not {}'.format(
            dtype))
    _check_args(name, dtype, args)
    if n <= 0:
        return
    arrays = [arg for (_, kind, _), arg in zip(SIGNATURES[name], args)
              if kind == 'ptr' and arg is not None]
    if arrays and not isinstance(arrays[0], numpy.ndarray):
        _launch_gpu(name, n, dtype, args)
    else:
        _launch_cpu(name, n, dtype, args)
