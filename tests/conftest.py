import os
import sys

# Test helpers (reference implementations) live next to the tests.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def pytest_configure(config):
    # chainer.testing.attr registers tests with a 'gpu' mark.
    config.addinivalue_line('markers', 'gpu: needs a GPU (chainer.testing)')
