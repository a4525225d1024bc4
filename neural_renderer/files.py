"""Writing output files so that an interrupt never destroys an earlier one.

:func:`atomic_output` is what every output of the package and its examples
goes through: the content is written to a temporary file next to the
destination and renamed over it only when complete (``os.replace`` is
atomic on one file system), so an error, a full disk, Ctrl-C or a kill
leaves the earlier file as it was and no partial file behind.
"""
import contextlib
import os
import stat
import tempfile


def _default_mode():
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def atomic_output(path, done=None):
    """Context manager: yields a temporary file name to write ``path``'s
    new content to; renames it over ``path`` when the block ends without
    an exception, removes it otherwise.

    - The temporary file is ``.<stem>.tmpXXXXXXXX<extension>`` in the
      destination's folder (the extension kept, for writers that choose
      the format by it).
    - An existing destination keeps its permission bits; a new one gets
      0666 less the umask, as ``open`` would give it.
    - A destination that is a symbolic link is written through: the link
      stays and the file it points to is replaced.
    - The content is flushed to disk (``fsync``) before the rename.
    - ``done``: a list, or None. The destination's path is appended to it
      as soon as the rename has happened, so that a caller interrupted
      after it (Ctrl-C, a signal) can tell that the file is complete.

    Raises:
        OSError: the folder cannot be written to, or the destination is a
            folder.
    """
    path = os.fspath(path)
    target = os.path.realpath(path) if os.path.islink(path) else \
        os.path.abspath(path)
    if os.path.isdir(target):
        raise IsADirectoryError(21, 'is a folder, not a file', path)
    directory, name = os.path.split(target)
    stem, extension = os.path.splitext(name)
    descriptor, temporary = tempfile.mkstemp(
        prefix='.{}.tmp'.format(stem), suffix=extension, dir=directory)
    try:
        try:
            mode = stat.S_IMODE(os.stat(target).st_mode)
        except FileNotFoundError:
            mode = _default_mode()
        os.fchmod(descriptor, mode)
        os.close(descriptor)
        descriptor = None
        yield temporary
        with open(temporary, 'rb+') as written:
            os.fsync(written.fileno())
        try:
            os.replace(temporary, target)
        finally:
            # Also when a signal's exception arrives just after the rename.
            if done is not None and not os.path.lexists(temporary):
                done.append(target)
    except BaseException:
        if descriptor is not None:
            os.close(descriptor)
        try:
            os.remove(temporary)
        except OSError:
            pass
        raise
