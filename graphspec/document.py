"""The document stage: the graphspec format v1 as pydantic models, and `validate_document`,
which turns a `Source` into a `Document` (every valid piece, with a diagnostic for each
invalid one).

No I/O and no Keras here. The field docstrings become the JSON Schema descriptions that
editors show while a spec is written; they are read from this file's source only when a
schema or a description is asked for (`describe_fields`), not by every `validate`.
"""

from __future__ import annotations

import ast
import functools
import inspect
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    ValidationError,
)

from .codes import NODE_KINDS, report
from .errors import Diagnostic, did_you_mean, pointer
from .source import MISSING, Source, child

FORMAT_VERSION = 1
SCHEMA_ID = "https://graphspec.dev/schemas/graphspec.schema.json"

DTYPES = (
    "float16",
    "float32",
    "float64",
    "bfloat16",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "bool",
    "string",
    "complex64",
    "complex128",
)

Name = Annotated[str, Field(min_length=1, pattern=r"^[^/:]+$")]
"""A model, input or node name: Keras forbids '/' in layer names and ':' selects an output."""

Ref = Annotated[str, Field(min_length=1, pattern=r"^[^/]+$")]
"""An input name, a node name, or `node:k` for output k of a node with several outputs."""

T = TypeVar("T")
NonEmpty = Annotated[T, Field(min_length=1)]
"""A list or mapping with at least one entry (a model or block without outputs cannot be built)."""

Inputs = Union[Ref, list[Ref], dict[str, Union[Ref, list[Ref]]]]

_REF = re.compile(r"^(?P<node>.+?)(?::(?P<k>\d+))?$")


def split_ref(text: str) -> tuple[str, int | None]:
    """`'enc:1'` -> `('enc', 1)`; `'enc'` -> `('enc', None)`. Names cannot hold ':'."""
    match = _REF.match(text)
    if match is None:  # the empty string, reported where it was written
        return text, None
    return match["node"], int(match["k"]) if match["k"] is not None else None


Expr = Annotated[str, Field(pattern=r"^\s*\$\{.*\}\s*$")]
"""A `${...}` expression over parameters, e.g. `${width * 2}`; replaced by its value."""


class _Model(BaseModel):
    # Not `use_attribute_docstrings`: pydantic would read and tokenize this file's source for
    # every model when the module is imported, a tenth of a validate run. `describe_fields`
    # adds the same descriptions when they are wanted.
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class InputSpec(_Model):
    """One model input, as `keras.Input` takes it."""

    shape: list[Annotated[int, Field(ge=0)] | None | Expr] | Expr
    """Shape without the batch axis; `null` for an axis of unknown length, e.g. `[null, 64]`."""
    dtype: Literal[DTYPES] | Expr = "float32"  # type: ignore[valid-type]
    """Element type of the input tensor."""
    sparse: bool | Expr = False
    """Whether the input is a sparse tensor."""
    batch_size: Annotated[int, Field(ge=1)] | None | Expr = None
    """A fixed batch size, for stateful layers; omit for any batch size."""


class _Node(_Model):
    name: Name | None = None
    """Unique node name, also the Keras layer name. Default: made from the kind, e.g. `dense_1`."""
    in_: Inputs | None = Field(None, alias="in")
    """What the node is applied to: a reference (`x`, `node`, `node:1`), a list of references
    (passed in order), or a mapping from call-argument names to references, e.g.
    `{sequences: emb, initial_state: [enc:1, enc:2]}`. Default: the previous node in `layers`,
    or for the first node the model's only input."""
    repeat: Annotated[int, Field(ge=0)] | Expr | None = None
    """Chain this many copies of the node, each with fresh weights; `${repeat_index}` (0-based)
    is defined inside each copy. The node's name then refers to the last copy. With 0 copies
    the node vanishes and its name stands for its input (a depth that a parameter sets)."""
    when: bool | Expr | None = None
    """A condition, usually `${...}` over parameters: when false, the node is left out, as if
    it were not written (the next node's default input skips it; a reference to it is an
    error that names the condition)."""


