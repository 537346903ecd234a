"""Classical deblurring baselines. (Not implemented yet.)"""

from deblur.errors import DeblurError

HELP = "classical deblurring baselines"


def add_arguments(parser):
    pass


def run(args):
    raise DeblurError("'baseline' is not implemented yet")
