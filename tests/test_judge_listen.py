"""Listening test: the static page in a real headless browser (Debian chromium + chromedriver via selenium), and the analysis."""

from __future__ import annotations

import csv
import json
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from dmcmodels.cli import main as cli
from dmcmodels.judge.listen import analyse as an
from dmcmodels.judge.listen.build import ListenError, build

METHODS = ("dmc_basic", "mono", "target")
EXCERPTS = ("passage_one", "passage_two")


def write_stimuli(root: Path, excerpts=EXCERPTS, methods=METHODS, seconds=2.0, sr=8000) -> Path:
    t = np.arange(int(seconds * sr)) / sr
    for e_i, excerpt in enumerate(excerpts):
        (root / excerpt).mkdir(parents=True, exist_ok=True)
        for m_i, method in enumerate(methods):
            x = 0.2 * np.sin(2 * np.pi * (220 + 55 * m_i + 11 * e_i) * t)
            sf.write(root / excerpt / f"{method}.wav", x.astype(np.float32), sr, subtype="PCM_16")
    return root


# ---------------------------------------------------------------------------------------- build

def test_build_is_deterministic_and_blind(tmp_path):
    stimuli = write_stimuli(tmp_path / "stimuli")
    plan = build(stimuli, tmp_path / "a", seed="s1")
    build(stimuli, tmp_path / "b", seed="s1")
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    assert all((tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes() for f in files)
    assert len(files) == 2 + 6 and plan["pages"][0]["excerpt"] == "passage_one"
    for f in files:  # no method name in any file name
        assert not any(m in str(f) for m in METHODS)
    html = (tmp_path / "a" / "index.html").read_text()
    assert "http://" not in html and "https://" not in html and "<script src" not in html  # no CDN, no network
    other = build(stimuli, tmp_path / "c", seed="s2")
    assert other["pages"][0]["stimuli"][0]["src"] != plan["pages"][0]["stimuli"][0]["src"]


def test_build_refuses_bad_input(tmp_path, capsys):
    stimuli = write_stimuli(tmp_path / "stimuli", methods=("only",))
    with pytest.raises(ListenError, match="only one stimulus"):
        build(stimuli, tmp_path / "page")
    (tmp_path / "notmine").mkdir()
    (tmp_path / "notmine" / "precious.txt").write_text("keep")
    ok = write_stimuli(tmp_path / "ok")
    assert cli(["listen", "build", str(ok), "--out", str(tmp_path / "notmine"), "--overwrite"]) == 2
    assert "not a listening-test folder" in capsys.readouterr().err
    assert (tmp_path / "notmine" / "precious.txt").read_text() == "keep"
    assert cli(["listen", "build", str(tmp_path / "nowhere"), "--out", str(tmp_path / "p")]) == 2
    assert "nowhere: no such folder" in capsys.readouterr().err
    assert cli(["listen", "build", str(ok), "--out", str(tmp_path / "p")]) == 0
    assert cli(["listen", "build", str(ok), "--out", str(tmp_path / "p")]) == 2  # exists
    assert cli(["listen", "build", str(ok), "--out", str(tmp_path / "p"), "--overwrite"]) == 0


# -------------------------------------------------------------------------------------- browser

def _browser(download_dir: Path):
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not driver:
        pytest.skip("Debian chromium / chromium-driver not installed (apt-get install -y chromium chromium-driver; "
                    ".ci/run does this)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--autoplay-policy=no-user-gesture-required", "--mute-audio", "--window-size=1200,900"):
        opts.add_argument(arg)
    opts.add_experimental_option("prefs", {"download.default_directory": str(download_dir),
                                           "download.prompt_for_download": False})
    browser = webdriver.Chrome(service=Service(driver), options=opts)
    browser.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(download_dir)})
    return browser


def _markers(browser):
    from selenium.webdriver.common.by import By

    return browser.find_elements(By.CSS_SELECTOR, "#axis .marker")


