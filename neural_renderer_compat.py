"""Compatibility shim: Chainer 7.8.1 on NumPy 2 and Python 3.12 and newer.

Chainer 7.8.1 is no longer maintained. It relies on three things that newer
stacks removed:

* ``numpy.sctypes`` (removed in NumPy 2.0), read at import time by
  ``chainer.functions.array.as_strided``;
* ``numpy.float`` (removed in NumPy 1.24), used by ``F.resize_images``;
* ``numpy.distutils.system_info`` (removed for Python >= 3.12), imported by
  ``chainer._environment_check``; it only calls ``get_info('blas_opt')`` on
  macOS to warn about Accelerate. A stub whose ``get_info`` knows nothing
  stands in for it.

:func:`install` restores exactly these names, only when they are missing;
it must run before ``chainer`` is imported. Two things make sure it does:

* ``import neural_renderer`` calls it first;
* the package installs ``neural_renderer_compat.pth`` into site-packages,
  which imports this module at interpreter start-up. That only registers an
  import hook (cheap: NumPy is not imported then); the hook runs
  :func:`install` when ``chainer`` is first imported. So code written for
  the original package, which imports ``chainer`` before
  ``neural_renderer``, runs unchanged.

This is the project's one compatibility module; nothing else patches
third-party code. ``pkg_resources`` (also needed by Chainer) comes from
``setuptools<81``, a run-time dependency in ``setup.py``; its
"pkg_resources is deprecated" warning is filtered. The module is top level
(not inside the package) so that the start-up hook does not import
``neural_renderer`` and, with it, Chainer.
"""
import sys
import types
import warnings


def _sctypes():
    import numpy
    return {
        'int': [numpy.int8, numpy.int16, numpy.int32, numpy.int64],
        'uint': [numpy.uint8, numpy.uint16, numpy.uint32, numpy.uint64],
        'float': [numpy.float16, numpy.float32, numpy.float64,
                  numpy.longdouble],
        'complex': [numpy.complex64, numpy.complex128, numpy.clongdouble],
        'others': [bool, object, bytes, str, numpy.void],
    }


def _has_attr(module, name):
    # NumPy 2 raises AttributeError from a module __getattr__ for removed
    # names, so hasattr is the right probe.
    try:
        getattr(module, name)
    except AttributeError:
        return False
    return True


def _install_distutils_stub():
    if 'numpy.distutils.system_info' in sys.modules:
        return
    # A stub even where numpy.distutils still exists (Python < 3.12): the
    # real one is deprecated, slow to import and warns on import.
    distutils_mod = sys.modules.get('numpy.distutils')
    if distutils_mod is None:
        distutils_mod = types.ModuleType('numpy.distutils')
        distutils_mod.__path__ = []
        sys.modules['numpy.distutils'] = distutils_mod
    system_info = types.ModuleType('numpy.distutils.system_info')
    # Chainer asks only for 'blas_opt' to warn about Accelerate on macOS;
    # "nothing known" is the honest answer.
    system_info.get_info = lambda name, notfound_action=0: {}
    distutils_mod.system_info = system_info
    sys.modules['numpy.distutils.system_info'] = system_info


def install():
    """Restore the NumPy names Chainer 7.8.1 needs. Idempotent."""
    import numpy
    # setuptools warns on every `import pkg_resources`, which Chainer does at
    # import; the dependency is known and pinned (setuptools<81).
    warnings.filterwarnings('ignore', message='pkg_resources is deprecated',
                            category=UserWarning)
    if not _has_attr(numpy, 'sctypes'):
        numpy.sctypes = _sctypes()
    if not _has_attr(numpy, 'float'):
        numpy.float = float
    _install_distutils_stub()


class _ChainerImportHook(object):
    """A meta path finder that runs :func:`install` just before Chainer is
    imported. It finds nothing itself (the normal finders load Chainer)."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname == 'chainer':
            install()
            uninstall_import_hook()
        return None


def install_import_hook():
    """Arrange for :func:`install` to run when ``chainer`` is imported."""
    if 'chainer' in sys.modules:
        return
    if not any(isinstance(f, _ChainerImportHook) for f in sys.meta_path):
        sys.meta_path.insert(0, _ChainerImportHook())


def uninstall_import_hook():
    sys.meta_path[:] = [f for f in sys.meta_path
                        if not isinstance(f, _ChainerImportHook)]


install_import_hook()
