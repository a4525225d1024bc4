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

``KernelSource`` does the same for another source written with the same
macros (the benchmarks' per-pixel rasterizer of the original algorithm):
its header, its instantiating unit and its CPU shared library.
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
    'const long long*': ('ptr', numpy.int64),
    'long long*': ('ptr', numpy.int64),
    'long long': ('value', numpy.int64),
    'scalar_t': ('value', 'S'),
}

# CPU libraries loaded in this process, and whether it was forked from
# another Python process. GNU OpenMP's thread pool does not survive fork():
# a forked child that runs a parallel loop waits forever for threads that
# only its parent had (a multiprocessing fork Pool or a fork-based data
# loader would hang). So a forked child runs the CPU kernels on its calling
# thread alone (nr_set_serial; spawn or forkserver children are new
# processes and keep their threads).
_loaded_libraries = []
_in_forked_child = False


def _set_serial(library):
    set_serial = getattr(library, 'nr_set_serial', None)
    if set_serial is not None:
        set_serial.argtypes = [ctypes.c_int]
        set_serial.restype = None
        set_serial(1)


def _after_fork_in_child():
    global _in_forked_child
    _in_forked_child = True
    for library in _loaded_libraries:
        _set_serial(library)


if hasattr(os, 'register_at_fork'):
    os.register_at_fork(after_in_child=_after_fork_in_child)

_INCLUDE = re.compile(r'^[ \t]*#[ \t]*include[ \t]+"([^"]+)"[^\n]*$', re.M)


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


def _resolve(dtype, scalar):
    return numpy.dtype(scalar if scalar != 'S' else dtype)


_THREADS = 256

# What CuPy's RawModule hands NVRTC with the source. --fmad=false: no fused
# multiply-add contraction, so that GPU arithmetic rounds like the CPU build
# (-ffp-contract=off).
NVRTC_OPTIONS = ('--std=c++14', '--fmad=false')


