"""core.data: the bundled datasets and clear errors for bad uploads."""

import pytest

from core.data import DataError, build_task, load_bundled, read_records


def test_bundled_sentiment_is_balanced_with_pool_and_test():
    task = load_bundled("sentiment")
    assert task.kind == "classification" and task.labels == ("negative", "positive")
    assert len(task.examples) >= 300 and len(task.split("pool")) == 120 and len(task.split("test")) == 200
    assert sum(e.target == "positive" for e in task.split("test")) == 100


def test_bundled_dialogsum_has_summaries():
    task = load_bundled("dialogsum")
    assert task.kind == "generation" and len(task.examples) >= 150
    assert all(3 <= e.input.count("\n") + 1 <= 10 for e in task.examples)


def test_csv_upload_with_a_column_mapping_gets_splits():
    data = "review,stars\n" + "\n".join(f"text {i},{'good' if i % 2 else 'bad'}" for i in range(10))
    task = build_task(read_records(data.encode(), "mine.csv"), "mine", "classification", "review", "stars")
    assert task.labels == ("bad", "good") and task.split("pool") and task.split("test")


@pytest.mark.parametrize(
    ("content", "filename", "message"),
    [
        (b"", "empty.csv", "empty"),
        (b"   \n  ", "blank.jsonl", "empty"),
        ("text,label\ncafé,positive\n".encode("latin-1"), "latin.csv", "not UTF-8"),
        (b'{"text": "a", "label": "x"}\n{not json}\n', "bad.jsonl", "line 2: not valid JSON"),
        (b'["a list"]\n', "list.jsonl", "line 1: expected a JSON object"),
        (b"text,label\n", "header.txt", "use a .csv or .jsonl"),
    ],
)
def test_unreadable_uploads_say_why(content, filename, message):
    with pytest.raises(DataError, match=message):
        read_records(content, filename)


def test_wrong_columns_are_named():
    records = read_records(b"body,label\nhello,positive\nbye,negative\n", "x.csv")
    with pytest.raises(DataError, match="no column 'text'; its columns are: body, label"):
        build_task(records, "x.csv", "classification", "text", "label")


def test_one_label_only_is_refused():
    records = read_records(b"text,label\na,positive\nb,positive\nc,positive\n", "x.csv")
    with pytest.raises(DataError, match="every row has the label 'positive'"):
        build_task(records, "x.csv", "classification", "text", "label")


def test_an_empty_cell_is_reported_by_line():
    records = read_records(b"text,label\na,positive\n,negative\n", "x.csv")
    with pytest.raises(DataError, match="line 3: column 'text' is empty"):
        build_task(records, "x.csv", "classification", "text", "label")


def test_a_csv_cell_over_the_limit_is_one_clear_error_naming_its_line():
    from core.data import CSV_FIELD_MAX

    data = b"text,label\nshort,pos\n" + b'"' + b"x" * (CSV_FIELD_MAX + 10) + b'",neg\n'
    with pytest.raises(DataError, match=r"big.csv, line \d+: not readable as CSV \(field larger than field limit"):
        read_records(data, "big.csv")
    # and a cell over the csv module's own default of 131,072 characters is fine
    assert len(read_records(b"text,label\n" + b"y" * 200_000 + b",pos\n", "long.csv")[0]["text"]) == 200_000


def test_deeply_nested_json_is_one_clear_error():
    with pytest.raises(DataError, match="deep.jsonl, line 2: the JSON is nested too deeply"):
        read_records(b'{"a": 1}\n' + b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n", "deep.jsonl")


@pytest.mark.parametrize("sent", ["../../etc/passwd.csv", "a/b\\\\c.jsonl", "x" * 300 + ".csv", "", "...", "notes (final).CSV"])
def test_an_upload_keeps_a_safe_short_name_inside_uploads_and_its_original_for_display(sent, lab_home):
    from core.data import UPLOAD_NAME_MAX, save_upload, upload_name

    path = save_upload(b"text,label\na,pos\n", sent)
    assert path.parent == lab_home / "uploads" and path.read_bytes() == b"text,label\na,pos\n"
    assert len(path.name) <= 13 + UPLOAD_NAME_MAX and "/" not in path.name and not path.name.startswith(".")
    assert upload_name(path) == ((sent.replace("\\\\", "/").rsplit("/", 1)[-1].strip() or "upload")[:500])


def test_an_upload_on_a_full_disk_says_so_and_leaves_nothing_half_written(small_disk, monkeypatch):
    from core.data import save_upload
    from core.files import DiskFullError
    from tests.conftest import fill

    monkeypatch.setenv("LAB_HOME", str(small_disk / "lab"))
    (small_disk / "lab" / "uploads").mkdir(parents=True)
    fill(small_disk, 64 * 1024)
    with pytest.raises(DiskFullError, match="Disk full: the upload 'big.csv' was not saved and nothing changed"):
        save_upload(b"x" * 1_000_000, "big.csv")
    assert list((small_disk / "lab" / "uploads").iterdir()) == []


def test_jsonl_rows_skip_a_line_torn_by_a_kill(tmp_path):
    from core.files import read_jsonl_rows

    path = tmp_path / "results.jsonl"
    assert read_jsonl_rows(path) == []
    path.write_text('{"a": 1}\n{"a": 2}\n{"a": 3, "b": "hal')  # the last write never finished
    assert read_jsonl_rows(path) == [{"a": 1}, {"a": 2}]
