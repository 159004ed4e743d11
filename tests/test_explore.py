"""`infogan-tk explore` and `infogan-tk report` on a real two-step run: the real server on 127.0.0.1
in a subprocess, its JSON API over HTTP, hostile uploads, and the page in headless Chromium
(Debian's package, driven by Selenium through its chromedriver)."""

from __future__ import annotations

import base64
import io
import json
import queue
import re
import shutil
import signal
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import zlib
from contextlib import contextmanager
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from infogan_toolkit.cli.app import app

TRAIN = [
    "--backbone",
    "glyphs",
    "--dataset",
    "glyphs",
    "--codes",
    "cat3,unif1,circ1",
    "--steps",
    "2",
    "--batch-size",
    "8",
    "--quiet",
    "--no-eval",
    "--set",
    "train.figures=false",
    "--set",
    "model.noise_dim=0",
]
EVAL = [
    "--metrics",
    "mi,accuracy,mig",
    "--samples",
    "64",
    "--size",
    "accuracy_samples=64",
    "--size",
    "factor_samples=64",
    "--size",
    "factor_test_samples=32",
    "--size",
    "batch=64",
]
CLI = Path(sys.executable).with_name("infogan-tk")
ADDRESS = re.compile(r"explore: (http://127\.0\.0\.1:\d+/)")


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A run on the glyphs data with a categorical, a uniform and the example plugin's circular code, evaluated."""
    out = tmp_path_factory.mktemp("explore") / "run"
    runner = CliRunner()
    result = runner.invoke(app, ["train", "--out", str(out), *TRAIN])
    assert result.exit_code == 0, result.stderr
    result = runner.invoke(app, ["eval", str(out), *EVAL])
    assert result.exit_code == 0, result.stderr
    return out


def command(*args: str) -> list[str]:
    """The console script as a user runs it."""
    return (
        [str(CLI), *args]
        if CLI.is_file()
        else [sys.executable, "-c", "from infogan_toolkit.cli.entry import main; main()", *args]
    )


@contextmanager
def explore_server(*args: str, pattern: re.Pattern = ADDRESS):
    """Start `infogan-tk explore ARGS --port 0`, wait for its address, yield (address, stderr lines); stop it after."""
    proc = subprocess.Popen(
        command("explore", *args, "--port", "0"), stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
    )
    lines: queue.Queue[str] = queue.Queue()
    seen: list[str] = []
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stderr], daemon=True).start()
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"explore printed no address in 120 s: {seen}") from None
            seen.append(line)
            found = pattern.search(line)
            if found:
                break
        yield found.group(1), seen
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def server(run):
    with explore_server(str(run)) as (address, _):
        yield address