class LayerNode(_Node):
    """A node that creates a layer: a Keras layer class name or a registered custom layer."""

    layer: str
    """Layer class name, e.g. `Dense`, `LSTM`, or a name registered with `graphspec.register_layer`."""
    args: dict[str, Any] = Field(default_factory=dict)
    """Constructor arguments. A mapping with a `layer` key (and optional `args`) is built as a
    layer itself, for wrappers such as `Bidirectional` and `TimeDistributed`."""


class OpNode(_Node):
    """A Lambda-style node: a registered op or any public `keras.ops` function."""

    op: str
    """Op name: a function of `keras.ops` (`mean`, `take`, `one_hot`, ...) or a name registered
    with `graphspec.register_op`."""
    args: dict[str, Any] = Field(default_factory=dict)
    """Keyword arguments of the op call (for `keras.ops` functions the node's inputs are the
    leading positional arguments)."""


class ShareNode(_Node):
    """Reuses the layer object of another node (shared weights) on this node's inputs."""

    share: Name
    """Name of the node whose layer object is applied again."""


class BlockNode(_Node):
    """An instance of a block: its nodes are expanded inline, named after this node."""

    block: Name
    """Name of a block under `blocks` (here or in an imported file)."""
    args: dict[str, Any] = Field(default_factory=dict)
    """Values for the block's `params`, overriding its defaults."""


def _keyed_union(members: dict[str, type], tag: str, error_type: str, what: str):
    """A union of models told apart by which one of their keys (`layer`, `op`, ...) a mapping
    holds, so that pydantic validates against that member alone and its errors name that
    member's fields. Returns the annotated union and its `kind(value)` (the member's tag, or
    None when the value holds none or several of the keys)."""

    def kind(value: Any) -> str | None:
        if isinstance(value, BaseModel):
            value = value.model_dump(by_alias=True)
        if not isinstance(value, dict):
            return None
        present = [k for k in members if k in value]
        return tag.format(present[0]) if len(present) == 1 else None

    keys = ", ".join(f"'{k}'" for k in members)
    union = Annotated[
        Union[tuple(Annotated[m, Tag(tag.format(k))] for k, m in members.items())],
        Discriminator(
            kind,
            custom_error_type=error_type,
            custom_error_message=f"{what} needs exactly one of {keys}",
        ),
    ]
    return union, kind


_NODE_MODELS = dict(zip(NODE_KINDS, (LayerNode, OpNode, ShareNode, BlockNode)))
Node, _node_kind = _keyed_union(_NODE_MODELS, "{}-node", "node_kind", "a node")
_TAGS = {k: f"{k}-node" for k in NODE_KINDS}


class Block(_Model):
    """A reusable subgraph. Inside, references name the block's inputs and its own nodes."""

    description: str | None = None
    """Free text about the block."""
    nested: bool = False
    """Build each instance as a nested Keras sub-model (a `keras.Model` used as a layer, named
    after the instance) instead of expanding its nodes inline."""
    model: Literal["auto", "sequential", "functional"] = "auto"
    """For a nested block: the sub-model's kind, as the top-level `model` key."""
    params: dict[Name, Any] = Field(default_factory=dict)
    """Parameters with their defaults; an instance's `args` override them."""
    inputs: Annotated[list[Name], Field(min_length=1)]
    """Names of the block's inputs; an instance's `in` gives them in this order."""
    layers: Annotated[list[Node], Field(min_length=1)]
    """The block's nodes, as under the top-level `layers`."""
    outputs: Ref | NonEmpty[list[Ref]] | None = None
    """The block's outputs; default: its last node. With several, an instance `b` is
    referenced as `b:0`, `b:1`, ..."""


