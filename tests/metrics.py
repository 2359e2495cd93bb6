"""Reading a Prometheus page in tests: one sample's value by name and labels."""

from prometheus_client.parser import text_string_to_metric_families


def samples(text: str) -> list:
    return [sample for family in text_string_to_metric_families(text) for sample in family.samples]


def value(text: str, name: str, **labels) -> float:
    """The sum of the samples named `name` whose labels include `labels` (0 when none)."""
    wanted = {key: str(val) for key, val in labels.items()}
    return sum(
        sample.value
        for sample in samples(text)
        if sample.name == name and wanted.items() <= sample.labels.items()
    )


def names(text: str) -> set[str]:
    return {sample.name for sample in samples(text)}
