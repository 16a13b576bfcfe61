"""No traceback for an ordinary mistake: an ``--out`` that is an existing file, or lies under a
file, gives one line naming it and exit 2 from every command that writes."""

import pytest

from dmcdata.cli import run
from dmcdata.console.mixfile import MixDocument, TrackEntry
from tests.test_synth_chain import write_source
from tests.trees import signaltrain_tree, write_wav


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli_inputs")
    signaltrain_tree(d / "st", seconds=0.05)
    write_source(d / "src", seconds=0.3)
    write_wav(d / "t.wav", 4410)
    MixDocument(sample_rate=44100, tracks=[TrackEntry("t.wav", {"gain_db": 0.0})]).save(d / "mix.json")
    (d / "afile").write_text("a user's file")
    return d


def commands(d, out):
    return {
        "build": ["build", "signaltrain", "--data-home", str(d / "st"), "--out", out, "--no-progress"],
        "synth-chain": ["synth-chain", "--source", str(d / "src"), "--out", out, "--shards", "1",
                        "--samples-per-shard", "1", "--patch-seconds", "0.05", "--workers", "1", "--no-progress"],
        "demo": ["demo", "--out", out, "--only", "signaltrain", "--signaltrain-pairs", "3",
                 "--signaltrain-seconds", "2", "--no-progress"],
        "render": ["render", str(d / "mix.json"), "--out", out + (".wav" if not out.endswith(".wav") else ""),
                   "--quiet"],
    }


@pytest.mark.parametrize("command", ["build", "synth-chain", "demo", "render"])
@pytest.mark.parametrize("where", ["an existing file", "under a file"])
def test_an_unusable_out_is_one_line(inputs, command, where, capsys):
    out = str(inputs / "afile") if where == "an existing file" else str(inputs / "afile" / "sub")
    if command == "render" and where == "an existing file":
        out = str(inputs / "afile")  # render takes a .wav path: make the folder case instead
        (inputs / "adir.wav").mkdir(exist_ok=True)
        argv = ["render", str(inputs / "mix.json"), "--out", str(inputs / "adir.wav"), "--quiet"]
    else:
        argv = commands(inputs, out)[command]
    assert run(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert "afile" in err or "adir.wav" in err, err
    assert (inputs / "afile").read_text() == "a user's file"
