"""Generation of `graphspec/catalog.json`: the signatures of the installed Keras's layers and
ops, read once here so that validation (`graphspec.catalog`) never imports Keras.

Run `python scripts/update_catalog.py` after upgrading Keras; `tests/test_catalog.py` fails
while the shipped catalog differs from what `generate()` returns.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import inspect
import json
import re
from pathlib import Path

import keras

from ..catalog import BACKENDS, UNSUPPORTED_LAYERS
from ..signatures import classify, defaults
from . import _private

# How several inputs reach a layer's call. Merge layers and Attention take one list; the
# attention layers below take separate positional tensors. Everything else takes one tensor.
_LIST_INPUT = {
    "Attention": (2, 3),
    "AdditiveAttention": (2, 3),
    "HashedCrossing": (2, None),
    "CustomScaleLayer": (2, 2),
}
_POSITIONAL_INPUTS = {
    "MultiHeadAttention": ("query", "value", "key"),
    "GroupQueryAttention": ("query", "value", "key"),
}
# Output count of recurrent layers with `return_state: true`: the output plus the states.
_STATE_OUTPUTS = {
    "LSTM": 3,
    "GRU": 2,
    "SimpleRNN": 2,
    "ConvLSTM1D": 3,
    "ConvLSTM2D": 3,
    "ConvLSTM3D": 3,
}
# Outputs that depend on call arguments or on the wrapped layer: `node:k` is checked at build.
_UNKNOWN_OUTPUTS = {
    "MultiHeadAttention",
    "GroupQueryAttention",
    "Attention",
    "AdditiveAttention",
    "RNN",
    "Bidirectional",
    "TimeDistributed",
    "Pipeline",
}
_OP_SUBMODULES = ("image", "linalg")  # keras.ops.nn and keras.ops.numpy repeat top-level names
# Metric strings `model.compile` resolves itself (in any case) before asking
# keras.metrics.get: accuracy picks binary, categorical or sparse accuracy from the shapes.
_COMPILE_METRICS = ("accuracy", "acc", "crossentropy", "ce")


def _params(fn) -> list[inspect.Parameter]:
    try:
        return list(inspect.signature(fn).parameters.values())[1:]  # drop self
    except (TypeError, ValueError):
        return []


def layer_entry(cls, base_args: list[str] | None = None) -> dict:
    """Describe a Layer class from its signatures."""
    if base_args is None:
        base_args = _base_args()

    args: list[str] = []
    found: dict = {}  # defaults, a subclass's over its parents'
    own = _params(cls.__init__)
    required = [
        p.name
        for p in own
        if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]
    # Follow **kwargs up the MRO: a subclass forwards unknown keywords to its parent.
    for klass in cls.__mro__:
        if "__init__" not in vars(klass):
            continue
        if klass is keras.layers.Layer:
            break
        params = _params(klass.__init__)
        args += [
            p.name
            for p in params
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in args
        ]
        found = {**defaults(params), **found}
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            break
    args = [a for a in args if a != "name"] + [a for a in base_args if a not in args]
    found = {**defaults(_params(keras.layers.Layer.__init__)), **found}
    call = [
        p.name for p in _params(cls.call) if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]
    entry = {
        "args": sorted(args),
        "required": required,
        "call": call,
        "defaults": {k: v for k, v in sorted(found.items()) if k in args},
    }
    name = cls.__name__
    if issubclass(cls, _private.merge_layer_base()):
        entry["inputs"] = [2, 2 if name in ("Subtract", "Dot") else None]
        entry["input_form"] = "list"
    elif name in _LIST_INPUT:
        entry["inputs"] = list(_LIST_INPUT[name])
        entry["input_form"] = "list"
    elif name in _POSITIONAL_INPUTS:
        entry["inputs"] = [2, len(_POSITIONAL_INPUTS[name])]
        entry["input_form"] = "positional"
    else:
        entry["inputs"] = [1, 1]
        entry["input_form"] = "single"
    if name in _UNKNOWN_OUTPUTS:
        entry["outputs"] = None
    elif name in _STATE_OUTPUTS:
        entry["outputs"] = {"return_state": _STATE_OUTPUTS[name]}
    else:
        entry["outputs"] = 1
    return entry


def _op_entry(fn) -> dict:
    return classify(inspect.signature(fn).parameters.values()).to_entry()


def _base_args() -> list[str]:
    return [
        p.name
        for p in _params(keras.layers.Layer.__init__)
        if p.kind is p.KEYWORD_ONLY and p.name != "name"
    ]


def generate() -> dict:
    """Read the signatures from the installed Keras."""
    base = _base_args()
    classes = {}
    for name in sorted(dir(keras.layers)):
        obj = getattr(keras.layers, name)
        if (
            name.startswith("_")
            or name in UNSUPPORTED_LAYERS
            or not inspect.isclass(obj)
            or not issubclass(obj, keras.layers.Layer)
        ):
            continue
        classes[name] = obj
    layers = {name: layer_entry(cls, base) for name, cls in classes.items()}
    for name, obj in _private.application_layers().items():
        classes[name] = obj
        layers[name] = {**layer_entry(obj, base), "module": obj.__module__}
    functions = {}
    for prefix, module in [("", keras.ops)] + [
        (m + ".", getattr(keras.ops, m)) for m in _OP_SUBMODULES
    ]:
        for name in sorted(dir(module)):
            fn = getattr(module, name)
            if name.startswith("_") or inspect.isclass(fn) or not callable(fn):
                continue
            functions[prefix + name] = fn
    ops = {name: _op_entry(fn) for name, fn in functions.items()}
    unsupported = {
        "layers": _found(classes, layer_refusals),
        "ops": _found(functions, op_refusals),
    }
    return {
        "keras_version": keras.__version__,
        "layers": layers,
        "ops": ops,
        "unsupported": unsupported,
        **compile_names(),
    }


def _found(objects: dict, refusals) -> dict:
    return {name: found for name, obj in sorted(objects.items()) if (found := refusals(obj))}


def compile_names() -> dict[str, list[str]]:
    """The optimizer, loss and metric names a spec's `compile` section may use: each one
    that Keras's own getter turns into a usable object (abstract bases and classes that need
    arguments, such as MeanIoU, are left out: a name alone cannot make them)."""
    getters = {
        "optimizers": (keras.optimizers.get, keras.optimizers.Optimizer),
        "losses": (keras.losses.get, keras.losses.Loss),
        "metrics": (keras.metrics.get, keras.metrics.Metric),
    }
    found = {}
    for kind, names in _private.compile_names().items():
        get, base = getters[kind]
        found[kind] = [name for name in names if _made_by(get, base, name)]
    found["metrics"] = sorted(set(found["metrics"]) | set(_COMPILE_METRICS))
    return found


def _made_by(get, base: type, name: str) -> bool:
    try:
        made = get(name)
    except Exception:  # Keras's reason does not matter here: the name alone is not enough
        return False
    return type(made) is not base


def dumps(catalog: dict) -> str:
    """The catalog as the text of catalog.json."""
    return json.dumps(catalog, indent=1, sort_keys=True) + "\n"


# -- what each backend refuses ---------------------------------------------------------------
#
# Each Keras backend implements the ops in its own modules (`keras/src/backend/jax/nn.py`,
# `.../torch/nn.py`, ...). What a backend refuses is read from that source with `ast`, never
# by importing it, so the catalog is the same whether JAX or PyTorch is installed or not.
# Only what the source states is recorded (but for which backends trace, `_TRACING`), so that
# `validate --backend` never flags a spec that runs; what it cannot state (a backend library
# failing on its own) is left to a build:
# - "missing": an op calls a backend function that this backend's module does not define;
# - "not_implemented": ... one whose body is `raise NotImplementedError`;
# - "arguments": the backend function raises under a condition on its arguments alone, with a
#   message that names the backend (Keras's own word that the refusal is that backend's),
#   e.g. torch's `one_hot`: `if sparse: raise ValueError("... sparse=True with torch
#   backend")`; or a layer's constructor raises under `backend.backend() != "tensorflow"`
#   and a condition on its arguments (BatchNormalization's `synchronized`);
# - "tensorflow_ops": a layer whose `call` runs TensorFlow itself (lookup tables, string
#   hashing), on the backends of `_TRACING` only. Keras's docstrings say such a layer cannot
#   be part of "the compiled computation graph of a model" on other backends than TensorFlow;
#   what fails is narrower. JAX: `fit` and `evaluate` first compute the model's outputs with
#   `jax.eval_shape` (`Trainer._symbolic_build`), and TensorFlow cannot take JAX's tracers.
#   PyTorch runs the call eagerly on real tensors (the layers set `supports_jit = False`, so
#   not even `jit_compile=True` compiles them), and the layer runs, TensorFlow being one of
#   graphspec's own dependencies. No single line of Keras says which backends trace, so
#   `_TRACING` does, and tests/test_backends.py runs every such layer on every backend;
# - "strings": a layer whose code makes string tensors (a `dtype` or `vocabulary_dtype` of
#   "string": StringLookup, TextVectorization), on a backend whose table of dtypes has no
#   "string" (torch's `TORCH_DTYPES`): a model there cannot take or give string tensors.
#
# Where Keras keeps those sources is private: `_backends_root` is the one place that knows it
# (the backend packages cannot be imported without their library).

_COMPARE = {
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Is: "is",
    ast.IsNot: "is not",
    ast.In: "in",
    ast.NotIn: "not in",
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
}
_TENSORFLOW_MODULES = (
    "tensorflow",
    "keras.src.backend.tensorflow",
    "keras.src.utils.tf_utils",
    "keras.src.utils.module_utils.tensorflow",
)
_NOT_LITERAL = object()
# Backends that trace a model's call with their own abstract values before training it (see
# "tensorflow_ops" above): TensorFlow operations cannot run on those.
_TRACING = ("jax",)


@functools.cache
def _tree(path: str) -> ast.Module:
    return ast.parse(Path(path).read_text(encoding="utf-8"), filename=path)


def _backends_root() -> Path:
    """Keras's `keras/src/backend/` folder: one package per backend. Found, not imported
    (importing the packages of JAX or PyTorch would import those libraries)."""
    spec = importlib.util.find_spec("keras.src.backend")
    return Path(next(iter(spec.submodule_search_locations)))


def _backend_dir(backend: str) -> Path:
    return _backends_root() / backend


def _keras_path(path: str) -> str:
    """`keras/src/...` for a file of the installed Keras, for the catalog's `source`."""
    root = Path(inspect.getsourcefile(keras)).parent.parent
    return Path(path).relative_to(root).as_posix()


