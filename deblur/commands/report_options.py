"""Options shared by the reporting commands: what is compared with the paper
(:class:`deblur.evaluation.settings.PaperSettings`; ``aggregate``, ``study`` and ``plot``), the
paper table's statistics (:class:`~deblur.evaluation.settings.ReportSettings`; ``aggregate`` and
``study``) and the highlighted methods (``study`` and ``plot``)."""

from __future__ import annotations

import argparse

from deblur.commands.seeds import seed_arg


def add_paper_options(
    parser: argparse.ArgumentParser,
    defaults,
    *,
    reported_help: str = "the paper's {metric}",
    reproduced_help: str,
    baseline_help: str,
    resolution_help: str,
) -> None:
    """Add --reported-psnr/-ssim, --reproduced-method, --baseline-method and --resolution with
    ``defaults``' values (a PaperSettings); the helps say what each command does with them
    (``reported_help`` is formatted with ``metric``: "PSNR (dB)" or "SSIM")."""
    from deblur.evaluation.settings import RESOLUTIONS

    for metric, label in (("psnr", "PSNR (dB)"), ("ssim", "SSIM")):
        parser.add_argument(
            f"--reported-{metric}",
            type=float,
            default=defaults.reported(metric),
            help=reported_help.format(metric=label),
        )
    parser.add_argument(
        "--reproduced-method", default=defaults.reproduced_method, help=reproduced_help
    )
    parser.add_argument("--baseline-method", default=defaults.baseline_method, help=baseline_help)
    parser.add_argument(
        "--resolution", choices=RESOLUTIONS, default=defaults.resolution, help=resolution_help
    )


def paper_options(args: argparse.Namespace) -> dict:
    """The PaperSettings fields given by :func:`add_paper_options`' options."""
    return dict(
        reported_psnr=args.reported_psnr,
        reported_ssim=args.reported_ssim,
        reproduced_method=args.reproduced_method,
        baseline_method=args.baseline_method,
        resolution=args.resolution,
    )


def paper_args(settings) -> list[str]:
    """The :func:`add_paper_options` options that give ``settings`` (a PaperSettings with both
    reported values), e.g. for the workflow's commands."""
    return [
        f"--reported-psnr {settings.reported_psnr}",
        f"--reported-ssim {settings.reported_ssim}",
        f"--reproduced-method {settings.reproduced_method}",
        f"--baseline-method {settings.baseline_method}",
        f"--resolution {settings.resolution}",
    ]


def add_report_options(
    parser: argparse.ArgumentParser,
    defaults,
    *,
    reproduced_help: str,
    baseline_help: str,
    resolution_help: str,
) -> None:
    """Add :func:`add_paper_options`' options and --n-boot, --seed and --ci-method with
    ``defaults``' values (a ReportSettings)."""
    from deblur.evaluation.settings import CI_METHODS

    add_paper_options(
        parser,
        defaults,
        reproduced_help=reproduced_help,
        baseline_help=baseline_help,
        resolution_help=resolution_help,
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
        **paper_options(args),
        n_boot=args.n_boot,
        seed=args.seed,
        ci_method=args.ci_method,
    )


def report_args(settings) -> list[str]:
    """The :func:`add_report_options` options that give ``settings`` (a ReportSettings at the
    default confidence)."""
    return [
        *paper_args(settings),
        f"--n-boot {settings.n_boot}",
        f"--seed {settings.seed}",
        f"--ci-method {settings.ci_method}",
    ]


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
