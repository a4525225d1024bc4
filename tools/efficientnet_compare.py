"""Our EfficientNet-Lite0 against the PyTorch reference's logits, and the
input normalisation its weights expect.

Usage (in this project's environment, after tools/efficientnet_reference.py
has written the reference's logits in a throwaway one):

    python tools/efficientnet_compare.py \
        --reference /tmp/efficientnet_reference.npz

Prints two Markdown tables:

1. per input of the reference file: its shape, max |logit| and the max
   |difference| between our logits and the reference's, and the same with
   a symmetric padding (the wrong one: same shapes);
2. the normalisation: photos that scikit-image ships (a cat, an espresso,
   a rocket), resized to 224 (shorter side, bicubic) and centre-cropped,
   classified with the Lite models' (255 x - 127) / 128 and with the
   ImageNet mean and deviation of the B0-B7 models; per photo the top-1
   class and the probability of what it shows (the sum over ImageNet's
   five domestic cat classes 281-285 for the cat).
"""
import argparse
import os
import sys

import numpy

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'examples'))

import neural_renderer  # NOQA  (its compatibility shim, before chainer)
import chainer  # NOQA

import efficientnet_lite  # NOQA

# scikit-image photo -> (what it shows, ImageNet classes of that)
PHOTOS = (
    ('chelsea.png', 'cat', (281, 282, 283, 284, 285)),
    ('coffee.png', 'espresso', (967,)),
    ('rocket.jpg', 'missile', (657,)),
)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def logits(network, x):
    with chainer.using_config('train', False), chainer.no_backprop_mode():
        return network.forward(x, ('logits',))['logits'].array


def symmetric_padding(size, kernel, stride):
    """The wrong padding: the SAME total, split evenly (rounded up)."""
    total = sum(SAME_PADDING(size, kernel, stride))
    return (total + 1) // 2, (total + 1) // 2


SAME_PADDING = efficientnet_lite.same_padding


def compare_reference(network, path):
    print('| input | shape | max abs logit | max abs difference | the same '
          'with symmetric padding |')
    print('|---|---|---|---|---|')
    with numpy.load(path) as data:
        names = sorted(k[len('input_'):] for k in data.files
                       if k.startswith('input_'))
        for name in names:
            x, reference = data['input_' + name], data['logits_' + name]
            ours = logits(network, x)
            efficientnet_lite.same_padding = symmetric_padding
            try:
                wrong = logits(network, x)
            finally:
                efficientnet_lite.same_padding = SAME_PADDING
            print('| {} | {} | {:.3f} | {:.2e} | {:.2f} |'.format(
                name, 'x'.join(map(str, x.shape)), numpy.abs(reference).max(),
                numpy.abs(ours - reference).max(),
                numpy.abs(wrong - reference).max()))
        if 'torch_version' in data.files:
            print('\nreference computed with torch', data['torch_version'])


def load_photo(path, size=224):
    from PIL import Image
    with Image.open(path) as image:
        image = image.convert('RGB')
        scale = size / min(image.size)
        image = image.resize((round(image.size[0] * scale),
                              round(image.size[1] * scale)), Image.BICUBIC)
        left, top = (image.size[0] - size) // 2, (image.size[1] - size) // 2
        image = image.crop((left, top, left + size, top + size))
        return numpy.asarray(image, numpy.float32).transpose(2, 0, 1) / 255


def compare_normalisations(network):
    import skimage.data
    folder = os.path.dirname(skimage.data.__file__)
    photos = numpy.stack([load_photo(os.path.join(folder, name))
                          for name, _, _ in PHOTOS])
    mean = numpy.asarray(IMAGENET_MEAN, numpy.float32)[:, None, None]
    std = numpy.asarray(IMAGENET_STD, numpy.float32)[:, None, None]
    inputs = {
        'Lite: (255 x - 127) / 128':
            efficientnet_lite.preprocess(photos).array,
        'ImageNet mean and deviation': (photos - mean) / std,
    }
    print('\n| photo | normalisation | top-1 class | P(what it shows) |')
    print('|---|---|---|---|')
    for label, x in inputs.items():
        out = logits(network, x).astype(numpy.float64)
        p = numpy.exp(out - out.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        for (name, shows, classes), row in zip(PHOTOS, p):
            print('| {} ({}) | {} | {} | {:.3f} |'.format(
                name, shows, label, int(row.argmax()),
                float(row[list(classes)].sum())))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--reference', default=None,
                        help='the .npz of tools/efficientnet_reference.py')
    args = parser.parse_args(argv)
    network = efficientnet_lite.load_pretrained()
    if args.reference is not None:
        compare_reference(network, args.reference)
    compare_normalisations(network)


if __name__ == '__main__':
    main()
