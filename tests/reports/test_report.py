"""`python -m gridsearch report`: one self-contained HTML page of a tiny real search, read back by a parser
and, where Chromium is installed, rendered by a real headless browser."""
from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

import conftest
from gridsearch.cli import main
from gridsearch.results.leaderboard import format_number

# The failing builder: the page must show a failed trial with its error, next to healthy ones.
SPACE = conftest.FAILING_BUILDER.format(name="paged", optimizer="Adam", widths="[3, 8, 16]", epochs=4)
PREFLIGHT = {"findings": [
    {"check": "inputs_not_scaled", "severity": "warning", "message": "pixels go to 16: scale them to [0, 1]"},
    {"check": "label_format", "severity": "ok", "message": "3 classes of integer labels"}]}
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


class Page(HTMLParser):
    """The parts of the page the tests read: ids, images, links, and the text of each trial's card."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.images: list[str] = []
        self.external: list[str] = []
        self.cards: dict[str, str] = {}
        self.rows: list[list[str]] = []
        self.headers: list[str] = []
        self._card: str | None = None
        self._depth = 0
        self._table: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        for name in ("src", "href"):
            value = attrs.get(name) or ""
            if value.startswith(("http:", "https:", "//")) or (tag in ("script", "link") and value):
                self.external.append(value)
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        if tag == "div":
            if self._card is not None:
                self._depth += 1
            elif attrs.get("id", "").startswith("trial-"):
                self._card, self._depth = attrs["id"].removeprefix("trial-"), 0
                self.cards[self._card] = ""
        if tag == "table":
            self._table = attrs.get("id")
        if self._table == "leaderboard":
            if tag == "tr":
                self.rows.append([])
            elif tag in ("td", "th"):
                self._cell = []

    def handle_endtag(self, tag):
        if tag == "div" and self._card is not None:
            if self._depth == 0:
                self._card = None
            else:
                self._depth -= 1
        if self._table == "leaderboard" and tag in ("td", "th") and self._cell is not None:
            text = "".join(self._cell).strip()
            self.headers.append(text) if tag == "th" else self.rows[-1].append(text)
            self._cell = None
        if tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._card is not None:
            self.cards[self._card] += data
        if self._cell is not None:
            self._cell.append(data)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    x, y = conftest.tiny_digits()
    np.savez(folder / "tiny.npz", x=x, y=y)
    (folder / "space.py").write_text("from gridsearch import SearchSpace, Stage\n" + SPACE)
    assert main(["run", str(folder / "space.py"), "--results-dir", str(folder / "results")]) == 0
    out = folder / "results" / "paged"
    (out / "preflight.json").write_text(json.dumps(PREFLIGHT))
    assert main(["ensemble", str(out), "--top", "2", "--calibrate"]) == 0  # the page shows both
    assert main(["report", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def page(results) -> Page:
    parser = Page()
    parser.feed((results / "report.html").read_text(encoding="utf-8"))
    parser.close()
    return parser


@pytest.mark.slow
def test_every_trial_has_a_card_with_its_diagnosis_and_advice(results, page):
    board = pd.read_csv(results / "leaderboard.csv")
    trained = board.loc[board["reused_from"].isna(), "trial_id"]
    assert sorted(page.cards) == sorted(trained) and len(board) == 5 and len(trained) == 4
    for row in board[board["reused_from"].isna()].itertuples():
        card = page.cards[row.trial_id]
        if row.status == "ok":
            assert f"Diagnosis: {row.diagnosis}." in card and row.advice in card, row.trial_id
    failed = page.cards["s1_t1"]  # failed at build: no epoch, so no diagnosis, and the error instead
    assert "failed" in failed and "width 3 is broken on purpose" in failed and "No diagnosis" in failed
    assert (pd.isna(board["diagnosis"]) == (board["status"] == "failed")).all()
    reused = board.loc[board["reused_from"].notna(), ["trial_id", "reused_from"]].values.tolist()
    # a reused row is folded into the card of the trial it repeats, and its anchor still leads there
    assert reused and all(f"Also {t} (stage" in page.cards[source] and "reused, not trained again" in
                          page.cards[source] and f"trial-{t}" in page.ids for t, source in reused)


@pytest.mark.slow
def test_the_leaderboard_table_is_the_csv_one_row_per_config_diagnosis_first(results, page):
    board = pd.read_csv(results / "leaderboard.csv")
    assert page.headers[:9] == ["rank", "stage", "trial_id", "val_accuracy", "status", "diagnosis", "flags", "advice",
                                "reused_as"]
    assert "config_id" not in page.headers and "epochs" not in page.headers  # the same in every trial: in the cards
    distinct = board[board["reused_from"].isna()]
    body = page.rows[1:]
    assert [row[page.headers.index("trial_id")] for row in body] == distinct["trial_id"].tolist()  # best first
    assert [row[page.headers.index("status")] for row in body] == distinct["status"].tolist()
    ((reused_id, source),) = board.loc[board["reused_from"].notna(), ["trial_id", "reused_from"]].values.tolist()
    assert next(row for row in body if row[2] == source)[page.headers.index("reused_as")] == reused_id

    text = (results / "report.html").read_text()
    assert "The winner on the test split" in text and 'id="confusion"' in text
    best = json.loads((results / "best_config.json").read_text())
    matrix = np.array(best["metrics"]["test_confusion_matrix"])
    assert matrix.shape == (3, 3) and np.trace(matrix) / matrix.sum() == pytest.approx(
        best["metrics"]["test_accuracy"])
    assert "<th>precision</th><th>recall</th>" in text


@pytest.mark.slow
def test_images_are_embedded_pngs_and_nothing_comes_from_the_network(results, page):
    trained = len(list((results / "trials").glob("*.json")))
    # search path + 2 stage charts + one figure per trained config (a reused row is folded into its card)
    # + the calibrated ensemble's reliability diagram
    assert len(page.images) == 1 + 2 + 4 + 1 and trained == 4
    for src in page.images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert page.external == []
    assert {"summary", "preflight", "leaderboard", "stages", "trials", "stage-1", "stage-2"} <= page.ids


@pytest.mark.slow
def test_the_ensemble_and_its_calibration_have_their_sections(results, page):
    text = (results / "report.html").read_text()
    ensemble = json.loads((results / "ensemble.json").read_text())
    calibration = json.loads((results / "calibration.json").read_text())["ensemble"]
    assert {"ensemble", "ensemble-table", "calibration", "calibration-ensemble"} <= page.ids
    assert "doctor" not in page.ids  # no doctor.json: no empty section
    assert f'<td class="num">{format_number(ensemble["test_ece"])}</td>' in text
    assert f"{ensemble['members'][0]['trial_id']} (winner)" in text
    assert f"ECE {format_number(calibration['test']['ece_before'])} &rarr; " in text
    assert 'alt="reliability diagram, ensemble"' in text


def test_chart_axes_are_zoomed_to_the_data():
    from gridsearch.reports.plots import zoomed_limits

    low, high = zoomed_limits([0.98, 0.99, float("nan")], "val_accuracy")
    assert 0.95 < low < 0.98 and 0.99 < high <= 1.0  # 0.98 and 0.99 look different; nothing goes to 1.10
    assert zoomed_limits([0.5, 1.0], "val_accuracy")[1] <= 1.07
    assert zoomed_limits([0.2, 0.4], "val_loss") == pytest.approx((0.15, 0.45))
    assert zoomed_limits([], "val_accuracy") == (0.0, 1.0)


@pytest.mark.slow
def test_preflight_findings_are_shown(results):
    text = (results / "report.html").read_text()
    for finding in PREFLIGHT["findings"]:
        assert finding["check"] in text and finding["message"] in text
    assert text.index("inputs_not_scaled") < text.index("label_format")  # warnings before passed checks


@pytest.mark.slow
def test_the_report_redraws_missing_plots(results, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(results, copy)
    shutil.rmtree(copy / "plots")
    (copy / "preflight.json").unlink()
    assert main(["report", str(copy), "--output", str(tmp_path / "page.html")]) == 0
    parser = Page()
    parser.feed((tmp_path / "page.html").read_text())
    assert len(parser.images) == 7 and all(src.startswith("data:image/png;base64,") for src in parser.images)
    assert len(list((copy / "plots" / "trials").glob("*.png"))) == 4
    assert "no preflight.json" in (tmp_path / "page.html").read_text()


def test_report_of_a_folder_without_results_is_bad_input(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "no leaderboard" in capsys.readouterr().err


def _browser() -> str | None:
    return next((path for path in map(shutil.which, BROWSERS) if path), None)


@pytest.mark.skipif(_browser() is None, reason="no Chromium/Chrome installed (Debian: apt-get install chromium); "
                                               "the headless rendering check needs a real browser")
@pytest.mark.slow
def test_a_headless_browser_renders_the_report(results, tmp_path):
    """Rendered offline by Chromium: the DOM it builds has every trial, and the screenshot is not blank."""
    import matplotlib.image

    url = (results / "report.html").resolve().as_uri()
    flags = [_browser(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}"]
    shot = tmp_path / "report.png"
    env = {**os.environ, "HOME": str(tmp_path)}
    subprocess.run([*flags, f"--screenshot={shot}", "--window-size=1280,2000", url], check=True, timeout=120,
                   capture_output=True, env=env)
    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[:2] == (2000, 1280)
    assert pixels[..., :3].std() > 0.05  # text, tables and charts, not an empty or error page
    dom = subprocess.run([*flags, "--dump-dom", url], check=True, timeout=120, capture_output=True, text=True,
                         env=env).stdout
    board = pd.read_csv(results / "leaderboard.csv")
    assert all(f'id="trial-{trial_id}"' in dom for trial_id in board["trial_id"])
    # at 1400 px the diagnosis columns (status, diagnosis, flags, advice) are in view without scrolling sideways
    fits = tmp_path / "fits.html"
    fits.write_text((results / "report.html").read_text().replace("</body>", FITS_SCRIPT + "</body>"))
    dom = subprocess.run([*flags, "--window-size=1400,1000", "--dump-dom", fits.as_uri()], check=True, timeout=120,
                         capture_output=True, text=True, env=env).stdout
    assert 'data-fits="true"' in dom, dom[dom.find("data-fits"):][:200]


# Whether the advice column (the last diagnosis column) ends inside the leaderboard's visible box, as laid out.
FITS_SCRIPT = """<script>
var box = document.getElementById("leaderboard").parentElement;
var advice = document.querySelector("#leaderboard td.advice").getBoundingClientRect();
document.body.setAttribute("data-fits", String(advice.right <= box.getBoundingClientRect().right));
document.body.setAttribute("data-widths", box.scrollWidth + " " + box.clientWidth + " " + advice.right);
</script>"""
