"""The NumPy 2 / Python 3.12 shim for Chainer 7.8.1."""
import os
import shutil
import subprocess
import sys
import zipfile

import numpy
import pytest

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


def test_editable_wheel_carries_the_pth(tmp_path):
    # pip >= 25 makes `pip install -e .` a PEP 660 editable wheel (no
    # `setup.py develop`); setup.py adds the .pth to it, listed in RECORD so
    # that pip installs it into site-packages and uninstalls it. (The CI
    # installs with the current pip in a fresh venv too.)
    pytest.importorskip('setuptools.command.editable_wheel')
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    project = tmp_path / 'project'
    project.mkdir()
    for name in ['setup.py', 'README.md', 'neural_renderer_compat.py',
                 'neural_renderer_compat.pth']:
        shutil.copy(os.path.join(root, name), str(project))
    shutil.copytree(os.path.join(root, 'neural_renderer'),
                    str(project / 'neural_renderer'),
                    ignore=shutil.ignore_patterns('*.so', '__pycache__'))
    dist = tmp_path / 'dist'
    out = subprocess.run(
        [sys.executable, '-c',
         'import sys\n'
         'from setuptools import build_meta\n'
         'build_meta.build_editable(sys.argv[1])\n', str(dist)],
        cwd=str(project), capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    (wheel,) = dist.glob('*.whl')
    with zipfile.ZipFile(str(wheel)) as z:
        with open(os.path.join(root, 'neural_renderer_compat.pth'),
                  'rb') as f:
            assert z.read('neural_renderer_compat.pth') == f.read()
        (record,) = [n for n in z.namelist()
                     if n.endswith('.dist-info/RECORD')]
        rows = z.read(record).decode().splitlines()
    assert any(row.startswith('neural_renderer_compat.pth,sha256=')
               for row in rows)
