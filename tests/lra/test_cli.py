"""CLI and --set overrides: typed parsing, aliases, mixer/kernel keys, clear errors."""

from __future__ import annotations

import json

import pytest

from lra.cli import build_config, main, run_name
from lra.tasks import apply_overrides, get_config, parse_value, valid_keys


def test_typed_overrides():
    cfg = build_config("listops", "sgconv", "cpu", 0, [
        "optim.lr=1e-4", "backbone.n_layer=3", "backbone.prenorm=true", "data.n_train=none",
        "optim.betas=[0.8, 0.99]", "backbone.mixer_kwargs.kernel_kwargs.kernel_dim=4", "model.d_model=32",
        "data.gen.max_length=300", "seed=5", "backbone.mixer_kwargs.kernel_kwargs.interpolate=nearest"])
    assert cfg["optim"]["lr"] == 1e-4 and isinstance(cfg["optim"]["lr"], float)
    assert cfg["backbone"]["n_layer"] == 3 and cfg["backbone"]["prenorm"] is True
    assert cfg["data"]["n_train"] is None and cfg["optim"]["betas"] == [0.8, 0.99]
    assert cfg["backbone"]["mixer_kwargs"]["kernel_kwargs"] == {"kernel_dim": 4, "interpolate": "nearest"}
    assert cfg["backbone"]["d_model"] == 32 and cfg["data"]["gen"]["max_length"] == 300 and cfg["seed"] == 5


def test_parse_value_types():
    assert parse_value("3", 1) == 3 and parse_value("3e2", 1) == 300
    assert parse_value("0.5", 1.0) == 0.5 and parse_value("2", 1.0) == 2.0
    assert parse_value("no", True) is False and parse_value("x", "y") == "x"
    assert parse_value("1e-3") == 1e-3 and parse_value('{"a": 1}') == {"a": 1} and parse_value("abc") == "abc"
    with pytest.raises(ValueError, match="expected an int"):
        parse_value("1.5", 1)
    with pytest.raises(ValueError, match="expected a boolean"):
        parse_value("maybe", False)


def test_unknown_key_lists_valid_keys():
    cfg = get_config("listops", "sgconv", "cpu")
    with pytest.raises(ValueError, match="unknown config key 'optim.learning_rate'") as e:
        apply_overrides(cfg, ["optim.learning_rate=1"])
    assert "optim.lr" in str(e.value) and "backbone.mixer_kwargs.kernel_kwargs.kernel_dim" in str(e.value)
    with pytest.raises(ValueError, match="key=value"):
        apply_overrides(cfg, ["optim.lr"])
    with pytest.raises(ValueError, match="optim.lr: expected a float"):
        apply_overrides(cfg, ["optim.lr=fast"])
    # kernel keys exist only for convolution mixers
    assert not any(".kernel_kwargs." in k for k in valid_keys(get_config("listops", "transformer", "cpu")))
    assert "backbone.mixer_kwargs.n_heads" in valid_keys(get_config("listops", "transformer", "cpu"))


def test_cli_bad_set_exits_with_message(capsys):
    with pytest.raises(SystemExit) as e:
        main(["config", "--task", "listops", "--set", "optim.nope=1"])
    assert e.value.code == 2
    assert "unknown config key 'optim.nope'" in capsys.readouterr().err


def test_cli_config_prints_json_and_diff(capsys):
    assert main(["config", "--task", "text", "--model", "longconv", "--preset", "cpu", "--set", "optim.lr=0.002"]) == 0
    out = capsys.readouterr().out
    cfg = json.loads(out[: out.index("\ncpu preset differs")])
    assert cfg["optim"]["lr"] == 0.002 and cfg["model"] == "longconv"
    assert "backbone.d_model: paper=256 -> cpu=64" in out


def test_cli_rejects_unknown_task():
    with pytest.raises(SystemExit):
        main(["run", "--task", "nope"])


def test_run_name():
    cfg = get_config("listops", "sgconv", "cpu", seed=2)
    assert run_name(cfg, []) == "listops-sgconv-cpu-seed2"
    assert run_name(cfg, ["optim.lr=1"]) == run_name(cfg, ["optim.lr=1"]) != run_name(cfg, ["optim.lr=2"])


@pytest.mark.parametrize("command", ["run", "generate"])
def test_cli_missing_data_exits_with_message_not_traceback(command, tmp_path, capsys):
    # Retrieval has no offline source: the CLI says which files to put where, as an argparse-style error
    with pytest.raises(SystemExit) as e:
        main([command, "--task", "retrieval", "--model", "sgconv", "--preset", "cpu", "--data-dir", str(tmp_path)]
             + (["--out", str(tmp_path / "runs")] if command == "run" else []))
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "new_aan_pairs.train.tsv" in err and "Traceback" not in err


def test_cli_corrupt_data_exits_with_file_and_line(tmp_path, capsys):
    # a ListOps TSV with a label out of range on line 3: the error names the file and the line
    folder = tmp_path / "listops-1000"
    folder.mkdir()
    rows = ["Source\tTarget", "[MAX 1 2 ]\t2", "[MIN 3 4 ]\t12"]
    for split in ("train", "val", "test"):
        (folder / f"basic_{split}.tsv").write_text("\n".join(rows) + "\n")
    with pytest.raises(SystemExit) as e:
        main(["run", "--task", "listops", "--model", "sgconv", "--preset", "cpu", "--data-dir", str(tmp_path),
              "--out", str(tmp_path / "runs"), "--no-progress"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "basic_" in err and "3" in err
