"""Options shared by the reporting commands: the settings of the paper table and its
statistics (:class:`deblur.evaluation.settings.ReportSettings`; ``aggregate`` and ``study``) and the
highlighted methods (``study`` and ``plot``)."""

from __future__ import annotations

import argparse

from deblur.commands.seeds import seed_arg


def add_report_options(
    parser: argparse.ArgumentParser,
    defaults,
    *,
    reproduced_help: str,
    baseline_help: str,
    resolution_help: str,
) -> None:
    """Add --reported-psnr/-ssim, --reproduced-method, --baseline-method, --resolution,
    --n-boot and --seed with ``defaults``' values (a ReportSettings); the three method and
    resolution helps say what each command does with them."""
    from deblur.evaluation.settings import CI_METHODS, RESOLUTIONS

    parser.add_argument(
        "--reported-psnr", type=float, default=defaults.reported_psnr, help="the paper's PSNR (dB)"
    )
    parser.add_argument(
        "--reported-ssim", type=float, default=defaults.reported_ssim, help="the paper's SSIM"
    )
    parser.add_argument(
        "--reproduced-method", default=defaults.reproduced_method, help=reproduced_help
    )
    parser.add_argument("--baseline-method", default=defaults.baseline_method, help=baseline_help)
    parser.add_argument(
        "--resolution", choices=RESOLUTIONS, default=defaults.resolution, help=resolution_help
    )
    parser.add_argument(
        "--n-boot",
        type=int,
        default=defaults.n_boot,
        help="bootstrap resamples (default: %(default)s)",
    )
    parser.add_argument(
        "--seed", type=seed_arg, default=defaults.seed, help="bootstrap seed (default: %(default)s)"
    )
    parser.add_argument(
        "--ci-method",
        choices=CI_METHODS,
        default=defaults.ci_method,
        help="bootstrap interval of scipy.stats.bootstrap (default: %(default)s)",
    )


def report_options(args: argparse.Namespace) -> dict:
    """The ReportSettings fields given by :func:`add_report_options`' options."""
    return dict(
        reported_psnr=args.reported_psnr,
        reported_ssim=args.reported_ssim,
        reproduced_method=args.reproduced_method,
        baseline_method=args.baseline_method,
        resolution=args.resolution,
        n_boot=args.n_boot,
        seed=args.seed,
        ci_method=args.ci_method,
    )


def add_highlight_options(parser: argparse.ArgumentParser, defaults, *, shown_in: str) -> None:
    """Add --highlight and --max-highlight with ``defaults``' maximum (a StudySettings or
    PlotSettings); ``shown_in`` names what shows only the highlighted methods."""
    parser.add_argument(
        "--highlight", nargs="*", default=[], metavar="METHOD",
        help=f"methods of {shown_in} (default: automatic: the baseline, the reproduced "
        "method, other baselines, its twin with each other reference frame)",
    )  # fmt: skip
    parser.add_argument(
        "--max-highlight", type=int, default=defaults.max_highlight, metavar="N",
        help="at most this many automatic highlight methods (default: %(default)s)",
    )  # fmt: skip


def highlight_options(args: argparse.Namespace) -> dict:
    """The highlight fields given by :func:`add_highlight_options`' options."""
    from deblur.errors import DeblurError

    if args.max_highlight < 2:
        raise DeblurError(f"--max-highlight must be >= 2, got {args.max_highlight}")
    return dict(highlight=tuple(args.highlight), max_highlight=args.max_highlight)
