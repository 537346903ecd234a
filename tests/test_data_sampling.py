"""Seeded pair sampling, reference assignment and the pairs.tsv sample sheet."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from deblur.cli import main
from deblur.data.imageio import write_png
from deblur.data.pairs import Pair, make_pair
from deblur.data.sampling import (
    COLUMNS,
    assign_references,
    draw_sample,
    read_sample_tsv,
    sample_pairs,
    write_sample_tsv,
)
from deblur.errors import DeblurError


def fake_pairs(frames_per_sequence: dict[str, int], root="GOPRO_Large/test") -> list[Pair]:
    pairs = []
    for seq, count in frames_per_sequence.items():
        for i in range(1, count + 1):
            frame = f"{i:06d}"
            base = Path(root) / seq
            pairs.append(
                make_pair(
                    seq, frame, base / "blur" / f"{frame}.png", base / "sharp" / f"{frame}.png"
                )
            )
    return pairs


# the real GoPro test split has 1111 pairs in 11 sequences of uneven length
UNEVEN = {"GOPR0384_11_00": 100, "GOPR0384_11_05": 80, "GOPR0385_11_01": 3, "GOPR0396_11_00": 40}


def test_uniform_is_seeded_without_replacement_and_in_dataset_order():
    pairs = fake_pairs(UNEVEN)
    a = sample_pairs(pairs, 50, seed=0)
    assert a == sample_pairs(pairs, 50, seed=0)
    assert a == sample_pairs(list(reversed(pairs)), 50, seed=0), "input order must not matter"
    assert len({p.pair_id for p in a}) == 50
    assert a == sorted(a, key=lambda p: p.sort_key)
    assert a != sample_pairs(pairs, 50, seed=1)
    # the global random state must not matter
    np.random.seed(123)  # noqa: NPY002 (on purpose: legacy global state)
    assert a == sample_pairs(pairs, 50, seed=0)


def test_uniform_covers_pairs_evenly_over_seeds():
    pairs = fake_pairs({"a": 10, "b": 10})
    counts = Counter(p.pair_id for seed in range(400) for p in sample_pairs(pairs, 5, seed))
    # each pair is drawn with probability 1/4: 100 of 400 expected, sd ~ 8.7
    assert len(counts) == 20 and all(60 < c < 140 for c in counts.values()), counts


def test_stratified_gives_equal_shares_and_redistributes_short_sequences():
    pairs = fake_pairs(UNEVEN)
    drawn = sample_pairs(pairs, 40, seed=0, strategy="stratified")
    per_seq = Counter(p.sequence for p in drawn)
    # 40 / 4 = 10 each, but GOPR0385_11_01 has only 3: its 7 spare go to the others (+2/+2/+3)
    assert per_seq["GOPR0385_11_01"] == 3
    others = sorted(per_seq[s] for s in UNEVEN if s != "GOPR0385_11_01")
    assert others == [12, 12, 13]
    assert len({p.pair_id for p in drawn}) == 40


def test_stratified_remainder_goes_to_random_sequences():
    pairs = fake_pairs({"a": 5, "b": 5, "c": 5})
    shares = {
        tuple(sorted(Counter(p.sequence for p in sample_pairs(pairs, 4, s, "stratified")).items()))
        for s in range(30)
    }
    assert all(sorted(c for _, c in share) == [1, 1, 2] for share in shares)
    assert len(shares) > 1, "the extra pair should not always go to the same sequence"


def test_more_than_available():
    pairs = fake_pairs({"a": 3})
    with pytest.raises(DeblurError, match=r"asked for 5 pairs but only 3 are available in X"):
        sample_pairs(pairs, 5, 0, where="X")
    assert sample_pairs(pairs, 5, 0, allow_fewer=True) == pairs
    with pytest.raises(DeblurError, match="at least 1"):
        sample_pairs(pairs, 0, 0)
    with pytest.raises(DeblurError, match="unknown sampling strategy"):
        sample_pairs(pairs, 1, 0, strategy="random")


def test_same_reference_is_the_pairs_own_sharp_frame():
    pairs = fake_pairs({"a": 3})
    (rec,) = assign_references(pairs[1:2], pairs, mode="same")
    assert (rec.reference_id, rec.reference, rec.reference_offset) == (
        "a-000002",
        pairs[1].sharp,
        0,
    )
    assert rec.reference_mode == "same" and rec.blurry == pairs[1].blurry


def test_neighbor_reference_forward_then_backward_at_the_end():
    pairs = fake_pairs({"a": 5, "b": 2})
    recs = {r.pair_id: r for r in assign_references(pairs[:5], pairs, mode="neighbor", offset=2)}
    assert recs["a-000001"].reference_id == "a-000003" and recs["a-000001"].reference_offset == 2
    assert recs["a-000003"].reference_id == "a-000005"
    assert recs["a-000004"].reference_id == "a-000002" and recs["a-000004"].reference_offset == -2
    assert recs["a-000005"].reference == pairs[2].sharp
    # the reference comes from the whole split, not only from the sample
    (rec,) = assign_references([pairs[0]], pairs, mode="neighbor", offset=1)
    assert rec.reference_id == "a-000002"
    with pytest.raises(
        DeblurError, match=r"pair b-000001: it is frame 1 of 2 in sequence b.*at least 4 frames"
    ):
        assign_references([pairs[5]], pairs, mode="neighbor", offset=2)
    with pytest.raises(DeblurError, match="at least 1"):
        assign_references(pairs, pairs, mode="neighbor", offset=0)


def test_neighbor_counts_frames_in_sequence_order_not_by_number():
    pairs = [p for p in fake_pairs({"a": 9}) if int(p.frame) % 2]  # frames 1, 3, 5, 7, 9
    (rec,) = assign_references([pairs[0]], pairs, mode="neighbor", offset=1)
    assert rec.reference_id == "a-000003"


def test_tsv_round_trip_and_columns(tmp_path):
    pairs = fake_pairs(UNEVEN)
    samples = draw_sample(pairs, 7, seed=3, reference_mode="neighbor", offset=1)
    table = write_sample_tsv(samples, tmp_path / "pairs.tsv")
    assert tuple(table.columns) == COLUMNS
    lines = (tmp_path / "pairs.tsv").read_text().splitlines()
    assert lines[0].split("\t") == list(COLUMNS) and len(lines) == 8
    assert lines[1].split("\t")[3].startswith("GOPRO_Large/test/")
    assert read_sample_tsv(tmp_path / "pairs.tsv") == samples
    (tmp_path / "bad.tsv").write_text("pair_id\tblurry\nx\ty\n")
    with pytest.raises(DeblurError, match=r"bad\.tsv lacks column\(s\) sequence"):
        read_sample_tsv(tmp_path / "bad.tsv")


def _tree(root: Path, frames: dict[str, int]) -> None:
    img = np.zeros((4, 6, 3), dtype=np.float32)
    for seq, count in frames.items():
        for i in range(1, count + 1):
            for folder in ("blur", "sharp"):
                write_png(root / "test" / seq / folder / f"{i:06d}.png", img)


def _cli(*args, capsys) -> tuple[int, str]:
    """Run ``python -m deblur -q sample ...`` in-process; returns (exit code, stderr)."""
    capsys.readouterr()
    code = main(["-q", "sample", *args])
    return code, capsys.readouterr().err


def test_cli_is_byte_identical_and_reports_errors_in_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _tree(tmp_path / "gopro", {"GOPR0001_00_00": 6, "GOPR0002_00_00": 4})
    common = ["--root", "gopro", "--n", "5", "--seed", "7", "--reference", "neighbor"]
    for name in ("a.tsv", "b.tsv"):
        code, err = _cli(*common, "--strategy", "stratified", "--out", name, capsys=capsys)
        assert code == 0, err
    text = (tmp_path / "a.tsv").read_bytes()
    assert text == (tmp_path / "b.tsv").read_bytes()
    assert b"gopro/test/GOPR0001_00_00/blur/" in text and b"\tneighbor\t" in text

    samples = read_sample_tsv(tmp_path / "a.tsv")
    from deblur.data.gopro import index_pairs

    all_pairs = index_pairs(tmp_path / "gopro")
    assert [s.pair_id for s in samples] == [
        p.pair_id for p in sample_pairs(all_pairs, 5, 7, strategy="stratified")
    ]

    code, err = _cli("--root", "gopro", "--n", "11", "--out", "c.tsv", capsys=capsys)
    assert code == 2 and not (tmp_path / "c.tsv").exists()
    assert err.strip().count("\n") == 0
    assert err.startswith("error: asked for 11 pairs but only 10 are available in gopro/test")
    code, err = _cli(
        "--root", "gopro", "--n", "11", "--allow-fewer", "--out", "c.tsv", capsys=capsys
    )
    assert code == 0 and len((tmp_path / "c.tsv").read_text().splitlines()) == 11


def test_cli_sheet_has_one_row_per_pair_and_reference(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _tree(tmp_path / "gopro", {"GOPR0001_00_00": 6, "GOPR0002_00_00": 4})
    refs = ["--reference", "same", "--reference", "neighbor:2"]
    code, err = _cli("--root", "gopro", "--n", "3", *refs, "--out", "s.tsv", capsys=capsys)
    assert code == 0, err
    samples = read_sample_tsv(tmp_path / "s.tsv")
    assert len(samples) == 6 and len({s.pair_id for s in samples}) == 3
    assert [(s.reference_mode, abs(s.reference_offset)) for s in samples[:2]] == [
        ("same", 0),
        ("neighbor", 2),
    ]
    code, err = _cli("--root", "gopro", "--n", "3", "--reference", "same:1", "--out", "t.tsv",
                     capsys=capsys)  # fmt: skip
    assert code == 2 and "neighbor:K" in err and not (tmp_path / "t.tsv").exists()


def test_aggregate_checks_the_metrics_against_the_sheet():
    import pandas as pd

    from deblur.errors import DeblurError
    from deblur.evaluation.tables import check_against_sheet

    sheet = pd.DataFrame({"pair_id": ["a", "a", "b", "b"], "reference_id": ["a", "a2", "b", "b2"]})
    rows = [
        dict(pair_id=p, method=m, reference_id=r)
        for p in ("a", "b")
        for m, r in (("identity", None), ("singan", p))
    ]
    check_against_sheet(pd.DataFrame(rows), sheet, "pairs.tsv")  # covers it
    for bad, message in (
        (rows[:2], "sampled pairs without metrics: b"),
        (rows + [dict(pair_id="c", method="identity", reference_id=None)], "not in the sheet: c"),
        (rows[:3], "method singan has metrics for 1 of the 2 pairs"),
        (rows[:3] + [dict(pair_id="b", method="singan", reference_id="x")], "used reference x"),
    ):
        with pytest.raises(DeblurError, match=message):
            check_against_sheet(pd.DataFrame(bad), sheet, "pairs.tsv")