class CompileSpec(_Model):
    """How the model is compiled: `graphspec build` and `graphspec train` compile it, and the
    saved model keeps it."""

    optimizer: str | dict[str, Any] = "adam"
    """An optimizer name (`adam`, `sgd`, ...) or `{class_name: Adam, config: {learning_rate: 1e-3}}`."""
    loss: str | dict[str, Any] | None = None
    """A loss name (`mse`, `categorical_crossentropy`, ...), or a mapping output name -> loss."""
    metrics: list[str] | dict[str, str | list[str]] | None = None
    """Metric names, or a mapping output name -> metric names."""
    loss_weights: dict[str, float | Expr] | list[float | Expr] | None = None
    """Weights of the losses of several outputs, by output name or in output order."""


_QUANTITY = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)(?:e([+-]?\d+))?\s*([KMGT]i?)?B?\s*$")
_SCALE = {
    "K": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
}


def parse_quantity(value: Any) -> int:
    """`30M` -> 30_000_000, `4.5G` -> 4_500_000_000, `1Gi` -> 2**30, 1000 -> 1000.
    Raises ValueError for anything else (a negative number, an unknown suffix)."""
    if isinstance(value, bool):
        raise ValueError(f"expected a number such as 30M or 4.5G. Received: {value!r}")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError(f"a budget cannot be negative. Received: {value!r}")
        return int(value)
    match = _QUANTITY.match(str(value))
    if not match:
        raise ValueError(
            "expected a number with an optional suffix K, M, G, T (x1000) or "
            f"Ki, Mi, Gi, Ti (x1024), e.g. 30M or 4.5G. Received: {value!r}"
        )
    number, exponent, suffix = match.groups()
    return round(float(number) * 10 ** int(exponent or 0) * _SCALE.get(suffix or "", 1))


def _quantity(value: Any) -> Any:
    if isinstance(value, str) and "${" in value:
        return value  # checked once parameters are substituted
    parse_quantity(value)
    return value


Quantity = Annotated[Union[int, float, str], AfterValidator(_quantity)]
"""A count with an optional SI suffix: `30M`, `4.5G`, `200Mi`, or `${...}`."""


class ChoiceSpace(_Model):
    """One of the listed values."""

    choice: Annotated[list[Any], Field(min_length=1)]
    """The values to try."""


class IntSpace(_Model):
    """A whole number from `int: [low, high]` (both included), in steps of `step`."""

    int: Annotated[list[int], Field(min_length=2, max_length=2)]
    """`[low, high]`, both included."""
    step: Annotated[int, Field(ge=1)] = 1
    """The distance between tried values."""


class FloatSpace(_Model):
    """A number from `float: [low, high]`; `log: true` samples on a log scale (low > 0)."""

    float: Annotated[list[float], Field(min_length=2, max_length=2)]
    """`[low, high]`."""
    log: bool = False
    """Sample on a log scale (learning rates); low must then be above 0."""


class BoolSpace(_Model):
    """`bool: true`: true or false."""

    bool: Literal[True]
    """Always `true`: the parameter is tried as true and as false."""


SearchSpace, _ = _keyed_union(
    {"choice": ChoiceSpace, "int": IntSpace, "float": FloatSpace, "bool": BoolSpace},
    "{}",
    "space_kind",
    "a search space",
)


class BudgetSpec(_Model):
    """Limits `graphspec validate` checks the model against, from the static summary: a CI can
    guard a model's size with them."""

    params: Quantity | None = None
    """Most parameters (trainable and not), e.g. `30M`."""
    macs: Quantity | None = None
    """Most multiply-accumulates per sample, e.g. `4.5G`."""
    activation_bytes: Quantity | None = None
    """Most bytes of activations (every node's outputs) per sample, e.g. `200Mi`."""


class EarlyStoppingSpec(_Model):
    """Stop training when a metric has stopped improving (`keras.callbacks.EarlyStopping`)."""

    monitor: str = "val_loss"
    """The metric watched, as training reports it: `val_loss`, `val_mae`, `loss`, ..."""
    patience: Annotated[int, Field(ge=0)] | Expr = 0
    """Epochs without improvement before training stops."""
    min_delta: Annotated[float, Field(ge=0)] | Expr = 0.0
    """The least change of `monitor` that counts as an improvement."""


