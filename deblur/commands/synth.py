"""Write the embedded synthetic GoPro-like dataset. (Not implemented yet.)"""

from deblur.errors import DeblurError

HELP = "write the embedded synthetic GoPro-like dataset"


def add_arguments(parser):
    pass


def run(args):
    raise DeblurError("'synth' is not implemented yet")
