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
A value given explicitly in a run's config (launchpad, ``run_config``) still wins for that run:
that is a one-off experiment, not a tracked change.
"""

import json
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg

from realsyn.drift import params_digest as drift_params_digest


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


class StageParamsResource(dg.ConfigurableResource):
    """The deployment's stage parameters as JSON (``{asset: {field: value}}``)."""

    values_json: str = "{}"

    def values(self, asset: str) -> dict[str, Any]:
        return json.loads(self.values_json).get(asset, {})

    def apply(self, asset: str, config: dg.Config) -> dg.Config:
        """``config`` with the deployment's values for the fields the run left at their
        defaults."""
        fields = type(config).model_fields
        update = {
            k: v for k, v in self.values(asset).items() if getattr(config, k) == fields[k].default
        }
        return config.model_copy(update=update) if update else config