@functools.cache
def _defined(path: Path) -> dict | None:
    """The names a module defines at its top level (also under `if`, `try` and `with`), each
    with its `def` when it is a function; None when it star-imports (then nothing is known
    to be missing). {} for a module that does not exist."""
    if not path.is_file():
        return {}
    names: dict = {}
    statements = list(_tree(str(path)).body)
    while statements:
        node = statements.pop(0)
        if isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names):
            return None
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names[node.name] = node
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                names.setdefault((alias.asname or alias.name).split(".")[0], None)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    names.setdefault(target.id, None)
        elif isinstance(node, (ast.If, ast.Try, ast.With)):
            statements += [c for c in ast.iter_child_nodes(node) if isinstance(c, ast.stmt)]
            statements += [s for h in getattr(node, "handlers", []) for s in h.body]
    return names


@functools.cache
def _exports(backend: str) -> dict[str, str]:
    """`backend.<name>` -> the module of `backend` that defines it (`cast` -> `core`), from
    the backend package's `__init__.py`."""
    found = {}
    for node in _tree(str(_backend_dir(backend) / "__init__.py")).body:
        prefix = f"keras.src.backend.{backend}."
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(prefix):
            module = node.module.removeprefix(prefix)
            found.update({a.asname or a.name: module for a in node.names})
    return found


