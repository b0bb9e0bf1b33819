"""Every read is declared: an asset that reads another asset's partitions has it in its deps.

The reads are found in the code, not by grep: each asset's compute function (and every helper
function of ``realsyn_assets`` it calls, recursively) is parsed, and every argument of every call
that evaluates to an asset's name is a read: a string literal, a module constant or closure
variable holding one (``ASSET``), or a tuple of them (``for asset in FUNNEL_ASSETS``). The
asset's own name (it writes itself, and some stages re-use their own previous partition) does not
count. Resources read too: ``clip_model`` loads the ``clip_training`` checkpoint when the
deployment's checkpoint is ``asset:clip_training`` (the default).
"""

import ast
import inspect
import textwrap
import typing

import dagster as dg
import pytest

from resources.clip_model import TRAINED, ClipModelResource

# Reads that stay undeclared on purpose, each with why. clip_training's ``source: scale`` reads a
# scaled_subsets partition, which is itself downstream of clip_training (through the embeddings
# its checkpoint makes): declaring it would be a cycle. The default source (alt_text) never
# reads it.
UNDECLARED = {("clip_training", "scaled_subsets")}


def _graph():
    from realsyn_assets.definitions import defs

    return defs.resolve_asset_graph()


def _names(node: ast.AST, env: dict, assets: set[str], literals: bool = False) -> set[str]:
    """Asset names ``node`` evaluates to, as far as it can be told without running it. A
    literal list or tuple counts only where it is iterated (``literals``): as a call argument
    it is usually column names (``["image_cluster", "pool", "release"]``)."""
    if isinstance(node, ast.Constant):
        return {node.value} & assets if isinstance(node.value, str) else set()
    if isinstance(node, ast.Name):
        value = env.get(node.id)
        if isinstance(value, str):
            return {value} & assets
        if isinstance(value, tuple | list | frozenset | set):
            return {v for v in value if isinstance(v, str)} & assets
        return set()
    if isinstance(node, ast.Tuple | ast.List | ast.Set) and literals:
        return set().union(*(_names(e, env, assets, literals) for e in node.elts))
    if isinstance(node, ast.Starred):
        return _names(node.value, env, assets, literals)
    return set()


def _callee(func: ast.AST, env: dict):
    return env.get(func.id) if isinstance(func, ast.Name) else None


def code_reads(fn, assets: set[str], seen: set | None = None) -> set[str]:
    """Asset names that ``fn`` and the ``realsyn_assets`` helpers it calls pass to calls."""
    seen = set() if seen is None else seen
    fn = inspect.unwrap(fn)
    env = {**fn.__globals__, **inspect.getclosurevars(fn).nonlocals}
    found: set[str] = set()
    tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    tree.body[0].decorator_list = []  # @dg.asset(group_name="release", ...) is no read
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            for arg in [*node.args, *(k.value for k in node.keywords)]:
                found |= _names(arg, env, assets)
            callee = _callee(node.func, env)
            if (
                inspect.isfunction(callee)
                and callee.__module__.startswith("realsyn_assets")
                and callee not in seen
            ):
                seen.add(callee)
                found |= code_reads(callee, assets, seen)
            elif (  # a realsyn_assets class (a shard source a map task calls): its methods
                inspect.isclass(callee)
                and callee.__module__.startswith("realsyn_assets")
                and callee not in seen
            ):
                seen.add(callee)
                for name, member in vars(callee).items():  # not the generated __init__ etc.
                    if inspect.isfunction(member) and not name.startswith("__"):
                        found |= code_reads(member, assets, seen)
        elif isinstance(node, ast.For):
            found |= _names(node.iter, env, assets, literals=True)
    return found


def resource_reads(fn) -> set[str]:
    from realsyn_assets.definitions import settings

    hints = typing.get_type_hints(inspect.unwrap(fn))
    uses_clip = any(h is ClipModelResource for h in hints.values())
    return {"clip_training"} if uses_clip and settings.clip_checkpoint == TRAINED else set()


def _reads_and_deps():
    graph = _graph()
    assets = {k.to_user_string() for k in graph.get_all_asset_keys()}
    out = {}
    for assets_def in graph.assets_defs:
        if not assets_def.is_executable:  # an observed/external asset: no code reads anything
            continue
        fn = assets_def.op.compute_fn.decorated_fn
        for key in assets_def.keys:
            name = key.to_user_string()
            reads = (code_reads(fn, assets) | resource_reads(fn)) - {name}
            deps = {k.to_user_string() for k in graph.get(key).parent_keys}
            out[name] = (reads, deps)
    return out


def test_every_read_is_a_declared_dep():
    undeclared = {
        (asset, read) for asset, (reads, deps) in _reads_and_deps().items() for read in reads - deps
    }
    assert undeclared == UNDECLARED, sorted(undeclared - UNDECLARED)


def test_the_scan_finds_reads_in_helpers_constants_and_loops():
    found = _reads_and_deps()
    # _shard_images (a helper); sentence_semantics read by the shard source a map task calls
    assert {"sentence_clusters", "clean_images", "image_dedup"} <= found["retrieval_pairs"][0]
    assert "sentence_semantics" in found["sentence_clusters"][0]
    # the dataset card's funnel: for asset in (*FUNNEL_ASSETS, ...)
    assert {"sentences", "sentence_semantics", "synthetic_texts"} <= found["release"][0]
    assert found["raw_documents"][0] == set()


@pytest.mark.parametrize(
    "asset, partition, expected",
    [
        ("retrieval_pairs", "a/x.jsonl", {("clean_images", "a/x.jsonl"), ("image_dedup", None)}),
        ("synthetic_texts", "a/x.jsonl", {("clean_images", "a/x.jsonl"), ("clip_training", None)}),
        ("release", "t35", {("clean_images", "a/x.jsonl"), ("clean_images", "b/y.jsonl")}),
        ("sentence_clusters", None, {("sentence_semantics", "b/y.jsonl")}),
    ],
)
def test_deps_map_each_partition_to_the_partitions_it_reads(asset, partition, expected):
    """The same shard for a shard asset, every shard for a per-scale or global asset."""
    from dagster._core.definitions.partitions.context import partition_loading_context

    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("shards", ["a/x.jsonl", "b/y.jsonl"])
    with partition_loading_context(dynamic_partitions_store=instance):
        result = _graph().get_parents_partitions(dg.AssetKey(asset), partition)
    parents = {(p.asset_key.to_user_string(), p.partition_key) for p in result.parent_partitions}
    assert expected <= parents
    assert not result.required_but_nonexistent_parents_partitions
