"""AppTest: the Prompt shots page."""

import pytest

from tests.pages.helpers import page_test


def test_the_prompt_is_shown_with_its_parts(tiny_wide_dir):
    at = page_test("shots", tiny_wide_dir).run()
    assert not at.exception
    assert any("The prompt the model receives" in m.value for m in at.markdown)
    at.button(key="shots.run_one").click().run()
    assert not at.exception and at.metric[0].value in ("positive", "negative")


def test_a_small_sweep_draws_the_chart(tiny_wide_dir):
    at = page_test("shots", tiny_wide_dir).run()
    at.multiselect(key="shots.ks").set_value([0, 2]).run()
    at.number_input(key="shots.n").set_value(2).run()
    at.button(key="shots.sweep").click().run()
    assert not at.exception
    assert len(at.session_state["shots.results"]) == 4
    assert at.get("plotly_chart") and at.get("download_button")


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [(b"", "empty.csv", "empty"), (b"\xff\xfe\x00bad", "bad.csv", "not UTF-8"),
     (b"text,label\na,pos\nb,pos\n", "one.csv", "needs at least two labels")],
)
def test_bad_uploads_give_a_clear_message(tiny_wide_dir, content, name, message):
    at = page_test("shots", tiny_wide_dir).run()
    at.radio(key="shots.source").set_value("Upload").run()
    at.file_uploader(key="shots.upload").upload(name, content).run()
    assert not at.exception
    assert message in at.error[0].value


def test_a_pool_smaller_than_k_says_how_many_shots_the_prompt_really_holds(tiny_wide_dir):
    at = page_test("shots", tiny_wide_dir).run()
    at.radio(key="shots.source").set_value("Upload").run()
    at.file_uploader(key="shots.upload").upload("two.csv", b"text,label\nwhat a great film,pos\nan awful film,neg\n").run()
    assert not at.exception
    at.slider(key="shots.k").set_value(2).run()
    assert any("only 1 example(s) to draw from, so the prompt holds 1 shot(s), not 2" in w.value for w in at.warning), \
        [w.value for w in at.warning] + [e.value for e in at.error]
