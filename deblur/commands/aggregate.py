"""Merge metrics into tables and the paper table. (Not implemented yet.)"""

from deblur.errors import DeblurError

HELP = "merge metrics into tables and the paper table"


def add_arguments(parser):
    pass


def run(args):
    raise DeblurError("'aggregate' is not implemented yet")