def test_page_in_headless_chromium(tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    stimuli = write_stimuli(tmp_path / "stimuli")
    build(stimuli, tmp_path / "page", seed="t")
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    browser = _browser(downloads)
    try:
        url = (tmp_path / "page" / "index.html").as_uri()
        browser.get(url)
        browser.find_element(By.ID, "listener").send_keys("listener 1")
        browser.find_element(By.ID, "begin").click()
        expected = {}  # (page number, blind label) -> rating shown by the page
        for page in range(2):
            body = browser.find_element(By.TAG_NAME, "body").text
            assert f"Page {page + 1} of 2" in body
            assert not any(m in body for m in METHODS + EXCERPTS)  # blind: no method / excerpt names visible
            nxt = browser.find_element(By.ID, "next")
            assert not nxt.is_enabled()  # every mix must be placed first
            markers = _markers(browser)
            assert [m.text for m in markers] == ["A", "B", "C"]
            deadline = time.time() + 20
            while time.time() < deadline and not browser.execute_script("return audios.every(a => a.readyState >= 1)"):
                time.sleep(0.1)
            for i, marker in enumerate(markers):
                if i > 0:  # switching keeps the playback position
                    browser.execute_script("audios[playing].currentTime = arguments[0]", 0.5 + 0.4 * i)
                marker.click()  # plays it
                assert "playing" in marker.get_attribute("class")
                if i > 0:
                    assert browser.execute_script("return audios[playing].currentTime") == pytest.approx(0.5 + 0.4 * i, abs=0.15)
                marker.send_keys(*([Keys.ARROW_RIGHT] * (3 + 2 * i) + [Keys.SHIFT + Keys.ARROW_LEFT]))
                expected[(page, marker.text)] = marker.get_attribute("aria-valuenow")
            playing = browser.execute_script("return audios.map(a => !a.paused)")
            assert playing == [False, False, True]  # switching stops the others
            browser.find_element(By.ID, "comment").send_keys(f"comment, \"quoted\" {page}")
            if page == 0:  # a reload keeps everything: same page, same order, same ratings
                browser.refresh()
                assert [m.get_attribute("aria-valuenow") for m in _markers(browser)] == \
                    [expected[(0, label)] for label in "ABC"]
                assert browser.find_element(By.ID, "comment").get_attribute("value") == 'comment, "quoted" 0'
            browser.find_element(By.ID, "next").click()
        assert "last page" in browser.find_element(By.TAG_NAME, "body").text
        browser.find_element(By.ID, "download").click()
        deadline = time.time() + 20
        while time.time() < deadline and not [p for p in downloads.glob("*.csv")]:
            time.sleep(0.2)
        (path,) = downloads.glob("*.csv")
        plan = browser.execute_script("return state.plan")
        browser.find_element(By.ID, "reset").click()  # the next listener on this machine
        browser.switch_to.alert.accept()
        browser.refresh()
        assert browser.find_element(By.ID, "listener").is_displayed()
        assert not browser.find_element(By.ID, "test").is_displayed()
    finally:
        browser.quit()
    rows = list(csv.DictReader(path.open(newline="")))
    assert len(rows) == 6 and {r["listener"] for r in rows} == {"listener 1"}
    assert {(r["excerpt"], r["method"]) for r in rows} == {(e, m) for e in EXCERPTS for m in METHODS}
    # each row's rating is what the page showed for the blind label that stood for that method
    config = json.loads((tmp_path / "page" / "listen.json").read_text())
    for page, step in enumerate(plan):
        excerpt = config["pages"][step["page"]]
        for slot, stimulus in enumerate(step["order"]):
            method = excerpt["stimuli"][stimulus]["method"]
            (row,) = [r for r in rows if r["excerpt"] == excerpt["excerpt"] and r["method"] == method]
            assert row["rating"] == expected[(page, "ABC"[slot])]
            assert row["comment"] == f'comment, "quoted" {page}' and row["time"].endswith("Z")
    # what analyse reads
    assert cli(["listen", "analyse", str(path)]) == 0


def test_order_is_shuffled_per_listener(tmp_path):
    from selenium.webdriver.common.by import By

    build(write_stimuli(tmp_path / "stimuli", methods=tuple("mnopq")), tmp_path / "page", seed="t")
    browser = _browser(tmp_path)
    try:
        orders = []
        for listener in ("ann", "bob", "cy", "ann"):
            browser.get((tmp_path / "page" / "index.html").as_uri())
            browser.execute_script("localStorage.clear()")
            browser.refresh()
            browser.find_element(By.ID, "listener").send_keys(listener)
            browser.find_element(By.ID, "begin").click()
            orders.append(json.dumps(browser.execute_script("return state.plan")))
    finally:
        browser.quit()
    assert orders[0] == orders[3]  # same listener, same seed: same order
    assert len(set(orders[:3])) == 3


# ------------------------------------------------------------------------------------- analysis

def _ratings_csv(path: Path, listener: str, seed: int, shift: dict) -> Path:
    rng = np.random.default_rng(seed)
    rows = [{"listener": listener, "excerpt": e, "method": m, "rating": float(np.clip(0.5 + shift[m] + 0.1 * rng.standard_normal(), 0, 1)),
             "time": "2026-01-01T00:00:00Z"} for e in EXCERPTS for m in shift]
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_analyse_against_scipy_and_thesis_table_shape(tmp_path, capsys):
    shift = {"dmc_basic": 0.1, "mono": -0.1, "target": 0.25}
    files = [_ratings_csv(tmp_path / f"l{i}.csv", f"L{i}", i, shift) for i in range(8)]
    res = an.analyse(files, tmp_path / "out")
    from scipy.stats import kruskal

    data = pd.concat(pd.read_csv(f) for f in files)
    h, p = kruskal(*[data.loc[data.method == m, "rating"] for m in sorted(shift)])
    assert res["overall"]["H"] == pytest.approx(h) and res["overall"]["p"] == pytest.approx(p)
    table = res["overall"]["conover"]
    assert list(table.columns) == ["Group 1", "Group 2", "Mean Diff.", "P_adj", "Reject"]
    assert list(zip(table["Group 1"], table["Group 2"])) == [("dmc_basic", "mono"), ("dmc_basic", "target"), ("mono", "target")]
    means = data.groupby("method").rating.mean()
    assert table["Mean Diff."].iloc[1] == pytest.approx(means["dmc_basic"] - means["target"])
    assert table["Reject"].all() and (table["P_adj"] < 0.05).all()  # 0.15+ apart with 16 ratings each
    assert set(res) == {"overall", *EXCERPTS}
    pngs = sorted(p.name for p in (tmp_path / "out").glob("*.png"))
    assert pngs == ["boxplot_excerpt_passage_one.png", "boxplot_excerpt_passage_two.png", "boxplot_overall.png"]
    assert (tmp_path / "out" / "boxplot_overall.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    an.analyse(files[::-1], tmp_path / "again")  # same ratings, files in another order: same bytes
    for name in pngs + ["conover.csv"]:
        assert (tmp_path / "out" / name).read_bytes() == (tmp_path / "again" / name).read_bytes()
    assert cli(["listen", "analyse", *map(str, files), "--p-adjust", "none"]) == 0
    assert "Kruskal-Wallis H = " in capsys.readouterr().out
    # the same methods rated alike: nothing is rejected
    same = [_ratings_csv(tmp_path / f"s{i}.csv", f"S{i}", 100 + i, {"a": 0.0, "b": 0.0}) for i in range(6)]
    assert not an.analyse(same)["overall"]["conover"]["Reject"].any()


def test_analyse_refuses_bad_files(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("listener,excerpt,method,rating\nL,e,m,1.5\n")
    assert cli(["listen", "analyse", str(bad)]) == 2
    assert "bad.csv: line 2: rating '1.5'" in capsys.readouterr().err
    bad.write_text("listener,excerpt,rating\nL,e,0.5\n")
    assert cli(["listen", "analyse", str(bad)]) == 2
    assert "missing column(s) method" in capsys.readouterr().err
    good = _ratings_csv(tmp_path / "g.csv", "L", 0, {"a": 0.0, "b": 0.1})
    assert cli(["listen", "analyse", str(good), str(good)]) == 2
    assert "more than once" in capsys.readouterr().err