@functools.cache
def _common_names() -> frozenset[str]:
    """`backend.<name>` that Keras defines for every backend (keras/src/backend/__init__.py,
    outside its per-backend branches)."""
    init = _backends_root() / "__init__.py"
    names = set()
    for node in _tree(str(init)).body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
    return frozenset(names)


def _backend_function(backend: str, module: str, name: str) -> tuple[str, ast.AST | None]:
    """What `backend.<module>.<name>` is on `backend` (module "" for `backend.<name>`):
    ("missing" | "defined" | "unknown", its `def` or None)."""
    if not module:
        if name in _common_names():
            return "unknown", None
        if name not in _exports(backend):
            known = any(name in _exports(b) for b in BACKENDS)
            return ("missing" if known else "unknown"), None
        module = _exports(backend)[name]
    elif not any((_backend_dir(b) / f"{module}.py").is_file() for b in BACKENDS):
        return "unknown", None  # `backend.config`, `backend.common`: the same on every backend
    names = _defined(_backend_dir(backend) / f"{module}.py")
    if names is None:
        return "unknown", None
    if name not in names:
        return "missing", None
    return "defined", names[name]


def _backend_calls(fn: ast.FunctionDef, module: ast.Module, depth: int = 2):
    """(module, name, hops) for each `backend.<module>.<name>(...)` or `backend.<name>(...)`
    call that `fn` always makes: in statements at the top of its body (an op's eager path),
    not under an `if`, directly or through a function of its module (`image.resize` calls
    `_resize`). `hops` are the (call, caller) pairs from `fn` to the backend call."""
    helpers = {n.name: n for n in module.body if isinstance(n, ast.FunctionDef)}
    for statement in fn.body:
        if not isinstance(statement, (ast.Expr, ast.Return, ast.Assign, ast.AnnAssign)):
            continue
        for node in ast.walk(statement):
            chain = _dotted(node.func) if isinstance(node, ast.Call) else None
            if chain and chain[0] == "backend" and len(chain) in (2, 3):
                yield ("" if len(chain) == 2 else chain[1]), chain[-1], [(node, fn)]
            elif chain and len(chain) == 1 and chain[0] in helpers and depth > 1:
                helper = helpers[chain[0]]
                for name, function, hops in _backend_calls(helper, module, depth - 1):
                    yield name, function, [(node, fn), *hops]


