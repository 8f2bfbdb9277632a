"""The one catalogue of diagnostic codes.

Every code graphspec emits is declared here once: its title (the heading of its section in
`docs/diagnostics.md`), its severity, and the templates of its messages. Checks never spell a
message themselves: they name a code and a template and pass the fields, so the wording of
every diagnostic can be read, reviewed and tested in one place (`tests/test_diagnostics.py`
checks this table against the docs and the invalid fixtures).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True)
class Code:
    """One diagnostic code: `GS206`, its title, its severity and its message templates.

    A template is a `str.format` pattern whose fields the check fills in; a code has several
    when one mistake reads differently in different places (an unknown reference in a node,
    in a block, in `outputs`)."""

    id: str
    title: str
    severity: str = ERROR
    templates: Mapping[str, str] = field(default_factory=dict)

    def render(self, template: str, /, **fields: Any) -> str:
        return self.templates[template].format(**fields)

    def __str__(self) -> str:
        return self.id


def _codes(*codes: Code) -> dict[str, Code]:
    table = {c.id: c for c in codes}
    assert len(table) == len(codes), "a code is declared twice"
    return table


NODE_KINDS = ("layer", "op", "share", "block")
_KINDS = ", ".join(f"`{k}`" for k in NODE_KINDS)

CATALOGUE: dict[str, Code] = _codes(
    # -- the file itself ------------------------------------------------------------------
    Code(
        "GS001",
        "the spec file cannot be read",
        templates={
            "missing": "no such file: '{path}'",
            "unreadable": "cannot read '{path}': {error}",
            "not_regular": "'{path}' is {kind}, not a regular file; a spec must be a .yaml, .yml "
            "or .json file",
        },
    ),
    Code(
        "GS002",
        "the spec source is not a .yaml, .yml or .json path or a mapping",
        templates={
            "type": "a spec source must be a path to a .yaml, .yml or .json file or a dict. "
            "Received: {received}",
            "suffix": "cannot tell the format of '{path}': expected a .yaml, .yml or .json file. "
            "Received suffix: '{suffix}'",
        },
    ),
    # -- the document -------------------------------------------------------------------
    Code(
        "GS101",
        "YAML or JSON syntax error",
        templates={
            # PyYAML's own words: its problem, and what it was doing (and since where) when it
            # found the problem.
            "yaml": "{problem}",
            "yaml_context": "{context}: {problem}",
            "yaml_started": "{context} started at line {line}, column {column}: {problem}",
            "json": "invalid JSON: {error}",
            "key": "a {kind} is used as a mapping key; keys must be plain scalars (a name, a "
            "number, true/false or null)",
            "tagged": "cannot read {value!r} as {tag}",
            "tagged_why": "cannot read {value!r} as {tag}: {why}",
        },
    ),
    Code(
        "GS102",
        "a YAML tag that could construct objects (e.g. !!python/object) is not allowed",
        templates={
            "unknown": "unsafe or unknown YAML tag: could not determine a constructor for the tag "
            "{tag!r}",
            "not_plain": "unsafe or unknown YAML tag: the tag {tag} builds {kind}, which a spec "
            "cannot hold",
        },
    ),
    Code(
        "GS103",
        "the same key appears twice in one mapping",
        templates={
            "twice": "key '{key}' is written twice in the same mapping (first at line {first}); "
            "YAML would silently keep only the last one",
        },
    ),
    Code(
        "GS110",
        "a value has the wrong type",
        templates={
            "not_mapping": "a spec must be a mapping with the keys graphspec, name, inputs, "
            "layers. Received: {received}",
            "wrong_value": "wrong value for '{at}': {detail}. Received: {received!r}",
            "node_not_mapping": "each entry of 'layers' must be a mapping (a node). "
            "Received: {received!r}",
            "after_substitution": "after substituting parameters, '{at}' is invalid: {detail}. "
            "Received: {received!r}",
            "nested_args": "'args' of the nested layer must be a mapping. Received: {received!r}",
            "range": "'{at}' must be between {low} and {high}. Received: {received!r}",
            "suffix": "'{at}' must name a {expected} file. Received: {received!r}",
        },
    ),
    Code(
        "GS111",
        "a required key is missing",
        templates={
            "missing": "missing required key '{key}' in {where}",
            "model_keys": "missing required key(s) {keys} in the spec",
            "no_outputs": "'outputs' is empty: a model needs at least one output",
        },
    ),
    Code(
        "GS112",
        "a key that the format does not define",
        templates={
            "unknown": "unknown key '{key}' in {where}. Expected one of: {allowed}",
            "nested_layer": "unknown key '{key}' in the nested layer at '{at}'. Expected: layer, args",
        },
    ),
    Code(
        "GS113",
        "unsupported `graphspec` format version",
        templates={
            "version": "unsupported format version. Expected: graphspec: {expected}. "
            "Received: {received}",
        },
    ),
    Code(
        "GS114",
        "a value is not one of the allowed choices",
        templates={
            "choice": "'{at}' must be one of {choices}. Received: {received!r}",
            "name": "invalid name {received!r} at '{at}': names cannot contain '/' and only "
            "references may use ':' (as `node:k`)",
        },
    ),
    Code(
        "GS115",
        f"a node needs exactly one of {_KINDS}",
        templates={
            "several": "node {node} has {present}; a node needs exactly one of them",
            "none": "node {node} has none of "
            + ", ".join(f"'{k}'" for k in NODE_KINDS)
            + "; a node needs exactly one of them",
        },
    ),
    Code(
        "GS116",
        "`args` is not allowed on a `share` node",
        templates={
            "share_args": "a 'share' node reuses the other node's layer, so it takes no 'args'",
        },
    ),
    Code(
        "GS120",
        "a parameter override names no declared parameter",
        templates={
            "unknown": "unknown parameter '{name}' in an override",
        },
    ),
    Code(
        "GS130",
        "a `${...}` expression is not well formed",
        templates={
            "character": "unexpected character {char!r} in expression '{text}'. Expected numbers, "
            "parameter names, + - * / // % ** ( ) and min(...)/max(...)",
            "expected": "expected {expected!r} in expression '{text}'. Received: {received}",
            "unexpected": "unexpected {token!r} in expression '{text}'",
            "operand": "expected a number, a parameter or '(' in expression '{text}'. "
            "Received: {received}",
            "function": "unknown function '{name}' in expression '{text}'. Expected: min, max",
            "depth": "expression nested deeper than {depth} levels",
            "length": "expression longer than {length} characters",
            "empty": "empty expression '${{}}'",
            "unclosed": "'${{' at character {position} is not closed: expected '}}' after the "
            "expression in '{text}'",
            "unclosed_brace": "'${{' at character {position} is not closed: expected '}}' before "
            "the {{ in '{text}'",
        },
    ),
    Code(
        "GS131",
        "a `${...}` expression names an unknown parameter",
        templates={
            "unknown": "unknown parameter '{name}' in expression '{text}'",
        },
    ),
    Code(
        "GS132",
        "a `${...}` expression cannot be evaluated (types, division by zero, size)",
        templates={
            "number": "the number {number} is too large: it is not a finite real number",
            "parameter": "parameter '{name}' is {value}; expressions work with finite numbers only",
            "operand": "'{op}' needs numbers. Received: {received} ({type})",
            "power": "{a} ** {b} is too large (more than {bits} bits)",
            "result": "result of '{op}' is too large (more than {bits} bits)",
            "division": "division by zero in '{a} {op} {b}'",
            "overflow": "'{a} {op} {b}' overflows",
            "not_finite": "'{a} {op} {b}' is not a finite real number",
        },
    ),
    Code(
        "GS140",
        "unknown block",
        templates={
            "unknown": "unknown block '{block}' in node '{node}'",
        },
    ),
    Code(
        "GS141",
        "blocks use each other in a circle",
        templates={
            "circle": "blocks use each other in a circle: {chain}",
        },
    ),
    Code(
        "GS142",
        "invalid `repeat` (not a whole number >= 0, or copies cannot be chained)",
        templates={
            "count": "'repeat' needs a whole number of at least 0. Received: {received!r}",
            "share": "'repeat' on share node '{node}' would apply the same weights again and "
            "again; repeat makes copies with fresh weights",
            "inputs": "'repeat' chains copies of node '{node}', so it needs exactly one input. "
            "Received: {received}",
            "block": "'repeat' chains copies of block '{block}', so it needs one input and one "
            "output. Received: {inputs} input(s), {outputs} output(s)",
        },
    ),
    Code(
        "GS143",
        "a reference names a node that `when` leaves out",
        templates={
            "absent": "node '{name}' is left out (its condition `when: {condition}` is false), "
            "so '{ref}' refers to nothing",
        },
    ),
    Code(
        "GS144",
        "`when` is not true or false",
        templates={
            "value": "'when' needs true or false. Received: {received!r}",
        },
    ),
    Code(
        "GS150",
        "an import is not a spec file or does not exist",
        templates={
            "suffix": "only spec files can be imported. Expected a .yaml, .yml or .json file. "
            "Received: '{ref}'",
            "missing": "cannot import '{ref}': no such file ('{shown}')",
            "outside": "cannot import '{ref}': it lies outside the folder of the spec ('{root}'). "
            "Received: '{shown}'",
            "not_spec": "cannot import '{ref}': it is not a graphspec spec (it has no top-level "
            "'graphspec:' key), so nothing of it is read or shown",
        },
    ),
    Code("GS151", "import cycle", templates={"cycle": "import cycle: {chain}"}),
    Code(
        "GS152",
        "a block or parameter is defined in two files",
        templates={
            "twice": "{what} '{name}' is defined in both '{first}' and '{second}'",
        },
    ),
    Code(
        "GS160",
        "a resource limit was exceeded (file size, nesting, expanded size, node count)",
        templates={
            "block_depth": "blocks are nested more than {depth} deep; graphspec refuses it rather "
            "than spend unbounded time or memory",
            # `limits.limit_diagnostic(path, what, ...)`, whose caller wrote what was exceeded.
            "limit": "{what}; graphspec refuses it rather than spend unbounded time or memory",
            # `what` names what was read: "file", "document" or "value" (a `--set` value).
            "nesting": "the {what} nests about {depth} levels deep, more than the limit of "
            "{limit}; graphspec refuses it rather than spend unbounded time or memory",
            "too_deep": "the {what} nests too deeply; graphspec refuses it rather than spend "
            "unbounded time or memory",
            "file_bytes": "the file is {size:,} bytes, more than the limit of {limit:,}; graphspec "
            "refuses it rather than spend unbounded time or memory",
            "file_grew": "the file is more than {size:,} bytes, more than the limit of {limit:,}; "
            "graphspec refuses it rather than spend unbounded time or memory",
            "value_bytes": "the value is {size:,} bytes, more than the limit of {limit:,}; "
            "graphspec refuses it rather than spend unbounded time or memory",
            "spec_bytes": "the spec and its imports come to more than {limit:,} bytes or "
            "{values:,} values, the limits (every file counts at least {file_cost:,} "
            "bytes); graphspec refuses it rather than spend unbounded time or memory",
            "document_values": "the {what} holds more than {limit:,} values (counting every value "
            "that YAML aliases repeat; a structure that contains itself is "
            "endless); graphspec refuses it rather than spend unbounded time or "
            "memory",
            "spec_values": "the spec and its imports hold more than {limit:,} values together "
            "(counting every value that YAML aliases repeat; a structure that "
            "contains itself is endless); graphspec refuses it rather than spend "
            "unbounded time or memory",
            "nodes": "the spec has more than {limit:,} nodes (after blocks and repeats are "
            "expanded); graphspec refuses it rather than spend unbounded time or memory",
            "values": "the values that parameters and repeats produce in this spec come to more "
            "than {limit:,} (text counts one per {chars} characters); graphspec refuses "
            "it rather than spend unbounded time or memory",
            "value_size": "this substitution would build {what} of more than {limit:,} {unit}, the "
            "limit; graphspec refuses it rather than spend unbounded time or memory",
        },
    ),
    Code(
        "GS170",
        "an invalid search space (unknown parameter, empty or reversed range)",
        templates={
            "unknown": "'search' names '{name}', which is not a declared parameter",
            "range": "the range of '{name}' goes from {low} down to {high}",
            "log": "a log-scale range must be above 0: '{name}' starts at {low}",
            "no_search": "the spec has no 'search' section: there is nothing to tune",
            "pinned": "every parameter of the 'search' section is fixed with --set: there is "
            "nothing to tune",
            "mostly_invalid": "{count} candidates in a row from the 'search' section do not "
            "validate; the last one ({values}) is shown below",
        },
    ),
    # -- the graph ------------------------------------------------------------------------
    Code(
        "GS201",
        "unknown layer",
        templates={
            "unknown": "unknown layer '{layer}' in {where}",
        },
    ),
    Code(
        "GS202",
        "unknown op",
        templates={
            "unknown": "unknown op '{op}' in node '{node}'",
        },
    ),
    Code(
        "GS203",
        "unknown argument",
        templates={
            "layer": "unknown argument '{key}' for layer '{layer}' in {where}",
            "name": "'name' is not an argument here: the layer is named after its node",
            "op": "unknown argument '{key}' for op '{op}' in node '{node}'",
            "op_input": "'{key}' is not an argument of op '{op}' in node '{node}'",
            "op_given": "argument '{key}' of op '{op}' is already given by the node's inputs",
            "call": "'{key}' is not an argument of {layer}.call in node '{node}'",
            "block_input": "block '{block}' has no input '{key}'",
            "block_arg": "unknown argument '{key}' for block '{block}' in node '{node}'",
        },
    ),
    Code(
        "GS204",
        "missing required argument",
        templates={
            "layer": "missing required argument '{key}' for layer '{layer}' in {where}",
            "op": "missing required argument '{key}' for op '{op}' in node '{node}'",
            "call": "the mapping 'in' of node '{node}' has no '{key}', the main input of "
            "{layer}.call",
        },
    ),
    Code(
        "GS205",
        "duplicate node name",
        templates={
            "duplicate": "duplicate name '{name}': {kind} '{name}' is already declared{where}",
        },
    ),
    Code(
        "GS206",
        "unknown reference",
        templates={
            "node": "unknown reference '{ref}' in node '{node}'",
            "outputs": "unknown reference '{ref}' in 'outputs'",
            "block": "unknown reference '{ref}' in {where}",
            "share": "node '{node}' shares unknown node '{ref}'",
        },
    ),
    Code(
        "GS207",
        "cycle in the graph",
        templates={
            "cycle": "cycle in the graph: {cycle}",
            "references": "reference '{ref}' goes round in a circle through block inputs and "
            "outputs",
        },
    ),
    Code(
        "GS208",
        "an input reaches no output",
        templates={
            "unused": "input '{name}' reaches no output",
        },
    ),
    Code(
        "GS209",
        "a node reaches no output (warning)",
        WARNING,
        templates={
            "unused": "node '{name}' reaches no output and is not built",
        },
    ),
    Code(
        "GS210",
        "wrong number of inputs for the node",
        templates={
            "layer": "{layer} in node '{node}' takes {want} input(s). Received: {count}",
            "op": "op '{op}' in node '{node}' takes at most {most} input(s) ({names}). "
            "Received: {count}",
            "submodel": "sub-model '{node}' (block {block}) takes {expected} input(s) in order. "
            "Received: {received}",
            "block": "block '{block}' in node '{node}' takes {expected} input(s) ({names}). "
            "Received: {count}",
            "block_mapping": "node '{node}' does not give block '{block}' its input(s) {missing}",
        },
    ),
    Code(
        "GS211",
        "output index `node:k` out of range",
        templates={
            "index": "'{ref}' in node '{node}' is out of range: '{target}' has {count} output(s) "
            "(indexes 0 to {last})",
            "instance_outputs": "block instance '{name}' ({block}) has {count} outputs: reference "
            "one of them as {choices}",
            "instance_index": "'{ref}' is out of range: block instance '{name}' ({block}) has "
            "{count} output(s)",
            "input_index": "'{ref}' selects output {index} of block input '{name}', which is "
            "already one output ('{resolved}')",
        },
    ),
    Code(
        "GS212",
        "`in` omitted where the input is ambiguous",
        templates={
            "model": "node '{node}' is the first node and has no 'in', but the model has {count} "
            "inputs ({names})",
            "block": "the first node of {where} has no 'in', but the block has {count} inputs "
            "({names})",
        },
    ),
    Code(
        "GS213",
        "`model: sequential` forced on a graph that is not a single chain",
        templates={
            "not_chain": "model: sequential needs one input, one output, no shared layers, and "
            "nodes that each take the previous one; this graph is not a single chain",
        },
    ),
    Code(
        "GS214",
        "invalid `share` target",
        templates={
            "input": "node '{node}' shares '{target}', which is an input, not a layer",
            "op": "node '{node}' shares '{target}', which is an op: ops hold no weights, so there "
            "is nothing to share",
            "circle": "'share' goes round in a circle: {chain}",
        },
    ),
    Code(
        "GS215",
        "this layer cannot be described by a spec",
        templates={
            "unsupported": "layer '{layer}' cannot be used in a spec: {reason}",
        },
    ),
    Code(
        "GS216",
        "a layer or op that the chosen backend does not run (`--backend`)",
        templates={
            "layer": "layer '{layer}' in {where} is not supported on the {backend} backend: "
            "{why}. Received: backend='{backend}'",
            "layer_args": "layer '{layer}' in {where} fails on the {backend} backend when "
            "{condition}. Received: {received}",
            "op": "op '{op}' in node '{node}' is not supported on the {backend} backend: {why}. "
            "Received: backend='{backend}'",
            "op_args": "op '{op}' in node '{node}' fails on the {backend} backend when "
            "{condition}. Received: {received}",
        },
    ),
    # -- building -------------------------------------------------------------------------
    Code("GS301", "Keras rejected the node while building (shapes, dtypes, arguments)"),
    Code(
        "GS302",
        "invalid compile settings (unknown optimizer, loss, metric or output name)",
        templates={
            "unknown_name": "unknown {what} '{received}'",
            "unknown_output": "'compile.{key}' names '{received}', which is not an output of the "
            "model. Expected one of: {outputs}",
            "weights_count": "'compile.loss_weights' lists one weight per output: the model has "
            "{count} output(s). Received: {received}",
            "keras": "Keras rejected compile.{key}: {message}",
        },
    ),
    # -- static analysis (shapes, dtypes, cost) ---------------------------------------------
    Code(
        "GS401",
        "inputs whose shapes do not fit together (merge, broadcast, contraction)",
        templates={
            "merge": "{what} received {received}: {why}",
            "shared": "node '{node}' applies the layer of '{owner}' to {received}, but that layer "
            "was built for {built}",
        },
    ),
    Code(
        "GS402",
        "a tensor of the wrong rank for the layer or op",
        templates={
            "rank": "{what} expects {expected}. Received {received}",
        },
    ),
    Code(
        "GS403",
        "a window (kernel, pool, crop) larger than its input",
        templates={
            "window": "{what} leaves no output on axis {axis}: {detail}. Received {received}",
        },
    ),
    Code(
        "GS404",
        "a reshape that does not keep the number of elements",
        templates={
            "reshape": "{what} cannot reshape {received} ({size} values per sample) to "
            "{target}: {why}",
        },
    ),
    Code(
        "GS405",
        "a float tensor where integer indices are expected (warning: Keras casts it)",
        WARNING,
        templates={
            "dtype": "{what} expects {expected}. Received {received}",
        },
    ),
    Code(
        "GS406",
        "an axis out of range",
        templates={
            "axis": "{what}: axis {axis} is out of range for {received} (rank {rank}, so axes "
            "{low} to {high})",
        },
    ),
    Code(
        "GS407",
        "a size the layer needs is unknown (None)",
        templates={
            "unknown": "{what} needs the size of axis {axis} to create its weights, but it is "
            "unknown (None). Received {received}",
        },
    ),
    Code(
        "GS408",
        "an argument that does not fit the input's shape",
        templates={
            "arg": "{what}: {detail}. Received {received}",
        },
    ),
    Code(
        "GS409",
        "a node whose output shape is unknown (warning, --strict-shapes)",
        WARNING,
        templates={
            "layer": "no shape rule for layer '{type}' in node '{node}': its output shape, "
            "parameters and cost are unknown",
            "op": "no shape rule for op '{type}' in node '{node}': its output shape and cost are "
            "unknown",
            "cannot_tell": "the output shape of node '{node}' ({type}) is unknown until the model "
            "is built ({reason})",
        },
    ),
    Code(
        "GS410",
        "the model exceeds a budget",
        templates={
            "budget": "the model has {value} {what}, more than the budget of {limit}",
        },
    ),
    Code(
        "GS411",
        "a string tensor reaches a layer that computes with numbers",
        templates={
            "string": "{what} computes with numbers but receives text: {received} has dtype string",
        },
    ),
)

#: Code -> title, the public summary of the catalogue (`graphspec.CODES`).
CODES: dict[str, str] = {c.id: c.title for c in CATALOGUE.values()}


def code(id: str) -> Code:
    return CATALOGUE[id]


def report(
    source: Any,
    loc: Sequence[Any],
    code_id: str,
    template: str,
    /,
    *,
    hint: str | None = None,
    at_key: bool = False,
    column_offset: int = 0,
    **fields: Any,
):
    """A located `Diagnostic` for `code_id` with its `template` filled from `fields`;
    `at_key` places it on the key at `loc` rather than on its value."""
    entry = CATALOGUE[code_id]
    return source.diagnostic(
        loc,
        entry.id,
        entry.render(template, **fields),
        hint,
        key=at_key,
        severity=entry.severity,
        column_offset=column_offset,
    )
