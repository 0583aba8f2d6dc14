import numpy as np

from pymm import _native
from pymm.events import EVENT_DTYPE, EventKind, drain


def test_events_arrive_as_a_structured_array_in_order():
    writer, reader = _native.event_ring_pair(8)
    assert drain(reader).shape == (0,)
    for i in range(5):
        assert writer.emit(EventKind.ORDER_FILLED, 2, 1, i, 10 + i, 20 + i, -100 - i, 7, 1000 + i, 3)
    writer.emit(EventKind.KILL, 0, None, 99, 0, 0, 0, 0, 0, 1)
    assert len(reader) == 6
    ev = drain(reader, max_events=4)
    assert ev.dtype == EVENT_DTYPE
    assert list(ev["seq"]) == [0, 1, 2, 3]
    assert list(ev["price"]) == [-100, -101, -102, -103]
    assert set(ev["kind"]) == {EventKind.ORDER_FILLED}
    assert set(ev["side"]) == {1}
    rest = drain(reader)
    assert list(rest["kind"]) == [EventKind.ORDER_FILLED, EventKind.KILL]
    assert rest["side"][1] == 255
    assert rest["aux"][1] == 1


def test_full_ring_drops_and_counts():
    writer, reader = _native.event_ring_pair(2)
    results = [writer.emit(EventKind.STALE, 0, None, i, 0, 0, 0, 0, 0, 0) for i in range(3)]
    assert results == [True, True, False]
    assert writer.dropped == 1
    assert np.array_equal(drain(reader)["seq"], [0, 1])


def test_bad_kind_or_side_is_refused():
    writer, _ = _native.event_ring_pair(2)
    for bad in ((42, 0, None), (1, 0, 7)):
        try:
            writer.emit(bad[0], bad[1], bad[2], 0, 0, 0, 0, 0, 0, 0)
        except ValueError:
            continue
        raise AssertionError(f"{bad} accepted")