class TrainSpec(_Model):
    """How `graphspec train` trains the model."""

    batch_size: Annotated[int, Field(ge=1)] | Expr = 32
    """Samples per batch."""
    epochs: Annotated[int, Field(ge=1)] | Expr = 1
    """Passes over the training data."""
    steps_per_epoch: Annotated[int, Field(ge=1)] | Expr | None = None
    """At most this many batches per epoch (default: all of them)."""
    validation_steps: Annotated[int, Field(ge=1)] | Expr | None = None
    """At most this many validation batches per epoch (default: all of them)."""
    remainder: Literal["drop", "pad", "keep"] | Expr = "keep"
    """The last incomplete batch: `drop` it, `pad` it with zero-weight samples (the loss and
    metrics are unchanged), or `keep` it short."""
    shuffle: bool | Expr = True
    """Shuffle the training samples every epoch."""
    seed: int | Expr | None = None
    """Seed for the initial weights and the shuffling: the same seed, the same run."""
    loop: Literal["fit", "batch"] | Expr = "fit"
    """`fit`: Keras's `model.fit`. `batch`: graphspec's per-batch loop (`train_on_batch`,
    `test_on_batch`), which lets Python code change each batch first."""
    tensorboard: str | None = None
    """Directory for TensorBoard logs, relative to the spec's folder and inside it (a path
    elsewhere is given on the command line: `--tensorboard DIR`)."""
    early_stopping: EarlyStoppingSpec | None = None
    """Stop when `monitor` has not improved for `patience` epochs (`graphspec train` and
    `graphspec tune`)."""
    checkpoint: str | None = None
    """A `.keras` file written atomically at the end of every epoch, relative to the spec's
    folder and inside it (elsewhere: `--checkpoint PATH`); `--resume` continues from it
    (epoch counter and optimizer state) when the spec still builds the same model."""


class DocumentModel(_Model):
    """A graphspec model description (format version 1)."""

    model_config = ConfigDict(
        title="graphspec",
        json_schema_extra={
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": SCHEMA_ID,
        },
    )

    graphspec: Literal[1]
    """Format version. This graphspec reads version 1."""
    name: Name
    """Model name (the Keras model's `name`)."""
    description: str | None = None
    """Free text about the model."""
    model: Literal["auto", "sequential", "functional"] = "auto"
    """Model kind. `auto`: `keras.Sequential` for a single chain, functional `keras.Model`
    otherwise. `sequential` on a graph that is not a chain is an error."""
    imports: list[str] = Field(default_factory=list)
    """Other spec files (relative to this one) whose `blocks` and `params` this file uses."""
    params: dict[Name, Any] = Field(default_factory=dict)
    """Parameters: name -> value (number, string, boolean or list). `${name}` or
    `${expression}` anywhere a value stands is replaced; overridden by `--set name=value`."""
    blocks: dict[Name, Block] = Field(default_factory=dict)
    """Reusable subgraphs, instantiated by nodes with `block: NAME`."""
    inputs: Annotated[dict[Name, InputSpec], Field(min_length=1)] | None = None
    """Model inputs in order: input name -> shape and dtype. Required, except in a library
    file that only provides `params` and `blocks` to others through `imports`."""
    layers: Annotated[list[Node], Field(min_length=1)] | None = None
    """The nodes. Order only sets defaults (an omitted `in` takes the previous node); build
    order comes from the graph. Required, except in a library file."""
    outputs: Ref | NonEmpty[list[Ref]] | NonEmpty[dict[Name, Ref]] | None = None
    """Model outputs: a reference, a list of references, or a mapping output name -> reference.
    Default: the last node in `layers`."""
    budget: BudgetSpec | None = None
    """Limits on parameters, MACs and activation memory, checked by `validate`."""
    search: dict[Name, SearchSpace] | None = None
    """Values `graphspec tune` tries for declared parameters: `{choice: [...]}`,
    `{int: [lo, hi], step: 1}`, `{float: [lo, hi], log: true}`, `{bool: true}`. Every other
    command uses the parameters' own values."""
    compile: CompileSpec | None = None
    """Optimizer, loss and metrics; the built model is compiled with them."""
    train: TrainSpec | None = None
    """Settings of `graphspec train`."""


