"""Speed-ups of extraction change no output: the step-shape fast path against the token rule."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentark_core.extract.steps import _SHAPE_TOKEN, PROSE_SHAPE, step_shape

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
step_text = st.lists(
    st.sampled_from(
        ["1", "23", ".", "/", " ", "=", "+", "-", "*", "\\frac", "{", "}", "x", "step", "٣", "²", "√"]
    ),
    max_size=25,
).map("".join)


def token_rule(step: str) -> str:
    """The documented rule, token by token: integers vanish, decimals -> D, fractions -> F."""
    shapes = [("D" if "." in t else "F") if t[0].isdigit() else t for t in _SHAPE_TOKEN.findall(step)]
    return "".join(shapes) or PROSE_SHAPE


@FUZZ
@given(step=step_text | st.text(max_size=40))
def test_step_shape_follows_the_token_rule(step):
    assert step_shape(step) == token_rule(step)


def test_step_shapes_of_both_paths():
    assert step_shape("Step 2: 5 * 4 = 20") == "*="  # no decimal or fraction: fast path
    assert step_shape("12/3.5 + 0.5 = 4") == "F+D="  # a fraction wins over the decimal inside it
    assert step_shape("so 1 / 2 of it") == "F"
    assert step_shape("we are done.") == PROSE_SHAPE