def call(
    address: str, path: str, body: bytes | dict | None = None, headers: dict | None = None
) -> tuple[int, dict | str]:
    """One HTTP request; (status, JSON or text)."""
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    kind = "application/json" if isinstance(body, dict) else "application/octet-stream"
    request = urllib.request.Request(
        address.rstrip("/") + path,
        data=data,
        headers={"Content-Type": kind, **(headers or {})},
        method="POST" if body is not None else "GET",
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            status, text = response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        status, text = exc.code, exc.read().decode()
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


def png_of(uri: str) -> bytes:
    assert uri.startswith("data:image/png;base64,")
    return base64.b64decode(uri.split(",", 1)[1])


# ------------------------------------------------------------------------------------ the API
def test_page_describes_every_code_with_its_declared_control(server):
    status, page = call(server, "/")
    assert status == 200 and '<script src="/page.js"' in page
    status, info = call(server, "/api/model")
    assert status == 200
    controls = {c["name"]: c["control"] for c in info["codes"]}
    assert controls["c1"] == {"kind": "choice", "labels": ["0", "1", "2"]}
    assert controls["c2"]["kind"] == "range" and controls["c2"]["low"] == -2 and controls["c2"]["prior"] == [-1, 1]
    # The example plugin's circular code declares its own range: once round the circle.
    assert (
        controls["c3"]["kind"] == "range"
        and controls["c3"]["wraps"]
        and controls["c3"]["high"] == pytest.approx(6.2832, abs=1e-4)
    )


def test_a_moved_control_changes_the_image_and_q_reads_that_very_image(server):
    status, info = call(server, "/api/model")
    values = info["start"]["values"]
    status, first = call(server, "/api/render", {"seed": 1, "values": values})
    assert status == 200 and len(first["readback"]) == 3
    status, moved = call(server, "/api/render", {"seed": 1, "values": [2, 1.5, values[2]]})
    assert status == 200 and moved["image"] != first["image"]
    # Upload the PNG the page shows: Q reads the same codes from it.
    status, encoded = call(server, "/api/encode?seed=1", png_of(moved["image"]))
    assert status == 200, encoded
    for a, b in zip(encoded["readback"], moved["readback"]):
        assert a["estimate"] == pytest.approx(b["estimate"], abs=1e-5) and a["name"] == b["name"]
    assert encoded["regenerated"].startswith("data:image/png") and len(encoded["values"]) == 3
    status, strips = call(server, "/api/traverse", {"seed": 1, "values": values})
    assert status == 200 and [len(s["values"]) for s in strips["strips"]] == [3, 9, 9]


def test_bad_requests_get_a_message_and_the_server_goes_on(server):
    for body, words in [
        ({"seed": 1, "values": [7, 0, 0]}, "category from 0 to 2"),
        ({"seed": -1, "values": [0, 0, 0]}, "'seed' must be"),
        ({"seed": 1, "values": [0, "x", 0]}, "must be a number"),
        ({"seed": 1, "values": [0, 0]}, "list of 3 numbers"),
    ]:
        status, answer = call(server, "/api/render", body)
        assert status == 400 and words in answer["error"], answer
    status, answer = call(server, "/api/render", b"{not json")
    assert status == 400 and "not JSON" in answer["error"]
    status, answer = call(server, "/api/render", {"seed": 1, "values": [0, 0, 0]}, headers={"Host": "evil.example:80"})
    assert status == 421 and "127.0.0.1" in answer["error"]
    for path in ("/../pyproject.toml", "/static/page.js", "/etc/passwd"):
        assert call(server, path)[0] == 404
    assert call(server, "/api/render", {"seed": 0, "values": [0, 0, 0]})[0] == 200


def _png_header(width: int, height: int) -> bytes:
    """A PNG that declares ``width`` x ``height`` gray pixels and holds almost none of them."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def test_hostile_uploads_get_a_clear_message(server):
    good = io.BytesIO()
    Image.new("L", (40, 40), 128).save(good, format="PNG")
    cases = [
        (b"", "empty"),
        (b"this is not an image at all", "not a readable image"),
        (good.getvalue()[: len(good.getvalue()) // 2], "not a readable image"),  # truncated
        (_png_header(6000, 5000), "more than the 24,000,000"),  # over the pixel cap, decoded never
        (_png_header(60000, 60000), "pixels allowed"),  # past Pillow's own bomb limit
        (b"\0" * ((8 << 20) + 1), "more than 8,388,608 bytes"),  # over the size cap, read never
    ]
    for data, words in cases:
        started = time.monotonic()
        status, answer = call(server, "/api/encode?seed=0", data)
        assert status in (400, 413) and words in answer["error"], (words, status, answer)
        assert time.monotonic() - started < 10
    status, answer = call(server, "/api/encode?seed=0", good.getvalue())
    assert status == 200 and len(answer["values"]) == 3


def test_a_non_loopback_host_is_warned_about(run):
    with explore_server(str(run), "--host", "0.0.0.0", pattern=re.compile(r"explore: (http://0\.0\.0\.0:\d+/)")) as (
        _,
        lines,
    ):
        assert any(line.startswith("warning: listening on 0.0.0.0") for line in lines), lines


def test_bad_flags_and_a_missing_extra_are_one_line(run, tmp_path):
    result = subprocess.run(
        command("explore", str(run), "--port", "70000"), check=False, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2 and result.stderr.strip().splitlines() == [
        "error: --port must be from 0 to 65535 (0: any free port), got 70000"
    ]
    # Without the extra's packages (hidden from this interpreter): one line naming the extra.
    hide = "import sys; sys.modules['uvicorn'] = None; from infogan_toolkit.cli.entry import main; main()"
    result = subprocess.run(
        [sys.executable, "-c", hide, "explore", str(run)], check=False, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip() == "error: infogan-tk explore needs uvicorn: pip install 'infogan-toolkit[explore]'"


# ---------------------------------------------------------------------------------- the report
def test_report_is_one_self_contained_file(run, tmp_path):
    out = tmp_path / "report.html"
    result = CliRunner().invoke(app, ["report", str(run), "--out", str(out)])
    assert result.exit_code == 0, result.stderr
    page = out.read_text()
    assert "<script" not in page and not re.search(r"""(src|href)=["']?(https?:|//|/)""", page)
    assert (
        page.count("data:image/png;base64,") >= 3 + 1 + 1 + 2
    )  # strips, a point, samples, a data-set image and its regeneration
    for code in ("c1", "c2", "c3"):
        assert f"traversal of {code}" in page
    assert "Information between each code and each factor" in page and "pos_x" in page
    assert "Accuracy against the labels" in page and "L<sub>I</sub> per code" in page


# --------------------------------------------------------------------------------- the browser
def _browser():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not chromium or not driver:
        pytest.skip(
            "no Chromium and chromedriver on this machine (Debian: apt-get install -y chromium chromium-driver)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1300,1100",
    ):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(executable_path=driver), options=options)


