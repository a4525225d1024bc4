import os
import sys

import pytest

# Test helpers (reference implementations, backends) live next to the tests.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import backends  # NOQA: E402


def pytest_configure(config):
    # chainer.testing.attr registers tests with a 'gpu' mark; the cupy case
    # of the xp fixture carries it too (-m 'not gpu' deselects them).
    config.addinivalue_line('markers', 'gpu: needs a GPU (chainer.testing, '
                                       'the cupy case of the xp fixture)')


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    # pytest reports a skip raised in a fixture at the test's own line, so
    # `-rs` would list the cupy skips once per test; point them all here to
    # fold them into one summary line.
    report = yield
    longrepr = report.longrepr
    if (report.skipped and isinstance(longrepr, tuple) and len(longrepr) == 3
            and str(longrepr[2]).endswith(backends.GPU_REASON)
            and 'xp' in getattr(item, 'fixturenames', ())):
        report.longrepr = (__file__, None, longrepr[2])
    return report


@pytest.fixture(params=[
    pytest.param('numpy', id='numpy'),
    pytest.param('cupy', id='cupy', marks=pytest.mark.gpu),
])
def xp(request):
    """The array module a test runs on: numpy, and cupy where CuPy and a
    GPU exist. The cupy case skips with one reason, raised here so that
    `pytest -rs` reports all of them on one line."""
    if request.param == 'cupy' and not backends.HAVE_GPU:
        pytest.skip(backends.GPU_REASON)
    return backends.get_xp(request.param)


@pytest.fixture
def device(xp):
    """The chainer device of xp ('@numpy' or '@cupy:0'), for links and
    optimizers (``link.to_device(device)``)."""
    return backends.device_of(xp)
