"""One default per setting: each tunable asset's Config mirrors its stage's params dataclass, every
Config field is described (the launchpad shows it), and a run's explicit value always wins."""

import dataclasses
import json
import typing

import dagster as dg
import pytest

from resources.stage_params import StageParamsResource, params_from_config


def _tunable():
    from realsyn_assets.definitions import CONFIG_ALIASES, CORE_PARAMS, TUNABLE

    return TUNABLE, CORE_PARAMS, CONFIG_ALIASES


def _configs() -> dict[str, type[dg.Config]]:
    """Every dg.Config class of the graph's assets (tunable or not), by asset name."""
    from realsyn_assets.definitions import defs

    out = {}
    for asset in defs.resolve_asset_graph().assets_defs:
        if not asset.is_executable:
            continue
        fn = asset.op.compute_fn.decorated_fn
        for value in typing.get_type_hints(fn).values():
            if (
                isinstance(value, type)
                and issubclass(value, dg.Config)
                and not issubclass(value, dg.ConfigurableResource)
            ):
                out[asset.op.name] = value
    return out


def test_every_tunable_asset_has_its_core_params():
    tunable, core, _ = _tunable()
    assert set(core) == set(tunable)


@pytest.mark.parametrize("asset", sorted(_tunable()[0]))
def test_config_defaults_equal_the_core_defaults(asset):
    tunable, core, aliases = _tunable()
    config = tunable[asset]
    compared = 0
    for name, field in config.model_fields.items():
        target = aliases.get((asset, name), name)
        for params in core[asset]:
            fields = {f.name: f for f in dataclasses.fields(params)}
            if target in fields:
                assert fields[target].default is not dataclasses.MISSING, (asset, name)
                assert field.default == fields[target].default, (
                    f"{asset}.{name}: Config default {field.default!r}, "
                    f"{params.__name__}.{target} {fields[target].default!r}"
                )
                compared += 1
    assert compared or not core[asset], f"{asset}: no Config field matches its params"


def test_every_config_field_is_described():
    configs = _configs()
    tunable, _, _ = _tunable()
    assert set(tunable) <= set(configs), "the scan must find every tunable asset's Config"
    missing = [
        f"{asset}.{name}"
        for asset, cls in sorted(configs.items())
        for name, field in cls.model_fields.items()
        if not (field.description or "").strip()
    ]
    assert not missing, f"Config fields without Field(description=...): {missing}"


class _Config(dg.Config):
    a: int = 3
    b: int = 5


@dataclasses.dataclass(frozen=True)
class _Params:
    b: int = 5
    a: int = 3
    device: str = "cpu"


class _Choice(dg.Config):
    kind: typing.Literal["x", "y"] = "x"
    n: int = 1


def _applied(run_config: dict, values: dict, cls: type[dg.Config] = _Config) -> dg.Config:
    seen = []

    @dg.asset(name="stage")
    def stage(config: cls, stage_params: StageParamsResource) -> None:
        seen.append(stage_params.apply("stage", config))

    dg.materialize(
        [stage],
        resources={"stage_params": StageParamsResource(values_json=json.dumps(values))},
        run_config=run_config,
    )
    return seen[0]


def test_a_run_value_equal_to_the_default_beats_the_file():
    tracked = {"stage": {"a": 7, "b": 9}}
    assert _applied({}, tracked) == _Config(a=7, b=9)  # nothing typed: the file's values
    typed = {"ops": {"stage": {"config": {"a": 3}}}}  # typed in, equal to the default
    assert _applied(typed, tracked) == _Config(a=3, b=9)
    typed = {"ops": {"stage": {"config": {"a": 4}}}}
    assert _applied(typed, tracked) == _Config(a=4, b=9)
    assert _applied(typed, {}) == _Config(a=4, b=5)


def test_the_file_sets_a_choice_field():
    """Dagster passes every Literal field to the Config (at its default too): the file's value
    still applies unless the run's config names the field (was: ``[retrieval_pairs] scope``
    in REALSYN_PARAMS silently ignored)."""
    tracked = {"stage": {"kind": "y", "n": 2}}
    assert _applied({}, tracked, _Choice) == _Choice(kind="y", n=2)
    typed = {"ops": {"stage": {"config": {"kind": "x"}}}}  # typed in, equal to the default
    assert _applied(typed, tracked, _Choice) == _Choice(kind="x", n=2)
    assert _applied({}, {}, _Choice) == _Choice()


def test_direct_construction_counts_as_explicit():
    resource = StageParamsResource(values_json=json.dumps({"stage": {"a": 7, "b": 9}}))
    assert resource.apply("stage", _Config(a=3)) == _Config(a=3, b=9)
    assert resource.sources("stage", _Config(a=3)) == {"a": "run config", "b": "REALSYN_PARAMS"}


def test_params_are_built_by_field_name():
    assert params_from_config(_Config(a=1, b=2), _Params) == _Params(b=2, a=1)
    assert params_from_config(_Config(), _Params, device="cuda").device == "cuda"
