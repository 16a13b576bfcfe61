"""`dmcdata quickstart --fast`: the whole system end to end on the demo corpus, resumable."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from pipelines.quickstart import STATE_DIR, QuickstartError, run_quickstart, steps


@pytest.fixture(scope="module")
def qs(tmp_path_factory):
    out = tmp_path_factory.mktemp("qs") / "qs"
    lines: list[str] = []
    run = run_quickstart(out, fast=True, progress=False, log=lines.append)
    return out, "\n".join(lines), run


def test_every_step_ran_and_the_results_table_is_printed(qs):
    out, text, run = qs
    names = [s.name for s in steps()]
    assert all((out / STATE_DIR / f"{n}.json").is_file() for n in names)
    for method in ("identity", "mono", "random", "dmc-basic", "dmc-full/dsp"):
        assert method in text, method
    assert "Neural channel, combined task" in text and "Mixers on the held-out songs" in text
    assert (out / "listen" / "index.html").is_file()
    for split, n in run.results["build-medleydb"]["splits"].items():
        assert n > 0, split
    assert set(run.results["build-medleydb"]["splits"]) == {"train", "val", "test"}


def test_the_edited_mix_differs_by_one_track_and_the_render_is_the_mix(qs):
    out, _, run = qs
    edit = run.results["edit"]
    assert edit["gain_after_db"] == pytest.approx(max(-24.0, edit["gain_before_db"] - 6.0))
    assert edit["render_vs_mix_max_abs"] < 1e-5
    a, _ = sf.read(out / "mix" / "render.wav", dtype="float32")
    b, _ = sf.read(out / "mix" / "render_edited.wav", dtype="float32")
    assert a.shape == b.shape and np.abs(a - b).max() > 1e-4
    docs = [json.loads((out / "mix" / f).read_text()) for f in ("mix.json", "mix_edited.json")]
    changed = [(i, k) for i, (t, u) in enumerate(zip(docs[0]["tracks"], docs[1]["tracks"]))
               for k in t["params"] if t["params"][k] != u["params"][k]]
    assert changed == [(0, "gain_db")]


def test_a_rerun_skips_finished_steps_and_redoes_an_unfinished_one(qs):
    out, _, _ = qs
    (out / STATE_DIR / "listen.json").unlink()       # as if Ctrl-C hit the last step
    (out / "listen" / "index.html").write_text("half written")
    lines: list[str] = []
    run_quickstart(out, fast=True, progress=False, log=lines.append)
    text = "\n".join(lines)
    assert text.count("already done") == len(steps()) - 1
    assert "build the listening page: done" in text
    assert "half written" not in (out / "listen" / "index.html").read_text()


def test_a_foreign_folder_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(QuickstartError, match="not a quickstart folder"):
        run_quickstart(tmp_path, fast=True, progress=False, log=lambda s: None)
    assert (tmp_path / "notes.txt").read_text() == "mine"