def _op_names(hops: list, backend_fn: ast.FunctionDef) -> dict[str, str]:
    """Backend function argument -> the op's argument it receives unchanged, along `hops`."""
    names = {p: p for p in _arg_names(hops[0][1])}
    for i, (call, caller) in enumerate(hops):
        callee = hops[i + 1][1] if i + 1 < len(hops) else backend_fn
        names = {c: names[p] for c, p in _passed(call, callee, caller).items() if p in names}
    return names


def _dotted(node: ast.AST) -> list[str] | None:
    """`a.b.c` -> ['a', 'b', 'c']; None for anything but names and attributes."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    return [node.id] + parts[::-1] if isinstance(node, ast.Name) else None


def _arg_names(fn: ast.FunctionDef) -> list[str]:
    args = fn.args
    return [a.arg for a in args.posonlyargs + args.args + args.kwonlyargs]


def _assigned(fn: ast.FunctionDef, before: ast.AST | None = None) -> dict[str, list[ast.AST]]:
    """Name -> the statements that rebind it in `fn` (nested functions aside), or only those
    written before `before` (what an `if` chain reaching `before` may have run)."""
    found: dict[str, list] = {}
    for node in _walk_body(fn.body):
        if before is not None and getattr(node, "lineno", 0) >= before.lineno:
            continue
        targets = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign, ast.For, ast.NamedExpr)):
            targets = [node.target]
        for target in targets:
            for name in ast.walk(target):
                if isinstance(name, ast.Name):
                    found.setdefault(name.id, []).append(node)
    return found


def _walk_body(body: list[ast.stmt]):
    """Every node of a function body, without going into nested functions or classes."""
    stack = list(body)
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            stack.extend(ast.iter_child_nodes(node))


def _exits(body: list[ast.stmt], how: tuple = (ast.Return, ast.Raise)) -> bool:
    """Whether a block always ends in `return` or `raise` (or only in those of `how`)."""
    if not body:
        return False
    last = body[-1]
    if isinstance(last, how):
        return True
    return isinstance(last, ast.If) and _exits(last.body, how) and _exits(last.orelse, how)


def _not(test: ast.expr) -> ast.expr:
    return ast.UnaryOp(ast.Not(), test)


def _guarded_raises(body: list[ast.stmt], guards: tuple = ()):
    """(guards, raise) for every `raise` that `body` reaches through `if` statements alone,
    with every test that decides it: the enclosing ones, and `not test` of each earlier `if`
    that returns. Not of one that raises: where its test holds, the function fails there
    instead, so a refusal needs no word about it (IntegerLookup refuses `sparse=True` on
    torch; that it refuses `max_tokens=1` first, everywhere, changes nothing). A raise after
    anything else that may return is left out."""
    guards = list(guards)
    for statement in body:
        if isinstance(statement, ast.Raise):
            yield guards, statement
            return
        if isinstance(statement, ast.Return):
            return
        if isinstance(statement, ast.If):
            yield from _guarded_raises(statement.body, (*guards, statement.test))
            yield from _guarded_raises(statement.orelse, (*guards, _not(statement.test)))
            if _exits(statement.body) and _exits(statement.orelse):
                return
            if _exits(statement.body):
                if not _exits(statement.body, (ast.Raise,)):
                    guards.append(_not(statement.test))
            elif _exits(statement.orelse):
                if not _exits(statement.orelse, (ast.Raise,)):
                    guards.append(statement.test)
            elif any(isinstance(n, (ast.Return, ast.Raise)) for n in _walk_body([statement])):
                return
        elif any(isinstance(n, (ast.Return, ast.Raise)) for n in _walk_body([statement])):
            return


def _flatten(guards: list[ast.expr]) -> list[ast.expr]:
    """`a and b` -> [a, b]; `not (a or b)` -> [not a, not b]."""
    out = []
    for test in guards:
        if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And):
            out += _flatten(test.values)
        elif (
            isinstance(test, ast.UnaryOp)
            and isinstance(test.op, ast.Not)
            and isinstance(test.operand, ast.BoolOp)
            and isinstance(test.operand.op, ast.Or)
        ):
            out += _flatten([_not(v) for v in test.operand.values])
        else:
            out.append(test)
    return out


def _constants(tree: ast.Module) -> dict:
    """Module-level names bound to literals (`UNSUPPORTED_INTERPOLATIONS = ("lanczos3", ...)`)."""
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            value = _literal(node.value, {})
            if isinstance(target, ast.Name) and value is not _NOT_LITERAL:
                found[target.id] = value
    return found


def _literal(node: ast.expr, constants: dict):
    """The JSON value of a literal (tuples and sets as lists, dicts as their keys), or
    _NOT_LITERAL."""
    if isinstance(node, ast.Name) and node.id in constants:
        return constants[node.id]
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return _NOT_LITERAL
    if isinstance(value, dict):
        value = list(value)
    if isinstance(value, (set, frozenset)):
        value = sorted(value, key=repr)
    if isinstance(value, tuple):
        value = list(value)
    if isinstance(value, list) and not all(isinstance(v, (str, int, float, bool)) for v in value):
        return _NOT_LITERAL
    if value is None or isinstance(value, (str, int, float, bool, list)):
        return value
    return _NOT_LITERAL


def _condition(test: ast.expr, names: dict[str, str], constants: dict) -> dict | None:
    """A test on arguments as catalog data: {"arg": a} (truthy), {"arg": a, "op": "in",
    "value": [...]}, {"not": c}, {"all": [...]}, {"any": [...]}, with the backend's argument
    names renamed by `names` to the caller's. None when the test reads anything else."""
    if isinstance(test, ast.Name):
        return {"arg": names[test.id]} if test.id in names else None
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        inner = _condition(test.operand, names, constants)
        return None if inner is None else {"not": inner}
    if isinstance(test, ast.BoolOp):
        parts = [_condition(v, names, constants) for v in test.values]
        if any(p is None for p in parts):
            return None
        return {"all" if isinstance(test.op, ast.And) else "any": parts}
    if (
        isinstance(test, ast.Compare)
        and len(test.ops) == 1
        and isinstance(test.left, ast.Name)
        and test.left.id in names
        and type(test.ops[0]) in _COMPARE
    ):
        value = _literal(test.comparators[0], constants)
        if value is _NOT_LITERAL:
            return None
        return {"arg": names[test.left.id], "op": _COMPARE[type(test.ops[0])], "value": value}
    return None


