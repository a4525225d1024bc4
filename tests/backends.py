"""The array backends the tests run on: NumPy always, CuPy with a GPU.

Tests take the ``xp`` fixture (tests/conftest.py), build their inputs with
NumPy, hand the functions under test ``xp.asarray(...)`` and compare
``to_cpu(result)`` with NumPy references. On NumPy ``xp.asarray`` and
``to_cpu`` return their argument itself, so the numpy cases do exactly what
a plain NumPy test does; the cupy cases are the CPU-GPU cross-check.
"""
import numpy

import neural_renderer  # NOQA  (NumPy 2 shim before chainer)
import chainer

GPU_REASON = 'needs CuPy and a GPU'


def _probe_gpu():
    try:
        import cupy
        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # no cupy, no driver or no device
        return False


HAVE_GPU = _probe_gpu()


def get_xp(name):
    """numpy or cupy by name."""
    if name == 'numpy':
        return numpy
    import cupy
    return cupy


def device_of(xp):
    """The chainer device of an array module: '@numpy' or '@cupy:0'."""
    return chainer.get_device('@numpy' if xp is numpy else '@cupy:0')


def to_cpu(x):
    """x as a NumPy array: Variables give their array, CuPy arrays are
    copied to the host, anything else (NumPy arrays, scalars, None) is
    returned as it is."""
    if isinstance(x, chainer.Variable):
        x = x.array
    if x is None or chainer.backend.get_array_module(x) is numpy:
        return x
    return chainer.backend.CpuDevice().send(x)
