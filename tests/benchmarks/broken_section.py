"""A benchmark section that fails, for the suite's error-isolation test."""


def run(quick: bool = False) -> list[dict]:
    raise RuntimeError("kernel exploded")
