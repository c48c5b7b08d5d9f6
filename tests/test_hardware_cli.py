"""``python -m rasp.hardware`` on a checkpoint saved with rasp.models.save_checkpoint."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest
import torch
import yaml

from rasp.hardware.__main__ import main
from rasp.models import build_model, save_checkpoint, save_masks

from conftest import REPO


@pytest.fixture
def checkpoint(tmp_path):
    torch.manual_seed(0)
    model = build_model("jet_mlp")
    path = tmp_path / "model.pt"
    save_checkpoint(path, model, {"variant": "float", "seed": 0, "data_source": "synthetic"})
    return path


def test_help_prints_usage():
    res = subprocess.run([sys.executable, "-m", "rasp.hardware", "--help"], cwd=REPO,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0
    assert "usage: python -m rasp.hardware" in res.stdout and "--hardware-config" in res.stdout


def test_cli_prints_table_for_checkpoint(checkpoint, tmp_path, capsys):
    # the project config: hardware.jets is picked from the checkpoint's arch
    assert main([str(checkpoint), "--hardware-config", str(REPO / "config" / "config.yaml"),
                 "--rf", "4", "--csv", str(tmp_path / "est.csv")]) == 0
    out = capsys.readouterr().out
    assert "hardware.jets" in out and "total" in out and "1064" in out
    table = pd.read_csv(tmp_path / "est.csv", index_col="layer")
    assert table.loc["total", "multipliers"] == 1064

    # a bare settings block and a masks file
    hw = tmp_path / "hw.yaml"
    hw.write_text(yaml.safe_dump({"strategy": "auto", "precision": "ap_fixed<16,6>"}))
    masks = {"fc1.weight": torch.zeros(64, 16, dtype=torch.bool)}
    torch.save(masks, tmp_path / "masks.pt")
    assert main([str(checkpoint), "--hardware-config", str(hw), "--rf", "4",
                 "--masks", str(tmp_path / "masks.pt"), "--csv", str(tmp_path / "m.csv")]) == 0
    table = pd.read_csv(tmp_path / "m.csv", index_col="layer")
    assert table.loc["fc1", "multipliers"] == 0 and table.loc["total", "multipliers"] == 1064 - 256

    # the masks.pt the prune rule writes (format, masks, meta) reads the same
    save_masks(tmp_path / "rule_masks.pt", masks, {"objective": "dsp"})
    assert main([str(checkpoint), "--hardware-config", str(hw), "--rf", "4",
                 "--masks", str(tmp_path / "rule_masks.pt"), "--csv", str(tmp_path / "r.csv")]) == 0
    assert pd.read_csv(tmp_path / "r.csv", index_col="layer").equals(table)


def test_cli_errors_are_clear(checkpoint, tmp_path, capsys):
    assert main([str(checkpoint), "--hardware-config", str(REPO / "config" / "config.yaml"),
                 "--dataset", "jets", "--rf", "3"]) == 1
    assert "hls4ml would silently use 2" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([str(checkpoint), "--rf", "4"])  # no hardware config
