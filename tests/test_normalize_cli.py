"""`mtts normalize`: text from the argument, a file or standard input; --explain; bad input."""

from typer.testing import CliRunner

from mtts.cli import app

runner = CliRunner()


def test_prints_the_reading():
    res = runner.invoke(app, ["normalize", "It cost $3.50 on 12/25/2020."])
    assert res.exit_code == 0
    assert res.stdout.strip() == "It cost three dollars fifty cents on december twenty fifth twenty twenty."


def test_reads_a_file_and_standard_input(tmp_path):
    f = tmp_path / "t.txt"
    f.write_text("Mr. Smith\nat 5 pm\n", encoding="utf-8")
    res = runner.invoke(app, ["normalize", "--text-file", str(f)])
    assert res.exit_code == 0 and res.stdout.splitlines() == ["mister Smith", "at five p m"]
    res = runner.invoke(app, ["normalize"], input="10 kg\n")
    assert res.exit_code == 0 and res.stdout.strip() == "ten kilograms"


def test_explain_shows_span_class_and_reading():
    res = runner.invoke(app, ["normalize", "--explain", "Henry VIII paid $5."])
    assert res.exit_code == 0
    assert "Henry the eighth paid five dollars." in res.output
    for cell in ("span", "class", "reading", "VIII", "ROMAN", "the eighth", "$5", "MONEY", "five dollars"):
        assert cell in res.output


def test_bad_input_is_one_line(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"caf\xe9\n")
    for args, match in ((["normalize", "--text-file", str(tmp_path / "none.txt")], "does not exist"),
                        (["normalize", "--text-file", str(bad)], "is not UTF-8 text"),
                        (["normalize", "x", "--text-file", str(bad)], "not both")):
        res = runner.invoke(app, args)
        assert res.exit_code == 1 and res.output.strip().startswith("error:") and match in res.output
        assert "Traceback" not in res.output and len(res.output.strip().splitlines()) == 1
