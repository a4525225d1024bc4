"""The NumPy 2 / Python 3.12 shim for Chainer 7.8.1."""
import subprocess
import sys

import numpy

import neural_renderer_compat as compat


def run_python(code):
    out = subprocess.run([sys.executable, '-W', 'error::DeprecationWarning',
                          '-c', code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


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


def test_chainer_uses_the_restored_names_in_a_fresh_process():
    # as_strided reads numpy.sctypes at import; resize_images uses
    # numpy.float; _environment_check imports numpy.distutils.system_info.
    assert run_python(
        'import numpy, neural_renderer, chainer, chainer.functions as F\n'
        'x = numpy.arange(16, dtype=numpy.float32).reshape(1, 1, 4, 4)\n'
        'print(F.resize_images(x, (2, 2)).shape)\n') == '(1, 1, 2, 2)'


def test_import_hook_fixes_chainer_imported_first():
    # The hook alone (without neural_renderer) is enough.
    assert run_python(
        'import neural_renderer_compat, chainer, numpy\n'
        'print(numpy.float is float)\n') == 'True'


def test_original_import_order_works_in_the_installed_package():
    # Code written for the original package imports chainer first; the
    # installed neural_renderer_compat.pth registers the hook at start-up.
    assert run_python(
        'import sys\n'
        'import chainer\n'
        'import neural_renderer as nr\n'
        'print("chainer" in sys.modules, nr.Renderer().image_size)\n'
    ) == 'True 256'


def test_start_up_hook_does_not_import_numpy_or_chainer():
    assert run_python(
        'import sys\n'
        'print("numpy" in sys.modules, "chainer" in sys.modules)\n'
    ) == 'False False'
