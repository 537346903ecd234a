"""Study tables on fake metrics with known effects: schema, settings, ranking, paired statistics,
one-factor contrasts, per-sequence breakdown and the Markdown summary."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from deblur.evaluation.statistics import paired_differences
from deblur.evaluation.study import (
    StudySettings,
    ablation_table,
    by_sequence,
    contrasts,
    describe,
    highlight_methods,
    rank_variants,
    variant_settings,
)
from deblur.evaluation.study_text import ablation_markdown
from deblur.evaluation.tables import metrics_frame

SETTINGS = StudySettings(n_boot=1000, reproduced_method="singan_same_k1")

# method -> (settings, true PSNR offset vs the blurry input, true SSIM offset)
VARIANTS = {
    "identity": (dict(kind="identity", baseline_params="{}"), 0.0, 0.0),
    "unsharp": (dict(kind="unsharp", baseline_params='{"radius": 2.0}'), 0.5, 0.01),
    "singan_same_k1": (dict(reference_mode="same", deblur_steps=1), 3.0, 0.05),
    "singan_same_k2": (dict(reference_mode="same", deblur_steps=2), 2.0, 0.03),
    "singan_same_k1_nonoise": (dict(reference_mode="same", deblur_steps=1, noise=False), 3.5, 0.06),
    "singan_same_inj3": (
        dict(reference_mode="same", deblur_mode="inject", inject_scale=3),
        1.0,
        0.02,
    ),
    "singan_nb5_k1": (dict(reference_mode="neighbor", offset=5, deblur_steps=1), -4.0, -0.1),
    "singan_nb5_k2": (dict(reference_mode="neighbor", offset=5, deblur_steps=2), -5.0, -0.12),
}


def fake_study_metrics(n_per_seq=4, sequences=("seqA", "seqB", "seqC"), seed=0):
    """Rows for every variant x pair x resolution. Each sequence has its own blur strength
    (the blurry input's PSNR); variants add their true offset plus small noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for s, seq in enumerate(sequences):
        for i in range(n_per_seq):
            pair = f"{seq}-{i + 1:06d}"
            blur_psnr = 20.0 + 4.0 * s + rng.normal(0, 0.5)
            for method, (cfg, dp, ds) in VARIANTS.items():
                for res, shift in (("model", 5.0), ("full", 0.0)):
                    row = dict(
                        pair_id=pair,
                        sequence=seq,
                        frame=f"{i + 1:06d}",
                        method=method,
                        kind=cfg.get("kind", "singan"),
                        resolution=res,
                        psnr=blur_psnr + shift + dp + rng.normal(0, 0.1),
                        ssim=0.7 + 0.05 * s + ds + rng.normal(0, 0.002),
                        dataset="fake",
                    )
                    if row["kind"] == "singan":
                        mode = cfg.get("reference_mode")
                        # neighbor references lie +offset or -offset frames away
                        step = 0 if mode == "same" else cfg["offset"] * (1 if i % 2 else -1)
                        row.update(
                            reference_mode=mode,
                            reference_offset=step,
                            deblur_steps=cfg.get("deblur_steps"),
                            deblur_mode=cfg.get("deblur_mode", "g0"),
                            inject_scale=cfg.get("inject_scale"),
                            num_scales=5,
                            deblur_noise=cfg.get("noise", True),
                            config_hash="abc123",
                        )
                    else:
                        row["baseline_params"] = cfg["baseline_params"]
                    rows.append(row)
    return metrics_frame(rows)


@pytest.fixture(scope="module")
def metrics():
    return fake_study_metrics()


def test_variant_settings_record_every_setting(metrics):
    v = variant_settings(metrics).set_index("method")
    assert list(v.index[:2]) == ["identity", "unsharp"]  # baselines first
    assert v.loc["singan_nb5_k2", "reference"] == "neighbor 5"
    assert v.loc["singan_nb5_k2", "reference_offset"] == 5  # magnitude of +5 / -5
    assert v.loc["singan_nb5_k2", "description"] == "neighbor 5, g0 k=2, noise on"
    assert v.loc["singan_same_inj3", "description"] == "same, inject at scale 3 of 5, noise on"
    assert not v.loc["singan_same_k1_nonoise", "deblur_noise"]
    assert v.loc["singan_same_k1_nonoise", "description"] == "same, g0 k=1, noise off"
    assert v.loc["unsharp", "family"] == "baseline" and pd.isna(v.loc["unsharp", "reference"])
    assert json.loads(v.loc["unsharp", "baseline_params"]) == {"radius": 2.0}


def test_ablation_table_one_row_per_variant_pair_resolution(metrics):
    table = ablation_table(metrics, SETTINGS)
    assert len(table) == len(metrics) == len(VARIANTS) * 12 * 2
    assert not table.duplicated(["method", "pair_id", "resolution"]).any()
    for col in (
        "reference_mode",
        "reference_offset",
        "deblur_steps",
        "deblur_mode",
        "inject_scale",
        "deblur_noise",
        "family",
        "description",
        "baseline_psnr",
        "psnr_vs_baseline",
    ):
        assert col in table, col
    singan = table[table["family"] == "singan"]
    assert singan[["reference_mode", "deblur_mode", "deblur_noise"]].notna().all().all()
    row = table[(table["method"] == "singan_same_k1") & (table["pair_id"] == "seqB-000002")]
    base = metrics[(metrics["method"] == "identity") & (metrics["pair_id"] == "seqB-000002")]
    for res in ("model", "full"):
        r = row[row["resolution"] == res].iloc[0]
        b = base[base["resolution"] == res].iloc[0]
        assert r["baseline_psnr"] == b["psnr"]
        assert r["psnr_vs_baseline"] == pytest.approx(r["psnr"] - b["psnr"])
    ident = table[table["method"] == "identity"]
    assert (ident["psnr_vs_baseline"] == 0).all()
    assert list(table["resolution"].unique()) == ["model", "full"]


def test_ranking_orders_by_mean_and_pairs_against_the_baseline(metrics):
    ranking = rank_variants(metrics, SETTINGS)
    model = ranking[ranking["resolution"] == "model"]
    assert list(ranking["resolution"].unique()) == ["model", "full"]  # primary first
    assert list(model["method"][:3]) == [
        "singan_same_k1_nonoise",
        "singan_same_k1",
        "singan_same_k2",
    ]
    assert list(model["rank_psnr"]) == list(range(1, len(VARIANTS) + 1))
    assert model.set_index("method").loc["singan_nb5_k2", "rank_ssim"] == len(VARIANTS)
    r = model.set_index("method")
    # the paired difference recovers the true offset, its CI excludes 0, every pair agrees
    assert r.loc["singan_same_k1", "psnr_diff_mean"] == pytest.approx(3.0, abs=0.1)
    assert r.loc["singan_same_k1", "psnr_diff_ci_low"] > 2.8
    assert r.loc["singan_nb5_k1", "psnr_diff_ci_high"] < -3.8
    assert r.loc["singan_nb5_k1", "psnr_n_worse"] == 12
    assert r.loc["singan_nb5_k1", "psnr_wilcoxon_p"] < 0.001
    # the paired CI is far narrower than the unpaired CI of the mean (sequences differ a lot)
    paired_width = (
        r.loc["singan_same_k1", "psnr_diff_ci_high"] - r.loc["singan_same_k1", "psnr_diff_ci_low"]
    )
    mean_width = r.loc["singan_same_k1", "psnr_ci_high"] - r.loc["singan_same_k1", "psnr_ci_low"]
    assert paired_width < mean_width / 5
    assert pd.isna(r.loc["identity", "psnr_diff_mean"])
    assert r.loc["singan_same_k2", "deblur_steps"] == 2  # settings travel with the ranking
    assert ranking.equals(rank_variants(metrics, SETTINGS))  # deterministic


def test_contrasts_change_one_factor_at_a_time(metrics):
    table = contrasts(metrics, SETTINGS)
    model = table[table["resolution"] == "model"].set_index(["method", "factor"])
    assert model.loc[("singan_nb5_k1", "reference"), "compared_with"] == "singan_same_k1"
    assert model.loc[("singan_nb5_k2", "reference"), "compared_with"] == "singan_same_k2"
    assert model.loc[("singan_nb5_k2", "inference"), "compared_with"] == "singan_nb5_k1"
    assert model.loc[("singan_same_inj3", "inference"), "compared_with"] == "singan_same_k1"
    assert model.loc[("singan_same_k1_nonoise", "noise"), "change"] == "noise on -> noise off"
    assert model.loc[("singan_nb5_k1", "reference"), "change"] == "same -> neighbor 5"
    assert model.loc[("singan_nb5_k1", "reference"), "psnr_diff_mean"] == pytest.approx(
        -7.0, abs=0.15
    )
    assert model.loc[("singan_same_k1_nonoise", "noise"), "psnr_diff_mean"] == pytest.approx(
        0.5, abs=0.15
    )
    assert ("singan_same_k1", "reference") not in model.index  # the paper's setting itself
    assert model["n_pairs"].eq(12).all()


def test_by_sequence_reflects_blur_strength(metrics):
    table = ablation_table(metrics, SETTINGS)
    seq = by_sequence(table, SETTINGS)
    assert len(seq) == len(VARIANTS) * 2 * 3
    ident = seq[(seq["method"] == "identity") & (seq["resolution"] == "full")].set_index("sequence")
    assert (
        ident.loc["seqA", "psnr_mean"]
        < ident.loc["seqB", "psnr_mean"]
        < ident.loc["seqC", "psnr_mean"]
    )
    s = seq[(seq["method"] == "singan_same_k1") & (seq["resolution"] == "model")]
    assert s["n_pairs"].eq(4).all()
    assert s["psnr_vs_baseline_mean"].between(2.7, 3.3).all()
    assert (s["psnr_vs_baseline_ci_low"] <= s["psnr_vs_baseline_mean"]).all()


def test_highlight_is_automatic_or_explicit(metrics):
    auto = highlight_methods(metrics, SETTINGS)
    # baseline, paper's setting, other baselines, the paper's setting with each other reference
    assert auto == ["identity", "singan_same_k1", "unsharp", "singan_nb5_k1"]
    # without a twin of the paper's setting: the best variant of that reference
    no_twin = metrics[metrics["method"] != "singan_nb5_k1"]
    assert highlight_methods(no_twin, SETTINGS)[-1] == "singan_nb5_k2"
    # the paper's setting absent: the best variant of every reference
    other = StudySettings(reproduced_method="nosuch")
    assert highlight_methods(metrics, other) == [
        "identity",
        "unsharp",
        "singan_same_k1_nonoise",
        "singan_nb5_k1",
    ]
    capped = highlight_methods(
        metrics, StudySettings(reproduced_method="singan_same_k1", max_highlight=3)
    )
    assert capped == auto[:3]
    explicit = StudySettings(highlight=("singan_nb5_k2", "nosuch", "identity"))
    assert highlight_methods(metrics, explicit) == ["singan_nb5_k2", "identity"]


def markdown_of(metrics, **options) -> str:
    """ablation.md of ``metrics``, its tables built as the aggregate step builds them."""
    table = ablation_table(metrics, SETTINGS)
    ranking, contrast = rank_variants(metrics, SETTINGS), contrasts(metrics, SETTINGS)
    sequences = by_sequence(table, SETTINGS)
    return ablation_markdown(ranking, contrast, sequences, metrics, SETTINGS, **options)


def test_markdown_summary_states_method_and_lists_skipped(metrics):
    text = markdown_of(
        metrics,
        skipped={"singan_nb10_k1": "sequence x has 1 frame(s), offset 10 needs at least 11"},
        highlight=highlight_methods(metrics, SETTINGS),
    )
    assert "8 variants on the same 12 pairs from 3 sequences (dataset: fake)" in text
    assert (
        "Wilcoxon signed-rank" in text and "paired bootstrap" in text and "1000 resamples" in text
    )
    assert text.index("## Ranking at resolution `model` (primary)") < text.index(
        "## Ranking at resolution `full`"
    )
    first = next(line for line in text.splitlines() if line.startswith("| 1 |"))
    assert "`singan_same_k1_nonoise`" in first
    assert "| **`singan_same_k1`** |" in text  # the paper's setting in bold
    assert "| | | paper (reported) |" in text
    assert (
        "| reference frame | same -> neighbor 5 | `singan_nb5_k1` | `singan_same_k1` | 12 |" in text
    )
    seq_lines = [
        line
        for line in text.split("## Per sequence")[1].splitlines()
        if line.startswith("| seq") and "sequence" not in line
    ]
    assert [line.split("|")[1].strip() for line in seq_lines] == ["seqA", "seqB", "seqC"]
    assert "- `singan_nb10_k1`: sequence x has 1 frame(s)" in text


def test_variants_without_recorded_settings_still_rank(metrics):
    """Hand-made metrics (evaluate without the workflow's --meta) lack the settings columns."""
    bare = metrics.copy()
    singan = bare["kind"] == "singan"
    for col in (
        "reference_mode",
        "reference_offset",
        "deblur_steps",
        "deblur_mode",
        "deblur_noise",
    ):
        bare.loc[singan, col] = pd.NA
    bare = bare[bare["method"].isin(["identity", "unsharp", "singan_same_k1"])]
    v = variant_settings(bare).set_index("method")
    assert v.loc["singan_same_k1", "description"] == (
        "reference not recorded, deblur mode not recorded"
    )
    assert contrasts(bare, SETTINGS).empty
    assert highlight_methods(bare, SETTINGS) == ["identity", "singan_same_k1", "unsharp"]
    assert len(rank_variants(bare, SETTINGS)) == 3 * 2


def test_describe_says_where_a_negative_inject_scale_enters():
    row = dict(family="singan", reference="same", deblur_mode="inject", deblur_noise=True)
    assert describe({**row, "inject_scale": -2, "num_scales": 8}) == (
        "same, inject at scale -2 (6 of 8), noise on"
    )
    assert describe({**row, "inject_scale": -3, "num_scales": None}) == (
        "same, inject at scale -3 from the finest, noise on"
    )


def test_a_cell_scored_at_another_model_size_pairs_with_the_blurry_input_at_that_size():
    # a ladder run: identity scored at 64 px and at 128 px (identity_s128), a SinGAN cell at
    # 128 px; its model-resolution scores (at 128x72) must not be compared with 64x36 ones
    rows = []
    for i, blur in enumerate([20.0, 22.0, 25.0]):
        pair = f"seq-{i + 1:06d}"
        for method, kind, size, psnr in (
            ("identity", "identity", 64, blur + 10.0),
            ("identity_s128", "identity", 128, blur + 5.0),
            ("singan_s128", "singan", 128, blur + 4.0 + 0.1 * i),
        ):
            for res, shift, max_size in (("model", psnr - blur, size), ("full", 0.0, size)):
                row = dict(pair_id=pair, sequence="seq", frame=f"{i + 1:06d}", method=method)
                row |= dict(kind=kind, resolution=res, psnr=blur + shift, ssim=0.8)
                row |= dict(dataset="fake", eval_max_size=max_size)
                if kind == "singan":
                    row |= dict(reference_mode="same", deblur_steps=1, deblur_mode="g0")
                    row["psnr"] += 1.0 if res == "full" else 0.0
                else:
                    row["baseline_params"] = "{}"
                rows.append(row)
    metrics = metrics_frame(rows)
    paired = paired_differences(metrics, SETTINGS).set_index(["method", "resolution"])
    cell = paired.loc[("singan_s128", "model")]
    assert cell["baseline_method"] == "identity_s128"
    assert cell["psnr_diff_mean"] == pytest.approx(-1.0 + 0.1)  # (4 + 0.1 i) - 5 over i = 0, 1, 2
    assert ("identity_s128", "model") not in paired.index  # nothing to pair it with at 128
    full = paired.loc[("singan_s128", "full")]
    assert full["baseline_method"] == "identity" and full["psnr_diff_mean"] == pytest.approx(1.0)
    table = ablation_table(metrics, SETTINGS)
    at = table[(table["method"] == "singan_s128") & (table["resolution"] == "model")]
    assert set(at["baseline_method"]) == {"identity_s128"}
    assert at["psnr_vs_baseline"].to_numpy() == pytest.approx([-1.0, -0.9, -0.8])
    ranked = rank_variants(metrics, SETTINGS).set_index(["method", "resolution"])
    assert ranked.loc[("singan_s128", "model"), "baseline_method"] == "identity_s128"
    text = markdown_of(metrics)
    assert "`singan_s128` (Δ vs `identity_s128`, the blurry input at its size)" in text