def _none_defaults(fn: ast.FunctionDef, param: str, before: ast.AST) -> tuple[bool, object]:
    """Whether every rebinding of `param` in `fn` before `before` is `if param is None: param
    = <literal>` at the top of its body (a default filled in), and that literal."""
    for statement in fn.body:
        if (
            isinstance(statement, ast.If)
            and not statement.orelse
            and _condition(statement.test, {param: param}, {})
            == {"arg": param, "op": "is", "value": None}
            and len(statement.body) == 1
            and isinstance(statement.body[0], ast.Assign)
            and [ast.unparse(t) for t in statement.body[0].targets] == [param]
        ):
            value = _literal(statement.body[0].value, {})
            if value is not _NOT_LITERAL and _assigned(fn, before)[param] == [statement.body[0]]:
                return True, value
    return False, None


def _message(exc: ast.expr | None) -> str:
    """The text of an exception's message (the literal parts of its f-strings)."""
    if exc is None:
        return ""
    return " ".join(
        n.value for n in ast.walk(exc) if isinstance(n, ast.Constant) and isinstance(n.value, str)
    )


def _names_backend(message: str, backend: str) -> bool:
    return re.search(rf"\b(?:py)?{re.escape(backend)}\b", message, re.IGNORECASE) is not None


def _refusals(fn: ast.FunctionDef, path: str, backend: str, names: dict[str, str]) -> list:
    """The argument conditions under which backend function `fn` raises with a message that
    names `backend`, in the caller's argument names (`names`: backend name -> caller name)."""
    if not any(
        isinstance(n, ast.Raise) and _names_backend(_message(n.exc), backend)
        for n in _walk_body(fn.body)
    ):
        return []  # most functions: nothing to follow
    constants = _constants(_tree(path))
    found = []
    for guards, statement in _guarded_raises(fn.body):
        if not guards or not _names_backend(_message(statement.exc), backend):
            continue
        none_as = {}
        read = {n.id for g in guards for n in ast.walk(g) if isinstance(n, ast.Name)}
        for param in sorted(read & set(_assigned(fn, statement))):
            filled, value = _none_defaults(fn, param, statement)
            if not filled or param not in names:
                break
            none_as[names[param]] = value
        else:
            tests = [_condition(g, names, constants) for g in _flatten(guards)]
            if all(t is not None for t in tests):
                when = tests[0] if len(tests) == 1 else {"all": tests}
                found.append({"when": when, **({"none_as": none_as} if none_as else {})})
    return found