_NODE_ADAPTER = TypeAdapter(Node)
_INPUT_ADAPTER = TypeAdapter(InputSpec)
_BLOCK_ADAPTER = TypeAdapter(Block)
COMPILE_ADAPTER = TypeAdapter(CompileSpec)
TRAIN_ADAPTER = TypeAdapter(TrainSpec)
BUDGET_ADAPTER = TypeAdapter(BudgetSpec)


@functools.cache
def describe_fields() -> None:
    """Give every field of the format's models its docstring as description (the JSON
    Schema's and the language server's), as pydantic's `use_attribute_docstrings` would.
    Without the source file (a zipped install) the fields stay undescribed."""
    try:
        tree = ast.parse(Path(__file__).read_text(encoding="utf-8"))
    except OSError:
        return
    docs: dict[str, dict[str, str]] = {}
    for cls in tree.body:
        if not isinstance(cls, ast.ClassDef):
            continue
        found = docs[cls.name] = {}
        for statement, following in zip(cls.body, cls.body[1:]):
            if (
                isinstance(statement, ast.AnnAssign)
                and isinstance(statement.target, ast.Name)
                and isinstance(following, ast.Expr)
                and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)
            ):
                found[statement.target.id] = inspect.cleandoc(following.value.value)
    # Definition order: a model is rebuilt after the models it holds, so it takes their
    # new schemas.
    models = [v for v in globals().values() if isinstance(v, type) and issubclass(v, _Model)]
    for model in models:
        for name, info in model.model_fields.items():
            for owner in model.__mro__:
                if name in docs.get(owner.__name__, {}):
                    info.description = docs[owner.__name__][name]
                    break
        model.model_rebuild(force=True)


def json_schema() -> dict:
    """The JSON Schema of format v1, as checked in under `schemas/`."""
    describe_fields()
    schema = DocumentModel.model_json_schema(by_alias=True)
    schema.pop("$schema", None)
    schema.pop("$id", None)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}


# -- document validation --------------------------------------------------------------------


@dataclass
class Document:
    """The valid pieces of a document, even when other pieces are invalid, so that one pass
    reports every problem. `None` stands for an invalid piece."""

    name: str
    model: str
    imports: list[str]
    params: dict[str, Any]
    blocks: dict[str, Block | None]
    inputs: dict[str, InputSpec | None] | None
    layers: list[Any] | None  # Node | None
    layer_names: list[str | None]  # the `name` written on each entry, valid or not
    outputs: Any
    outputs_valid: bool
    compile: Any = None  # raw mapping, substituted by compose
    train: Any = None
    budget: Any = None
    search: dict | None = None


def validate_document(source: Source) -> tuple[Document | None, list[Diagnostic]]:
    """Check the document against the format. Returns what is usable of it and located
    diagnostics for every format problem."""
    data = source.data
    if not isinstance(data, dict):
        got = "an empty file" if data is None else f"{type(data).__name__}"
        return None, [report(source, (), "GS110", "not_mapping", received=got)]
    version = data.get("graphspec", FORMAT_VERSION)
    # `type(...) is int`: YAML's `true` and `1.0` compare equal to 1 but are not version 1.
    if type(version) is not int or version != FORMAT_VERSION:
        # Other keys may mean something else in another version: report only this.
        return None, [
            report(
                source,
                ("graphspec",),
                "GS113",
                "version",
                expected=FORMAT_VERSION,
                received=repr(version),
                hint="this graphspec reads format 1; check the file's origin",
            )
        ]
    try:
        doc = DocumentModel.model_validate(data)
    except ValidationError as exc:
        return _salvage(data), _convert(source, exc)
    names = [getattr(node, "name", None) for node in doc.layers or []]
    return Document(
        doc.name,
        doc.model,
        doc.imports,
        doc.params,
        dict(doc.blocks),
        doc.inputs,
        doc.layers,
        names,
        doc.outputs,
        True,
        data.get("compile"),
        data.get("train"),
        data.get("budget"),
        doc.search,
    ), []


