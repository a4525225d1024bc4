"""``python -m neural_renderer render MESH.obj -o OUT.png``: see cli.py."""
import sys

from neural_renderer.cli import main

if __name__ == '__main__':
    sys.exit(main())
