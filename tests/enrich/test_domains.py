"""Domain lookups: exact names first, else the longest wildcard suffix on a label boundary."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trailguard.enrich.domains import DomainIndex

# ------------------------------------------------------------------ reference


def norm(name: str) -> str:
    name = name.lower()
    return name[:-1] if name.endswith(".") else name


def keyed(names: list[str], infos: list[int], *, wildcard: bool) -> dict[str, int]:
    out: dict[str, int] = {}
    for name, info in zip(names, infos, strict=True):
        key = norm(name)
        if wildcard:
            key = key.removeprefix("*.") if key.startswith("*.") else key.removeprefix(".")
        out[key] = min(info, out.get(key, info))
    return out


def ref_lookup(name: str | None, exact: dict[str, int], wild: dict[str, int]) -> int:
    if name is None:
        return -1
    name = norm(name)
    if name in exact:
        return exact[name]
    labels = name.split(".")
    for i in range(1, len(labels)):  # longest proper suffix first; the apex is not included
        suffix = ".".join(labels[i:])
        if suffix in wild:
            return wild[suffix]
    return -1


# ------------------------------------------------------------------ strategies

# ASCII, punycode and a few Unicode labels whose lower case Python and Arrow agree on
LABELS = ["a", "b", "ab", "ba", "ex", "Example", "ORG", "xn--p1ai", "xn--bcher-kva", "bücher"]
LABELS += ["ПРИМЕР", "x-y", "1", "_dmarc", "ec2", "amazonaws", "com"]
label = st.sampled_from(LABELS)


@st.composite
def name(draw: st.DrawFn) -> str:
    text = ".".join(draw(st.lists(label, min_size=1, max_size=6)))
    if draw(st.booleans()):
        text = text.upper()
    if draw(st.booleans()):
        text += "."
    return text


@st.composite
def wildcard(draw: st.DrawFn) -> str:
    return draw(st.sampled_from(["", "*.", "."])) + draw(name())


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(name(), st.integers(0, 9)), max_size=8),
    st.lists(st.tuples(wildcard(), st.integers(0, 9)), max_size=8),
    st.lists(st.one_of(name(), st.none(), st.sampled_from(["", ".", "..", "a..b", "-"]))),
)
def test_lookup_matches_reference(
    exact: list[tuple[str, int]], wild: list[tuple[str, int]], queries: list[str | None]
) -> None:
    index = DomainIndex.build(
        [n for n, _ in exact], [i for _, i in exact], [n for n, _ in wild], [i for _, i in wild]
    )
    e = keyed([n for n, _ in exact], [i for _, i in exact], wildcard=False)
    w = keyed([n for n, _ in wild], [i for _, i in wild], wildcard=True)
    # the names the lists hold, and one label more or less, so that there are hits
    queries = queries + [n for n, _ in exact] + ["z." + n for n, _ in wild]
    queries += [n.split(".", 1)[-1] for n, _ in wild]
    expected = [ref_lookup(q, e, w) for q in queries]
    col = pa.array(queries, pa.string())
    assert index.lookup(col).tolist() == expected
    got = index.lookup_column(pa.chunked_array([col[:3], col[3:]], pa.string()))
    assert got.to_pylist() == [None if x < 0 else x for x in expected]
    assert index.lookup(col.dictionary_encode()).tolist() == expected


# ------------------------------------------------------------------ examples


@pytest.fixture(scope="module")
def index() -> DomainIndex:
    return DomainIndex.build(
        exact=[
            "Evil.example",
            "guarddutyc2activityb.com",
            "pool.minexmr.com",
            "xn--80ak6aa92e.com",
        ],
        exact_info=[1, 2, 3, 4],
        wildcards=["example.org", "*.deep.example.org", ".Bücher.de", "xmr.pool"],
        wildcard_info=[10, 11, 12, 13],
    )


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("evil.example", 1),
        ("EVIL.EXAMPLE.", 1),  # case and Route 53's trailing dot
        ("evil.example..", None),  # only one trailing dot is dropped
        ("www.evil.example", None),  # exact entries do not cover subdomains
        ("guarddutyc2activityb.com.", 2),
        ("a.example.org", 10),
        ("a.b.example.org.", 10),
        ("example.org", None),  # the apex is not below itself
        ("badexample.org", None),  # a label boundary is needed
        ("x.deep.example.org", 11),  # the longest suffix wins
        ("y.x.deep.example.org", 11),
        ("deep.example.org", 10),  # apex of the deeper wildcard: the shorter one matches
        ("www.bücher.de", 12),
        ("www.BÜCHER.de", 12),
        ("www.xn--bcher-kva.de", None),  # IDNA forms are not converted
        ("xn--80ak6aa92e.com", 4),
        ("a.xmr.pool", 13),
        ("pool.minexmr.com", 3),
        ("", None),
        (".", None),
        ("-", None),
        (None, None),
    ],
)
def test_examples(index: DomainIndex, query: str | None, expected: int | None) -> None:
    assert index.lookup_column(pa.array([query], pa.string())).to_pylist() == [expected]


def test_deep_names() -> None:
    index = DomainIndex.build(wildcards=["example.org", "l1.example.org"], wildcard_info=[1, 2])
    deep = ".".join(f"l{i}" for i in range(126, 0, -1)) + ".example.org."
    shallow_miss = ".".join(["x"] * 127)
    got = index.lookup_column(pa.array([deep, shallow_miss, "l2.example.org"]))
    assert got.to_pylist() == [2, None, 1]


def test_many_distinct_names() -> None:
    wild = [f"d{i}.example" for i in range(0, 2000, 2)]
    index = DomainIndex.build(
        exact=["host8.d8.example"], exact_info=[0], wildcards=wild, wildcard_info=range(1000)
    )
    names = [f"host{i % 10}.d{i}.example" for i in range(5000)] * 3
    got = index.lookup(pa.array(names)).tolist()
    expected = [(i // 2 if i % 2 == 0 and i < 2000 else -1) for i in range(5000)] * 3
    expected[8] = expected[5008] = expected[10008] = 0
    assert got == expected


def test_empty_index() -> None:
    empty = DomainIndex.build()
    assert len(empty) == 0
    assert empty.lookup_column(pa.array(["a.b", None])).to_pylist() == [None, None]
    assert empty.lookup_column(pa.array([], pa.string())).to_pylist() == []


@pytest.mark.parametrize(
    "kwargs",
    [
        {"exact": ["a"], "exact_info": [1, 2]},
        {"exact": ["a"], "exact_info": [-1]},
        {"wildcards": ["*."], "wildcard_info": [1]},
        {"wildcards": ["."], "wildcard_info": [1]},
        {"exact": [""], "exact_info": [1]},
        {"exact": [None], "exact_info": [1]},
    ],
)
def test_build_rejects_bad_entries(kwargs: dict[str, list[object]]) -> None:
    with pytest.raises(ValueError):
        DomainIndex.build(**kwargs)  # type: ignore[arg-type]


def test_hash_collisions_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    """With a hash that collides on purpose (the length), only equal strings match."""
    from trailguard.enrich import domains

    def by_length(values: pa.StringArray, base: int) -> object:
        return pc.binary_length(values).to_numpy().astype("uint64")

    monkeypatch.setattr(domains, "_hash_strings", by_length)
    index = DomainIndex.build(["ab.c", "abcd.e"], [1, 2], ["xy", "ef.gh"], [3, 4])
    got = index.lookup_column(pa.array(["ab.c", "zz.c", "abcd.e", "q.xy", "q.zz", "q.ef.gh"]))
    assert got.to_pylist() == [1, None, 2, 3, None, 4]


def test_lists_larger_than_a_hash_chunk() -> None:
    """Over a megabyte of names: hashed in several chunks, each string found again."""
    names = [f"{i:07d}-" + "x" * 60 + ".example" for i in range(20_000)]
    index = DomainIndex.build(names, range(len(names)), names[::2], range(10_000))
    queries = names[::-1] + ["a." + n for n in names[:10]]
    got = index.lookup(pa.array(queries)).tolist()
    assert got == [*range(19_999, -1, -1)] + [i // 2 if i % 2 == 0 else -1 for i in range(10)]
