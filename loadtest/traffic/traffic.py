"""Synthetic traffic for the load tests: a watchlist and messages for all three input streams.

Reproducible from a seed. Devices are re-sighted with a heavy tail (Pareto popularity: a
few seen constantly, most rarely); sensors follow a diurnal load curve over a synthetic
day of `day_s` seconds; plates are Chinese provincial and British, with OCR noise from the
contract's confusion classes; check-ins carry valid GB 11643 numbers. A share of records
comes from the watchlist (`hit_rate`) and a share is malformed (`malformed_share`). A share
of the entries (`scoped_share`) carries a scope, and their planted sightings fall inside or
outside it (`loadtest.traffic.scoping`).

Messages are built before they are sent, with a placeholder timestamp that the sender
replaces with the real send time (`Message.stamped`): latency is then measured from the
moment a record enters Kafka.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial

import numpy as np

from loadtest.traffic import identifiers as ids
from loadtest.traffic.planting import PairPlanner, Planted
from loadtest.traffic.scoping import SUBJECT_STREAMS, ScopePlan, areas_of, location_id
from schemas.json import dumps
from schemas.normalize import ID_TYPE_CODES, ID_TYPE_NAMES, canonical_plate
from schemas.sensing import HEADER_BYTES, MAGIC, RECORD_DTYPE, SENSING_CONTENT_TYPE
from tables.inputs import INPUT_STREAMS

# A load stream is an input stream in one of its formats: `sensing_binary`, `sensing_json`,
# and for a JSON-only stream its bare name (`plates`).
STREAM_FORMAT = {(f"{s.name}_{fmt}" if len(s.formats) > 1 else s.name): (s, fmt)
                 for s in INPUT_STREAMS for fmt in s.formats}
STREAMS = tuple(STREAM_FORMAT)
STREAM_TOPIC = {stream: s.name for stream, (s, _) in STREAM_FORMAT.items()}
STREAM_SOURCE = {stream: s.source for stream, (s, _) in STREAM_FORMAT.items()}
TS_PLACEHOLDER = 9_999_999_999_999  # 13 digits, like every epoch-ms time until 2286
_TS_BYTES = str(TS_PLACEHOLDER).encode()
DAY_MS = 86_400_000
LISTS = {"device": ("wanted-persons", 1), "plate": ("stolen-vehicles", 2),
         "document": ("missing-persons", 3)}
BINARY_HEADERS = (("content-type", SENSING_CONTENT_TYPE.encode()),)
SUBJECT_OF_STREAM = {stream: subject for subject, streams in SUBJECT_STREAMS.items()
                     for stream in streams}
SCOPE_STREAM = 21  # the scopes' random stream: np.random.default_rng([seed, SCOPE_STREAM])


@dataclass(frozen=True)
class TrafficSpec:
    """What traffic to generate; every field has a default fit for a quick run."""

    seed: int = 7
    watchlist_size: int = 10_000
    hit_rate: float = 0.001
    malformed_share: float = 0.0005
    ocr_noise_rate: float = 0.1
    repeat_share: float = 0.0
    repeat_min_gap_s: float = 3.0
    devices: int = 200_000
    sensors: int = 2_000
    cameras: int = 500
    properties: int = 5_000
    day_s: float = 86_400.0
    scoped_share: float = 0.0  # entries with a scope; about half their sightings fall outside


@dataclass(frozen=True)
class Message:
    """One Kafka message to send, with the hits it is planted to produce."""

    stream: str
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...]
    records: int
    broken: int
    planted: tuple[Planted, ...]

    @property
    def topic(self) -> str:
        """Return the short name of the topic this message goes to."""
        return STREAM_TOPIC[self.stream]

    def stamped(self, ts_ms: int) -> bytes:
        """Return the value with every record's timestamp set to `ts_ms`."""
        if self.stream != "sensing_binary":
            return self.value.replace(_TS_BYTES, str(ts_ms).encode())
        records = np.frombuffer(self.value, RECORD_DTYPE, offset=HEADER_BYTES).copy()
        records["ts"] = ts_ms
        return self.value[:HEADER_BYTES] + records.tobytes()


