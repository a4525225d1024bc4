"""Reads tensors saved by PyTorch's legacy (non-zip) ``torch.save``, without
torch, and without letting the file run code.

The legacy format (what ``torch.save`` wrote before PyTorch 1.6, and what
``_use_new_zipfile_serialization=False`` still writes) is, in order:

1. a pickle of the magic number 0x1950a86a20f9469cfc6c;
2. a pickle of the protocol version, 1001;
3. a pickle of the system information (a dict: ``little_endian`` and the
   sizes of C types);
4. a pickle of the saved object. For a state dict that is a
   ``collections.OrderedDict`` from names to tensors; each tensor is built by
   ``torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)``
   and its storage is a persistent id, the tuple
   ``('storage', torch.<Type>Storage, key, location, element_count,
   view_metadata)``;
5. a pickle of the list of storage keys, in the order their data follow;
6. each storage's data: its element count as a little-endian int64, then
   the elements' raw bytes.

Unpickling calls whatever globals the pickle names, so a weight file is a
program. :func:`load_state_dict` reads it with an unpickler that resolves
only the globals listed above (``OrderedDict``, ``_rebuild_tensor_v2`` and
the storage types, each replaced by a harmless stand-in of our own) and
refuses any other with :class:`UnsafeWeightFile`, before anything is called.
Every other defect (truncated, foreign, inconsistent) raises
:class:`WeightFileError` naming the file.
"""
import collections
import io
import os
import pickle
import struct

import numpy

MAGIC_NUMBER = 0x1950a86a20f9469cfc6c
PROTOCOL_VERSION = 1001

# The storage types of the legacy format and their element types (torch's
# LongStorage is int64 whatever the C 'long' of the saving machine).
STORAGE_DTYPES = {
    'DoubleStorage': '<f8', 'FloatStorage': '<f4', 'HalfStorage': '<f2',
    'LongStorage': '<i8', 'IntStorage': '<i4', 'ShortStorage': '<i2',
    'CharStorage': '|i1', 'ByteStorage': '|u1', 'BoolStorage': '|b1',
}


class WeightFileError(ValueError):
    """A file that is not a readable legacy PyTorch state dict."""


class UnsafeWeightFile(WeightFileError):
    """A pickle that names a global outside the legacy format's few."""


class _StorageType(object):
    """Stands for ``torch.<name>Storage`` in a persistent id."""

    def __init__(self, name):
        self.name = name
        self.dtype = numpy.dtype(STORAGE_DTYPES[name])


class _TensorRecord(object):
    """What ``_rebuild_tensor_v2`` was asked to build: filled in with the
    storage's data once they have been read."""

    def __init__(self, storage, offset, size, stride):
        self.storage = storage
        self.offset = offset
        self.size = size
        self.stride = stride


def _rebuild_tensor_v2(storage, storage_offset, size, stride, *unused):
    # The remaining arguments (requires_grad, backward hooks, metadata)
    # carry nothing a numpy array needs.
    return _TensorRecord(storage, storage_offset, size, stride)


class _StorageRecord(object):
    def __init__(self, storage_type, key, count):
        self.type = storage_type
        self.key = key
        self.count = count
        self.data = None


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves only the legacy format's globals, to stand-ins."""

    def __init__(self, file, path, storages=None):
        pickle.Unpickler.__init__(self, file)
        self._path = path
        self._storages = storages

    def find_class(self, module, name):
        if (module, name) == ('collections', 'OrderedDict'):
            return collections.OrderedDict
        if (module, name) == ('torch._utils', '_rebuild_tensor_v2'):
            return _rebuild_tensor_v2
        if module == 'torch' and name in STORAGE_DTYPES:
            return _StorageType(name)
        raise UnsafeWeightFile(
            '{}: refused: the file asks for the global {}.{}, which a '
            'PyTorch state dict does not need (only OrderedDict, '
            '_rebuild_tensor_v2 and torch storage types are allowed); '
            'nothing from it was run'.format(self._path, module, name))

    def persistent_load(self, pid):
        if self._storages is None:
            raise WeightFileError('{}: a storage reference outside the '
                                  'state dict'.format(self._path))
        if (not isinstance(pid, tuple) or len(pid) != 6 or
                pid[0] != 'storage' or
                not isinstance(pid[1], _StorageType) or
                not isinstance(pid[2], str) or
                not isinstance(pid[4], int) or pid[4] < 0):
            raise WeightFileError('{}: unexpected storage reference {!r}'
                                  .format(self._path, pid))
        if pid[5] is not None:
            raise WeightFileError('{}: storage views are not supported'
                                  .format(self._path))
        storage_type, key, count = pid[1], pid[2], pid[4]
        record = self._storages.get(key)
        if record is None:
            record = self._storages[key] = _StorageRecord(storage_type, key,
                                                          count)
        elif record.type.name != storage_type.name or record.count != count:
            raise WeightFileError('{}: storage {} is referred to with two '
                                  'types or sizes'.format(self._path, key))
        return record


