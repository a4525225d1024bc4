"""A memory pool for the CPU (NumPy) buffers of the rasterizer.

Why: every forward + backward allocates some 20 MB of image-sized buffers
at 256 x 256 with anti-aliasing (face index, maps, gradients, the edge
planes). glibc serves buffers that size with fresh pages, mmap'ed or from
heap memory it returned to the system when the previous call freed its
buffers, and the kernel that first writes one then takes a page fault and
the system zeroes a page every 4 KiB: a fifth to a quarter of the time of
a CPU forward + backward at 256 px (benchmarks/README.md, "Measurements
behind the code"). CuPy avoids the same cost on the GPU with its memory
pool; this is the host counterpart, for the package's own buffers only.

How: ``empty`` hands out an array over a block of the pool. The array's
memory is exported through a ctypes object that every view of the array
keeps alive; when the last view dies, the block returns to the pool (a
``weakref.finalize`` on the exporter). A request takes a free block of
exactly its size, which is what a training loop asks for call after call.
Free blocks beyond ``limit`` bytes are released, largest first;
``free_all_blocks()`` releases them all and ``set_limit(0)`` turns pooling
off (as does the environment variable NR_HOST_POOL_LIMIT=0 at import; it
takes any limit in bytes). Buffers below ``MIN_POOLED_BYTES`` come from
NumPy directly. The z-buffer is not pooled: it dies before the backward
pass, whose buffers then reuse its memory.

CuPy arrays are never pooled here (``empty(xp, ...)`` with ``xp`` CuPy
allocates from CuPy's own pool).
"""
import collections
import ctypes
import os
import threading
import weakref

import numpy

MIN_POOLED_BYTES = 64 << 10
DEFAULT_LIMIT = 256 << 20
# Overrides DEFAULT_LIMIT (bytes; 0 turns pooling off), read at import.
LIMIT_VARIABLE = 'NR_HOST_POOL_LIMIT'


def _limit_from_environment():
    value = os.environ.get(LIMIT_VARIABLE)
    if value is None:
        return DEFAULT_LIMIT
    try:
        limit = int(value)
    except ValueError:
        limit = -1
    if limit < 0:
        raise ValueError('{}: expected bytes >= 0, got {!r}'.format(
            LIMIT_VARIABLE, value))
    return limit


class HostMemoryPool(object):
    """Free host blocks by size, shared by all threads (one lock)."""

    def __init__(self, limit=DEFAULT_LIMIT):
        self._free = {}
        self._free_bytes = 0
        self._used_bytes = 0
        self._limit = int(limit)
        self._lock = threading.Lock()
        # Blocks whose arrays died, not yet filed. The finalizer only
        # appends here (atomic, no lock): it may run inside the garbage
        # collector while this thread holds the lock, and taking the lock
        # there would deadlock.
        self._returned = collections.deque()

    def empty(self, shape, dtype):
        """An uninitialised C-contiguous NumPy array of ``shape`` and
        ``dtype``, over a pooled block when it is at least
        ``MIN_POOLED_BYTES``."""
        dtype = numpy.dtype(dtype)
        if isinstance(shape, (int, numpy.integer)):
            shape = (shape,)
        shape = tuple(int(size) for size in shape)
        nbytes = dtype.itemsize
        for size in shape:
            nbytes *= size
        if nbytes < MIN_POOLED_BYTES or self._limit <= 0:
            return numpy.empty(shape, dtype)
        with self._lock:
            self._file_returned()
            block = self._take(nbytes)
            if block is not None:
                self._free_bytes -= block.nbytes
                self._used_bytes += block.nbytes
            else:
                self._used_bytes += nbytes
        if block is None:
            block = numpy.empty(nbytes, numpy.uint8)
        # The exporter owns nothing; `block` stays alive in the finalizer's
        # arguments until the exporter, and so every view, is gone.
        exporter = (ctypes.c_ubyte * nbytes).from_address(block.ctypes.data)
        finalizer = weakref.finalize(exporter, self._release, block)
        finalizer.atexit = False
        return numpy.frombuffer(exporter, dtype).reshape(shape)

    def _take(self, nbytes):
        blocks = self._free.get(nbytes)
        if not blocks:
            return None
        block = blocks.pop()
        if not blocks:
            del self._free[nbytes]
        return block

    def _release(self, block):
        self._returned.append(block)

    def _file_returned(self):
        # With the lock held.
        while True:
            try:
                block = self._returned.popleft()
            except IndexError:
                break
            self._used_bytes -= block.nbytes
            self._free.setdefault(block.nbytes, []).append(block)
            self._free_bytes += block.nbytes
        self._trim(self._limit)

    def _trim(self, limit):
        # Largest blocks first: the fewest blocks freed for the bytes.
        for nbytes in sorted(self._free, reverse=True):
            blocks = self._free[nbytes]
            while blocks and self._free_bytes > limit:
                blocks.pop()
                self._free_bytes -= nbytes
            if not blocks:
                del self._free[nbytes]

    def free_all_blocks(self):
        """Releases every free block (blocks in use stay in use)."""
        with self._lock:
            self._file_returned()
            self._trim(0)

    def set_limit(self, size):
        """Keeps at most ``size`` bytes of free blocks; 0 turns pooling off
        (what is in use returns to NumPy when it dies)."""
        size = int(size)
        if size < 0:
            raise ValueError('size: expected bytes >= 0, got {}'.format(size))
        with self._lock:
            self._limit = size
            self._file_returned()

    def get_limit(self):
        return self._limit

    def free_bytes(self):
        """Bytes held in free blocks."""
        with self._lock:
            self._file_returned()
            return self._free_bytes

    def used_bytes(self):
        """Bytes of pooled blocks in use."""
        with self._lock:
            self._file_returned()
            return self._used_bytes

    def _after_fork_in_child(self):
        # A thread of the parent may have held the lock at fork().
        self._lock = threading.Lock()


_POOL = HostMemoryPool(_limit_from_environment())
if hasattr(os, 'register_at_fork'):
    os.register_at_fork(after_in_child=_POOL._after_fork_in_child)


def get_host_memory_pool():
    """The pool the rasterizer's CPU buffers come from."""
    return _POOL


def empty(xp, shape, dtype):
    """``xp.empty(shape, dtype)``; for NumPy, from the host pool."""
    if xp is not numpy:
        return xp.empty(shape, dtype)
    return _POOL.empty(shape, dtype)
