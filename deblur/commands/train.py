"""Train a SinGAN pyramid on one sharp image. (Not implemented yet.)"""

from deblur.errors import DeblurError

HELP = "train a SinGAN pyramid on one sharp image"


def add_arguments(parser):
    pass


def run(args):
    raise DeblurError("'train' is not implemented yet")