@dataclass
class _Entries:
    """The watched keys of one subject, in entry order."""

    entry_ids: list[str] = field(default_factory=list)
    keys: list = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    matches: list[str] = field(default_factory=list)


class TrafficGenerator:
    """Build the watchlist and then messages of each stream, all from one seed."""

    def __init__(self, spec: TrafficSpec, start_ms: int) -> None:
        self.spec = spec
        self.start_ms = start_ms
        self.rng = np.random.default_rng(spec.seed)
        self._devices, self._plates, self._docs = _Entries(), _Entries(), _Entries()
        self._entries = {"device": self._devices, "plate": self._plates, "document": self._docs}
        self._build_keys()
        self.scopes = ScopePlan(
            np.random.default_rng([spec.seed, SCOPE_STREAM]), spec.scoped_share, start_ms,
            {"device": (len(self._devices.keys), spec.sensors),
             "plate": (len(self._plates.keys), spec.cameras),
             "document": (len(self._docs.keys), spec.properties)})
        self.commands = self._watchlist_commands()
        # What the harness writes to `vigil.locations` before traffic: the areas of locations.
        self.location_commands = self.scopes.location_commands()
        self._population = self._build_population()
        self._sensor_weight = self.rng.pareto(2.0, spec.sensors) + 1
        self._sensor_peak = self.rng.random(spec.sensors)
        self._background_plates = ids.plates(self.rng, 20_000, watched=False)
        gap = int(spec.repeat_min_gap_s * 1000)
        self._planners = {}
        for stream in STREAMS:
            subject = SUBJECT_OF_STREAM[stream]
            entries, locations = self.scopes.sizes[subject]
            place = partial(self.scopes.place, subject) if spec.scoped_share else None
            self._planners[stream] = PairPlanner(self.rng, max(1, entries), locations,
                                                 spec.repeat_share, gap, place)

    # -- watchlist --------------------------------------------------------------------------
    def _build_keys(self) -> None:
        n = self.spec.watchlist_size
        n_plates, n_docs = n // 5, n // 10
        n_devices = n - n_plates - n_docs
        d, p, docs = self._devices, self._plates, self._docs
        # Every entry gets its own key (see identifiers.distinct), so counts are exact.
        for code, count in enumerate(self.rng.multinomial(n_devices, [0.25] * 4), start=1):
            keys = ids.distinct(
                lambda m, code=code: ids.device_ids(self.rng, code, m, True).tolist(), count)
            d.keys += [k.decode() for k in keys]
            d.kinds += [ID_TYPE_NAMES[code]] * count
        d.matches = ["exact"] * len(d.keys)
        p.keys = ids.distinct(lambda m: ids.plates(self.rng, m, True), n_plates,
                              key=canonical_plate)
        p.kinds = [""] * n_plates
        p.matches = ["ocr-tolerant" if i % 2 else "exact" for i in range(n_plates)]
        n_passports = n_docs // 5
        docs.keys = (ids.distinct(lambda m: ids.national_ids(self.rng, m, True),
                                  n_docs - n_passports)
                     + ids.distinct(lambda m: ids.passports(self.rng, m, True), n_passports))
        docs.kinds = ["national_id"] * (n_docs - n_passports) + ["passport"] * n_passports
        docs.matches = ["exact"] * n_docs

    def _watchlist_commands(self) -> list[dict]:
        commands = []
        for subject, entries in self._entries.items():
            name, priority = LISTS[subject]
            for i, key in enumerate(entries.keys):
                entry_id = f"W-LT-{len(commands):07d}"
                entries.entry_ids.append(entry_id)
                cmd = {"op": "upsert", "entry_id": entry_id, "list": name,
                       "subject_type": subject, "key": key, "priority": priority,
                       "legal_basis": "load test: synthetic case", "requested_by": "loadtest",
                       "expires_at": self.start_ms + 7 * DAY_MS}
                if subject == "device":
                    cmd["id_type"] = entries.kinds[i]
                elif subject == "document":
                    cmd["doc_type"] = entries.kinds[i]
                else:
                    cmd["match"] = entries.matches[i]
                scope = self.scopes.scope_command(subject, i)
                if scope is not None:
                    cmd["scope"] = scope
                commands.append(cmd)
        return commands

    # -- background population --------------------------------------------------------------
    def _build_population(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n = self.spec.devices
        codes = self.rng.choice(np.arange(1, 5, dtype=np.uint8), size=n, p=[.6, .2, .15, .05])
        keys = np.empty(n, dtype="S16")
        for code in range(1, 5):
            at = codes == code
            keys[at] = ids.device_ids(self.rng, code, int(at.sum()), watched=False)
        # Pareto popularity: a few devices carry much of the traffic, most appear rarely.
        popularity = np.cumsum(self.rng.pareto(1.5, n) + 1)
        return codes, keys, popularity / popularity[-1]

    def _devices_seen(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        codes, keys, cumulative = self._population
        idx = np.searchsorted(cumulative, self.rng.random(n))
        return codes[idx], keys[idx]

    def _locations(self, n: int, count: int, planned_ms: int) -> np.ndarray:
        """Return `count` location indices in [0, n): sensors by diurnal load, else uniform."""
        if n != self.spec.sensors:
            return self.rng.integers(0, n, size=count)
        phase = (self.start_ms + planned_ms) / (self.spec.day_s * 1000) - self._sensor_peak
        load = self._sensor_weight * (1 + 0.8 * np.cos(2 * math.pi * phase))
        cumulative = np.cumsum(load)
        return np.searchsorted(cumulative, self.rng.random(count) * cumulative[-1])

    def _split(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Pick the rows of an n-record message to plant and to break (disjoint)."""
        planted = int(self.rng.binomial(n, self.spec.hit_rate))
        broken = int(self.rng.binomial(n, self.spec.malformed_share))
        rows = self.rng.permutation(n)[: min(n, planted + broken)]
        return np.sort(rows[:planted]), np.sort(rows[planted:])

    # -- messages ---------------------------------------------------------------------------
    def messages(self, stream: str, count: int, batch: int, rate: float) -> Iterator[Message]:
        """Yield `count` messages of `batch` records each, planned at `rate` records/s."""
        build = {"sensing_binary": self._sensing_message, "sensing_json": self._sensing_message,
                 "plates": self._plates_message, "checkins": self._checkins_message}[stream]
        for i in range(count):
            yield build(stream, batch, int(i * batch * 1000 / rate))

    def _plant(self, stream: str, rows: np.ndarray, n_locations: int, planned_ms: int
               ) -> list[tuple[int, int]]:
        locations = self._locations(n_locations, len(rows), planned_ms)
        return self._planners[stream].pairs(len(rows), locations, planned_ms)

    def _planted(self, stream: str, entry: int, loc: int, match: str) -> Planted:
        """Return what a planted sighting of entry `entry` at location `loc` is."""
        subject = SUBJECT_OF_STREAM[stream]
        return Planted(self._entries[subject].entry_ids[entry], location_id(stream, loc), match,
                       self.scopes.scope_of(subject, entry), areas_of(loc))

    def _sensing_message(self, stream: str, n: int, planned_ms: int) -> Message:
        recs = np.zeros(n, dtype=RECORD_DTYPE)
        recs["ts"] = TS_PLACEHOLDER
        recs["sensor_id"] = self._locations(self.spec.sensors, n, planned_ms) + 1
        recs["id_type"], recs["device_id"] = self._devices_seen(n)
        recs["rssi"] = self.rng.integers(-95, -40, size=n)
        plant_rows, broken_rows = self._split(n)
        planted = []
        d = self._devices
        for row, (entry, loc) in zip(plant_rows, self._plant(stream, plant_rows,
                                                             self.spec.sensors, planned_ms),
                                     strict=True):
            recs["id_type"][row] = ID_TYPE_CODES[d.kinds[entry]]
            recs["device_id"][row] = d.keys[entry].encode()
            recs["sensor_id"][row] = loc + 1
            planted.append(self._planted(stream, entry, loc, "exact"))
        recs["id_type"][broken_rows] = 9  # not an id_type code: bad_id_type
        if stream == "sensing_binary":
            value = MAGIC + n.to_bytes(4, "little") + recs.tobytes()
            return Message(stream, None, value, BINARY_HEADERS, n, len(broken_rows),
                           tuple(planted))
        return Message(stream, None, self._sensing_json(recs), (), n, len(broken_rows),
                       tuple(planted))

    def _sensing_json(self, recs: np.ndarray) -> bytes:
        styles = self.rng.integers(0, 3, size=len(recs))
        out = []
        for r, style in zip(recs.tolist(), styles, strict=True):
            ts, sensor, code, rssi, _, device = r
            device_id = device.decode()
            if code == 1 and style == 1:  # the contract allows separators and either case
                device_id = ":".join(device_id[i:i + 2] for i in range(0, 12, 2)).upper()
            name = ID_TYPE_NAMES.get(code)
            if name is None:  # a broken row: the JSON twin of a bad id code
                name, device_id = "mac", "not-a-device"
            out.append({"sensor_id": location_id("sensing_json", sensor - 1), "ts": ts,
                        "id_type": name, "device_id": device_id, "rssi": rssi})
        return dumps(out)

    def _plates_message(self, stream: str, n: int, planned_ms: int) -> Message:
        pool = self._background_plates
        picks = self.rng.integers(0, len(pool), size=n)
        plates = [pool[i] for i in picks.tolist()]
        cameras = [location_id(stream, c)
                   for c in self._locations(self.spec.cameras, n, planned_ms).tolist()]
        plant_rows, broken_rows = self._split(n)
        planted = []
        p = self._plates
        pairs = self._plant(stream, plant_rows, self.spec.cameras, planned_ms)
        for row, (entry, loc) in zip(plant_rows.tolist(), pairs, strict=True):
            key = p.keys[entry]
            noisy = self.rng.random() < self.spec.ocr_noise_rate
            plates[row] = ids.ocr_variant(self.rng, key) if noisy else key
            cameras[row] = location_id(stream, loc)
            if plates[row] == key:
                planted.append(self._planted(stream, entry, loc, "exact"))
            elif p.matches[entry] == "ocr-tolerant":
                planted.append(self._planted(stream, entry, loc, "ocr-tolerant"))
            # An exact entry read through OCR noise is a near miss: no hit.
        shown = [_display_plate(plate) for plate in plates]
        for row in broken_rows.tolist():
            shown[row] = "·-. "  # nothing left once normalised: bad_plate
        reads = [{"camera_id": c, "ts": TS_PLACEHOLDER, "plate": plate, "confidence": 0.9,
                  "country": "CN" if plate[0] in ids.PROVINCES else "GB"}
                 for c, plate in zip(cameras, shown, strict=True)]
        return Message(stream, None, dumps(reads), (), n, len(broken_rows), tuple(planted))

    def _checkins_message(self, stream: str, n: int, planned_ms: int) -> Message:
        n_passports = int(self.rng.binomial(n, 0.15))
        numbers = (ids.national_ids(self.rng, n - n_passports, False)
                   + ids.passports(self.rng, n_passports, False))
        kinds = ["national_id"] * (n - n_passports) + ["passport"] * n_passports
        props = self._locations(self.spec.properties, n, planned_ms)
        rows = [{"property_id": location_id(stream, pr), "ts": TS_PLACEHOLDER, "doc_type": k,
                 "doc_number": num, "name": "synthetic guest", "nationality": "CN"}
                for pr, k, num in zip(props.tolist(), kinds, numbers, strict=True)]
        plant_rows, broken_rows = self._split(n)
        planted = []
        docs = self._docs
        pairs = self._plant(stream, plant_rows, self.spec.properties, planned_ms)
        for row, (entry, loc) in zip(plant_rows.tolist(), pairs, strict=True):
            rows[row].update(property_id=location_id(stream, loc), doc_type=docs.kinds[entry],
                             doc_number=docs.keys[entry])
            planted.append(self._planted(stream, entry, loc, "exact"))
        for row in broken_rows.tolist():
            rows[row].update(doc_type="national_id",
                             doc_number=ids.corrupt_check_digit(ids.national_ids(
                                 self.rng, 1, False)[0]))
        return Message(stream, None, dumps(rows), (), n, len(broken_rows), tuple(planted))


def _display_plate(plate: str) -> str:
    """Write a normalised plate as a camera would: `鲁K·12345`, `XA12 BCD`."""
    if plate[0] in ids.PROVINCES:
        return plate[:2] + "·" + plate[2:]
    return plate[:4] + " " + plate[4:]
