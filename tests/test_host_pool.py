"""The host memory pool behind the rasterizer's CPU buffers
(neural_renderer/_host_pool.py)."""
import gc
import threading

import chainer
import chainer.functions as F
import numpy
import pytest

import neural_renderer as nr
from neural_renderer._host_pool import HostMemoryPool, MIN_POOLED_BYTES

SIZE = MIN_POOLED_BYTES // 4  # float32 values of one pooled block


def test_a_block_returns_when_its_last_view_dies():
    pool = HostMemoryPool()
    a = pool.empty((4, SIZE // 4), numpy.float32)
    address = a.ctypes.data
    assert pool.used_bytes() == MIN_POOLED_BYTES and pool.free_bytes() == 0
    view = a.reshape(-1)[5:].view(numpy.int32)[::3]
    del a
    gc.collect()
    # A view holds the block: a new request gets other memory.
    b = pool.empty((4, SIZE // 4), numpy.float32)
    b_address = b.ctypes.data
    assert b_address != address
    assert pool.used_bytes() == 2 * MIN_POOLED_BYTES
    del view, b
    gc.collect()
    assert pool.used_bytes() == 0 and pool.free_bytes() == 2 * \
        MIN_POOLED_BYTES
    # Same size: served from the pool, whatever the dtype and shape.
    c = pool.empty(SIZE // 2, numpy.float64)
    assert c.ctypes.data in (address, b_address)
    assert pool.free_bytes() == MIN_POOLED_BYTES
    assert c.flags.c_contiguous and c.flags.writeable and c.shape == \
        (SIZE // 2,)


def test_a_block_serves_only_requests_of_its_size():
    pool = HostMemoryPool()
    big = pool.empty(2 * SIZE, numpy.float32)
    address = big.ctypes.data
    del big
    gc.collect()
    smaller = pool.empty(SIZE, numpy.float32)
    assert smaller.ctypes.data != address
    assert pool.free_bytes() == 2 * MIN_POOLED_BYTES
    same = pool.empty((2, SIZE), numpy.float32)
    assert same.ctypes.data == address and pool.free_bytes() == 0


def test_small_requests_and_a_zero_limit_are_not_pooled():
    pool = HostMemoryPool()
    small = pool.empty(SIZE // 2, numpy.float32)
    assert small.flags.owndata and pool.used_bytes() == 0
    pool.set_limit(0)
    big = pool.empty(SIZE, numpy.float32)
    assert big.flags.owndata and pool.used_bytes() == 0
    with pytest.raises(ValueError, match='size'):
        pool.set_limit(-1)


def test_the_limit_trims_free_blocks_largest_first():
    pool = HostMemoryPool(limit=3 * MIN_POOLED_BYTES)
    arrays = [pool.empty(SIZE * k, numpy.float32) for k in (1, 1, 2)]
    del arrays
    gc.collect()
    # 4 blocks' worth returned, 3 kept: the double block went.
    assert pool.free_bytes() == 2 * MIN_POOLED_BYTES
    pool.free_all_blocks()
    assert pool.free_bytes() == 0 and pool.get_limit() == \
        3 * MIN_POOLED_BYTES


def test_threads_never_share_a_block():
    pool = HostMemoryPool()
    errors = []

    def work(tag):
        for _ in range(200):
            a = pool.empty(SIZE, numpy.int32)
            a.fill(tag)
            if not (a == tag).all():
                errors.append(tag)
            del a

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    gc.collect()
    assert not errors and pool.used_bytes() == 0
    assert pool.free_bytes() <= 4 * MIN_POOLED_BYTES


def test_rendering_with_and_without_the_pool_agrees_bitwise():
    vertices, faces = _teapot()
    rng = numpy.random.RandomState(0)
    textures = rng.uniform(0, 1, (1, faces.shape[0], 2, 2, 2, 3)).astype('f')
    grad = rng.randn(1, 3, 64, 64).astype('f')

    def run():
        renderer = nr.Renderer()
        renderer.image_size = 64
        renderer.eye = nr.get_points_from_angles(2.732, 30, 45)
        v = chainer.Variable(vertices[None])
        t = chainer.Variable(textures)
        images = renderer.render(v, faces[None], t)
        F.sum(images * grad).backward()
        return images.array.copy(), v.grad.copy(), t.grad.copy()

    pool = nr.get_host_memory_pool()
    limit = pool.get_limit()
    pooled = [run() for _ in range(2)]  # the second from reused blocks
    try:
        pool.set_limit(0)
        plain = run()
    finally:
        pool.set_limit(limit)
    for outputs in pooled:
        for a, b in zip(outputs, plain):
            assert numpy.array_equal(a, b)


def _teapot():
    import os
    path = os.path.join(os.path.dirname(__file__), '..', 'data',
                        'teapot.obj')
    return nr.load_obj(path)


def test_the_limit_variable_sets_the_pool_limit():
    import os
    import subprocess
    import sys
    script = ('import neural_renderer as nr; '
              'print(nr.get_host_memory_pool().get_limit())')

    def limit(value):
        env = dict(os.environ, NR_HOST_POOL_LIMIT=value)
        return subprocess.run([sys.executable, '-c', script], env=env,
                              capture_output=True, text=True)

    assert limit('0').stdout.strip() == '0'
    assert limit('1048576').stdout.strip() == '1048576'
    for bad in ('-1', 'lots'):
        result = limit(bad)
        assert result.returncode != 0
        assert 'NR_HOST_POOL_LIMIT: expected bytes >= 0' in result.stderr


def test_an_array_dying_while_the_pool_is_locked_does_not_deadlock():
    # The garbage collector may finalize a pooled array in the middle of the
    # pool's own work (an allocation there starts a collection): the
    # release must not wait for the lock this thread holds.
    pool = HostMemoryPool()
    holder = [pool.empty(SIZE, numpy.float32)]
    holder.append(holder)  # a cycle: only the collector frees it
    del holder
    finished = threading.Event()

    def collect_while_locked():
        with pool._lock:
            gc.collect()
        finished.set()

    thread = threading.Thread(target=collect_while_locked, daemon=True)
    thread.start()
    thread.join(10)
    assert finished.is_set()
    assert pool.used_bytes() == 0 and pool.free_bytes() == MIN_POOLED_BYTES