def _valid(adapter: TypeAdapter, value: Any) -> Any:
    try:
        return adapter.validate_python(value)
    except ValidationError:
        return None


def _salvage(data: dict) -> Document:
    inputs_raw, layers_raw = data.get("inputs"), data.get("layers")
    inputs = (
        {k: _valid(_INPUT_ADAPTER, v) for k, v in inputs_raw.items()}
        if isinstance(inputs_raw, dict)
        else None
    )
    layers = (
        [_valid(_NODE_ADAPTER, v) for v in layers_raw] if isinstance(layers_raw, list) else None
    )
    names = (
        [
            v.get("name") if isinstance(v, dict) and isinstance(v.get("name"), str) else None
            for v in layers_raw
        ]
        if isinstance(layers_raw, list)
        else []
    )
    blocks_raw = data.get("blocks")
    blocks = (
        {k: _valid(_BLOCK_ADAPTER, v) for k, v in blocks_raw.items()}
        if isinstance(blocks_raw, dict)
        else {}
    )
    outputs = data.get("outputs")
    ok = (
        _valid(TypeAdapter(DocumentModel.model_fields["outputs"].annotation), outputs) is not None
        or outputs is None
    )
    imports = data.get("imports")
    params = data.get("params")
    name = data.get("name") if isinstance(data.get("name"), str) else "model"
    model = (
        data.get("model") if data.get("model") in ("auto", "sequential", "functional") else "auto"
    )
    return Document(
        name,
        model,
        [i for i in imports if isinstance(i, str)] if isinstance(imports, list) else [],
        params if isinstance(params, dict) else {},
        blocks,
        inputs,
        layers,
        names,
        outputs,
        ok,
    )


_EXPECTED = {
    "in": "a reference, a list of references, or a mapping of call-argument names to references",
    "outputs": "a reference, a list of references, or a mapping of output names to references",
    "shape": "a list of axis lengths (integers, or null for unknown)",
}


def _strip_tags(loc: tuple) -> tuple:
    tags = set(_TAGS.values())
    return tuple(p for p in loc if p not in tags)


def _data_prefix(source: Source, loc: tuple) -> tuple:
    """The deepest path along `loc` that exists in the data. Components that are not in the
    data (pydantic's labels for union members, such as 'list[...]' or 'str') are skipped."""
    prefix: tuple = ()
    value = source.data
    for part in loc:
        found = child(value, part)
        if found is MISSING:
            continue
        value = found
        prefix += (part,)
    return prefix


