"""End to end: the real app served by `streamlit run`, driven in headless Chromium.

Visits every page in the navigation and fails on any exception shown in a page. Skipped only when no Chromium is
installed and CI is unset; under CI it must run (.ci/run installs Debian's chromium).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import expect

from tests.conftest import ROOT

pytestmark = pytest.mark.e2e

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
if CHROMIUM is None and not os.environ.get("CI"):
    pytest.skip("no chromium installed (install Debian's chromium to run the browser test)", allow_module_level=True)

# Chromium flags for a closed network: without the background-networking ones it keeps dialling out.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]


E2E: dict[str, Path] = {}  # the served app's LAB_HOME, for tests that check what the app stored


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    port = free_port()
    home = tmp_path_factory.mktemp("lab-e2e")
    E2E["home"] = home
    # Convert the bundled models' GGUF files first (once per checkout, shared through LAB_MODEL_CACHE): the page
    # tests below then time the app, not the one-off conversion, which takes minutes on a busy 2-core machine.
    from core.models import BUNDLED, convert_bundled

    for name in BUNDLED:
        convert_bundled(name)
    env = {**os.environ, "LAB_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port", str(port),
           "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"]
    log = open(home / "streamlit.log", "w")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("streamlit did not start:\n" + (home / "streamlit.log").read_text())
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def wait_for_app(page, timeout_ms: int = 180_000) -> None:
    """Wait until the script run is over: the page has content and the app reports it is not running."""
    page.wait_for_timeout(300)  # let a click reach the server before asking whether a run is going on
    page.wait_for_function(
        """() => {
            const app = document.querySelector('[data-testid="stApp"]');
            const main = document.querySelector('[data-testid="stMain"] [data-testid="stVerticalBlock"]');
            return app && app.getAttribute('data-test-script-state') === 'notRunning'
                && main && main.children.length > 0;
        }""",
        timeout=timeout_ms,
        polling=250,
    )
    page.wait_for_timeout(300)


def open_page(browser, url: str, height: int = 1100):
    """A new browser tab on ``url``, once the app has finished its first run there."""
    page = browser.new_page(viewport={"width": 1400, "height": height})
    page.goto(url)
    wait_for_app(page)
    return page


def choose(page, selectbox, option: str) -> None:
    """Pick ``option`` in a selectbox. A script run that ends just after the click redraws the widget and closes its
    list, so the click is repeated (up to three times) until the option shows."""
    wanted = page.get_by_role("option", name=option).first
    for _ in range(3):
        selectbox.click()
        try:
            wanted.wait_for(timeout=10_000)
            break
        except PlaywrightTimeoutError:
            wait_for_app(page)
    wanted.click()


def assert_no_exception(page, where: str) -> None:
    errors = page.locator('[data-testid="stException"]')
    assert errors.count() == 0, f"exception on {where}: {errors.first.inner_text()}"


def screenshot(page, name: str) -> None:
    folder = os.environ.get("LAB_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def test_a_deep_link_opens_inside_the_frame(app_url, browser):
    # Runs first, on a fresh server: a bookmarked page URL must still get the navigation and the model picker.
    page = open_page(browser, app_url + "/generate", 1000)
    assert_no_exception(page, "generate (deep link)")
    assert page.locator('[data-testid="stSidebarNav"] a', has_text="Home").count() == 1
    assert page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').count() >= 1
    page.close()


def test_every_page_in_the_navigation_renders(app_url, browser):
    page = open_page(browser, app_url, 1000)
    assert_no_exception(page, "home")
    screenshot(page, "home")
    links = page.locator('[data-testid="stSidebarNav"] a')
    hrefs = [links.nth(i).get_attribute("href") for i in range(links.count())]
    assert len(hrefs) >= 2, "the navigation lists the pages"
    for href in hrefs:
        page.goto(href if href.startswith("http") else app_url + "/" + href.lstrip("/"))
        wait_for_app(page)
        assert_no_exception(page, href)
        screenshot(page, urlparse(href).path.strip("/") or "home")
    page.close()


def test_a_reward_model_is_not_offered_and_a_broken_run_falls_back_with_one_error(app_url, browser):
    runs = E2E["home"] / "runs"
    for run_id, config, model_file, text in (
        ("20260101-000000-reward-lora", "target: core.rlhf.reward:train_reward_job\ntask: reward\n", "config.json", "{}"),
        ("20260101-000001-lora-broken", "target: core.finetune.train:train_job\nmethod: lora\nbase_model: smollm2-135m-instruct\n",
         "adapter_config.json", '{"not": "an adapter"}'),
    ):
        (runs / run_id / "model").mkdir(parents=True, exist_ok=True)
        (runs / run_id / "config.yaml").write_text(config)
        (runs / run_id / "status.json").write_text('{"state": "done"}')
        (runs / run_id / "model" / model_file).write_text(text)
    page = open_page(browser, app_url + "/generate", 1100)
    picker = page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').first
    picker.click()
    options = page.get_by_role("option").all_inner_texts()
    assert not any("reward" in o for o in options), options  # reward models score text; they are not offered to write it
    page.get_by_role("option", name="Fine-tuned: 20260101-000001-lora-broken").click()
    page.get_by_text("default model is chosen instead").wait_for(timeout=120_000)
    wait_for_app(page)
    assert_no_exception(page, "a run that cannot load")  # one error, no traceback
    assert page.get_by_text("default model is chosen instead").count() == 1
    page.close()
    for run_id in ("20260101-000000-reward-lora", "20260101-000001-lora-broken"):
        shutil.rmtree(runs / run_id)


def test_generate_streams_text_and_the_model_choice_persists(app_url, browser):
    page = open_page(browser, app_url + "/generate", 1000)
    page.get_by_role("button", name="Generate").click()
    page.get_by_text("tokens/s").wait_for(timeout=120_000)
    wait_for_app(page)
    assert_no_exception(page, "generate")
    screenshot(page, "generate")
    # The sidebar picker is part of the frame: the model chosen on one page is still chosen on the next.
    choose(page, page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').first, "Gemma 3 270M (base)")
    wait_for_app(page)
    page.locator('[data-testid="stSidebarNav"] a', has_text="Home").click()
    wait_for_app(page)
    page.locator('[data-testid="stSidebarNav"] a', has_text="Generate").click()
    wait_for_app(page)
    assert_no_exception(page, "generate with gemma")
    page.get_by_text("Gemma3ForCausalLM").wait_for(timeout=120_000)
    page.close()


def test_sampling_visualizer_steps_and_branches(app_url, browser):
    page = open_page(browser, app_url + "/sampling", 1100)
    page.get_by_role("tab", name="Step by step").click()
    for _ in range(3):
        page.get_by_role("button", name="Sample one token").click()
        wait_for_app(page)
    history = page.locator('[data-testid="stDataFrame"]').last
    history.wait_for(timeout=60_000)
    text_box = page.locator('[data-testid="stTabs"] [data-testid="stCode"]').first
    before = text_box.inner_text()
    # Force the second most likely next token: the model continues from the user's choice.
    choice = page.locator('[data-testid="stTabs"] [data-testid="stButton"] button').filter(has_text="%").nth(1)
    forced = choice.inner_text().rsplit(" ", 1)[0].strip().replace("␣", " ")
    choice.click()
    page.wait_for_function(
        "([el, before]) => el.innerText !== before", arg=[text_box.element_handle(), before], timeout=60_000
    )
    wait_for_app(page)
    assert_no_exception(page, "sampling step mode")
    assert text_box.inner_text().rstrip().endswith(forced.strip())
    screenshot(page, "sampling-steps")
    page.get_by_role("tab", name="Next token").click()
    page.wait_for_timeout(500)
    screenshot(page, "sampling-next-token")
    page.close()


def test_digit_tokens_keep_every_bar_in_the_models_order(app_url, browser):
    page = open_page(browser, app_url + "/sampling", 1100)
    prompt = page.get_by_label("Prompt")
    prompt.fill("The year was 19")
    prompt.press("Control+Enter")
    wait_for_app(page)
    page.wait_for_timeout(1000)
    plot = page.locator('[data-testid="stTabs"] .js-plotly-plot').first
    plot.wait_for(timeout=60_000)
    axis, bars, labels = plot.evaluate("p => [p.layout.xaxis.type, p.data[0].x.length, [...p.data[0].x]]")
    assert axis == "category" and bars == 20, (axis, bars, labels)
    assert any(label.strip("␣").isdigit() for label in labels), labels  # digits are there, as categories
    assert_no_exception(page, "sampling digits")
    page.close()


def test_prompt_shots_runs_a_small_sweep(app_url, browser):
    page = open_page(browser, app_url + "/shots", 1100)
    screenshot(page, "shots-prompt")
    page.get_by_role("tab", name="Experiment: accuracy against k").click()
    test_examples = page.get_by_role("spinbutton", name="Test examples")
    test_examples.fill("3")
    test_examples.press("Enter")
    wait_for_app(page)
    page.get_by_role("button", name="Run 15 prompts").click()
    page.get_by_text("Download results (CSV)").wait_for(timeout=180_000)
    wait_for_app(page)
    assert_no_exception(page, "prompt shots sweep")
    assert page.locator('[data-testid="stPlotlyChart"]').count() >= 1
    screenshot(page, "shots-sweep")
    page.close()


def start_lora_run(app_url: str, browser, steps: int):
    """The fine-tune page with a LoRA run of ``steps`` steps started from it."""
    page = open_page(browser, app_url + "/finetune", 1300)
    box = page.get_by_role("spinbutton", name="Steps")
    box.fill(str(steps))
    box.press("Enter")
    wait_for_app(page)
    page.get_by_role("button", name="Start training").click()
    return page


def test_fine_tune_runner_starts_a_lora_run_watches_the_loss_and_cancels(app_url, browser):
    page = start_lora_run(app_url, browser, 500)
    # The fragment re-reads the run every 2 s: the loss chart appears once the child has logged a step.
    # The data preview draws charts above it, so the loss chart is found by its key (Streamlit's st-key-<key> class).
    page.locator('[class*="st-key-finetune-loss-"] [data-testid="stPlotlyChart"]').first.wait_for(timeout=180_000)
    assert_no_exception(page, "fine-tune run")
    screenshot(page, "finetune-running")
    page.get_by_role("button", name="Cancel").click()
    page.get_by_text("Cancelled: step").wait_for(timeout=60_000)
    assert_no_exception(page, "fine-tune cancelled")
    page.close()


def test_a_fine_tune_that_ends_refreshes_the_page_without_a_click(app_url, browser):
    page = start_lora_run(app_url, browser, 2)
    # Nothing is clicked from here on: when the run ends, the page reruns once by itself.
    page.get_by_role("heading", name="Base against fine-tuned").wait_for(timeout=300_000)
    wait_for_app(page)
    assert_no_exception(page, "fine-tune done")
    page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').first.click()
    assert page.get_by_role("option", name="Fine-tuned: ").count() >= 1  # the new model is in the sidebar's picker
    page.keyboard.press("Escape")
    page.close()


def test_an_evaluation_keeps_its_progress_and_cancel_after_a_reload(app_url, browser):
    page = open_page(browser, app_url + "/evaluate", 1500)
    limit = page.get_by_role("spinbutton", name="Examples per task")
    limit.fill("200")
    limit.press("Enter")
    wait_for_app(page)
    page.get_by_role("button", name="Run evaluation").click()
    page.get_by_text("(evaluation 1 of").wait_for(timeout=60_000)
    page.reload()  # a new session: nothing in it knows the run
    wait_for_app(page)
    page.get_by_text("(evaluation 1 of").wait_for(timeout=60_000)
    assert_no_exception(page, "evaluation after reload")
    page.get_by_role("button", name="Cancel").click()
    page.get_by_text("Cancelled").first.wait_for(timeout=60_000)
    page.close()


def test_evaluation_dashboard_compares_two_models(app_url, browser):
    page = open_page(browser, app_url + "/evaluate", 1500)
    page.locator('[data-testid="stMultiSelect"]').first.click()
    page.get_by_role("option", name="gemma-3-270m").click()
    page.keyboard.press("Escape")
    wait_for_app(page)
    limit = page.get_by_role("spinbutton", name="Examples per task")
    limit.fill("2")
    limit.press("Enter")
    wait_for_app(page)
    page.get_by_role("button", name="Run evaluation").click()
    # The monitor re-reads the run every 2 s and reruns the page when it ends: then the leaderboard appears.
    chart = page.locator('[data-testid="stPlotlyChart"]').first
    chart.wait_for(timeout=300_000)
    wait_for_app(page)
    assert_no_exception(page, "evaluation leaderboard")
    for model in ("smollm2-135m-instruct", "gemma-3-270m"):
        assert chart.get_by_text(model).count() >= 1, f"{model} missing from the leaderboard chart"
    screenshot(page, "evaluate-leaderboard")
    page.get_by_role("tab", name="Examples").click()
    page.get_by_text("Highlight shared n-grams").wait_for(timeout=30_000)
    assert_no_exception(page, "evaluation drill-down")
    for model in ("smollm2-135m-instruct", "gemma-3-270m"):  # each model's output of the selected example
        assert page.locator('[data-testid="stMarkdownContainer"]', has_text=model).count() >= 1
    screenshot(page, "evaluate-examples")
    page.get_by_role("tab", name="Compare two").click()
    page.get_by_text("p (sign test)").wait_for(timeout=60_000)  # the paired comparison of the two models
    assert_no_exception(page, "evaluation paired comparison")
    screenshot(page, "evaluate-paired")
    page.close()


def test_rag_chat_answers_from_an_uploaded_document_and_shows_the_source(app_url, browser, tmp_path):
    # The file's name holds markup: it must show as text everywhere, the chunk map's legend (plotly) included.
    document = tmp_path / "<b>orchard-notes.md"
    # Filler that makes several chunks. Not near-copies of the answer's sentence: with "Row i of the orchard holds ..."
    # SmolLM2 (greedy) answered with the filler or with the code depending only on the order of the filler chunks.
    filler = " ".join(f"Bed {i} of the allotment grows {i + 3} pumpkins, picked in October." for i in range(60))
    document.write_text("# Orchard notes\n\nThe gate code of the Brindle Farm orchard is 4417. The code changes every "
                        f"spring.\n\n{filler}\n")
    page = open_page(browser, app_url + "/rag", 1400)
    page.get_by_role("tab", name="Documents").click()
    expect(page.get_by_label("Into collection (a new name creates it)")).to_have_value("mine")  # never the bundled one
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(document))
    wait_for_app(page)
    page.get_by_role("button", name="Add to the collection").click()
    page.get_by_text("Added 1 file(s) to mine: <b>orchard-notes.md").wait_for(timeout=120_000)
    wait_for_app(page)
    # The new collection is in the picker and chosen at once, without another click (no stale picker).
    picker = page.locator('[data-testid="stSelectbox"]').filter(has_text="Collection")
    shown = picker.evaluate("e => e.textContent + ' ' + [...e.querySelectorAll('input')].map(i => i.value).join(' ')")
    assert "mine" in shown, shown
    page.get_by_role("tab", name="Chat").click()
    box = page.get_by_placeholder("Ask about the documents")
    box.fill("What is the gate code of the Brindle Farm orchard?")
    box.press("Enter")
    source = page.get_by_text("Sources: [1] <b>orchard-notes.md")
    source.wait_for(timeout=180_000)
    wait_for_app(page)
    assert_no_exception(page, "rag chat")
    assert page.locator('[data-testid="stChatMessage"]').count() == 2
    assert "4417" in page.locator('[data-testid="stChatMessage"]').last.inner_text()
    screenshot(page, "rag-chat")
    page.get_by_role("tab", name="Retrieval inspector").click()
    page.wait_for_timeout(500)
    screenshot(page, "rag-inspector")
    page.get_by_role("tab", name="Map").click()
    legend = page.locator(".js-plotly-plot .legendtext").filter(has_text="orchard-notes")
    legend.first.wait_for(timeout=30_000)
    texts = legend.all_text_contents()  # SVG text has no innerText
    assert "<b>orchard-notes.md" in texts, texts  # the markup is shown as characters...
    assert page.locator(".js-plotly-plot .legendtext b").count() == 0  # ...and no bold element was made from it
    screenshot(page, "rag-map")
    page.close()


def test_rlhf_labels_two_prompts_with_the_keyboard(app_url, browser, monkeypatch):
    from core import store

    monkeypatch.setenv("LAB_HOME", str(E2E["home"]))  # the same database the served app uses
    for i in range(2):
        [prompt_id] = store.add_prompts([{"text": f"Give one tip for watering tomatoes ({i}).", "category": "helpful"}])
        store.add_comparison(prompt_id, [{"text": text, "model": "written", "settings": {}, "seed": None} for text in
                                         ("Water the soil, not the leaves.", "Tomatoes like to be thirsty.", "Use lemonade.")])
    page = open_page(browser, app_url + "/rlhf", 1300)
    name = page.get_by_role("textbox", name="Your name (annotator)")
    name.fill("keyboard-kim")
    name.press("Enter")
    wait_for_app(page)
    for round in range(2):
        page.locator("h1").first.click()  # focus on the page, not in a text box, so the keys reach the shortcuts
        for key in ("2", "1", "t", "3", "Control+Enter"):
            page.keyboard.press(key)
            wait_for_app(page)
        page.get_by_text("Saved your ranking").wait_for(timeout=30_000)
        assert_no_exception(page, f"rlhf ranking {round + 1}")
        if round == 0:
            screenshot(page, "rlhf-label")
    mine = [r for r in store.list_rankings() if r["annotator"] == "keyboard-kim"]
    assert len(mine) == 2 and all([len(group) for group in r["order"]] == [1, 2] for r in mine)
    # A third prompt, ranked by dragging: the last completion to the top, then Ctrl+Enter.
    [prompt_id] = store.add_prompts([{"text": "Name a pollinator.", "category": "helpful"}])
    store.add_comparison(prompt_id, [{"text": t, "model": "written", "settings": {}, "seed": None} for t in ("Bees", "Rocks", "Moths")])
    page.reload()
    wait_for_app(page)
    name = page.get_by_role("textbox", name="Your name (annotator)")
    name.fill("keyboard-kim")
    name.press("Enter")
    wait_for_app(page)
    page.get_by_text("Or drag them into order").click()
    rows = page.locator("ol.ranker li")
    rows.first.wait_for(timeout=30_000)
    page.locator("ol.ranker").scroll_into_view_if_needed()
    page.wait_for_timeout(600)  # the expander's opening animation moves the rows
    bottom_text = rows.nth(2).inner_text()
    source, target = rows.nth(2).bounding_box(), rows.nth(0).bounding_box()
    page.mouse.move(source["x"] + 20, source["y"] + source["height"] / 2)
    page.mouse.down()
    page.mouse.move(source["x"] + 20, source["y"] + source["height"] / 2 - 5, steps=3)  # start the drag
    page.mouse.move(target["x"] + 20, target["y"] + 3, steps=12)  # onto the top edge of the first row
    page.mouse.up()
    order_shown = [rows.nth(i).inner_text() for i in range(3)]
    assert order_shown[0] == bottom_text, order_shown
    page.get_by_role("button", name="Use this order").click()
    wait_for_app(page)
    # On a busy machine the rerun after the click can start later than wait_for_app's first look: a key pressed
    # while the page re-renders is lost (seen once in CI). Let that rerun start and finish before the key goes.
    page.wait_for_timeout(1000)
    wait_for_app(page)
    page.locator("h1").first.click()
    page.keyboard.press("Control+Enter")
    wait_for_app(page)
    page.get_by_text("Saved your ranking").wait_for(timeout=30_000)
    [dragged] = [r for r in store.list_rankings() if r["prompt"] == "Name a pollinator." and r["annotator"] == "keyboard-kim"]
    assert dragged["completions"][dragged["order"][0][0]] == bottom_text.split()[-1]
    page.get_by_role("tab", name="Data").click()
    page.wait_for_timeout(500)
    screenshot(page, "rlhf-data")
    page.close()


def test_align_runs_two_ppo_steps_and_shows_the_curves_and_the_results(app_url, browser):
    page = open_page(browser, app_url + "/align", 1600)
    box = page.get_by_role("spinbutton", name="Steps")
    box.fill("2")
    box.press("Enter")
    wait_for_app(page)
    page.get_by_role("button", name="Start aligning").click()
    # The monitor re-reads the run every 2 s: the six curves appear once the child has logged its first step.
    page.locator('[data-testid="stPlotlyChart"]').nth(5).wait_for(timeout=300_000)
    assert_no_exception(page, "align running")
    # When the run ends the page reruns by itself and shows the reference's and the policy's held-out answers.
    page.get_by_text("Held-out score after").wait_for(timeout=300_000)
    wait_for_app(page)
    assert_no_exception(page, "align done")
    page.get_by_text("No reward-hacking alarm on the last step").or_(page.locator('[data-testid="stAlert"]')).first.wait_for()
    screenshot(page, "align-ppo")
    page.close()


def test_the_guardrail_tab_scores_a_text_and_shows_its_test_figures(app_url, browser):
    page = open_page(browser, app_url + "/safety", 1500)
    box = page.get_by_label("Texts to score, one per line")
    box.fill("kill the process\nYou're a useless idiot and everyone knows it.")
    box.press("Control+Enter")
    page.get_by_role("button", name="Score").click()
    page.get_by_text("1 of 2 flagged").wait_for(timeout=180_000)
    wait_for_app(page)
    assert_no_exception(page, "guardrail scored")
    page.get_by_text("How good is it? The held-out test split").scroll_into_view_if_needed()
    screenshot(page, "safety-guardrail")
    page.close()


def test_reasoning_runs_pal_and_shows_the_program_and_its_sandbox_answer(app_url, browser):
    page = open_page(browser, app_url + "/reasoning", 2300)
    choose(page, page.locator('[data-testid="stSelectbox"]').filter(has=page.get_by_text("Method", exact=True)),
           "PAL (program + sandbox)")
    wait_for_app(page)
    page.get_by_role("button", name="Solve").click()
    page.get_by_text("The program the model wrote").wait_for(timeout=180_000)
    wait_for_app(page)
    assert_no_exception(page, "PAL solved one problem")
    program = page.locator('[data-testid="stCode"]').nth(1).inner_text()  # the first is the exact prompt (collapsed)
    assert program.strip(), "the program is shown"
    metrics = page.locator('[data-testid="stMetric"]').all_inner_texts()
    assert any(m.startswith("Program's answer") for m in metrics) and any(m.startswith("Sandbox") for m in metrics), metrics
    screenshot(page, "reasoning-pal")
    page.close()


def test_pretraining_opens_every_tab_and_shows_the_bundled_sweep(app_url, browser):
    page = open_page(browser, app_url + "/pretraining", 2000)
    tabs = ["Masked LM", "Span corruption", "Causal LM", "Train from scratch", "Memory & compute", "Sharding",
            "Compute & Chinchilla", "Number formats", "Memory", "Scaling laws"]
    for name in tabs:
        page.get_by_role("tab", name=name, exact=True).click()
        wait_for_app(page)
        assert_no_exception(page, f"pre-training tab {name}")
        if name == "Causal LM":
            screenshot(page, "pretraining-objectives")
        if name == "Memory":
            assert page.locator('[data-testid="stMetric"]', has_text="Total").first.is_visible()
            screenshot(page, "pretraining-memory")
    page.get_by_text("A finished example, measured on").wait_for(timeout=30_000)
    assert page.locator(".js-plotly-plot").filter(visible=True).count() >= 2, "the IsoFLOP and optimum charts"
    screenshot(page, "pretraining-scaling")
    page.close()


def test_inside_the_model_shows_the_forward_pass_and_the_logit_lens(app_url, browser):
    page = open_page(browser, app_url + "/inside", 2000)
    assert_no_exception(page, "inside the model")
    page.locator('[data-testid="stMetric"]', has_text="key/value heads").first.wait_for(timeout=60_000)
    screenshot(page, "inside-outline")
    page.get_by_role("tab", name="Logit lens").click()
    wait_for_app(page)
    assert_no_exception(page, "logit lens")
    assert page.locator(".js-plotly-plot").filter(visible=True).count() >= 1, "the layer x position heatmap"
    screenshot(page, "inside-lens")
    page.close()


def test_optimise_quantises_the_model_and_the_comparison_shows_the_variant(app_url, browser):
    page = open_page(browser, app_url + "/deploy", 1700)
    page.get_by_role("button", name="Quantise").click()
    # The run quantises, saves, then measures the variant and its base (perplexity, accuracy, tokens/s).
    page.locator('[data-testid="stMetric"]', has_text="Perplexity").wait_for(timeout=600_000)
    wait_for_app(page)
    assert_no_exception(page, "quantised")
    screenshot(page, "deploy-quantise")
    page.get_by_role("tab", name="Compare").click()
    wait_for_app(page)
    page.get_by_text("Smaller and better is down-left").wait_for(timeout=30_000)
    # The table is drawn on a canvas; the variant's row shows in the download picker below it.
    screenshot(page, "deploy-compare")
    expect(page.locator('[data-testid="stDataFrame"]').filter(visible=True).first).to_be_visible()
    picked = page.locator('[data-testid="stSelectbox"]').filter(has=page.get_by_text("Variant", exact=True))
    assert "quantised int8" in picked.locator("input").first.get_attribute("aria-label", timeout=10_000) + \
        picked.inner_text() + picked.locator("input").first.input_value(), picked.inner_html()[:500]
    expect(page.get_by_role("button", name="Download (zip)")).to_be_visible()
    assert_no_exception(page, "compare")
    page.close()
