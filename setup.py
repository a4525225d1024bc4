"""Build and install neural_renderer.

The CPU kernels (neural_renderer/kernels/kernels.cpp, which includes the same
CUDA C source that CuPy compiles for the GPU) are built here as a C++ shared
library with OpenMP when the compiler supports it.

Chainer 7.8.1 ships only as an sdist whose build and import need
pkg_resources (setuptools < 81); see README.md for the install command.
"""
import os

import shutil
import sysconfig

from setuptools import Extension, find_packages, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py
from setuptools.command.develop import develop

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
    """Editable installs through `setup.py develop` (what pip runs for
    `pip install -e .` on a project without pyproject.toml) get the .pth
    too, in the site-packages of the interpreter running the install.
    (setuptools >= 80 implements develop by calling pip itself, so the
    command's own install_dir cannot be relied on.)"""

    def run(self):
        develop.run(self)
        if not getattr(self, 'uninstall', False):
            shutil.copy(os.path.join(HERE, PTH),
                        os.path.join(sysconfig.get_paths()['purelib'], PTH))


class BuildExt(build_ext):
    """C++14, no FMA contraction (CPU rounds like the GPU build), OpenMP if
    available."""

    def build_extensions(self):
        compiler_type = self.compiler.compiler_type
        for ext in self.extensions:
            if compiler_type == 'msvc':
                ext.extra_compile_args = ['/O2', '/openmp', '/fp:precise']
            else:
                ext.extra_compile_args = ['-O3', '-std=c++14',
                                          '-ffp-contract=off', '-fopenmp']
                ext.extra_link_args = ['-fopenmp']
        try:
            build_ext.build_extensions(self)
        except Exception:
            if compiler_type == 'msvc':
                raise
            # No OpenMP (e.g. Apple clang): build single-threaded.
            self.announce('OpenMP unavailable; building the CPU kernels '
                          'single-threaded', level=3)
            for ext in self.extensions:
                ext.extra_compile_args = ['-O3', '-std=c++14',
                                          '-ffp-contract=off']
                ext.extra_link_args = []
            build_ext.build_extensions(self)


kernels = Extension(
    'neural_renderer._kernels_cpu',
    sources=['neural_renderer/kernels/kernels.cpp'],
    depends=['neural_renderer/kernels/rasterize.cuh'],
    language='c++',
)

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
    ext_modules=[kernels],
    cmdclass={'build_ext': BuildExt, 'build_py': BuildPy,
              'develop': Develop},
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
        'matplotlib',
        'tqdm',
        # Chainer 7.8.1 imports pkg_resources at run time.
        'setuptools<81',
    ],
    extras_require={
        # mpi4py with an MPI runtime from PyPI (mpich wheels): ChainerMN's
        # multi-process training, and its test.
        'test': ['pytest', 'mpi4py', 'mpich'],
        'mpi': ['mpi4py', 'mpich'],
        'gpu': ['cupy-cuda12x'],
        'gpu-cuda13': ['cupy-cuda13x'],
        # benchmarks/ only (DEODR side by side); deodr 0.2.3 fails to
        # import without trimesh.
        'bench': ['deodr', 'trimesh'],
    },
)
