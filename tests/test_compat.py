"""The NumPy 2 / Python 3.12 shim for Chainer 7.8.1."""
import subprocess
import sys

import numpy

import neural_renderer._compat as compat


def test_restores_removed_numpy_names():
    compat.install()
    assert numpy.float is float
    assert numpy.int64 in numpy.sctypes['int']
    assert numpy.float32 in numpy.sctypes['float']
    import numpy.distutils.system_info as system_info
    assert isinstance(system_info.get_info('blas_opt'), dict)


def test_install_is_idempotent_and_keeps_existing_names():
    before = numpy.sctypes
    compat.install()
    assert numpy.sctypes is before


def test_chainer_imports_and_uses_the_restored_names_in_a_fresh_process():
    # as_strided reads numpy.sctypes at import; resize_images uses
    # numpy.float; _environment_check imports numpy.distutils.system_info.
    code = (
        'import numpy, neural_renderer, chainer, chainer.functions as F\n'
        'x = numpy.arange(16, dtype=numpy.float32).reshape(1, 1, 4, 4)\n'
        'y = F.resize_images(x, (2, 2))\n'
        'print(y.shape)\n')
    out = subprocess.run([sys.executable, '-W', 'error::DeprecationWarning',
                          '-c', code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == '(1, 1, 2, 2)'
