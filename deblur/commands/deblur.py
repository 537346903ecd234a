"""Deblur a blurry image with G_0. (Not implemented yet.)"""

from deblur.errors import DeblurError

HELP = "deblur a blurry image with G_0"


def add_arguments(parser):
    pass


def run(args):
    raise DeblurError("'deblur' is not implemented yet")
