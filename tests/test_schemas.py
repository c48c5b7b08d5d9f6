"""rasp.schemas: the config schemas as the one source of defaults and limits."""

from __future__ import annotations

import pytest
import yaml

from rasp import schemas
from rasp.hls import HlsOptions
from rasp.prune.config import PruneConfig
from rasp.train import TrainConfig

from conftest import REPO


def _minimal_config() -> dict:
    return {"seed": 1, "datasets": {"jets": {"source": "pythia"}}, "models": {},
            "hls": {"csim": "all"}, "pruning": {"jets": {"solver": {"gap": 0.01}}}}


def test_fill_defaults_follows_refs_into_every_section():
    cfg = _minimal_config()
    schemas.fill_defaults(cfg)
    assert cfg["hls"]["csim"] == "all"  # given values stay
    assert cfg["hls"]["min_agreement"] == 0.95 and cfg["replicates"] == 1
    # nested blocks behind $ref / $defs get theirs, next to what the user gave
    assert cfg["pruning"]["jets"]["solver"] == {"gap": 0.01, "method": "milp", "time_limit": 20}
    assert cfg["pruning"]["jets"]["budgets"] == [50, 25, 10, 5]
    assert cfg["datasets"]["jets"]["pythia"]["jets_per_shard"] == 3100
    # a mutable default is copied, never shared between blocks or calls
    cfg["pruning"]["jets"]["budgets"].append(1)
    again = _minimal_config()
    schemas.fill_defaults(again)
    assert again["pruning"]["jets"]["budgets"] == [50, 25, 10, 5]


def test_library_classes_take_their_defaults_from_the_schema_files():
    hls = yaml.safe_load((REPO / "src/rasp/schemas/hls.schema.yaml").read_text())
    assert HlsOptions().csim_samples == hls["properties"]["csim_samples"]["default"]
    block = yaml.safe_load((REPO / "src/rasp/schemas/pruning.schema.yaml").read_text())
    props = block["$defs"]["dataset_block"]["properties"]
    assert PruneConfig().importance_batches == props["importance_batches"]["default"]
    assert PruneConfig().solver.time_limit == props["solver"]["properties"]["time_limit"]["default"]
    assert schemas.default("training#/$defs/settings", "epochs") == TrainConfig().epochs


@pytest.mark.parametrize(
    ("section", "bad", "library", "words"),
    [("hls", {"min_agreement": 1.5}, lambda v: HlsOptions.from_dict(v),
      "1.5 is greater than the maximum of 1"),
     ("hls", {"agreement_check": "most"}, lambda v: HlsOptions.from_dict(v),
      "'most' is not one of ['within_tolerance', 'all']")],
)
def test_workflow_and_library_refuse_a_bad_value_with_the_same_words(section, bad, library, words):
    from snakemake.exceptions import WorkflowError
    from snakemake.utils import validate

    cfg = _minimal_config()
    cfg[section] = bad
    with pytest.raises(WorkflowError) as workflow_err:
        validate(cfg, str(schemas.ROOT_SCHEMA))
    with pytest.raises(schemas.SettingsError) as library_err:
        library(bad)
    assert words in str(workflow_err.value) and words in str(library_err.value)
    key = next(iter(bad))
    assert str(library_err.value).startswith(f"{section}.{key}: ")


def test_check_names_the_key_the_rule_and_the_description():
    with pytest.raises(schemas.SettingsError) as err:
        schemas.check({"finetune_epochs": -1}, "pruning#/$defs/dataset_block", where="pruning.jets")
    msg = str(err.value)
    assert msg.startswith("pruning.jets.finetune_epochs: -1 is less than the minimum of 0")
    assert "(masked fine-tuning epochs after each pruning step)" in msg
    with pytest.raises(schemas.SettingsError, match=r"allowed: \['agreement_check', "):
        schemas.check({"csimm": "all"}, "hls")
    with pytest.raises(KeyError, match="no key 'nope'"):
        schemas.subschema("hls", "nope")


def test_check_follows_refs_into_other_schema_files():
    cfg = _minimal_config()
    cfg["hardware"] = {"jets": {"backend": "Quartus"}}
    with pytest.raises(schemas.SettingsError,
                       match=r"^config.hardware.jets.backend: 'Quartus' is not one of"):
        schemas.check(cfg, "config")
    schemas.check(_minimal_config(), "config")  # a valid config passes


def _items_enum(section, *keys):
    return tuple(schemas.subschema(section, *keys)[0]["items"]["enum"])


def test_algorithm_vocabularies_agree_with_the_config_schema():
    """The algorithms define what they support; the schema that checks a config lists the
    same names (a method added to one and not the other fails here, not in a user's run)."""
    from rasp.data.jet_features import BACKENDS
    from rasp.data.prepare import NAN_POLICIES
    from rasp.knapsack.solve import METHODS as SOLVE_METHODS
    from rasp.models import _REGISTRY
    from rasp.prune import config, importance, layerwise, schedule

    block = schemas.PRUNING_BLOCK
    pairs = [
        (importance.METHODS, schemas.enum(block, "importance")),
        (importance.NORMALISATIONS, schemas.enum(block, "normalisation")),
        (schedule.SCHEDULES, schemas.enum(block, "schedule")),
        (config.OBJECTIVES + config.LAYERWISE_OBJECTIVES, _items_enum(block, "objectives")),
        (config.RESOURCES, _items_enum(block, "budget_resources")),
        (layerwise.RESOURCES, _items_enum(block, "layerwise", "budget_resources")),
        (BACKENDS, schemas.enum("datasets", "jets", "pythia", "feature_backend")),
        (NAN_POLICIES, schemas.enum("datasets", "jets", "nan_policy")),
        (tuple(_REGISTRY), schemas.enum("models", "jets", "arch")),
    ]
    for algorithm, schema in pairs:
        assert sorted(algorithm) == sorted(schema)
    # the solver methods the config offers are ones the knapsack layer solves
    assert set(config.SOLVER_METHODS) <= set(SOLVE_METHODS)


def test_absent_sections_get_their_defaults_so_the_rules_can_index_them():
    """The rules read config["hls"][...] and config["figures"][...] directly: a config
    without those sections must come out of fill_defaults with every default."""
    config = {"seed": 1, "datasets": {"jets": {"source": "pythia"}}, "models": {}}
    schemas.fill_defaults(config)
    assert config["hls"] == schemas.defaults("hls")
    assert config["figures"] == schemas.defaults("figures")
    assert config["device"] == "auto" and config["replicates"] == 1
