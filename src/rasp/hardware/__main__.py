"""``python -m rasp.hardware``: print the resource estimate of a saved checkpoint.

Examples::

    python -m rasp.hardware results/jets/baseline/float/model.pt \\
        --hardware-config config/config.yaml --dataset jets --rf 4
    python -m rasp.hardware model.pt --hardware-config hw.yaml --rf 4 --masks masks.pt
    python -m rasp.hardware model.pt --hls-config results/jets/hls/float/baseline_rf4/hls_config.yml
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields
from typing import Any

import yaml

from rasp.atomic import atomic_path

ARCH_DATASETS = {"jet_mlp": "jets", "svhn_cnn": "svhn"}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m rasp.hardware",
        description=(
            "Estimate what hls4ml 1.3.0 builds for a saved checkpoint: per-layer multipliers, "
            "DSP, BRAM_18K, non-zero weights, LUT and latency (docs/hardware_model.md)."
        ),
    )
    p.add_argument("checkpoint", help="model.pt written by rasp.models.save_checkpoint")
    p.add_argument(
        "--hardware-config", metavar="FILE.yaml",
        help="YAML with hardware settings: a 'hardware.<dataset>' block, a mapping "
             "dataset -> block, or a full config/config.yaml (needs --rf)",
    )
    p.add_argument("--rf", type=int, metavar="N", help="reuse factor of every layer")
    p.add_argument("--dataset", help="which hardware.<dataset> block to use (default: from "
                   "the checkpoint's arch, or the only block)")
    p.add_argument("--hls-config", metavar="FILE.yml",
                   help="an hls4ml config written by rasp.hardware.save_hls_config "
                        "(instead of --hardware-config/--rf)")
    p.add_argument("--masks", metavar="masks.pt",
                   help="torch file: parameter name -> bool tensor (True = kept); default: "
                        "the masks stored in the checkpoint, if any")
    p.add_argument("--csv", metavar="OUT.csv", help="also write the table (with totals) as CSV")
    return p


def _settings_block(path: str, dataset: str | None, arch: str | None) -> tuple[dict[str, Any], str]:
    from rasp.hardware.settings import HardwareSettings

    with open(path) as fh:
        data = yaml.safe_load(fh) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a YAML mapping")
    if "hardware" in data and isinstance(data["hardware"], dict):
        data = data["hardware"]
    setting_keys = {f.name for f in fields(HardwareSettings)}
    if set(data) <= setting_keys:
        return data, path
    if dataset is None:
        dataset = ARCH_DATASETS.get(arch or "")
        if dataset not in data:
            dataset = next(iter(data)) if len(data) == 1 else None
    if dataset is None or dataset not in data:
        raise ValueError(f"{path}: choose the hardware block with --dataset (found {sorted(data)})")
    return data[dataset], f"{path} [hardware.{dataset}]"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.hls_config is None and (args.hardware_config is None or args.rf is None):
        _parser().error("give --hardware-config FILE.yaml and --rf N, or --hls-config FILE.yml")
    if args.hls_config is not None and (args.hardware_config is not None or args.rf is not None):
        _parser().error("--hls-config excludes --hardware-config and --rf")
    try:
        from rasp.hardware.estimate import estimate_resources
        from rasp.hardware.hls_config import load_hls_config, make_hls_config
        from rasp.hardware.settings import HardwareSettings
        from rasp.models import load_checkpoint, load_masks

        model, meta = load_checkpoint(args.checkpoint)
        if args.hls_config:
            hls_config = load_hls_config(args.hls_config)
            source = args.hls_config
        else:
            block, source = _settings_block(args.hardware_config, args.dataset, meta.get("arch"))
            settings = HardwareSettings.from_dict(block)
            hls_config = make_hls_config(model, model.input_shape, settings, args.rf)
        masks = load_masks(args.masks) if args.masks else meta.get("masks") or None
        if masks is not None and not args.masks:
            print("using the masks stored in the checkpoint", file=sys.stderr)
        est = estimate_resources(model, hls_config, masks)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"checkpoint: {args.checkpoint} (arch {meta.get('arch')}, variant {meta.get('variant')})")
    print(f"hardware:   {source}")
    print(est)
    if args.csv:
        with atomic_path(args.csv) as tmp:
            est.table().to_csv(tmp, index_label="layer")
    return 0


if __name__ == "__main__":
    sys.exit(main())
