"""Seeded sample of blurry/sharp pairs -> pairs.tsv. (Not implemented yet.)"""

from deblur.errors import DeblurError

HELP = "seeded sample of blurry/sharp pairs -> pairs.tsv"


def add_arguments(parser):
    pass


def run(args):
    raise DeblurError("'sample' is not implemented yet")