def _passed(call: ast.Call, callee: ast.FunctionDef, caller: ast.FunctionDef) -> dict[str, str]:
    """Callee argument -> the caller's argument it receives unchanged, for `call`."""
    caller_params = set(_arg_names(caller)) - set(_assigned(caller, call))
    positional = [a.arg for a in callee.args.posonlyargs + callee.args.args]
    names = {}
    for param, value in zip(positional, call.args):
        if isinstance(value, ast.Starred):
            break
        if isinstance(value, ast.Name) and value.id in caller_params:
            names[param] = value.id
    for keyword in call.keywords:
        value = keyword.value
        if keyword.arg and isinstance(value, ast.Name) and value.id in caller_params:
            names[keyword.arg] = value.id
    return names


def _function_def(obj) -> tuple[str, ast.FunctionDef | None]:
    path = inspect.getsourcefile(obj)
    for node in _tree(path).body:
        if isinstance(node, ast.FunctionDef) and node.name == obj.__name__:
            return path, node
    return path, None


def op_refusals(fn, backends: tuple[str, ...] = BACKENDS) -> list[dict]:
    """What each of `backends` refuses of the `keras.ops` function `fn` (see above)."""
    path, op = _function_def(fn)
    if op is None:
        return []
    found = []
    for backend in backends:
        for module, name, hops in _backend_calls(op, _tree(path)):
            state, callee = _backend_function(backend, module, name)
            file = f"{module or _exports(backend).get(name, '__init__')}.py"
            source = f"{_keras_path(str(_backend_dir(backend) / file))}:{name}"
            if state == "missing":
                found.append({"backends": [backend], "reason": "missing", "source": source})
            elif isinstance(callee, ast.FunctionDef) and _raises_not_implemented(callee):
                found.append({"backends": [backend], "reason": "not_implemented", "source": source})
            elif isinstance(callee, ast.FunctionDef):
                names = _op_names(hops, callee)
                for refusal in _refusals(callee, str(_backend_dir(backend) / file), backend, names):
                    found.append(
                        {"backends": [backend], "reason": "arguments", **refusal, "source": source}
                    )
    return _merged(found)


def _raises_not_implemented(fn: ast.FunctionDef) -> bool:
    body = fn.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the docstring
    if not body or not isinstance(body[0], ast.Raise) or body[0].exc is None:
        return False
    exc = body[0].exc.func if isinstance(body[0].exc, ast.Call) else body[0].exc
    return isinstance(exc, ast.Name) and exc.id == "NotImplementedError"


