"""The plan of a run: everything decided from the configuration before any job runs.

:func:`make_plan` reads a validated pipeline configuration (``config.yaml`` after the workflow's
schema filled its defaults) and returns one frozen :class:`Plan`: the methods (with the ladder's,
minus those the data cannot run, and why), the dataset's pairs and the sample, each SinGAN
method's reference frame per pair, the pyramids to train (one per SinGAN settings and reference
frame, shared by every method that needs it) and what is compared with the paper. The workflow
(``workflow/rules/common.smk``) turns it into jobs; nothing here needs Snakemake or torch.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import NamedTuple

from deblur.data.pairs import Pair, Sample
from deblur.errors import DeblurError
from deblur.evaluation.settings import ReportSettings
from deblur.plan.ladder import ladder_methods
from deblur.plan.methods import (
    SELFDEBLUR,
    SINGAN,
    Method,
    build_methods,
    freeze,
    model_key,
    selfdeblur_params,
    thaw,
)
from deblur.singan.config import load_config


class ModelJob(NamedTuple):
    """One pyramid to train: SinGAN settings (by model key) on one reference frame (by pair id)."""

    key: str
    reference_id: str


class TrainBatch(NamedTuple):
    """Pyramids trained together by one job (``train --image A --out DA --image B --out DB``).

    Attributes
    ----------
    key : str
        The model key every member shares.
    index : int
        The batch's number among the batches of its key, from 0.
    jobs : tuple of ModelJob
        The members, in the order they are passed to the command.
    """

    key: str
    index: int
    jobs: tuple[ModelJob, ...]

    @property
    def name(self) -> str:
        """``<key>/<first member's reference id>``: where the batch job's log and benchmark go
        (the cost table finds the members' ``model.json`` from it)."""
        return f"{self.key}/{self.jobs[0].reference_id}"

    @property
    def rule_name(self) -> str:
        """``train_singan_batch_<key>_<index, 4 digits>``, ``-`` in the key as ``_`` (the
        workflow's rule of this batch: a Python identifier)."""
        return f"train_singan_batch_{self.key.replace('-', '_')}_{self.index:04d}"


def group_batches(
    jobs: Sequence[ModelJob], size_of: Callable[[ModelJob], object], n: int
) -> tuple[TrainBatch, ...]:
    """The model jobs cut into training batches of at most ``n`` pyramids.

    A batch holds pyramids of one model key and one size (the scales' sizes, ``size_of``),
    as batched training requires. Groups come in the order of their first job in ``jobs``,
    each group's jobs in their order in ``jobs``, cut into chunks of ``n`` (the last may be
    smaller); a job whose size is ``None`` (unknown) is a batch of its own.

    Parameters
    ----------
    jobs : sequence of ModelJob
        The pyramids to train, in a fixed order (the plan's ``model_jobs``, sorted).
    size_of : callable
        A job's pyramid size: any hashable value equal for pyramids that can share a batch.
    n : int
        The largest batch (``train.batch``), at least 1.
    """
    if n < 1:
        raise ValueError(f"a training batch holds at least 1 pyramid, got {n}")
    groups: dict[tuple, list[ModelJob]] = {}
    for job in jobs:
        size = size_of(job)
        groups.setdefault((job.key, job) if size is None else (job.key, size), []).append(job)
    batches, count = [], {}
    for (key, _), members in groups.items():
        for start in range(0, len(members), n):
            index = count.get(key, 0)
            count[key] = index + 1
            batches.append(TrainBatch(key, index, tuple(members[start : start + n])))
    return tuple(batches)


@dataclass(frozen=True)
class Plan:
    """What a run does, decided before any job runs (see :func:`make_plan`).

    Attributes
    ----------
    dataset : Mapping
        The ``dataset`` section (kind, root, split, blur_dir, synthetic).
    synth_settings : Mapping
        The synthetic generator's settings with the uniform-mode keys filled in.
    all_pairs : tuple of Pair
        Every pair of the dataset: planned (synthetic, before it is written) or indexed (gopro).
    sampled : tuple of Pair
        The pairs the run deblurs, in the order drawn.
    methods : Mapping of str to Method
        The methods that run, in the config's order (the ladder's after the config's).
    dropped : Mapping of str to str
        Configured methods that do not run, and why (``study.skip_unavailable``, ladder cells
        too small for their k).
    warnings : tuple of str
        What was dropped, in words, for the log.
    references : Mapping of str to Mapping of str to Sample
        Per SinGAN method: pair id -> the sample with the reference frame its pyramid learns.
    model_key_of : Mapping of str to str
        SinGAN method -> the key of the pyramids it uses.
    settings_by_key : Mapping of str to Mapping
        Model key -> the SinGAN settings its pyramids train with.
    model_jobs : tuple of ModelJob
        Every pyramid to train, sorted; one per (model key, reference frame).
    train_batches : tuple of TrainBatch
        The model jobs as the training jobs run them (``train.batch``, see
        :func:`group_batches`); with ``train.batch`` 1 one batch per model job, in its order.
    oracle_method : str or None
        The non-blind oracle the blind methods' error ratio is taken against (the first
        configured), if any.
    report : ReportSettings
        What the tables and figures compare with the paper (the config's ``paper`` keys and
        ``evaluate.resolution`` over :class:`~deblur.evaluation.settings.PaperSettings`'
        defaults) and the tables' statistics (``evaluate``).
    sample_seed, deblur_seed : int
        Seeds of the sample and of the SinGAN deblurring jobs (recorded in the metrics rows).
    max_output_pixels : int
        The sr reading's output limit (``inference.max_output_pixels``).
    sizes : _Sizes
        The frames' sizes and the pyramids' scales, read once (a cache).
    """

    dataset: Mapping
    synth_settings: Mapping
    all_pairs: tuple[Pair, ...]
    sampled: tuple[Pair, ...]
    methods: Mapping[str, Method]
    dropped: Mapping[str, str]
    warnings: tuple[str, ...]
    references: Mapping[str, Mapping[str, Sample]]
    model_key_of: Mapping[str, str]
    settings_by_key: Mapping[str, Mapping]
    model_jobs: tuple[ModelJob, ...]
    train_batches: tuple[TrainBatch, ...]
    oracle_method: str | None
    report: ReportSettings
    sample_seed: int
    deblur_seed: int
    max_output_pixels: int
    sizes: _Sizes = field(repr=False, compare=False)

    @cached_property
    def pairs(self) -> Mapping[str, Pair]:
        """Sampled pair id -> its pair."""
        return freeze({p.pair_id: p for p in self.sampled})

    @cached_property
    def pair_ids(self) -> tuple[str, ...]:
        """The sampled pairs' ids, sorted."""
        return tuple(sorted(self.pairs))

    @cached_property
    def sharp_by_id(self) -> Mapping[str, Path]:
        """Every pair id of the dataset -> its sharp frame (references may lie outside the
        sample)."""
        return freeze({p.pair_id: p.sharp for p in self.all_pairs})

    @cached_property
    def kernel_by_id(self) -> Mapping[str, Path]:
        """Pair id -> its true kernel PNG, where the dataset has one."""
        return freeze({p.pair_id: p.kernel for p in self.all_pairs if p.kernel is not None})

    def of_kind(self, *kinds: str) -> tuple[str, ...]:
        """Names of the methods of any of ``kinds``, in order."""
        return tuple(n for n, m in self.methods.items() if m.kind in kinds)

    @property
    def singan_methods(self) -> tuple[str, ...]:
        return self.of_kind(SINGAN)

    @property
    def selfdeblur_methods(self) -> tuple[str, ...]:
        return self.of_kind(SELFDEBLUR)

    @property
    def baseline_methods(self) -> tuple[str, ...]:
        """Methods run by the ``baseline`` command (every kind but singan and selfdeblur)."""
        return tuple(n for n, m in self.methods.items() if m.kind not in (SINGAN, SELFDEBLUR))

    @property
    def kernel_methods(self) -> tuple[str, ...]:
        """Baselines that estimate a kernel (their rule declares it as a second output)."""
        from deblur.baselines import KERNEL_KINDS

        return self.of_kind(*KERNEL_KINDS)

    @property
    def oracle_methods(self) -> tuple[str, ...]:
        """Baselines that read the pair's true kernel (non-blind oracles)."""
        from deblur.baselines import ORACLE_KINDS

        return self.of_kind(*ORACLE_KINDS)

    @property
    def plain_baselines(self) -> tuple[str, ...]:
        """Baselines with one output (the image)."""
        return tuple(n for n in self.baseline_methods if n not in self.kernel_methods)

    def model_job(self, method: str, pair_id: str) -> ModelJob:
        """The pyramid singan method ``method`` uses for pair ``pair_id``."""
        return ModelJob(self.model_key_of[method], self.references[method][pair_id].reference_id)

    def selfdeblur_params(self, method: str) -> dict:
        """A selfdeblur method's params as its command gets them (max_size resolved)."""
        return selfdeblur_params(self.methods[method])

    def eval_meta(self, method: str, pair_id: str) -> dict:
        """Provenance recorded in every metrics row of ``method`` on ``pair_id`` (the evaluate
        command's ``--meta``)."""
        p, m = self.pairs[pair_id], self.methods[method]
        meta = dict(
            pair_id=p.pair_id,
            sequence=p.sequence,
            frame=p.frame,
            method=m.name,
            kind=m.kind,
            blurry_path=str(p.blurry),
            dataset=self.dataset["kind"],
            sample_seed=self.sample_seed,
        )
        if m.kind == SINGAN:
            ref = self.references[m.name][p.pair_id]
            meta.update(
                reference_mode=ref.reference_mode,
                reference_offset=ref.reference_offset,
                reference_id=ref.reference_id,
                deblur_steps=m.steps if m.mode == "g0" else None,  # inject: unused
                deblur_mode=m.mode,
                inject_scale=m.inject_scale,
                deblur_noise=m.noise,
                deblur_seed=self.deblur_seed,
            )
            if m.mode in ("sr", "sample"):
                # passes, per-pass factor, output size (only here: other rows' params unchanged)
                try:
                    meta.update(self.reading_plan(m.name, p.pair_id).columns())
                except DeblurError:
                    pass  # a frame too small for any pyramid: its training job says so
        elif m.kind == SELFDEBLUR:
            # its settings as run (max_size resolved); every field also arrives from its info
            meta.update(baseline_params=json.dumps(self.selfdeblur_params(m.name), sort_keys=True))
        else:
            meta.update(baseline_params=json.dumps(thaw(m.params), sort_keys=True))
        return meta

    def reading_plan(self, method: str, pair_id: str):
        """The :class:`~deblur.singan.readings.ReadingPlan` (passes, per-pass factor, output
        size) of singan ``method`` on a pair, from the sizes of the pyramid it uses."""
        from deblur.singan.readings import parse_sr_factor, plan_reading
        from deblur.singan.scales import pyramid_sizes

        m = self.methods[method]
        ref = self.references[method][pair_id].reference_id
        width, height = self.sizes.frame_size(ref)
        sizes, r = pyramid_sizes(height, width, m.singan, name=str(self.sharp_by_id[ref]))
        frame_w, frame_h = self.sizes.blurry_size(self.pairs[pair_id])
        return plan_reading(
            m.mode,
            sizes,
            r,
            steps=m.steps,
            inject_scale=m.inject_scale,
            sr_factor=parse_sr_factor(m.sr_factor),
            sr_step=m.sr_step,
            frame_size=(frame_h, frame_w),
        )

    @property
    def sheet_references(self) -> tuple[tuple[str, int], ...]:
        """The (reference mode, offset) pairs the singan methods use, sorted (the sample
        sheet lists each)."""
        return tuple(
            sorted(
                {(self.methods[n].reference, self.methods[n].offset) for n in self.singan_methods}
            )
        )


def make_plan(
    config: Mapping,
    complete: Callable[[list[dict]], None] | None = None,
) -> Plan:
    """The :class:`Plan` of a validated pipeline configuration.

    Parameters
    ----------
    config : mapping
        The pipeline configuration with every schema default filled in (not modified).
    complete : callable, optional
        Fills the schema's defaults into the method entries the ladder generates (the workflow
        validates them against its schema). Without it, the ladder's entries must be complete
        already, which they are not: pass it when ``ladder.cells`` is set.

    Raises
    ------
    DeblurError
        A configuration the run cannot carry out (an unknown paper method, a dataset without
        the pairs or kernels a method needs, k or an inject scale beyond a pyramid, ...); the
        message names the key and the fix.
    """
    entries = [dict(e) for e in config["methods"]]
    ladder_names: set[str] = set()
    if config["ladder"]["cells"]:
        ladder = config["ladder"]
        try:
            generated = ladder_methods(
                ladder["cells"], ladder["steps"], ladder["baselines"], ladder["readings"]
            )
        except ValueError as exc:
            raise DeblurError(str(exc)) from None
        if complete is not None:
            complete(generated)
        entries += generated
        ladder_names = {m["name"] for m in generated}

    try:
        global_singan = load_config(config["singan"])
    except DeblurError as exc:
        raise DeblurError(f"singan: {exc}") from None

    def load(settings):
        # the global settings are loaded once; a method's own ones once per distinct settings
        return global_singan if settings == config["singan"] else load_config(settings)

    methods = build_methods(entries, config["singan"], load)
    try:
        report = _report_settings(config)
    except ValueError as exc:
        raise DeblurError(f"paper/evaluate: {exc}") from None
    for key, name in (("method", report.reproduced_method), ("baseline", report.baseline_method)):
        if name not in methods:
            raise DeblurError(
                f"paper.{key} is {name!r}, which is not in methods ({', '.join(methods)}); "
                "name one of them"
            )
    unknown = [n for n in config["study"]["highlight"] if n not in methods]
    if unknown:
        raise DeblurError(
            f"study.highlight names {', '.join(unknown)}, not in methods; fix the names"
        )

    data = _Data(config["dataset"])
    all_pairs = data.all_pairs()
    from deblur.data import gopro

    sample = config["sample"]
    sampled = gopro.sample_pairs(
        all_pairs,
        n=sample["n"],
        seed=sample["seed"],
        strategy=sample["strategy"],
        allow_fewer=sample["allow_fewer"],
    )
    # per singan method: pair id -> reference record (which sharp frame its pyramid learns)
    references: dict[str, dict[str, Sample]] = {}
    dropped: dict[str, str] = {}
    warnings: list[str] = []
    for name, m in methods.items():
        if m.kind != SINGAN:
            continue
        try:
            refs = gopro.assign_references(sampled, all_pairs, mode=m.reference, offset=m.offset)
        except DeblurError as exc:
            if not config["study"]["skip_unavailable"]:
                raise
            dropped[name] = str(exc)
            warnings.append(f"skipping method {name} (study.skip_unavailable): {exc}")
            continue
        references[name] = {r.pair_id: r for r in refs}
    _drop(methods, dropped, report, "cannot run on this dataset (see above)")

    kernels = {p.pair_id for p in all_pairs if p.kernel is not None}
    oracle = _oracle(methods, sorted(p.pair_id for p in sampled), kernels)

    sizes = _Sizes(data, {p.pair_id: p.sharp for p in all_pairs})
    for name, why in _steps_beyond_pyramid(methods, references, sizes).items():
        if name not in ladder_names:
            raise DeblurError(f"methods: {name!r}: {why}")
        # a ladder cell too small for this k: dropped whole, logged and listed as not run
        dropped[name] = why
        warnings.append(f"skipping ladder method {name}: {why}")
        del references[name]
    _drop(methods, dropped, report, None)

    precision = config["train"]["precision"]
    singan = [n for n, m in methods.items() if m.kind == SINGAN]
    key_of = {n: model_key(methods[n].singan, precision) for n in singan}
    settings_by_key = {key_of[n]: methods[n].settings for n in singan}
    jobs = sorted(
        {
            ModelJob(key_of[n], r.reference_id)
            for n, refs in references.items()
            for r in refs.values()
        }
    )
    _check_inject_scales(methods, references, sizes)
    model_jobs = tuple(sorted(jobs))
    singan_of = {key_of[n]: methods[n].singan for n in singan}

    def pyramid_size(job: ModelJob):
        try:
            return sizes.pyramid(job.reference_id, singan_of[job.key])
        except DeblurError:
            return None  # a frame too small for any pyramid: its training job says so

    batch = config["train"]["batch"]
    # batch 1: no frame is sized for it (the jobs are as they were before batching)
    batches = group_batches(model_jobs, pyramid_size if batch > 1 else lambda _: None, batch)
    plan = Plan(
        dataset=freeze(config["dataset"]),
        synth_settings=freeze(data.synth_settings),
        all_pairs=tuple(all_pairs),
        sampled=tuple(sampled),
        methods=freeze(methods),
        dropped=freeze(dropped),
        warnings=tuple(warnings),
        references=freeze(references),
        model_key_of=freeze(key_of),
        settings_by_key=freeze(settings_by_key),
        model_jobs=model_jobs,
        train_batches=batches,
        oracle_method=oracle,
        report=report,
        sample_seed=sample["seed"],
        deblur_seed=config["inference"]["seed"],
        max_output_pixels=config["inference"]["max_output_pixels"],
        sizes=sizes,
    )
    _check_sr_outputs(plan)
    return plan


def _report_settings(config: Mapping) -> ReportSettings:
    """The config's ``paper`` keys and ``evaluate`` section over the package's defaults."""
    names = dict(
        psnr="reported_psnr", ssim="reported_ssim", method="reproduced_method",
        baseline="baseline_method",
    )  # fmt: skip
    given = {names[k]: v for k, v in config["paper"].items() if k in names}
    evaluate = config["evaluate"]
    if "resolution" in evaluate:
        given["resolution"] = evaluate["resolution"]
    stats = dict(n_boot=evaluate["n_boot"], seed=evaluate["bootstrap_seed"])
    return ReportSettings(**given, **stats, ci_method=evaluate["ci_method"])


def _drop(methods: dict, dropped: Mapping, report: ReportSettings, why: str | None) -> None:
    """Remove the dropped methods; the paper's method must not be one of them."""
    for name in dropped:
        methods.pop(name, None)
    name = report.reproduced_method
    if name in dropped:
        raise DeblurError(f"paper.method {name!r} " + (why or f"cannot run: {dropped[name]}"))


def _oracle(methods: Mapping[str, Method], pair_ids: Sequence[str], kernels) -> str | None:
    """The first oracle method, after checking every sampled pair has its true kernel."""
    from deblur.baselines import ORACLE_KINDS

    name = next((n for n, m in methods.items() if m.kind in ORACLE_KINDS), None)
    unknown = [i for i in pair_ids if i not in kernels]
    if name is not None and unknown:
        raise DeblurError(
            f"methods: {name!r} ({methods[name].kind}) needs each pair's true kernel, but "
            f"{len(unknown)} sampled pair(s) have none (e.g. {unknown[0]}); use a known-kernel "
            "dataset (dataset.synthetic.mode: uniform, or a kernel/ folder beside sharp/) or "
            "drop the method"
        )
    return name


class _Data:
    """The dataset section: its pairs and its frames' sizes."""

    def __init__(self, dataset: Mapping):
        from deblur.data import synthetic

        self.dataset = dataset
        # synthetic settings with the uniform-mode keys filled in; the schema gives those keys
        # no default, so a camera-mode config (and the camera rule's recorded params) is as it
        # was before
        self.synth_settings = {
            **{k: getattr(synthetic.SynthConfig, k) for k in synthetic.UNIFORM_FIELDS},
            **dataset["synthetic"],
        }

    def all_pairs(self) -> list[Pair]:
        """Every pair: planned (synthetic, before it is written) or indexed (gopro)."""
        from deblur.data import gopro, synthetic

        d = self.dataset
        if d["kind"] == "synthetic":
            syn, s = d["synthetic"], self.synth_settings
            return synthetic.plan_pairs(
                Path(d["root"]),
                sequences=syn["sequences"],
                frames=syn["frames"],
                size=syn["size"],
                seed=syn["seed"],
                mode=s["mode"],
                kernel_min=s["kernel_min"],
                kernel_max=s["kernel_max"],
                noise=s["noise"],
                split=d["split"],
                blur_dir=d["blur_dir"],
            )
        return gopro.index_pairs(Path(d["root"]), split=d["split"], blur_dir=d["blur_dir"])


class _Sizes:
    """Scales of the pyramids of reference frames (nothing is trained or decoded): frame sizes
    from the planned synthetic size or the image header, read once per frame."""

    def __init__(self, data: _Data, sharp_by_id: Mapping[str, Path]):
        self.data, self.sharp_by_id, self.frame = data, sharp_by_id, {}

    def blurry_size(self, pair: Pair) -> tuple[int, int]:
        """(width, height) of ``pair``'s blurry frame."""
        if self.data.dataset["kind"] == "synthetic":
            from deblur.data.synthetic import parse_size

            return parse_size(self.data.dataset["synthetic"]["size"])
        from deblur.data.gopro import image_size

        return image_size(pair.blurry)

    def frame_size(self, reference_id: str) -> tuple[int, int]:
        """(width, height) of ``reference_id``'s sharp frame."""
        if reference_id not in self.frame:
            d = self.data.dataset
            if d["kind"] == "synthetic":
                from deblur.data.synthetic import parse_size

                self.frame[reference_id] = parse_size(d["synthetic"]["size"])
            else:
                from deblur.data.gopro import image_size

                self.frame[reference_id] = image_size(self.sharp_by_id[reference_id])
        return self.frame[reference_id]

    def num_scales(self, reference_id: str, singan) -> tuple[int, tuple[int, int]]:
        """Scales of the pyramid trained with ``singan`` on ``reference_id``'s frame, and the
        frame's (width, height)."""
        from deblur.singan.scales import pyramid_sizes

        width, height = self.frame_size(reference_id)
        name = str(self.sharp_by_id[reference_id])
        return len(pyramid_sizes(height, width, singan, name=name)[0]), (width, height)

    def pyramid(self, reference_id: str, singan) -> tuple[tuple[int, int], ...]:
        """The (height, width) of every scale of the pyramid trained with ``singan`` on
        ``reference_id``'s frame (pyramids of equal sizes can train as one batch)."""
        from deblur.singan.scales import pyramid_sizes

        width, height = self.frame_size(reference_id)
        name = str(self.sharp_by_id[reference_id])
        return tuple(tuple(s) for s in pyramid_sizes(height, width, singan, name=name)[0])

    def shallowest(self, method: Method, refs: Mapping[str, Sample]) -> tuple[int, tuple[int, int]]:
        """(scales, (width, height)) of the shallowest pyramid ``method`` uses."""
        ids = sorted({r.reference_id for r in refs.values()})
        return min(self.num_scales(ref, method.singan) for ref in ids)


def _steps_beyond_pyramid(methods, references, sizes: _Sizes) -> dict[str, str]:
    """g0 methods whose k exceeds scales - 1 of a pyramid they use (the image would shrink below
    the coarsest scale): ``{name: why}``."""
    found = {}
    for name, refs in references.items():
        m = methods[name]
        if m.mode != "g0":
            continue
        try:
            n, (width, height) = sizes.shallowest(m, refs)
        except DeblurError:
            continue  # a frame too small for any pyramid: its training job says so
        if m.steps > n - 1:
            found[name] = (
                f"steps {m.steps} needs more than the {n} scales of its pyramids "
                f"({width}x{height} reference frames, singan max_size {m.singan.max_size}, "
                f"min_size {m.singan.min_size}); use 1..{n - 1}"
            )
    return found


def _check_inject_scales(methods, references, sizes: _Sizes) -> None:
    """An explicit inject_scale must name a scale of every pyramid its method uses."""
    for name, refs in references.items():
        m = methods[name]
        if m.mode != "inject" or m.inject_scale is None:
            continue
        n, (width, height) = sizes.shallowest(m, refs)
        top, s = n - 1, m.singan
        if not (1 <= m.inject_scale <= top or -top <= m.inject_scale <= -1):
            raise DeblurError(
                f"methods: {name!r} has inject_scale {m.inject_scale}, but its pyramids have "
                f"{n} scales ({width}x{height} reference frames, singan max_size {s.max_size}, "
                f"min_size {s.min_size}, scale_factor {s.scale_factor}); use 1..{top} (from "
                f"the coarsest) or -{top}..-1 (from the finest)"
            )


def _check_sr_outputs(plan: Plan) -> None:
    """An sr method's planned output must fit inference.max_output_pixels on every pair."""
    from deblur.singan.readings import check_output_size

    for name in plan.singan_methods:
        if plan.methods[name].mode != "sr":
            continue
        for pair_id in plan.pair_ids:
            try:
                check_output_size(plan.reading_plan(name, pair_id), plan.max_output_pixels)
            except DeblurError:
                continue  # a frame too small for any pyramid: its training job says so
            except ValueError as exc:
                raise DeblurError(
                    f"methods: {name!r} on pair {pair_id}: {exc} (inference.max_output_pixels)"
                ) from None
