"""The Dagster UI in a real browser: after the main job, the asset graph shows every asset and
check, a partition's latest materialization shows its funnel table, an inline plot and image
thumbnails, and the metadata's numbers are charted per partition.

Drives Debian's headless Chromium (``/usr/bin/chromium``, packages ``chromium`` and
``chromium-driver``, installed by ``scripts/env.sh``) through Playwright's Python package; no
browser is downloaded. Full-size screenshots go to ``$REALSYN_UI_SCREENSHOTS`` (default: the
test's ``tmp_path/screenshots``); with ``REALSYN_DOCS_SCREENSHOTS=docs/screenshots`` the
README's small PNGs are refreshed from them. Skipped with its reason when the browser or
Playwright is missing, unless ``REALSYN_REQUIRE_BROWSER=1`` (CI), where that fails.
"""

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest
import requests

from tests.conftest import REPO, free_port
from tests.test_dagster_dev import _reset_signals, _stop

pytestmark = pytest.mark.slow

CHROMIUM = Path(os.environ.get("REALSYN_CHROMIUM", "/usr/bin/chromium"))
PARTITION = "html/museum"  # the bundled museum site: real images, thumbnails worth seeing
DOC_SHOTS = {  # full screenshot -> (README file, crop box at full size, width in pixels)
    "asset_graph_nodes.png": ("asset-graph.png", None, 1400),
    "partition_metadata.png": ("clean-images-partition.png", (0, 0, 1600, 1150), 1100),
    "kept_preview.png": ("kept-preview-thumbnails.png", (250, 150, 1350, 800), 1100),
    "metadata_plots.png": ("metadata-plots.png", (70, 330, 1130, 1380), 900),
}


