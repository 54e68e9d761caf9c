from tests.numbers.helpers import sim  # noqa: F401  (fixture)
