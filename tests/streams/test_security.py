"""How Vigil's Kafka clients connect: the settings become the same TLS and SASL options for
aiokafka, kafka-python and Faust, and every client Vigil builds receives them.

SASL cannot be tried end to end here (Tansu 0.6.0 offers no PLAIN, and its SCRAM users
cannot be created on a memory-store broker that requires authentication), so these tests
check that the SASL settings reach every client's options; TLS and mutual TLS are also
tried against a broker in tests/integration/test_tls.py.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import inspect
import re
import ssl
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiokafka
import faust
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth
from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import KafkaAdminClient

from config.settings import Settings, SettingsError, load_settings
from streams.security import (
    aiokafka_security,
    describe,
    faust_credentials,
    kafka_python_security,
    ssl_context,
)
from tests.streams.pki import Pki, write_pki

ROOT = Path(__file__).resolve().parents[2]
MECHANISMS = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return write_pki(tmp_path_factory.mktemp("pki"))


def kafka_settings(**kafka: str) -> Settings:
    return load_settings(env={f"VIGIL_KAFKA_{k.upper()}": v for k, v in kafka.items()})


def mtls(pki: Pki, protocol: str = "SSL", **more: str) -> Settings:
    return kafka_settings(security_protocol=protocol, ssl_cafile=str(pki.ca),
                          ssl_certfile=str(pki.client_cert), ssl_keyfile=str(pki.client_key),
                          **more)


def sasl(protocol: str, mechanism: str, pki: Pki | None = None) -> Settings:
    files = {"ssl_cafile": str(pki.ca)} if pki else {}
    return kafka_settings(security_protocol=protocol, sasl_mechanism=mechanism,
                          sasl_username="svc-vigil", sasl_password="s3cret", **files)


# -- the options ----------------------------------------------------------------------------
def test_plaintext_gives_no_options_at_all() -> None:
    s = load_settings(env={})
    assert aiokafka_security(s) == kafka_python_security(s) == {}
    assert aiokafka_security(None) == kafka_python_security(None) == {}
    assert faust_credentials(s) is None
    assert ssl_context(s) is None
    assert "broker_credentials" not in _faust_conf(s)
    assert "web_ssl_context" not in _faust_conf(s)


def test_mutual_tls_options(pki: Pki) -> None:
    s = mtls(pki)
    a = aiokafka_security(s)
    assert a.keys() == {"security_protocol", "ssl_context"}
    assert a["security_protocol"] == "SSL"
    context = a["ssl_context"]
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert kafka_python_security(s) == {
        "security_protocol": "SSL", "ssl_check_hostname": True, "ssl_cafile": str(pki.ca),
        "ssl_certfile": str(pki.client_cert), "ssl_keyfile": str(pki.client_key)}
    creds = faust_credentials(s)
    assert isinstance(creds, faust.SSLCredentials)
    # What Faust hands its aiokafka clients.
    assert credentials_to_aiokafka_auth(creds)["security_protocol"] == "SSL"
    assert describe(s) == f"SSL, CA {pki.ca}, client certificate {pki.client_cert}"


def test_the_client_certificate_is_presented(pki: Pki) -> None:
    """The context of mutual TLS completes a handshake with a server that requires a
    client certificate from the test CA (in memory, no sockets)."""
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(pki.server_cert, pki.server_key)
    server.load_verify_locations(pki.ca)
    server.verify_mode = ssl.CERT_REQUIRED
    client_ctx = ssl_context(mtls(pki))
    assert client_ctx is not None
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    client = client_ctx.wrap_bio(c_in, c_out, server_hostname="127.0.0.1")
    srv = server.wrap_bio(s_in, s_out, server_side=True)
    for _ in range(10):
        for end in (client, srv):
            with contextlib.suppress(ssl.SSLWantReadError):
                end.do_handshake()
        s_in.write(c_out.read())
        c_in.write(s_out.read())
    # With TLS 1.3 the server checks the client's certificate after the client is done.
    assert srv.getpeercert()["subject"] == ((("commonName", "vigil-client"),),)


def test_tls_without_a_ca_file_uses_the_system_cas() -> None:
    s = kafka_settings(security_protocol="SSL")
    assert aiokafka_security(s)["ssl_context"].verify_mode == ssl.CERT_REQUIRED
    assert kafka_python_security(s)["ssl_cafile"] is None  # kafka-python: load_default_certs
    assert describe(s) == "SSL, CA system"


@pytest.mark.parametrize("mechanism", MECHANISMS)
@pytest.mark.parametrize("protocol", ["SASL_PLAINTEXT", "SASL_SSL"])
def test_sasl_options(pki: Pki, protocol: str, mechanism: str) -> None:
    s = sasl(protocol, mechanism, pki if protocol == "SASL_SSL" else None)
    expected = {"security_protocol": protocol, "sasl_mechanism": mechanism,
                "sasl_plain_username": "svc-vigil", "sasl_plain_password": "s3cret"}
    a = aiokafka_security(s)
    assert {k: a[k] for k in expected} == expected
    assert ("ssl_context" in a) == (protocol == "SASL_SSL")
    k = kafka_python_security(s)
    assert {n: k[n] for n in expected} == expected
    assert k.get("ssl_cafile") == (str(pki.ca) if protocol == "SASL_SSL" else None)
    creds = faust_credentials(s)
    assert isinstance(creds, faust.SASLCredentials)
    auth = credentials_to_aiokafka_auth(creds)
    assert {n: auth[n] for n in expected} == expected
    assert (auth["ssl_context"] is not None) == (protocol == "SASL_SSL")
    assert "s3cret" not in describe(s) and "svc-vigil" in describe(s)


@pytest.mark.parametrize(("kafka", "named"), [
    ({"security_protocol": "SASL_SSL", "sasl_username": "u"}, "kafka.sasl_mechanism"),
    ({"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "PLAIN"}, "kafka.sasl_username"),
    ({"ssl_cafile": "/x/ca.pem"}, "kafka.ssl_cafile"),
    ({"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "PLAIN", "sasl_username": "u",
      "ssl_certfile": "/x/c.pem"}, "kafka.ssl_certfile"),
    ({"security_protocol": "SSL", "sasl_mechanism": "PLAIN"}, "kafka.sasl_mechanism"),
    ({"security_protocol": "SSL", "ssl_keyfile": "/x/k.pem"}, "kafka.ssl_keyfile"),
    ({"security_protocol": "SSL", "ssl_cafile": "/nonexistent/ca.pem"}, "kafka.ssl_cafile"),
    ({"security_protocol": "SSL", "ssl_certfile": "/nonexistent/c.pem"}, "kafka.ssl_certfile"),
])
def test_settings_that_disagree_or_files_that_cannot_be_read_are_refused(
        kafka: dict[str, str], named: str) -> None:
    s = kafka_settings(**kafka)
    for build in (aiokafka_security, kafka_python_security, faust_credentials):
        with pytest.raises(SettingsError, match=re.escape(named)):
            build(s)


def test_the_options_are_ones_every_client_library_takes(pki: Pki) -> None:
    s = mtls(pki, "SASL_SSL", sasl_mechanism="PLAIN", sasl_username="u")
    for cls in (aiokafka.AIOKafkaConsumer, aiokafka.AIOKafkaProducer, AIOKafkaAdminClient):
        assert set(aiokafka_security(s)) <= set(inspect.signature(cls).parameters), cls
    for cls in (KafkaConsumer, KafkaProducer, KafkaAdminClient):
        assert set(kafka_python_security(s)) <= set(cls.DEFAULT_CONFIG), cls


def test_the_worker_https_context(pki: Pki) -> None:
    from agents.app import web_ssl_context

    def worker(**env: str) -> Any:
        return load_settings(env={f"VIGIL_WORKER_{k.upper()}": v for k, v in env.items()}).worker

    assert web_ssl_context(worker()) is None
    context = web_ssl_context(worker(tls_cert_file=str(pki.server_cert),
                                     tls_key_file=str(pki.server_key)))
    assert isinstance(context, ssl.SSLContext)
    s = load_settings(env={"VIGIL_WORKER_TLS_CERT_FILE": str(pki.server_cert),
                           "VIGIL_WORKER_TLS_KEY_FILE": str(pki.server_key)})
    assert isinstance(_faust_conf(s)["web_ssl_context"], ssl.SSLContext)
    with pytest.raises(SettingsError, match=r"worker\.tls_key_file"):
        web_ssl_context(worker(tls_key_file=str(pki.server_key)))
    with pytest.raises(SettingsError, match=r"worker\.tls_cert_file"):
        web_ssl_context(worker(tls_cert_file="/nonexistent/cert.pem"))
    with pytest.raises(SettingsError, match=r"worker\.tls_cert_file"):  # a key that does not fit
        web_ssl_context(worker(tls_cert_file=str(pki.server_cert),
                               tls_key_file=str(pki.client_key)))


# -- every client gets them -----------------------------------------------------------------
def _faust_conf(s: Settings) -> dict:
    from agents.app import faust_settings
    from agents.context import WorkerSetup
    from agents.metrics import build_metrics
    from streams.topics import topic_names

    return faust_settings(WorkerSetup(settings=s, bootstrap="127.0.0.1:1",
                                      topics=topic_names(s), metrics=build_metrics(),
                                      one_record_per_batch=False))


def test_the_worker_faust_clients_use_the_settings(pki: Pki, tmp_path: Path) -> None:
    from agents.app import create_app
    from agents.context import WorkerSetup
    from agents.metrics import build_metrics
    from streams.topics import topic_names

    s = load_settings(env={"VIGIL_KAFKA_BOOTSTRAP": "127.0.0.1:1",
                           "VIGIL_BROKER_RUN_DIR": str(tmp_path),
                           "VIGIL_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
                           "VIGIL_KAFKA_SSL_CAFILE": str(pki.ca),
                           "VIGIL_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
                           "VIGIL_KAFKA_SASL_USERNAME": "svc-vigil",
                           "VIGIL_KAFKA_SASL_PASSWORD": "s3cret"})
    app, _ = create_app(WorkerSetup(settings=s, bootstrap="127.0.0.1:1", topics=topic_names(s),
                                    metrics=build_metrics(), one_record_per_batch=True))

    async def build() -> tuple[aiokafka.AIOKafkaConsumer, dict]:
        thread = app.consumer._new_consumer_thread()
        return thread._create_worker_consumer(app.transport), dict(app.producer._settings_auth())

    consumer, producer_auth = asyncio.run(build())
    client = consumer._client
    assert (client._security_protocol, client._sasl_mechanism, client._sasl_plain_username) == (
        "SASL_SSL", "SCRAM-SHA-512", "svc-vigil")
    assert isinstance(client._ssl_context, ssl.SSLContext)
    assert (producer_auth["security_protocol"], producer_auth["sasl_mechanism"]) == (
        "SASL_SSL", "SCRAM-SHA-512")


class _AsyncClient:
    """Stands in for an aiokafka client class; records how each one was built."""

    built: list[dict[str, Any]]

    def __init__(self, **kwargs: Any) -> None:
        self.built.append(kwargs)

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def close(self) -> None: ...
    def assign(self, tps: list) -> None: ...

    @property
    def _client(self) -> _AsyncClient:
        return self  # a consumer's client: streams/reader.py asks it for the partitions

    async def fetch_all_metadata(self) -> Any:
        return SimpleNamespace(partitions_for_topic=lambda topic: {0})


class _SyncClient:
    """Stands in for a kafka-python client class; records how each one was built."""

    built: list[dict[str, Any]]

    def __init__(self, **kwargs: Any) -> None:
        self.built.append(kwargs)

    def partitions_for_topic(self, topic: str) -> set[int]: return {0}
    def assign(self, tps: list) -> None: ...
    def close(self) -> None: ...
    def list_topics(self) -> list[str]: return []
    def create_topics(self, topics: list) -> None: ...
    def flush(self) -> None: ...
    def end_offsets(self, tps: list) -> dict: return dict.fromkeys(tps, 3)

    def send(self, *args: Any, **kwargs: Any) -> Any:
        return SimpleNamespace(get=lambda timeout: SimpleNamespace(offset=2))


def test_every_client_built_from_settings_gets_the_options(
        pki: Pki, monkeypatch: pytest.MonkeyPatch) -> None:
    import agents.consumer_lag
    import loadtest.harness.probes
    import streams.brokercheck
    import streams.clients
    import streams.output_producers
    import streams.reader
    import streams.topics
    from agents.consumer_lag import _LagExporter
    from loadtest.harness.probes import GroupLag
    from streams.brokercheck import check_high_watermark
    from streams.clients import make_producer
    from streams.output_producers import OutputProducers
    from streams.reader import open_reader, open_sync_reader
    from streams.topics import ensure_topics
    from tests.agents.fixtures import make_context

    built: dict[str, list[dict[str, Any]]] = {}

    def fake(module: Any, name: str, base: type) -> None:
        calls = built.setdefault(f"{module.__name__}.{name}", [])
        monkeypatch.setattr(module, name, type(name, (base,), {"built": calls}))

    for module, name in [(streams.reader, "AIOKafkaConsumer"),
                         (streams.output_producers, "AIOKafkaProducer"),
                         (agents.consumer_lag, "AIOKafkaAdminClient")]:
        fake(module, name, _AsyncClient)
    for module, name in [(streams.reader, "KafkaConsumer"), (streams.topics, "KafkaAdminClient"),
                         (streams.brokercheck, "KafkaConsumer"),
                         (streams.brokercheck, "KafkaProducer"),
                         (streams.clients, "KafkaProducer"),
                         (loadtest.harness.probes, "KafkaAdminClient"),
                         (loadtest.harness.probes, "KafkaConsumer")]:
        fake(module, name, _SyncClient)
    s = sasl("SASL_SSL", "SCRAM-SHA-256", pki)
    monkeypatch.setattr(streams.clients, "resolve_bootstrap", lambda settings: "b:1")

    async def run_async_clients() -> None:
        await open_reader("b:1", ["t"], client_id="c", fetch_max_wait_ms=10, settings=s)
        await OutputProducers("b:1", one_record_per_batch=False, settings=s).on_start()
        ctx = make_context(s)
        app = SimpleNamespace(consumer=SimpleNamespace(assignment=set))
        await _LagExporter(app, ctx).refresh()

    asyncio.run(run_async_clients())
    open_sync_reader("b:1", ["t"], client_id="c", settings=s)
    ensure_topics("b:1", s)
    check_high_watermark("b:1", "t", s)
    make_producer(s)
    GroupLag("b:1", "g", ["t"], s)

    assert all(built.values()), {k: len(v) for k, v in built.items()}
    for where, calls in built.items():
        for kwargs in calls:
            assert (kwargs["security_protocol"], kwargs["sasl_mechanism"],
                    kwargs["sasl_plain_username"], kwargs["sasl_plain_password"]) == (
                "SASL_SSL", "SCRAM-SHA-256", "svc-vigil", "s3cret"), where
            if ".AIOKafka" in where:
                assert isinstance(kwargs["ssl_context"], ssl.SSLContext), where
            else:
                assert kwargs["ssl_cafile"] == str(pki.ca), where


# -- and no client is built without them ----------------------------------------------------
CLIENT_CLASSES = {"AIOKafkaConsumer", "AIOKafkaProducer", "AIOKafkaAdminClient",
                  "KafkaConsumer", "KafkaProducer", "KafkaAdminClient"}
PACKAGES = ["agents", "cli", "config", "loadtest", "schemas", "streams", "tables", "web"]


def _helpers() -> dict[str, inspect.Signature]:
    """The functions and classes that build clients from a bootstrap string, taking the
    settings as an optional `settings` argument."""
    from loadtest.harness.probes import GroupLag, HitReader
    from streams.brokercheck import check_high_watermark
    from streams.output_producers import OutputProducers
    from streams.reader import open_reader, open_sync_reader
    from web.hitstream import HitFanout

    return {f.__name__: inspect.signature(f) for f in (
        open_reader, open_sync_reader, check_high_watermark, OutputProducers, HitReader,
        GroupLag, HitFanout)}


def _called_name(call: ast.Call) -> str:
    f = call.func
    return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""


def test_no_kafka_client_is_built_without_the_security_options() -> None:
    helpers = _helpers()
    missing = []
    for path in sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
            name, where = _called_name(call), f"{path.relative_to(ROOT)}:{call.lineno}"
            if name in CLIENT_CLASSES and "security" not in ast.unparse(call):
                missing.append(f"{where}: {name}(...) without the security options")
            elif name in helpers:
                if any(k.arg is None for k in call.keywords):
                    continue  # **kwargs passed on: cannot tell
                bound = helpers[name].bind_partial(
                    *range(len(call.args)), **{k.arg: 0 for k in call.keywords if k.arg})
                if "settings" not in bound.arguments:
                    missing.append(f"{where}: {name}(...) without settings")
    assert not missing, "\n".join(missing)
