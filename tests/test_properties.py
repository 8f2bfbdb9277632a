"""Property-based tests: random valid graphs build exactly as specified; random damage to the
examples gives SpecError with located diagnostics, never another exception, never a hang.

Profiles (tests/conftest.py): `ci` (default, short) and `long`:
`pytest tests/test_properties.py --hypothesis-profile=long`.
"""

import contextlib
import signal

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import graphspec
from graphspec.source import dumps

from conftest import EXAMPLES, PLUGINS, random_dags

# Every example, including the two that use the seed plugins (registration is global).
graphspec.load_plugin(str(PLUGINS / "seed_ops.py"))
graphspec.load_plugin(str(PLUGINS / "seed_layers.py"))
EXAMPLE_FILES = sorted(EXAMPLES.glob("*.yaml"))
UNLOCATED = {"GS001", "GS002", "GS120", "GS160"}  # about the file or the call, not a place
HANG_BOUND = 30  # seconds; a generous bound that only a hang would reach


@contextlib.contextmanager
def no_hang(seconds=HANG_BOUND):
    def alarm(signum, frame):
        raise AssertionError(f"no result after {seconds} s: a hang")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def check_outcome(path):
    """Either a valid spec, or SpecError whose errors are located; nothing else. `validate`
    reports what `load` found: the errors it raised, or the warnings of the spec."""
    with no_hang():
        try:
            found = graphspec.load(path).diagnostics
        except graphspec.SpecError as exc:
            found = exc.diagnostics
            errors = [d for d in found if d.is_error]
            assert errors, "SpecError without an error"
            for d in errors:
                assert d.code in graphspec.CODES and d.message
                assert d.line is not None or d.code in UNLOCATED, d.format()
        assert graphspec.validate(path) == found


# -- random valid DAGs ------------------------------------------------------------------------


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(random_dags())
def test_random_dags_build_with_the_specified_wiring(doc):
    from graphspec.keras.export import wiring

    spec = graphspec.load(doc)
    model = spec.build()
    keras_wiring = wiring(model)
    for node in doc["layers"]:
        refs = [node["in"]] if isinstance(node["in"], str) else node["in"]
        if spec.kind == "sequential":
            assert node["name"] in keras_wiring
            continue
        (call,) = keras_wiring[node["name"]]
        assert [name for name, _ in call] == refs
    assert set(spec.graph.edges) == {
        (r, n["name"])
        for n in doc["layers"]
        for r in ([n["in"]] if isinstance(n["in"], str) else n["in"])
    }


# -- damaged examples -------------------------------------------------------------------------


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, prefix + (i,))


def _parent(doc, path):
    for part in path[:-1]:
        doc = doc[part]
    return doc


JUNK = st.one_of(
    st.integers(-3, 10**6),
    st.floats(allow_nan=True),
    st.booleans(),
    st.none(),
    st.text(max_size=8),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)


@st.composite
def damaged(draw):
    example = draw(st.sampled_from(EXAMPLE_FILES))
    doc = yaml.safe_load(example.read_text())
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(doc) if p]
        path = draw(st.sampled_from(paths))
        parent, key = _parent(doc, path), path[-1]
        action = draw(st.sampled_from(["drop", "rename", "junk", "duplicate", "break_ref"]))
        if action == "drop":
            del parent[key]
        elif action == "rename" and isinstance(key, str):
            parent[key + draw(st.sampled_from(["x", "_", "s"]))] = parent.pop(key)
        elif action == "junk":
            parent[key] = draw(JUNK)
        elif action == "duplicate" and isinstance(parent, list):
            parent.append(parent[key])
        elif action == "break_ref" and isinstance(parent[key], str):
            parent[key] = parent[key] + "_missing"
    return doc


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(damaged())
def test_damaged_documents_give_located_errors(tmp_path, doc):
    path = tmp_path / "damaged.yaml"
    try:
        text = dumps(doc) if isinstance(doc, dict) else yaml.safe_dump(doc)
    except Exception:
        text = yaml.safe_dump(doc)
    path.write_text(text)
    check_outcome(path)


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.sampled_from(EXAMPLE_FILES), st.data())
def test_damaged_bytes_give_located_errors(tmp_path, example, data):
    raw = example.read_bytes()
    cut = data.draw(st.integers(0, len(raw)))
    if data.draw(st.booleans()):
        raw = raw[:cut]  # truncated at any byte
    else:
        raw = raw[:cut] + data.draw(st.binary(min_size=1, max_size=8)) + raw[cut:]
    path = tmp_path / ("damaged" + example.suffix)
    path.write_bytes(raw)
    check_outcome(path)


@st.composite
def _declared_dags(draw):
    """A DAG over n nodes (edges from lower to higher topological rank) with declaration
    indexes that follow that rank, or are shuffled, and some inputs (index None)."""
    n = draw(st.integers(1, 12))
    edges = draw(st.sets(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=30))
    indexes = list(range(n))
    if draw(st.booleans()):
        indexes = draw(st.permutations(indexes))
    inputs = draw(st.sets(st.integers(0, n - 1), max_size=3))
    return n, [(u, v) for u, v in edges if u < v], indexes, inputs


@given(_declared_dags())
def test_build_order_is_networkx_lexicographical_order(case):
    from types import SimpleNamespace

    import networkx as nx

    from graphspec.graph import _build_order

    n, edges, indexes, inputs = case
    graph = nx.DiGraph()
    graph.add_nodes_from(f"n{i}" for i in range(n))
    graph.add_edges_from((f"n{u}", f"n{v}") for u, v in edges)
    nodes = {f"n{i}": SimpleNamespace(index=None if i in inputs else indexes[i]) for i in range(n)}

    def key(name):
        index = nodes[name].index
        return (index if index is not None else -1, name)

    assert _build_order(graph, nodes) == list(nx.lexicographical_topological_sort(graph, key=key))
