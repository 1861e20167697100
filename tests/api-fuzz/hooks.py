"""What the fuzzer is told that the OpenAPI document cannot say (loaded by schemathesis.toml)."""

import pathlib

import schemathesis
from hypothesis import strategies as st

# A model upload is checked whole: only a model that checks is accepted (422 is documented), which
# no schema can say. Uploads are the sample city model, as `standing init` writes it.
CITY = (pathlib.Path(__file__).resolve().parents[2] / "models" / "city.toml").read_bytes()
schemathesis.openapi.media_type("application/toml", st.just(CITY))

# Events are text, one JSON record a line: sent as text.
schemathesis.serializer.alias(["application/x-ndjson"], "text/plain")


@schemathesis.hook("filter_query").apply_to(path="/v1/changes", method="GET")
def threshold_with_its_score(context, query):
    """Threshold crossings need the score crossed: `kinds` naming `threshold` comes with
    `threshold` (a dependency between parameters OpenAPI cannot state)."""
    if not isinstance(query, dict):
        return True
    kinds = query.get("kinds")
    named = kinds if isinstance(kinds, list) else str(kinds or "").split(",")
    return "threshold" not in named or "threshold" in query