def layer_refusals(cls, backends: tuple[str, ...] = BACKENDS) -> list[dict]:
    """What each of `backends` refuses of the Layer class `cls` (see above)."""
    found = []
    # Most layer modules mention neither TensorFlow nor the backend's name: not parsed.
    caller = _defining_class(cls, "call")
    if caller is not None and re.search(r"tensorflow|tf_utils", _text(caller)):
        path, call = _method(caller, "call")
        if _runs_tensorflow(path, call):
            tracing = [b for b in backends if b in _TRACING]
            source = f"{_keras_path(path)}:{caller.__name__}.call"
            found.append({"backends": tracing, "reason": "tensorflow_ops", "source": source})
    if _makes_strings(cls):
        for backend in backends:
            if (table := _dtype_table(backend)) and "string" not in table[1]:
                source = f"{_keras_path(table[0])}:{table[2]}"
                found.append({"backends": [backend], "reason": "strings", "source": source})
    for klass in cls.__mro__:
        if klass is keras.layers.Layer or not klass.__module__.startswith("keras."):
            break
        if "__init__" in vars(klass) and "backend()" in _text(klass):
            found += _init_refusals(klass, backends)
    whole = {b for f in found if "when" not in f for b in f["backends"]}
    for finding in found:  # a layer a backend lacks needs no word about its arguments there
        if "when" in finding:
            finding["backends"] = [b for b in finding["backends"] if b not in whole]
    return _merged([f for f in found if f["backends"]])


def _init_refusals(klass, backends) -> list[dict]:
    """Raises of `klass.__init__` under `backend.backend()` tests and argument conditions."""
    path, init = _method(klass, "__init__")
    source = f"{_keras_path(path)}:{klass.__name__}.__init__"
    found = []
    for guards, statement in _guarded_raises(init.body):
        installed = [_tensorflow_installed(t, path) for t in _flatten(guards)]
        if False in installed:
            continue  # "Layer X requires TensorFlow": graphspec installs TensorFlow
        tests = [t for t, known in zip(_flatten(guards), installed) if known is None]
        on, tests = _backend_guards(tests, backends)
        assigned = _assigned(init, statement)
        names = {p: p for p in _arg_names(init)[1:] if p not in assigned}
        when = [_condition(t, names, _constants(_tree(path))) for t in tests]
        if not on or not tests or any(w is None for w in when):
            continue  # a refusal on every backend, or one that reads more than arguments
        when = when[0] if len(when) == 1 else {"all": when}
        found.append({"backends": on, "reason": "arguments", "when": when, "source": source})
    return found


def _tensorflow_installed(test: ast.expr, path: str) -> bool | None:
    """The value of a test on whether TensorFlow is installed (`tf.available`, with `tf`
    Keras's lazy TensorFlow module), which is True wherever graphspec is (TensorFlow is one
    of its dependencies); None for any other test."""
    negated = False
    while isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        test, negated = test.operand, not negated
    chain = _dotted(test)
    if chain and len(chain) == 2 and chain[1] == "available":
        if chain[0] in _tensorflow_names(path):
            return not negated
    return None


def _defining_class(cls, name: str) -> type | None:
    """The class of Keras's that defines the method `name` that `cls` uses, if any."""
    for klass in cls.__mro__:
        if name in vars(klass):
            keras_own = klass.__module__.startswith("keras.") and klass is not keras.layers.Layer
            return klass if keras_own else None
    return None


@functools.cache
def _text(klass: type) -> str:
    return Path(inspect.getsourcefile(klass)).read_text(encoding="utf-8")


def _method(klass: type, name: str) -> tuple[str, ast.FunctionDef]:
    """(file, def) of the method `name` that `klass` defines."""
    path = inspect.getsourcefile(klass)
    for item in _class_def(path, klass.__name__).body:
        if isinstance(item, ast.FunctionDef) and item.name == name:
            return path, item
    raise LookupError(f"{klass.__name__}.{name} is not in {path}")  # Keras changed: look


def _class_def(path: str, name: str) -> ast.ClassDef:
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.ClassDef) and node.name == name:
            return node
    raise LookupError(f"class {name} is not in {path}")  # Keras changed: look


def _runs_tensorflow(path: str, fn: ast.FunctionDef) -> bool:
    """Whether `fn` uses TensorFlow itself: a name its module binds to TensorFlow (`tf`,
    `tf_utils`, Keras's TensorFlow backend), or an import of one inside it."""

    bound = _tensorflow_names(path)
    for node in _walk_body(fn.body):
        if isinstance(node, ast.Name) and node.id in bound:
            return True
        if isinstance(node, ast.ImportFrom) and node.module:
            if any(_is_tensorflow(f"{node.module}.{a.name}") for a in node.names):
                return True
        if isinstance(node, ast.Import) and any(_is_tensorflow(a.name) for a in node.names):
            return True
    return False


