"""Records as the tests see them, independent of any client library, and how to compare them."""

from __future__ import annotations

import random
from dataclasses import dataclass

# 2023-11-14T22:13:20Z: far from "now", so a broker that stamps its own time is caught.
BASE_TIMESTAMP_MS = 1_700_000_000_000


@dataclass(frozen=True)
class Rec:
    """One record: what was produced or what was read back."""
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...]
    timestamp: int

    def short(self) -> str:
        def clip(blob):
            return None if blob is None else (blob[:24] + (b"..." if len(blob) > 24 else b""))
        return f"Rec(key={clip(self.key)!r}, value={clip(self.value)!r}, headers={self.headers!r}, ts={self.timestamp})"


def make_records(count: int, label: str, *, seed: int = 7, null_header_values: bool = True,
                 binary: bool = True) -> list[Rec]:
    """Deterministic, varied records: null keys, null and empty values, 0-3 headers, and timestamps
    that go backwards as well as forwards (negative timestamp deltas inside a batch)."""
    rng = random.Random(f"{label}/{seed}")
    records = []
    for index in range(count):
        key = None if index % 97 == 5 else f"{label}-key-{index}".encode()
        if index % 101 == 7:
            value = None
        elif index % 103 == 11:
            value = b""
        else:
            size = rng.randint(1, 300)
            if binary:
                value = rng.randbytes(size)
            else:
                value = (f"{label}-value-{index}-" + "x" * size).encode()
        headers = []
        for header_index in range(rng.randint(0, 3)):
            header_value = f"h{header_index}-{index}".encode()
            if null_header_values and index % 89 == 3 and header_index == 0:
                header_value = None
            headers.append((f"header-{header_index}", header_value))
        timestamp = BASE_TIMESTAMP_MS + index * 10 + rng.randint(-500, 500)
        records.append(Rec(key, value, tuple(headers), timestamp))
    return records


def split_by_partition(records: list[Rec], partitions: int) -> dict[int, list[Rec]]:
    """Record i goes to partition i % partitions: the tests always name the partition explicitly."""
    by_partition: dict[int, list[Rec]] = {partition: [] for partition in range(partitions)}
    for index, record in enumerate(records):
        by_partition[index % partitions].append(record)
    return by_partition


def assert_same_records(expected: dict[int, list[Rec]], actual: dict[int, list[Rec]]) -> None:
    """Exactly the expected records, per partition, in order: nothing missing, nothing extra."""
    problems = []
    for partition in sorted(set(expected) | set(actual)):
        want, got = expected.get(partition, []), actual.get(partition, [])
        if want == got:
            continue
        if len(want) != len(got):
            problems.append(f"partition {partition}: expected {len(want)} records, read {len(got)}")
        for index, (w, g) in enumerate(zip(want, got)):
            if w != g:
                problems.append(f"partition {partition}, record {index}: expected {w.short()}\n"
                                f"{' ' * 20}read {g.short()}")
                break
    assert not problems, "records read back differ from those produced:\n" + "\n".join(problems)