class KernelSource(object):
    """The kernels of one source, launched on the CPU or the GPU.

    Args:
        header (str): the file whose ``NR_KERNEL void NR_NAME(name)(...)``
            definitions give the kernels and their signatures.
        unit (str): the translation unit that instantiates them for float
            (suffix _f32) and double (_f64), as ``kernels/kernels.cpp``.
        cpu_library: path of the shared library built from ``unit``, or a
            callable returning it (called at the first CPU launch).
        include_dirs: where quoted ``#include`` files are looked for (after
            the directory of the file that includes them) when the text for
            NVRTC is assembled.
    """

    def __init__(self, header, unit, cpu_library, include_dirs=()):
        self.header = header
        self.unit = unit
        self.include_dirs = list(include_dirs)
        self.signatures = _parse_signatures(self._inline(header))
        self._cpu_library_path = cpu_library
        self._cpu_library = None
        self._gpu_modules = {}

    def bind(self, name, args, named):
        """The arguments of kernel ``name`` in signature order, from
        positional ``args`` or from ``named`` (every parameter but ``n`` by
        its name in the source), never both."""
        params = [pname for pname, _, _ in self.signatures[name][:-1]]
        if not named:
            return list(args)
        if args:
            raise TypeError('kernel {}: pass the arguments by position or '
                            'by name, not both'.format(name))
        unknown = sorted(set(named) - set(params))
        missing = [pname for pname in params if pname not in named]
        if unknown or missing:
            raise TypeError('kernel {}: unknown arguments {}, missing {}'
                            .format(name, unknown, missing))
        return [named[pname] for pname in params]

    def check_args(self, name, dtype, args):
        params = self.signatures[name][:-1]
        if len(args) != len(params):
            raise TypeError('kernel {} takes {} arguments, got {}'.format(
                name, len(params), len(args)))
        for (pname, kind, scalar), arg in zip(params, args):
            if kind != 'ptr' or arg is None:
                continue
            expected = _resolve(dtype, scalar)
            if arg.dtype != expected or not arg.flags.c_contiguous:
                # An internal error: callers prepare their arrays.
                raise TypeError('kernel {}: argument {} must be a '
                                'C-contiguous {} array, got {} '
                                '(contiguous={})'.format(
                                    name, pname, expected, arg.dtype,
                                    arg.flags.c_contiguous))

    # -- CPU: the shared library through ctypes -----------------------------

    def cpu_library(self):
        if self._cpu_library is None:
            path = self._cpu_library_path
            if callable(path):
                path = path()
            library = ctypes.CDLL(path)
            _loaded_libraries.append(library)
            if _in_forked_child:
                _set_serial(library)
            for name, params in self.signatures.items():
                for dtype, suffix in _SUFFIX.items():
                    function = getattr(library, name + suffix)
                    function.restype = None
                    function.argtypes = [
                        ctypes.c_void_p if kind == 'ptr' else
                        numpy.ctypeslib.as_ctypes_type(_resolve(dtype, scalar))
                        for _, kind, scalar in params]
            self._cpu_library = library
        return self._cpu_library

    def _launch_cpu(self, name, n, dtype, args):
        function = getattr(self.cpu_library(), name + _SUFFIX[dtype])
        params = self.signatures[name]
        c_args = []
        for (_, kind, scalar), arg in zip(params, list(args) + [n]):
            if kind == 'ptr':
                c_args.append(None if arg is None else arg.ctypes.data)
            else:
                c_args.append(_resolve(dtype, scalar).type(arg).item())
        function(*c_args)

    # -- GPU: the same source through CuPy / NVRTC --------------------------

    def _inline(self, path, depth=0):
        if depth > 16:
            raise RuntimeError('#include nesting too deep at {}'.format(path))
        directories = [os.path.dirname(path)] + self.include_dirs

        def replace(match):
            for directory in directories:
                candidate = os.path.join(directory, match.group(1))
                if os.path.isfile(candidate):
                    return self._inline(candidate, depth + 1)
            raise RuntimeError('{}: cannot find included file {!r}'.format(
                path, match.group(1)))

        return _INCLUDE.sub(replace, _read(path))

    def gpu_source(self):
        """The text CuPy compiles: the unit with quoted includes inlined."""
        return self._inline(self.unit)

    def _gpu_module(self):
        import cupy
        device = cupy.cuda.Device().id
        module = self._gpu_modules.get(device)
        if module is None:
            module = cupy.RawModule(code=self.gpu_source(),
                                    options=NVRTC_OPTIONS)
            self._gpu_modules[device] = module
        return module

    def _launch_gpu(self, name, n, dtype, args):
        function = self._gpu_module().get_function(name + _SUFFIX[dtype])
        params = self.signatures[name]
        gpu_args = []
        for (_, kind, scalar), arg in zip(params, list(args) + [n]):
            if kind == 'ptr':
                gpu_args.append(numpy.uint64(0) if arg is None else arg)
            else:
                gpu_args.append(_resolve(dtype, scalar).type(arg))
        blocks = (n + _THREADS - 1) // _THREADS
        function((blocks,), (_THREADS,), tuple(gpu_args))

    def launch(self, name, n, dtype, *args, **named):
        """Run kernel ``name`` over ``n`` indices on the arrays' device; the
        arguments by position or by name (see :meth:`bind`)."""
        args = self.bind(name, args, named)
        dtype = numpy.dtype(dtype)
        if dtype not in _SUFFIX:
            raise TypeError('kernels run in float32 or float64, not '
                            '{}'.format(dtype))
        self.check_args(name, dtype, args)
        if n <= 0:
            return
        arrays = [arg for (_, kind, _), arg in zip(self.signatures[name], args)
                  if kind == 'ptr' and arg is not None]
        if arrays and not isinstance(arrays[0], numpy.ndarray):
            self._launch_gpu(name, n, dtype, args)
        else:
            self._launch_cpu(name, n, dtype, args)


# ----------------------------------------------------------------------------
# The package's own kernels.

def _module_path(name):
    spec = importlib.util.find_spec(name)
    return None if spec is None or spec.origin is None else spec.origin


# Which build of the CPU kernels to load: 'auto' (the AVX2 build where the
# CPU has AVX2, else the baseline one), 'baseline' or 'avx2'.
CPU_KERNELS_VARIABLE = 'NR_CPU_KERNELS'