def _convert(source: Source, exc: ValidationError) -> list[Diagnostic]:
    seen: set[tuple] = set()
    out: list[Diagnostic] = []
    errors = exc.errors()
    # A union reports one error per member; where one member's error lies deeper in the data
    # than another's, the deeper one is what the user got wrong.
    typed = [
        _data_prefix(source, _strip_tags(tuple(e["loc"])))
        for e in errors
        if e["type"] not in ("missing", "extra_forbidden")
    ]
    shadowed = {a for a in typed for b in typed if len(b) > len(a) and b[: len(a)] == a}
    for err in errors:
        loc = _strip_tags(tuple(err["loc"]))
        kind = err["type"]
        at = _data_prefix(source, loc)
        if kind == "missing":
            key = (at, "missing", loc[-1])
            if key in seen:
                continue
            seen.add(key)
            out.append(
                report(
                    source,
                    at,
                    "GS111",
                    "missing",
                    key=loc[-1],
                    where=_what(at),
                    hint=_missing_hint(at, loc[-1]),
                )
            )
            continue
        if kind == "extra_forbidden":
            field = loc[-1]
            allowed = _allowed_keys(source, at[:-1])
            if field == "args" and "share" in (source.value_at(at[:-1]) or {}):
                out.append(
                    report(
                        source,
                        at,
                        "GS116",
                        "share_args",
                        at_key=True,
                        hint="remove 'args', or use 'layer' to create a new layer",
                    )
                )
            elif field in NODE_KINDS and _node_kind(source.value_at(at[:-1])) is None:
                continue  # reported as GS115 on the node itself
            else:
                out.append(
                    report(
                        source,
                        at,
                        "GS112",
                        "unknown",
                        at_key=True,
                        **{
                            "key": field,
                            "where": _what(at[:-1]),
                            "allowed": ", ".join(allowed),
                            "hint": did_you_mean(field, allowed),
                        },
                    )
                )
            continue
        if (at, "type") in seen or at in shadowed:
            continue  # a union reports once per member; one message per place is enough
        seen.add((at, "type"))
        value = source.value_at(at)
        if kind == "node_kind":
            present = [k for k in NODE_KINDS if isinstance(value, dict) and k in value]
            if isinstance(value, dict):
                out.append(
                    report(
                        source,
                        at,
                        "GS115",
                        "several" if present else "none",
                        node=_node_label(value, at),
                        present=" and ".join(repr(k) for k in present),
                        hint="use 'layer' to create a layer, 'op' for an op, 'share' to reuse a "
                        "layer, 'block' to instantiate a block",
                    )
                )
            else:
                out.append(report(source, at, "GS110", "node_not_mapping", received=value))
            continue
        if kind == "literal_error":
            expected = re.findall(r"'([^']*)'", err.get("ctx", {}).get("expected", ""))
            out.append(
                report(
                    source,
                    at,
                    "GS114",
                    "choice",
                    at=pointer(at),
                    choices=", ".join(expected),
                    received=value,
                    hint=did_you_mean(value, expected),
                )
            )
            continue
        if kind == "string_pattern_mismatch":
            # A bad mapping key (`outputs: {"a/b": d}`) is the key, not the value under it.
            is_key = "[key]" in loc
            out.append(
                report(
                    source,
                    at,
                    "GS114",
                    "name",
                    at_key=is_key,
                    at=pointer(at),
                    received=at[-1] if is_key else value,
                    hint="use letters, digits, '_' and '-'",
                )
            )
            continue
        field = at[-1] if at else None
        expected = _EXPECTED.get(field) if isinstance(field, str) else None
        detail = f"expected {expected}" if expected else err["msg"][0].lower() + err["msg"][1:]
        out.append(
            report(
                source, at, "GS110", "wrong_value", at=pointer(at), detail=detail, received=value
            )
        )
    return out


def _what(loc: tuple) -> str:
    if not loc:
        return "the spec"
    if len(loc) == 2 and loc[0] == "layers":
        return f"node #{loc[1] + 1}"
    if len(loc) == 2 and loc[0] == "inputs":
        return f"input '{loc[1]}'"
    return f"'{pointer(loc)}'"


def _node_label(value: dict, loc: tuple) -> str:
    name = value.get("name") if isinstance(value, dict) else None
    return f"'{name}'" if isinstance(name, str) else f"#{loc[-1] + 1}"


def _allowed_keys(source: Source, loc: tuple) -> list[str]:
    if not loc:
        model = DocumentModel
    elif len(loc) == 2 and loc[0] == "inputs":
        model = InputSpec
    elif len(loc) == 2 and loc[0] == "blocks":
        model = Block
    elif (len(loc) == 2 and loc[0] == "layers") or (
        len(loc) == 4 and loc[0] == "blocks" and loc[2] == "layers"
    ):
        value = source.value_at(loc)
        model = {_TAGS[k]: m for k, m in _NODE_MODELS.items()}.get(_node_kind(value), LayerNode)
    else:
        return []
    return [f.alias or name for name, f in model.model_fields.items()]


def _missing_hint(loc: tuple, key: str) -> str | None:
    if key == "shape":
        return "e.g. shape: [4], or [null] for a sequence of any length"
    if not loc and key == "graphspec":
        return "start the file with 'graphspec: 1'"
    return None
