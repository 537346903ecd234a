"""Seaborn figures from the tables. (Not implemented yet.)"""

from deblur.errors import DeblurError

HELP = "seaborn figures from the tables"


def add_arguments(parser):
    pass


def run(args):
    raise DeblurError("'plot' is not implemented yet")