def _load_pickle(stream, path, what, storages=None):
    try:
        return _RestrictedUnpickler(stream, path, storages).load()
    except WeightFileError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError,
            KeyError, IndexError, AttributeError, struct.error,
            MemoryError, RecursionError) as error:
        raise WeightFileError('{}: not a legacy PyTorch weight file ({} '
                              'unreadable: {}: {})'.format(
                                  path, what, type(error).__name__, error))


def _tensor_array(record, path, name):
    """The numpy array (a copy, C-contiguous) of a tensor record."""
    if not isinstance(record.storage, _StorageRecord):
        raise WeightFileError('{}: {} has no storage'.format(path, name))
    data = record.storage.data
    size, stride, offset = record.size, record.stride, record.offset
    ok = (isinstance(size, tuple) and isinstance(stride, tuple) and
          len(size) == len(stride) and isinstance(offset, int) and
          offset >= 0 and all(isinstance(v, int) and v >= 0
                              for v in size + stride))
    if not ok:
        raise WeightFileError('{}: {} has an invalid size, stride or offset'
                              .format(path, name))
    if 0 in size:
        return numpy.zeros(size, data.dtype)
    if not size:  # a scalar (as_strided would give shape (1,))
        if offset >= data.size:
            raise WeightFileError('{}: {} lies outside its storage'
                                  .format(path, name))
        return data[offset].copy().reshape(())
    last = offset + sum((n - 1) * s for n, s in zip(size, stride))
    if last >= data.size:
        raise WeightFileError(
            '{}: {} reaches element {} of a storage of {}'.format(
                path, name, last, data.size))
    view = numpy.lib.stride_tricks.as_strided(
        data[offset:], shape=size,
        strides=tuple(s * data.itemsize for s in stride), writeable=False)
    return numpy.ascontiguousarray(view)


def load_state_dict(path):
    """The tensors of a legacy ``torch.save`` state dict, as numpy arrays.

    Args:
        path (str): the ``.pth`` file.

    Returns:
        ``collections.OrderedDict`` from parameter names (str) to numpy
        arrays of the saved shapes and element types (float32 for float
        tensors), in the file's order.

    Raises:
        UnsafeWeightFile: the pickle names a global the format does not
            need (nothing from the file has been run).
        WeightFileError: truncated, foreign (zip-format files included) or
            inconsistent files, big-endian files.
        OSError: the file cannot be opened.
    """
    with open(path, 'rb') as f:
        file_size = os.fstat(f.fileno()).st_size
        stream = io.BufferedReader(f)
        magic = _load_pickle(stream, path, 'magic number')
        if magic != MAGIC_NUMBER:
            raise WeightFileError(
                '{}: not a legacy PyTorch weight file (no magic number; '
                'files of the zip format of PyTorch >= 1.6 are not read)'
                .format(path))
        protocol = _load_pickle(stream, path, 'protocol version')
        if protocol != PROTOCOL_VERSION:
            raise WeightFileError('{}: protocol version {!r}, expected {}'
                                  .format(path, protocol, PROTOCOL_VERSION))
        system = _load_pickle(stream, path, 'system information')
        if not isinstance(system, dict) or \
                system.get('little_endian') is not True:
            raise WeightFileError('{}: only little-endian files are read'
                                  .format(path))
        storages = {}
        state = _load_pickle(stream, path, 'state dict', storages)
        keys = _load_pickle(stream, path, 'storage key list')
        if not isinstance(state, dict) or not all(
                isinstance(k, str) and isinstance(v, _TensorRecord)
                for k, v in state.items()):
            raise WeightFileError('{}: not a state dict (a dict from names '
                                  'to tensors)'.format(path))
        if not isinstance(keys, list) or sorted(keys) != sorted(storages):
            raise WeightFileError('{}: the storage key list does not match '
                                  'the tensors\' storages'.format(path))
        for key in keys:
            record = storages[key]
            header = stream.read(8)
            if len(header) != 8:
                raise WeightFileError('{}: truncated (storage {} missing)'
                                      .format(path, key))
            count, = struct.unpack('<q', header)
            if count != record.count:
                raise WeightFileError(
                    '{}: storage {} holds {} elements, its tensors say {}'
                    .format(path, key, count, record.count))
            nbytes = count * record.type.dtype.itemsize
            if nbytes > file_size:
                raise WeightFileError('{}: truncated (storage {} of {} '
                                      'bytes)'.format(path, key, nbytes))
            raw = stream.read(nbytes)
            if len(raw) != nbytes:
                raise WeightFileError('{}: truncated (storage {} has {} of '
                                      'its {} bytes)'.format(
                                          path, key, len(raw), nbytes))
            record.data = numpy.frombuffer(raw, record.type.dtype)
        if stream.read(1):
            raise WeightFileError('{}: unexpected bytes after the last '
                                  'storage'.format(path))
    return collections.OrderedDict(
        (name, _tensor_array(record, path, name))
        for name, record in state.items())