def test_the_page_in_a_real_browser(server, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    browser = _browser()
    try:
        wait = WebDriverWait(browser, 30)
        browser.get(server)
        image = browser.find_element(By.ID, "image")
        wait.until(lambda b: (image.get_attribute("src") or "").startswith("data:image/png"))
        wait.until(lambda b: b.find_element(By.ID, "readback-c2").text.startswith("Q reads"))
        wait.until(lambda b: len(b.find_elements(By.CSS_SELECTOR, "#strips img")) == 3)

        # Move the uniform code's slider with the keyboard: the image and Q's reading follow.
        before, read_before = image.get_attribute("src"), browser.find_element(By.ID, "q-c2").text
        slider = browser.find_element(By.CSS_SELECTOR, "input[type=range][data-code=c2]")
        slider.send_keys(Keys.END)
        wait.until(lambda b: image.get_attribute("src") != before)
        wait.until(lambda b: b.find_element(By.ID, "q-c2").text != read_before)
        assert (
            browser.find_element(By.CSS_SELECTOR, "#q-c2 td:nth-child(2)").text == "2"
        )  # the slider's end, beside Q's reading

        # The circular code's slider is built from what its plugin declares.
        circle = browser.find_element(By.CSS_SELECTOR, "input[type=range][data-code=c3]")
        assert float(circle.get_attribute("max")) == pytest.approx(6.2832, abs=1e-3)

        # Click a category.
        before = image.get_attribute("src")
        button = browser.find_element(By.CSS_SELECTOR, "button[data-code=c1][data-value='2']")
        button.click()
        wait.until(lambda b: image.get_attribute("src") != before)
        assert "on" in button.get_attribute("class").split()

        # Upload an image: Q's codes for it appear, and the controls move there.
        picture = tmp_path / "mine.png"
        Image.new("L", (64, 64), 0).save(picture)
        browser.find_element(By.ID, "upload").send_keys(str(picture))
        wait.until(lambda b: len(b.find_elements(By.CSS_SELECTOR, "#upload-codes div")) == 3)
        assert browser.find_element(By.ID, "upload-regenerated").get_attribute("src").startswith("data:image/png")
        assert "Q read the codes" in browser.find_element(By.ID, "message").text

        # A file that is no image: a message on the page, and the page goes on working.
        junk = tmp_path / "junk.png"
        junk.write_bytes(b"GIF89a but not really")
        browser.find_element(By.ID, "upload").send_keys(str(junk))
        wait.until(lambda b: "Upload refused" in b.find_element(By.ID, "message").text)
        assert "not a readable image" in browser.find_element(By.ID, "message").text

        # An image from the run's data set.
        browser.find_element(By.ID, "from-data").click()
        wait.until(lambda b: "glyphs test image" in b.find_element(By.ID, "message").text)

        # The run's evaluation, with its heat map.
        assert "Information between each code and each factor" in browser.find_element(By.ID, "evaluation").text
        # Its cells are coloured: the page's Content-Security-Policy lets the fragment's style attributes through.
        shades = browser.execute_script(
            "return [...document.querySelectorAll('#evaluation table.heat td')].map((td) => "
            "getComputedStyle(td).backgroundColor)"
        )
        assert shades and all(s.startswith("rgb(") for s in shades), shades
        browser.save_screenshot(str(tmp_path / "explore.png"))
        # Script errors and policy violations fail the test; Chrome also logs the refused junk upload's 400, which is
        # expected.
        errors = [
            e
            for e in browser.get_log("browser")
            if e.get("level") == "SEVERE"
            and not (
                e.get("source") == "network"
                and "/api/encode" in e.get("message", "")
                and "status of 400" in e["message"]
            )
        ]
        assert not errors, errors
    finally:
        browser.quit()


def test_the_exported_card_links_its_report(run, tmp_path):
    folder = tmp_path / "model"
    result = CliRunner().invoke(app, ["export", str(run), str(folder), "--samples", "4", "--json"])
    assert result.exit_code == 0, result.stderr
    assert "report.html" in json.loads(result.stdout)["files"]
    assert "[report.html](report.html)" in (folder / "README.md").read_text()
    page = (folder / "report.html").read_text()
    assert (
        "<script" not in page and "traversal of c3" in page and "Information between each code and each factor" in page
    )
