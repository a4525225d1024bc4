"""Long fuzz run of load_obj / save_obj: the strategies of
tests/test_obj_fuzz.py with many more examples.

    python tools/fuzz_load_obj.py --minutes 5

runs batches of ``--batch`` examples of each property (load_obj on generated
OBJ/MTL/image files; save_obj -> load_obj round trips) until the time is up,
and prints how many scenes loaded or were refused with an error. A failing
example is shrunk and printed by hypothesis, and the run stops with status 1.
"""
import argparse
import collections
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'tests'))

from hypothesis import given  # NOQA: E402
from hypothesis import settings  # NOQA: E402

import test_obj_fuzz  # NOQA: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--minutes', type=float, default=5.0,
                        help='run time (default 5)')
    parser.add_argument('--batch', type=int, default=2000,
                        help='examples per hypothesis run (default 2000)')
    args = parser.parse_args(argv)
    outcomes = collections.Counter()
    run = settings(test_obj_fuzz.FAST, max_examples=args.batch)

    @run
    @given(test_obj_fuzz.scenes())
    def fuzz_load(scene):
        outcomes[test_obj_fuzz.check_load(scene)] += 1

    @run
    @given(test_obj_fuzz.meshes())
    def fuzz_round_trip(mesh):
        test_obj_fuzz.check_round_trip(mesh)
        outcomes['round trip'] += 1

    end = time.time() + args.minutes * 60
    batches = 0
    while time.time() < end:
        fuzz_load()
        fuzz_round_trip()
        batches += 1
        print('batch {}: {}'.format(batches, dict(outcomes)), flush=True)
    print('no failure in {} batches ({:.1f} minutes): {}'.format(
        batches, args.minutes, dict(outcomes)))


if __name__ == '__main__':
    sys.exit(main())
