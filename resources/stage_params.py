"""StageParamsResource: the deployment's stage parameters (filters, thresholds), tracked.

A TOML file named by ``REALSYN_PARAMS`` sets asset config values for the whole deployment::

    [sentences]
    max_words = 60

    [clean_images]
    min_side = 150

Those values replace the config defaults of the named assets, and ``definitions.py`` folds a
digest of each asset's values into its code version: after a change, the UI marks exactly
those assets stale (*has a new code version*), and once they are re-materialized, the
downstream partitions whose inputs really changed (*has a new dependency data version*).
A value given explicitly in a run's config (launchpad, ``run_config``) still wins for that run,
even one equal to the default: that is a one-off experiment, not a tracked change. (The
launchpad's "scaffold" fills in every default: delete the lines you do not mean to set.)
"""

import dataclasses
import enum
import json
import tomllib
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import dagster as dg
from pydantic import PrivateAttr

from realsyn.drift import params_digest as drift_params_digest

P = TypeVar("P")


def load_stage_params(path: str | Path) -> dict[str, dict[str, Any]]:
    """Read the TOML file: one table per asset. Raises ValueError with the file's name."""
    try:
        data = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise ValueError(f"REALSYN_PARAMS {path}: {err}") from err
    bad = [k for k, v in data.items() if not isinstance(v, dict)]
    if bad:
        raise ValueError(f"REALSYN_PARAMS {path}: expected one [table] per asset, got {bad}")
    return data


def params_digest(values: Mapping[str, Any]) -> str:
    """8 hex of the parameters' digest (the one drift profiles record, shortened)."""
    return drift_params_digest(values)[:8]


def validate_stage_params(
    params: Mapping[str, Mapping[str, Any]], configs: Mapping[str, type[dg.Config]]
) -> None:
    """Every table names a tunable asset, every key one of its config fields, every value the
    field's type (pydantic validation of the asset's Config class)."""
    for asset, values in params.items():
        if asset not in configs:
            raise ValueError(
                f"REALSYN_PARAMS: [{asset}] is not a tunable asset; choose from {sorted(configs)}"
            )
        cls = configs[asset]
        unknown = sorted(set(values) - set(cls.model_fields))
        if unknown:
            raise ValueError(
                f"REALSYN_PARAMS: [{asset}] has no parameter(s) {unknown}; "
                f"its parameters are {sorted(cls.model_fields)}"
            )
        try:
            cls(**values)
        except Exception as err:  # pydantic's ValidationError, reported with the asset's name
            raise ValueError(f"REALSYN_PARAMS: [{asset}] {err}") from err


def with_param_versions(assets: list, params: Mapping[str, Mapping[str, Any]]) -> list:
    """Fold each tuned asset's parameter digest into its code version (``1`` -> ``1+p1a2b3c4d``)."""

    def version(spec: dg.AssetSpec) -> dg.AssetSpec:
        values = params.get(spec.key.to_user_string())
        if not values:
            return spec
        return spec.replace_attributes(code_version=f"{spec.code_version}+p{params_digest(values)}")

    return list(dg.map_asset_specs(version, assets))


def params_from_config(config: dg.Config, params_cls: type[P], **extra: Any) -> P:
    """The stage's params dataclass from an asset's config, field by field by name (never by
    position): every params field the config has, plus ``extra`` (values that are not settings,
    e.g. a device). Params fields the config lacks keep the dataclass default."""
    names = {f.name for f in dataclasses.fields(params_cls)}
    values = {k: getattr(config, k) for k in type(config).model_fields if k in names}
    return params_cls(**{**values, **extra})


def _is_choice(annotation: Any) -> bool:
    """A ``Literal[...]`` or ``Enum`` type: Dagster always passes such a field to the Config."""
    return typing.get_origin(annotation) is typing.Literal or (
        isinstance(annotation, type) and issubclass(annotation, enum.Enum)
    )


class StageParamsResource(dg.ConfigurableResource):
    """The deployment's stage parameters as JSON (``{asset: {field: value}}``).

    A field the run's config sets explicitly (launchpad, ``run_config``) wins over the file
    even when its value equals the default: the run's own config is read when the resource is
    set up for the run, so "typed in" and "left out" are told apart by presence, not by value.
    """

    values_json: str = "{}"
    _run_fields: dict[str, frozenset[str]] = PrivateAttr(default_factory=dict)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        run = context.run
        ops = ((run.run_config or {}) if run is not None else {}).get("ops") or {}
        self._run_fields = {
            op: frozenset((value or {}).get("config") or {})
            for op, value in ops.items()
            if isinstance(value, Mapping)
        }

    def values(self, asset: str) -> dict[str, Any]:
        return json.loads(self.values_json).get(asset, {})

    def explicit_fields(self, asset: str, config: dg.Config) -> frozenset[str]:
        """The fields of ``config`` that the run set: those in the run's config for the asset's
        op, and those given when ``config`` was built directly (pydantic ``model_fields_set``).

        Dagster builds an asset's config with every ``Literal``/``Enum`` field passed in, even
        when left at its default (its other fields only when they differ from the default), so
        a choice field at its default counts as set only when the run's config names it: else
        the file could never change it (e.g. ``[retrieval_pairs] scope``)."""
        run = self._run_fields.get(asset, frozenset())
        fields = type(config).model_fields
        given = {
            k
            for k in config.model_fields_set
            if not (_is_choice(fields[k].annotation) and getattr(config, k) == fields[k].default)
        }
        return frozenset(given) | run

    def apply(self, asset: str, config: dg.Config) -> dg.Config:
        """``config`` with the deployment's values for every field the run did not set."""
        explicit = self.explicit_fields(asset, config)
        update = {k: v for k, v in self.values(asset).items() if k not in explicit}
        return config.model_copy(update=update) if update else config

    def sources(self, asset: str, config: dg.Config) -> dict[str, str]:
        """Where each field's value came from: ``run config``, ``REALSYN_PARAMS`` or
        ``default`` (the stage's params dataclass, mirrored by the Config)."""
        explicit, tracked = self.explicit_fields(asset, config), self.values(asset)
        return {
            k: "run config" if k in explicit else "REALSYN_PARAMS" if k in tracked else "default"
            for k in type(config).model_fields
        }