def cpu_kernel_builds():
    """{'baseline': path, 'avx2': path or None}: the CPU builds installed;
    'avx2' is None where it is not built or this CPU lacks AVX2."""
    baseline = _module_path('neural_renderer._kernels_cpu')
    if baseline is None:
        raise ImportError(
            'the CPU kernels of neural_renderer are not built: install '
            'the package with `pip install -e .` (needs a C++ compiler)')
    avx2 = _module_path('neural_renderer._kernels_cpu_avx2')
    if avx2 is not None:
        probe = ctypes.CDLL(baseline)
        probe.nr_cpu_has_avx2.restype = ctypes.c_int
        if not probe.nr_cpu_has_avx2():
            avx2 = None
    return {'baseline': baseline, 'avx2': avx2}


def cpu_kernel_build():
    """The name of the CPU build that launches use ('baseline' or 'avx2'),
    chosen by $NR_CPU_KERNELS (default 'auto')."""
    choice = os.environ.get(CPU_KERNELS_VARIABLE, 'auto')
    if choice not in ('auto', 'baseline', 'avx2'):
        raise ValueError('{}: expected auto, baseline or avx2, got '
                         '{!r}'.format(CPU_KERNELS_VARIABLE, choice))
    builds = cpu_kernel_builds()
    if choice == 'avx2' and builds['avx2'] is None:
        raise RuntimeError('{}=avx2, but the AVX2 build is not installed or '
                           'this CPU lacks AVX2'.format(CPU_KERNELS_VARIABLE))
    if choice == 'baseline' or builds['avx2'] is None:
        return 'baseline'
    return 'avx2'


def _package_cpu_library():
    return cpu_kernel_builds()[cpu_kernel_build()]


_PACKAGE = KernelSource(_HEADER, _UNIT, _package_cpu_library)
SIGNATURES = _PACKAGE.signatures
_HEADER_TEXT = _PACKAGE._inline(_HEADER)


def _header_constant(name):
    return int(re.search(r'#define {} (\d+)'.format(name),
                         _HEADER_TEXT).group(1))


# Planes per pixel line that pack_edge_planes writes for the edge scans,
# rows and columns, with an rgb and with an alpha gradient (NR_*_PLANES).
EDGE_ROW_PLANES_RGB = _header_constant('NR_ROW_PLANES_RGB')
EDGE_ROW_PLANES_ALPHA = _header_constant('NR_ROW_PLANES_ALPHA')
EDGE_COLUMN_PLANES_RGB = _header_constant('NR_COLUMN_PLANES_RGB')
EDGE_COLUMN_PLANES_ALPHA = _header_constant('NR_COLUMN_PLANES_ALPHA')
# Pixels down a column that one index of pack_edge_planes packs.
EDGE_PLANES_TILE = _header_constant('NR_TILE')


def edge_column_stride(height):
    """Values per column plane of pack_edge_planes for columns of ``height``
    pixels: an odd multiple of NR_TILE, so that neighbouring columns do not
    share cache sets."""
    tiles = -(-height // EDGE_PLANES_TILE)
    return (tiles | 1) * EDGE_PLANES_TILE


def edge_plane_counts(with_rgb, with_alpha):
    """(rows, columns): the planes pack_edge_planes writes per pixel line."""
    return (EDGE_ROW_PLANES_RGB * bool(with_rgb) +
            EDGE_ROW_PLANES_ALPHA * bool(with_alpha),
            EDGE_COLUMN_PLANES_RGB * bool(with_rgb) +
            EDGE_COLUMN_PLANES_ALPHA * bool(with_alpha))


def _check_args(name, dtype, args):
    _PACKAGE.check_args(name, dtype, args)


def _load_cpu_library():
    return _PACKAGE.cpu_library()


def gpu_source():
    """The text CuPy compiles: kernels.cpp with the header inlined."""
    return _PACKAGE.gpu_source()


def bind(name, args, named):
    """The package kernel's arguments in signature order (see
    :meth:`KernelSource.bind`)."""
    return _PACKAGE.bind(name, args, named)


def launch(name, n, dtype, *args, **named):
    """Run kernel ``name`` over ``n`` indices on the arrays' device; the
    arguments by position or by their names in the source."""
    _PACKAGE.launch(name, n, dtype, *args, **named)
