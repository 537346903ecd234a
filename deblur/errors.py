"""User-facing errors: one line that names the file and the fix."""


class DeblurError(Exception):
    """A problem with the user's input or setup, reported as one line without a traceback.

    The message should name the offending path or setting and say how to fix it, e.g.
    ``"image too small: x.png is 20x18, min_size is 25; use a larger image or lower min_size"``.
    """