def _require_browser(*other_problems: str) -> None:
    """Skip, or fail under REALSYN_REQUIRE_BROWSER=1, without Chromium and Playwright (and with
    any of ``other_problems``: what else a browser test needs, e.g. a Label Studio install)."""
    problems = [p for p in other_problems if p]
    if not CHROMIUM.is_file():
        problems.append(f"{CHROMIUM} is missing (apt-get install chromium chromium-driver)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problems.append("Python playwright is missing (pip install -e '.[dev]')")
    if problems:
        reason = "; ".join(problems)
        if os.environ.get("REALSYN_REQUIRE_BROWSER") == "1":
            pytest.fail(f"REALSYN_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)


def _main_job(tmp_path: Path, env: dict) -> None:
    """``realsyn run`` on the bundled real shards (no world; 2 epochs of the bootstrap CLIP)."""
    from tests.fake_llm import fake_llm

    with fake_llm() as (url, _):
        env = {
            **env,
            "REALSYN_CAPTIONER_URL": url,
            "REALSYN_CAPTION_MODEL": "vlm",
            "REALSYN_FUSION_MODEL": "llm",
        }
        proc = subprocess.run(
            [str(Path(sys.executable).parent / "realsyn"), "run", "--corpus", "demo/corpus"]
            + ["--no-world", "--train-epochs", "2"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=420,
        )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    assert re.search(r"\b(\d+)/\1 run\(s\) succeeded", proc.stdout), proc.stdout[-3000:]


def _wait_for_graphql(port: int, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        try:
            resp = requests.post(
                f"http://127.0.0.1:{port}/graphql",
                json={"query": "{ assetNodes { id } }"},
                timeout=5,
            )
            if resp.ok and resp.json().get("data", {}).get("assetNodes"):
                return
        except requests.RequestException:
            pass
        time.sleep(1)
    raise AssertionError(f"dagster dev did not come up:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def ui(tmp_path_factory):
    """``dagster dev`` on 127.0.0.1 over an instance where the main job has run."""
    _require_browser()
    tmp = tmp_path_factory.mktemp("ui")
    home = tmp / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {**os.environ, "DAGSTER_HOME": str(home), "REALSYN_DATA_ROOT": str(tmp / "data")}
    env.pop("REALSYN_CORPUS", None)
    started = time.time()
    _main_job(tmp, env)
    print(f"main job: {time.time() - started:.0f} s")
    port = free_port()
    log_path = tmp / "dev.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "dagster"), "dev", "-w", "workspace.yaml"]
            + ["-h", "127.0.0.1", "-p", str(port)],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=_reset_signals,
            start_new_session=True,
        )
        try:
            _wait_for_graphql(port, proc, log_path)
            yield f"http://127.0.0.1:{port}", tmp
        finally:
            _stop(proc)


@pytest.fixture()
def page(ui, tmp_path):
    """A headless Chromium page (a fresh profile: no stored UI state between runs)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            viewport={"width": 1600, "height": 1100},
            args=["--no-sandbox", "--disable-dev-shm-usage"],  # root in a container
        )
        context.set_default_timeout(30_000)
        page = context.new_page()
        skip = page.get_by_role("button", name="Skip")  # the community pop-up, whenever it shows
        page.add_locator_handler(skip, lambda button: button.click())
        try:
            yield page
        finally:
            context.close()


@pytest.fixture()
def shots(tmp_path) -> Path:
    folder = Path(os.environ.get("REALSYN_UI_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _open(page, url: str, first: bool = False) -> None:
    """Go to ``url``; on the ``first`` page, dismiss the "Join the Dagster community" pop-up
    that covers it (once per browser profile; the page fixture's handler catches a late one)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.goto(url)
    page.wait_for_load_state("networkidle")
    if first:
        skip = page.get_by_role("button", name="Skip")
        try:
            skip.wait_for(timeout=5000)
        except PlaywrightTimeout:
            return
        skip.click()


def _expand_groups(page) -> None:
    collapsed = page.locator("[class*=CollapsedGroupNode_collapsedGroupNodeContainer]")
    page.locator("[class*=GroupNode_]").first.wait_for()
    for _ in range(50):
        if collapsed.count() == 0:
            return
        # A node may sit under the side panel's divider: deliver the click to the node itself.
        collapsed.first.dispatch_event("click")
        page.wait_for_timeout(300)
    raise AssertionError("some asset groups stay collapsed")


def _same_name(name: str, drawn: str) -> bool:
    """``drawn`` is ``name``, or ``name`` shortened in the middle (``senten…_embeddings``)."""
    if "…" not in drawn:
        return drawn == name
    head, tail = drawn.split("…", 1)
    return name.startswith(head) and name.endswith(tail) and len(name) > len(head + tail)


def _expected():
    from realsyn_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    assets = sorted(k.to_user_string() for k in graph.get_all_asset_keys())
    groups = {k.to_user_string(): graph.get(k).group_name for k in graph.get_all_asset_keys()}
    checks: dict[str, list[str]] = {}
    for key in graph.asset_check_keys:
        checks.setdefault(key.asset_key.to_user_string(), []).append(key.name)
    return assets, checks, groups


def test_ui_shows_graph_checks_funnel_plot_and_thumbnails(ui, page, shots):
    base, _ = ui
    assets, checks, groups = _expected()
    started = time.time()

    # 1. The global asset graph, every group expanded and zoomed out until every asset node is
    # drawn (the graph draws only what is in view; small nodes shorten long names with "…").
    _open(page, f"{base}/asset-groups", first=True)
    page.get_by_text("Hide navigation").click()  # more room for the graph
    _expand_groups(page)
    # The fit stops at a zoom where names stay readable: a view large enough for all 24 assets.
    page.set_viewport_size({"width": 2400, "height": 2200})
    page.reload()  # the expanded groups are remembered; a fresh load fits the graph to the view
    _expand_groups(page)  # one-asset groups come back collapsed
    page.locator("button:has([aria-label=panel_show_right])").last.click()  # hide the tree
    names = page.locator("svg foreignObject [class*=AssetNode_assetName]")
    names.first.wait_for()
    page.wait_for_timeout(1000)
    drawn = names.all_inner_texts()
    page.screenshot(path=str(shots / "asset_graph.png"))
    box = page.locator("svg foreignObject").evaluate_all(
        """els => {
            const r = els.map(e => e.getBoundingClientRect()).filter(r => r.width > 0);
            const x = Math.min(...r.map(b => b.left)) - 10, y = Math.min(...r.map(b => b.top)) - 10;
            return {x, y, width: Math.max(...r.map(b => b.right)) - x + 10,
                    height: Math.max(...r.map(b => b.bottom)) - y + 10};
        }"""
    )
    page.screenshot(path=str(shots / "asset_graph_nodes.png"), clip=box)  # native resolution
    # The fit keeps names readable, so a graph of 24 assets can run past the view: each group
    # whose assets were not in view is then picked in the side panel's tree (the graph pans to it).
    seen = list(drawn)
    missing = [a for a in assets if not any(_same_name(a, d) for d in seen)]
    if missing:
        _open(page, f"{base}/asset-groups")  # a fresh load shows the tree again
        _expand_groups(page)
    for group in sorted({groups[a] for a in missing}):
        page.get_by_text(group, exact=True).first.click()  # the group in the side panel's tree
        page.wait_for_timeout(1500)  # the graph pans to it
        page.screenshot(path=str(shots / f"asset_graph_{group}.png"))
        seen += [d for d in names.all_inner_texts() if d not in seen]
    drawn = seen
    unmatched = [a for a in assets if not any(_same_name(a, d) for d in drawn)]
    assert len(drawn) == len(assets) and not unmatched, f"not drawn: {unmatched}; drawn: {drawn}"

    # 2. Every check, on its asset's Checks tab.
    for asset, names in sorted(checks.items()):
        _open(page, f"{base}/assets/{asset}?view=checks")
        page.get_by_text(f"Checks ({len(names)})").wait_for()
        absent = [n for n in names if page.get_by_text(n, exact=True).count() == 0]
        assert not absent, f"{asset}: checks not shown: {absent}"

    # 3. One partition's latest materialization: the funnel table and an inline plot.
    page.set_viewport_size({"width": 1600, "height": 2600})  # the UI scrolls inside the page
    _open(page, f"{base}/assets/clean_images?view=partitions&partition={quote(PARTITION, safe='')}")
    page.get_by_text("Latest materialization").wait_for()
    funnel = page.locator("table").filter(has_text="stage").filter(has_text="kept").first
    funnel.wait_for()
    header = funnel.locator("th").all_inner_texts()
    assert header == ["stage", "count", "share"], header
    rows = {r.split("\t")[0]: r.split("\t")[1:] for r in funnel.locator("tr").all_inner_texts()}
    assert rows["total"][1] == "100.0%" and "kept" in rows, rows
    plot = page.locator("img[src^='data:image/svg+xml']").first
    plot.wait_for()
    width = plot.evaluate("img => img.complete ? img.naturalWidth : 0")
    assert width > 0, "the SVG plot did not render"
    page.screenshot(path=str(shots / "partition_metadata.png"))

    # 4. The kept images' preview (too long to show inline): thumbnails that decode.
    row = page.locator("tr").filter(has=page.get_by_text("kept_preview", exact=True))
    row.get_by_text("[Show Markdown]").click()
    dialog = page.get_by_role("dialog")
    thumbs = dialog.locator("img[src^='data:image/jpeg']")
    thumbs.first.wait_for()
    decoded = thumbs.evaluate_all(
        "imgs => imgs.filter(i => i.complete && i.naturalWidth > 0).length"
    )
    assert decoded >= 1 and decoded == thumbs.count()
    page.set_viewport_size({"width": 1600, "height": 1100})
    page.wait_for_timeout(600)  # the dialog fades in
    page.screenshot(path=str(shots / "kept_preview.png"))
    page.get_by_role("button", name="Close").click()

    # 5. Numbers as charts: Overview -> Metadata -> Plots draws each number per partition.
    page.set_viewport_size({"width": 1600, "height": 1400})
    _open(page, f"{base}/assets/clean_images")
    page.get_by_role("button", name="Plots").click()
    page.get_by_text("kept_ratio", exact=True).wait_for()
    assert page.locator("canvas").count() >= 4, "no metadata charts drawn"
    page.wait_for_timeout(1000)  # the charts animate in
    page.screenshot(path=str(shots / "metadata_plots.png"))
    print(f"browser checks: {time.time() - started:.0f} s; screenshots in {shots}")

    docs = os.environ.get("REALSYN_DOCS_SCREENSHOTS")
    if docs:
        _refresh_docs(shots, REPO / docs)


def _refresh_docs(shots: Path, out: Path) -> None:
    """Small copies of the screenshots for the README (cropped, downscaled, 128-colour PNG)."""
    from PIL import Image

    out.mkdir(parents=True, exist_ok=True)
    for name, (target, box, width) in DOC_SHOTS.items():
        with Image.open(shots / name) as im:
            im = im.convert("RGB").crop(box or (0, 0, im.width, im.height))
            if im.width > width:
                im = im.resize((width, round(im.height * width / im.width)), Image.LANCZOS)
            im = im.quantize(colors=128, method=Image.Quantize.MEDIANCUT)
            im.save(out / target, optimize=True)
        assert (out / target).stat().st_size < 150_000, f"{target} is too large for the README"