def _is_tensorflow(module: str) -> bool:
    return any(module == m or module.startswith(m + ".") for m in _TENSORFLOW_MODULES)


@functools.cache
def _tensorflow_names(path: str) -> frozenset[str]:
    """The names a module binds to TensorFlow at its top level (`tf`, `tf_utils`, ...)."""
    bound = set()
    for node in _tree(path).body:
        if isinstance(node, ast.Import):
            bound |= {(a.asname or a.name) for a in node.names if _is_tensorflow(a.name)}
        elif isinstance(node, ast.ImportFrom) and node.module:
            bound |= {
                a.asname or a.name for a in node.names if _is_tensorflow(f"{node.module}.{a.name}")
            }
    return frozenset(bound)


def _makes_strings(cls) -> bool:
    """Whether the code of `cls` (or of a Keras base class it has) makes string tensors: a
    `dtype=` or `vocabulary_dtype=` of `"string"` or `tf.string`."""
    for klass in cls.__mro__:
        if klass is keras.layers.Layer or not klass.__module__.startswith("keras."):
            return False
        if "string" not in _text(klass):
            continue
        path = inspect.getsourcefile(klass)
        tensorflow = _tensorflow_names(path)
        for node in ast.walk(_class_def(path, klass.__name__)):
            if isinstance(node, ast.keyword) and node.arg in ("dtype", "vocabulary_dtype"):
                value = node.value
                if (isinstance(value, ast.Constant) and value.value == "string") or (
                    _dotted(value) in ([name, "string"] for name in tensorflow)
                ):
                    return True
    return False


@functools.cache
def _dtype_table(backend: str) -> tuple[str, frozenset[str], str] | None:
    """(file, names, table) for the dtypes a backend maps to its library's own (torch's
    `TORCH_DTYPES` in core.py), a module-level dict literal named `*_DTYPES`; None when the
    backend has none (then every dtype Keras knows is taken to exist there)."""
    path = str(_backend_dir(backend) / "core.py")
    for node in _tree(path).body if Path(path).is_file() else []:
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id.endswith("_DTYPES")
            and isinstance(node.value, ast.Dict)
        ):
            keys = [_literal(k, {}) if k is not None else None for k in node.value.keys]
            if all(isinstance(k, str) for k in keys):
                return path, frozenset(keys), node.targets[0].id
    return None


def _backend_guards(tests: list[ast.expr], backends) -> tuple[list[str], list[ast.expr]]:
    """Split a raise's tests into those on `backend.backend()` (-> the backends on which
    they all hold) and the rest; ([], tests) when no test is on the backend, or one reads the
    backend in a way not understood."""
    on, rest, seen = list(backends), [], False
    for test in tests:
        negated = isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not)
        inner = test.operand if negated else test
        reads = any(
            isinstance(n, ast.Call) and (_dotted(n.func) or [""])[-1] == "backend"
            for n in ast.walk(inner)
        )
        if not reads:
            rest.append(test)
            continue
        holds = _backend_test(inner)
        if holds is None:
            return [], tests
        seen = True
        on = [b for b in on if holds(b) != negated]
    return (on, rest) if seen else ([], tests)


def _backend_test(test: ast.expr):
    """`backend.backend() != "tensorflow"` (or ==, in, not in) as a function of the backend's
    name; None for any other test."""
    if not (
        isinstance(test, ast.Compare)
        and len(test.ops) == 1
        and isinstance(test.left, ast.Call)
        and not test.left.args
        and _dotted(test.left.func) in (["backend", "backend"], ["backend", "config", "backend"])
        and type(test.ops[0]) in (ast.Eq, ast.NotEq, ast.In, ast.NotIn)
    ):
        return None
    value = _literal(test.comparators[0], {})
    if value is _NOT_LITERAL:
        return None
    values = value if isinstance(value, list) else [value]
    wanted = isinstance(test.ops[0], (ast.Eq, ast.In))
    return lambda backend: (backend in values) == wanted


def _merged(found: list[dict]) -> list[dict]:
    """Findings that differ only in their backends, as one."""
    merged: dict[str, dict] = {}
    for finding in found:
        key = json.dumps({k: v for k, v in finding.items() if k != "backends"}, sort_keys=True)
        if key in merged:
            merged[key]["backends"] += [
                b for b in finding["backends"] if b not in merged[key]["backends"]
            ]
        else:
            merged[key] = {**finding, "backends": list(finding["backends"])}
    return list(merged.values())
