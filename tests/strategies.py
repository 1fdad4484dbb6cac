"""Hypothesis strategies for what clients send: JSON values, and valid and invalid event names."""

import unicodedata

from hypothesis import strategies as st

from domain.event import JsonValue

json_values: st.SearchStrategy[JsonValue] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=25,
)

_printable = st.characters(exclude_categories=("Cc", "Cs", "Cf", "Zl", "Zp"))


def _reads_as_reserved(name: str) -> bool:
    return unicodedata.normalize("NFKC", name).strip().casefold().startswith("inngest/")


valid_event_names = st.text(alphabet=_printable, min_size=1, max_size=255).filter(
    lambda name: not name.isspace() and not _reads_as_reserved(name)
)

invalid_event_names = st.one_of(
    st.just(""),
    st.text(alphabet=_printable, min_size=256, max_size=400),
    st.text(alphabet=_printable, max_size=20).map(lambda rest: "inngest/" + rest),
    st.sampled_from(["Inngest/", "INNGEST/", " inngest/"]).map(lambda prefix: prefix + "x"),
    st.text(alphabet=st.characters(categories=["Zs"]), min_size=1, max_size=5),
    st.tuples(
        st.text(alphabet=_printable, max_size=10),
        st.characters(categories=["Cc", "Cf", "Zl", "Zp"]),
        st.text(alphabet=_printable, max_size=10),
    ).map("".join),
)
